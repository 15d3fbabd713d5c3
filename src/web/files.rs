//! The files of a run over plain HTTP, for the browser (links in the views) and for scripts
//! (`curl` with an API token):
//!
//! - `GET /runs/{id}/points/{label}/charge.png` — the local copy of the point's plot;
//!   `?overlay=1` draws it again from the point's `result.json` with the reference spectrum
//!   of the run's PMT type over it (header `X-Reference: <type>`, or `none` when there is no
//!   usable reference: the plain plot then).
//! - `GET /runs/{id}/points/{label}/result.json` — the point's result document.
//! - `GET /runs/{id}/gainmap.png` — the gain map of a surface run, drawn from the stored
//!   points (an HV run has none: 404).
//! - `GET /runs/{id}/download.zip` — `<SN>_run<id>.zip`: `run.json`, `points.csv`,
//!   `points.parquet` (the stored points) and every point's local `charge.png` and
//!   `result.json` under `<label>/`. Points without local files (command mode, cleaned-up
//!   runs) are in the tables only. The run's logbook is `logbook.txt` and `logbook.json`,
//!   its attachments under `logbook/`.
//!
//! `?download=1` on any of them adds `Content-Disposition: attachment` with a file name that
//! says serial, run and point. A session or an API token is needed (401 otherwise). Ids and
//! labels from the URL are checked before any path is built (a label is one plain path
//! component), and a file is only served when its real path lies inside the run's directory,
//! so a symbolic link cannot reach elsewhere. Reading, plotting and zipping run on the
//! blocking pool.

use std::collections::HashMap;
use std::io::{Cursor, Write};
use std::path::Path;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use polars::prelude::{Column, CsvWriter, DataFrame, ParquetWriter, PolarsResult, SerWriter};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::AppState;
use super::api::parse_run_id;
use super::auth::FileReader;
use super::error::{AppError, server_error, text};
use super::references;
use crate::model::{LogEntry, Run, ScanKind, rfc3339};
use crate::monitor::ProfileSpec;
use crate::pipeline::config::AnalysisConfig;
use crate::pipeline::label::Label;
use crate::pipeline::plot::{MapPoint, gain_map_png};
use crate::pipeline::point::{PointResult, charge_png_from_result};
use crate::store::{Point, PointStatus};

/// The largest local file served or zipped (plots and result documents are far smaller).
const MAX_FILE: u64 = 64 * 1024 * 1024;

/// Early answers (refusals, missing things) travel as `Err` so handlers can use `?`.
type Answer<T> = Result<T, Response>;

/// Runs blocking work on tokio's blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Answer<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| server_error(&format!("a blocking task failed: {e}")))
}

/// `?download=1`, `?overlay=1` (also `true`/`yes`); anything else is ignored.
#[derive(Debug, Default, Clone, Copy)]
struct Flags {
    download: bool,
    overlay: bool,
}

fn flags(uri: &Uri) -> Flags {
    let q = Query::<HashMap<String, String>>::try_from_uri(uri)
        .map(|Query(q)| q)
        .unwrap_or_default();
    let on = |k: &str| {
        q.get(k)
            .is_some_and(|v| matches!(v.as_str(), "1" | "true" | "yes"))
    };
    Flags {
        download: on("download"),
        overlay: on("overlay"),
    }
}

/// The run a URL names: 400 for something that is not an id, 404 for an id without a run.
pub(crate) async fn run_for(state: &AppState, raw: &str) -> Answer<Run> {
    let Some(id) = parse_run_id(raw) else {
        return Err(text(
            StatusCode::BAD_REQUEST,
            "not a run id: run ids are positive whole numbers",
        ));
    };
    match state.store().run(move |s| s.get_run(id)).await {
        Ok(Some(run)) => Ok(run),
        Ok(None) => Err(text(
            StatusCode::NOT_FOUND,
            format!("there is no run {id} (see History or GET /api/runs)"),
        )),
        Err(e) => Err(AppError::from(e).into_response()),
    }
}

/// The run of a `/runs/{id}/…` route, checked.
async fn run_of(state: &AppState, path: Result<UrlPath<String>, PathRejection>) -> Answer<Run> {
    let UrlPath(id) =
        path.map_err(|_| text(StatusCode::BAD_REQUEST, "this path cannot be read"))?;
    run_for(state, &id).await
}

/// A point label from a URL: one plain path component, or 400.
// The error is the answer itself, built at most once per request: its size does not matter.
#[allow(clippy::result_large_err)]
pub(crate) fn label_from(raw: &str) -> Answer<Label> {
    Label::parse(raw).map_err(|_| {
        text(
            StatusCode::BAD_REQUEST,
            "not a point label: a label is one plain name (no '/', '\\', '..', leading '.' or \
             control characters)",
        )
    })
}

/// `{id}` and `{label}` of a point route, checked.
async fn point_of(
    state: &AppState,
    path: Result<UrlPath<(String, String)>, PathRejection>,
) -> Answer<(Run, Label)> {
    let UrlPath((id, label)) =
        path.map_err(|_| text(StatusCode::BAD_REQUEST, "this path cannot be read"))?;
    let run = run_for(state, &id).await?;
    let label = label_from(&label)?;
    Ok((run, label))
}

/// Reads `<run_dir>/<label>/<name>` if it exists and really lies inside `run_dir`
/// (symbolic links out of it are refused). Blocking.
pub(crate) fn read_in_run(
    run_dir: &Path,
    label: &str,
    name: &str,
) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::ErrorKind::{NotADirectory, NotFound};
    let root = match run_dir.canonicalize() {
        Ok(r) => r,
        Err(e) if matches!(e.kind(), NotFound | NotADirectory) => return Ok(None),
        Err(e) => return Err(e),
    };
    let real = match run_dir.join(label).join(name).canonicalize() {
        Ok(p) => p,
        Err(e) if matches!(e.kind(), NotFound | NotADirectory) => return Ok(None),
        Err(e) => return Err(e),
    };
    if !real.starts_with(&root) {
        tracing::warn!(
            path = %run_dir.join(label).join(name).display(),
            "refused to serve a file whose real path lies outside its run directory"
        );
        return Ok(None);
    }
    let meta = std::fs::metadata(&real)?;
    if !meta.is_file() {
        return Ok(None);
    }
    if meta.len() > MAX_FILE {
        return Err(std::io::Error::other(format!(
            "{} is larger than {MAX_FILE} bytes",
            real.display()
        )));
    }
    std::fs::read(&real).map(Some)
}

/// A file name for `Content-Disposition`: only `A–Z a–z 0–9 . _ -`, the rest becomes `_`.
pub(crate) fn file_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The answer with a body, its type, its caching and (for `?download=1`) its file name.
fn file_answer(
    body: Vec<u8>,
    content_type: &'static str,
    cache: &'static str,
    download: Option<String>,
) -> Response {
    let mut r = (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, cache),
        ],
        body,
    )
        .into_response();
    if let Some(name) = download
        && let Ok(v) =
            HeaderValue::from_str(&format!("attachment; filename=\"{}\"", file_name(&name)))
    {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

fn no_local_file(run: &Run, label: &str, name: &str) -> Response {
    let why = if run.local_removed {
        "its local copies were removed by a cleanup"
    } else {
        "the point has not been synced here, or the run's mode (command mode) writes no such file"
    };
    text(
        StatusCode::NOT_FOUND,
        format!(
            "run {} has no local {name} for point {label}: {why}",
            run.id
        ),
    )
}

/// The run's profile, if it can still be read (runs keep a copy of it).
fn spec_of(run: &Run) -> Option<ProfileSpec> {
    match serde_json::from_str::<ProfileSpec>(&run.profile) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(run = run.id, "the run's profile cannot be read: {e}");
            None
        }
    }
}

/// `GET /runs/{id}/points/{label}/charge.png[?overlay=1][&download=1]`.
pub async fn charge_png(
    State(state): State<AppState>,
    _: FileReader,
    uri: Uri,
    path: Result<UrlPath<(String, String)>, PathRejection>,
) -> Result<Response, AppError> {
    Ok(charge_png_answer(&state, &uri, path)
        .await
        .unwrap_or_else(|r| r))
}

async fn charge_png_answer(
    state: &AppState,
    uri: &Uri,
    path: Result<UrlPath<(String, String)>, PathRejection>,
) -> Answer<Response> {
    let (run, label) = point_of(state, path).await?;
    let f = flags(uri);
    if f.overlay {
        return overlay_png(state, &run, &label, f.download).await;
    }
    let run_dir = state.monitor().run_dir(run.id);
    let l = label.clone();
    let bytes = blocking(move || read_in_run(&run_dir, &l, "charge.png"))
        .await?
        .map_err(|e| server_error(&format!("reading charge.png: {e}")))?
        .ok_or_else(|| no_local_file(&run, &label, "charge.png"))?;
    let download = f
        .download
        .then(|| format!("{}_run{}_{label}_charge.png", run.serial, run.id));
    Ok(file_answer(
        bytes,
        "image/png",
        "private, max-age=60",
        download,
    ))
}

/// The point's plot drawn again from its result document, with the reference of the run's
/// PMT type over it when there is one.
async fn overlay_png(state: &AppState, run: &Run, label: &str, download: bool) -> Answer<Response> {
    let run_dir = state.monitor().run_dir(run.id);
    let data_dir = state.monitor().data_dir().to_path_buf();
    let spec = spec_of(run);
    let pmt_type = spec.as_ref().map(|s| s.pmt_type.clone());
    let min_events = spec
        .as_ref()
        .map_or(AnalysisConfig::default().fit.min_events, |s| {
            s.analysis.fit.min_events
        });
    let (l, id) = (label.to_string(), run.id);
    // The PNG and the reference type drawn (if any); `None`: no result document.
    type Drawn = Option<(Vec<u8>, Option<String>)>;
    let drawn = blocking(move || -> Result<Drawn, String> {
        let Some(bytes) = read_in_run(&run_dir, &l, "result.json")
            .map_err(|e| format!("reading result.json: {e}"))?
        else {
            return Ok(None);
        };
        let result: PointResult = serde_json::from_slice(&bytes)
            .map_err(|e| format!("run {id} point {l}: result.json cannot be read: {e}"))?;
        let reference = match pmt_type.as_deref() {
            Some(ty) => match references::load(&data_dir, ty) {
                Ok(Some(h)) if h.unit == result.histogram.unit => Some((ty.to_string(), h)),
                Ok(Some(h)) => {
                    tracing::info!(
                        "reference {ty} is in {}, point {l} of run {id} in {}: not overlaid",
                        h.unit,
                        result.histogram.unit
                    );
                    None
                }
                Ok(None) => None,
                Err(e) => {
                    tracing::warn!("reference {ty}: {e}");
                    None
                }
            },
            None => None,
        };
        let legend = reference
            .as_ref()
            .map(|(ty, _)| format!("reference ({ty})"));
        let png = charge_png_from_result(
            &result,
            min_events,
            reference.as_ref().map(|(_, h)| h),
            legend.as_deref(),
        )
        .map_err(|e| format!("drawing the overlay: {e}"))?;
        Ok(Some((png, reference.map(|(ty, _)| ty))))
    })
    .await?;
    let (png, used) = match drawn {
        Ok(Some(x)) => x,
        Ok(None) => {
            return Err(text(
                StatusCode::NOT_FOUND,
                format!(
                    "run {} has no local result.json for point {label}, and the overlay is drawn \
                     from it (command-mode runs and cleaned-up runs have none)",
                    run.id
                ),
            ));
        }
        Err(e) => return Err(server_error(&e)),
    };
    let download =
        download.then(|| format!("{}_run{}_{label}_charge_overlay.png", run.serial, run.id));
    let mut r = file_answer(png, "image/png", "no-store", download);
    let value = used.as_deref().unwrap_or("none");
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert("x-reference", v);
    }
    Ok(r)
}

/// `GET /runs/{id}/points/{label}/result.json[?download=1]`.
pub async fn result_json(
    State(state): State<AppState>,
    _: FileReader,
    uri: Uri,
    path: Result<UrlPath<(String, String)>, PathRejection>,
) -> Result<Response, AppError> {
    let answer = async {
        let (run, label) = point_of(&state, path).await?;
        let run_dir = state.monitor().run_dir(run.id);
        let l = label.clone();
        let bytes = blocking(move || read_in_run(&run_dir, &l, "result.json"))
            .await?
            .map_err(|e| server_error(&format!("reading result.json: {e}")))?
            .ok_or_else(|| no_local_file(&run, &label, "result.json"))?;
        let download = flags(&uri)
            .download
            .then(|| format!("{}_run{}_{label}_result.json", run.serial, run.id));
        Answer::Ok(file_answer(
            bytes,
            "application/json",
            "private, max-age=60",
            download,
        ))
    };
    Ok(answer.await.unwrap_or_else(|r| r))
}

/// `GET /runs/{id}/hv.png[?download=1]`: an HV check's summary plot (gain vs HV, the fit
/// and the voltage for the target), as the monitor last drew it; never cached (it is
/// redrawn with every voltage).
pub async fn hv_png(
    State(state): State<AppState>,
    _: FileReader,
    uri: Uri,
    id: Result<UrlPath<String>, PathRejection>,
) -> Result<Response, AppError> {
    Ok(hv_file(
        &state,
        &uri,
        id,
        crate::monitor::hv::PLOT_FILE,
        "gain_vs_hv",
    )
    .await
    .unwrap_or_else(|r| r))
}

/// `GET /runs/{id}/hv-lab.png[?download=1]`: in command mode, the lab script's own
/// `*_gain_vs_hv_loglog.png` of an HV check, when it wrote one.
pub async fn hv_lab_png(
    State(state): State<AppState>,
    _: FileReader,
    uri: Uri,
    id: Result<UrlPath<String>, PathRejection>,
) -> Result<Response, AppError> {
    let name = crate::monitor::hv::LAB_PLOT_FILE;
    Ok(hv_file(&state, &uri, id, name, "gain_vs_hv_loglog")
        .await
        .unwrap_or_else(|r| r))
}

/// One of an HV run's plots in its local directory.
async fn hv_file(
    state: &AppState,
    uri: &Uri,
    id: Result<UrlPath<String>, PathRejection>,
    name: &'static str,
    download_as: &'static str,
) -> Answer<Response> {
    let run = run_of(state, id).await?;
    if run.kind != ScanKind::Hv {
        return Err(text(
            StatusCode::NOT_FOUND,
            format!("run {} is a surface scan: it has no HV plot", run.id),
        ));
    }
    let run_dir = state.monitor().run_dir(run.id);
    let bytes = blocking(move || read_in_run(&run_dir, ".", name))
        .await?
        .map_err(|e| server_error(&format!("reading {name}: {e}")))?
        .ok_or_else(|| {
            text(
                StatusCode::NOT_FOUND,
                format!(
                    "run {} has no {name} yet: pmtwatch's plot is drawn once three \
                     voltages are done; the lab's only when its script wrote one",
                    run.id
                ),
            )
        })?;
    let download = flags(uri)
        .download
        .then(|| format!("{}_run{}_{download_as}.png", run.serial, run.id));
    Answer::Ok(file_answer(bytes, "image/png", "no-store", download))
}

/// `GET /runs/{id}/gainmap.png[?download=1]`: drawn from the stored points, never cached
/// (it changes with every point).
pub async fn gain_map(
    State(state): State<AppState>,
    _: FileReader,
    uri: Uri,
    id: Result<UrlPath<String>, PathRejection>,
) -> Result<Response, AppError> {
    let answer = async {
        let run = run_of(&state, id).await?;
        if run.kind == ScanKind::Hv {
            return Err(text(
                StatusCode::NOT_FOUND,
                format!(
                    "run {} is an HV check: it has no θ/φ gain map (its gains per voltage are in \
                     GET /api/runs/{} and in download.zip)",
                    run.id, run.id
                ),
            ));
        }
        let rid = run.id;
        let points = state
            .store()
            .run(move |s| s.points(rid))
            .await
            .map_err(|e| AppError::from(e).into_response())?;
        let health =
            spec_of(&run).map_or_else(|| AnalysisConfig::default().health, |s| s.analysis.health);
        let title = format!("{}  run {}  gain map", run.serial, run.id);
        let png = blocking(move || {
            let map: Vec<MapPoint> = points
                .iter()
                .filter_map(|p| {
                    Some(MapPoint {
                        label: p.label.clone(),
                        theta: p.theta?,
                        phi: p.phi?,
                        gain: p.gain,
                        healthy: p.status == PointStatus::Healthy,
                    })
                })
                .collect();
            gain_map_png(&map, &title, (health.gain_min, health.gain_max))
        })
        .await?
        .map_err(|e| server_error(&format!("drawing the gain map: {e}")))?;
        let download = flags(&uri)
            .download
            .then(|| format!("{}_run{}_gainmap.png", run.serial, run.id));
        Answer::Ok(file_answer(png, "image/png", "no-store", download))
    };
    Ok(answer.await.unwrap_or_else(|r| r))
}

/// `GET /runs/{id}/download.zip`: the whole run in one file.
pub async fn download_zip(
    State(state): State<AppState>,
    _: FileReader,
    id: Result<UrlPath<String>, PathRejection>,
) -> Result<Response, AppError> {
    let answer = async {
        let run = run_of(&state, id).await?;
        let rid = run.id;
        let (points, log) = state
            .store()
            .run(move |s| Ok((s.points(rid)?, s.logbook(rid)?)))
            .await
            .map_err(|e| AppError::from(e).into_response())?;
        let run_dir = state.monitor().run_dir(run.id);
        let name = format!("{}_run{}.zip", run.serial, run.id);
        let bytes = blocking(move || run_zip(&run, &points, &log, &run_dir))
            .await?
            .map_err(|e| server_error(&format!("building {name}: {e}")))?;
        Answer::Ok(file_answer(
            bytes,
            "application/zip",
            "no-store",
            Some(name),
        ))
    };
    Ok(answer.await.unwrap_or_else(|r| r))
}

/// The stored points as a table: `label, theta, phi, hv, status, gain, gain_err, message`.
pub fn points_frame(points: &[Point]) -> PolarsResult<DataFrame> {
    let num = |name: &str, f: fn(&Point) -> Option<f64>| {
        Column::new(name.into(), points.iter().map(f).collect::<Vec<_>>())
    };
    let txt = |name: &str, f: fn(&Point) -> &str| {
        Column::new(name.into(), points.iter().map(f).collect::<Vec<_>>())
    };
    DataFrame::new(
        points.len(),
        vec![
            txt("label", |p| p.label.as_str()),
            num("theta", |p| p.theta),
            num("phi", |p| p.phi),
            num("hv", |p| p.hv),
            txt("status", |p| p.status.as_str()),
            num("gain", |p| p.gain),
            num("gain_err", |p| p.gain_err),
            txt("message", |p| p.message.as_str()),
        ],
    )
}

/// The ZIP's modification time for its entries: now, in UTC (the format has no zone).
fn zip_now() -> zip::DateTime {
    // `YYYY-MM-DDTHH:MM:SSZ`, cut into its fields.
    let t = crate::store::rfc3339(crate::store::now());
    let field = |r: std::ops::Range<usize>| t.get(r).and_then(|v| v.parse::<u16>().ok());
    let parts = (
        field(0..4),
        field(5..7),
        field(8..10),
        field(11..13),
        field(14..16),
        field(17..19),
    );
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(se)) = parts else {
        return zip::DateTime::default();
    };
    let b = |v: u16| u8::try_from(v).unwrap_or(0);
    zip::DateTime::from_date_and_time(y, b(mo), b(d), b(h), b(mi), b(se)).unwrap_or_default()
}

/// The logbook as text: one line per entry, `time  author  text [attachment]`.
pub fn logbook_text(log: &[LogEntry]) -> String {
    log.iter()
        .map(|e| {
            let file = e
                .attachment
                .as_deref()
                .map(|f| format!(" [attached: logbook/{f}]"))
                .unwrap_or_default();
            format!("{}  {}  {}{file}\n", rfc3339(e.at), e.author, e.text)
        })
        .collect()
}

/// Builds `<SN>_run<id>.zip` in memory. Blocking.
fn run_zip(
    run: &Run,
    points: &[Point],
    log: &[LogEntry],
    run_dir: &Path,
) -> Result<Vec<u8>, String> {
    let zerr = |e: zip::result::ZipError| e.to_string();
    let ioerr = |e: std::io::Error| e.to_string();
    let when = zip_now();
    let packed = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(when);
    // PNGs are compressed already.
    let stored = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .last_modified_time(when);

    let mut df = points_frame(points).map_err(|e| format!("points table: {e}"))?;
    let mut csv = Vec::new();
    CsvWriter::new(&mut csv)
        .include_header(true)
        .finish(&mut df)
        .map_err(|e| format!("points.csv: {e}"))?;
    let mut parquet = Vec::new();
    ParquetWriter::new(&mut parquet)
        .finish(&mut df)
        .map_err(|e| format!("points.parquet: {e}"))?;
    let run_json = serde_json::to_vec_pretty(run).map_err(|e| format!("run.json: {e}"))?;
    let log_json = serde_json::to_vec_pretty(log).map_err(|e| format!("logbook.json: {e}"))?;
    let log_txt = logbook_text(log).into_bytes();

    let mut z = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes, opts) in [
        ("run.json", &run_json, packed),
        ("points.csv", &csv, packed),
        ("points.parquet", &parquet, stored),
        ("logbook.txt", &log_txt, packed),
        ("logbook.json", &log_json, packed),
    ] {
        z.start_file(name, opts).map_err(zerr)?;
        z.write_all(bytes).map_err(ioerr)?;
    }
    for file in log.iter().filter_map(|e| e.attachment.as_deref()) {
        // Stored names are one plain component (the monitor makes them so); check again.
        if !Label::is_valid(file) {
            continue;
        }
        let Some(bytes) =
            read_in_run(run_dir, "logbook", file).map_err(|e| format!("logbook/{file}: {e}"))?
        else {
            continue;
        };
        z.start_file(format!("logbook/{file}"), packed)
            .map_err(zerr)?;
        z.write_all(&bytes).map_err(ioerr)?;
    }
    for p in points {
        // A stored label is safe (the monitor checks it), but the ZIP's names come from it:
        // check again rather than trust.
        if !Label::is_valid(&p.label) {
            tracing::warn!(
                run = run.id,
                "point label {:?} not zipped: not a plain name",
                p.label
            );
            continue;
        }
        for (name, opts) in [("charge.png", stored), ("result.json", packed)] {
            let Some(bytes) = read_in_run(run_dir, &p.label, name)
                .map_err(|e| format!("{}/{name}: {e}", p.label))?
            else {
                continue;
            };
            z.start_file(format!("{}/{name}", p.label), opts)
                .map_err(zerr)?;
            z.write_all(&bytes).map_err(ioerr)?;
        }
    }
    Ok(z.finish().map_err(zerr)?.into_inner())
}

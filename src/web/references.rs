//! Reference spectra ("good data"), one per PMT type, which the charge plot of a point can
//! show over its own spectrum (`charge.png?overlay=1`, see [`super::files`]).
//!
//! - `POST /references/{pmt_type}` (operator or admin, re-checked in the store; same-site
//!   Origin): the body is a pmtwatch `result.json` (its `histogram` is taken), a bare
//!   histogram (what `GET` returns), or a CSV `charge,count` of equally spaced bin centres
//!   (header optional; `?unit=` names the charge unit, default pC). At most 4 MB. Stored
//!   atomically (temp file, rename) as `<data>/references/<pmt_type>.json`, a
//!   [`Histogram`]; audit-logged as `reference_upload`.
//! - `GET /references`: the stored types (JSON). `GET /references/{pmt_type}`: one of them.
//!
//! Uploads go over plain HTTP, not through LiveView events (DESIGN.md). Reading takes a
//! session or an API token; uploading takes a session (a token has no role).

use std::path::{Path, PathBuf};

use axum::Json;
use axum::body::{Body, to_bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::auth::{Reader, current_user, origin_allowed};
use super::error::{AppError, server_error, text};
use crate::control::CommandError;
use crate::model::rfc3339;
use crate::pipeline::histogram::Histogram;
use crate::pipeline::output::write_atomic;

/// The largest upload accepted.
pub const MAX_UPLOAD: usize = 4 * 1024 * 1024;
/// The most bins a reference may have.
const MAX_BINS: usize = 100_000;

/// Whether `name` is a PMT type name: 1–32 of `A–Z a–z 0–9 . _ -`, not starting with `.`
/// (so it is one plain file name).
pub fn valid_pmt_type(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The `{pmt_type}` of a route, checked; otherwise the 400 answer.
#[allow(clippy::result_large_err)]
fn type_of(path: Result<UrlPath<String>, PathRejection>) -> Result<String, Response> {
    path.ok()
        .map(|UrlPath(t)| t)
        .filter(|t| valid_pmt_type(t))
        .ok_or_else(|| {
            text(
                StatusCode::BAD_REQUEST,
                "not a PMT type: use 1–32 letters, digits, '.', '_' or '-' (e.g. R12860)",
            )
        })
}

/// Where the references live.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("references")
}

/// The stored reference of `pmt_type`, if there is one. Blocking (call it off the async
/// threads). A type name that is not valid has none.
pub fn load(data_dir: &Path, pmt_type: &str) -> Result<Option<Histogram>, String> {
    if !valid_pmt_type(pmt_type) {
        return Ok(None);
    }
    let path = dir(data_dir).join(format!("{pmt_type}.json"));
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("reading {}: {e}", path.display())),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| format!("{} is not a histogram: {e}", path.display()))
}

/// Checks a histogram from an upload; the error says what is wrong.
pub fn check_histogram(h: &Histogram) -> Result<(), String> {
    if !(h.lo.is_finite() && h.width.is_finite() && h.width > 0.0) {
        return Err("the histogram needs a finite lower edge and a positive bin width".into());
    }
    if h.counts.is_empty() || h.counts.len() > MAX_BINS {
        return Err(format!("the histogram needs 1 to {MAX_BINS} bins"));
    }
    if h.counts.iter().any(|c| !c.is_finite() || *c < 0.0) {
        return Err("every count must be a finite number ≥ 0".into());
    }
    if h.total() <= 0.0 {
        return Err("the histogram is empty (all counts are 0)".into());
    }
    if !valid_unit(&h.unit) {
        return Err("the charge unit must be 1–16 characters of letters, digits, * / . _ -".into());
    }
    Ok(())
}

fn valid_unit(u: &str) -> bool {
    (1..=16).contains(&u.len())
        && u.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'*' | b'/' | b'.' | b'_' | b'-'))
}

/// Reads an uploaded reference: JSON (a result document or a histogram) or CSV.
pub fn parse_upload(body: &[u8], unit: &str) -> Result<Histogram, String> {
    let text = std::str::from_utf8(body)
        .map_err(|_| "the body is not UTF-8 text: send a result.json or a CSV".to_string())?;
    let trimmed = text.trim_start_matches('\u{feff}').trim();
    if trimmed.is_empty() {
        return Err("the body is empty: send a result.json or a CSV charge,count".into());
    }
    let hist = if trimmed.starts_with('{') {
        parse_json(trimmed)?
    } else {
        parse_csv(trimmed, unit)?
    };
    check_histogram(&hist)?;
    Ok(hist)
}

fn parse_json(text: &str) -> Result<Histogram, String> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| format!("the body is not valid JSON: {e}"))?;
    let h = if let Some(h) = v.get("histogram") {
        h.clone()
    } else if v.get("counts").is_some() {
        v
    } else {
        return Err(
            "the JSON has no \"histogram\": send a pmtwatch result.json (or a histogram with \
             lo, width, counts, unit)"
                .into(),
        );
    };
    serde_json::from_value::<Histogram>(h).map_err(|e| format!("the histogram cannot be read: {e}"))
}

/// A CSV of `charge,count` rows (bin centres, equally spaced; `,`, `;` or tab between the
/// two; `#` comments; one optional header line first).
fn parse_csv(text: &str, unit: &str) -> Result<Histogram, String> {
    let mut rows: Vec<(f64, f64)> = Vec::new();
    let mut first = true;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split([',', ';', '\t']).map(str::trim).collect();
        let nums: Option<Vec<f64>> = fields.iter().map(|f| f.parse::<f64>().ok()).collect();
        let header = first;
        first = false;
        match (fields.len(), nums) {
            (2, Some(v)) => {
                if !(v[0].is_finite() && v[1].is_finite() && v[1] >= 0.0) {
                    return Err(format!(
                        "line {}: the charge must be finite and the count finite and ≥ 0",
                        n + 1
                    ));
                }
                rows.push((v[0], v[1]));
            }
            (2, None) if header => {}
            _ => {
                return Err(format!(
                    "line {}: expected two numbers, charge,count (a CSV with two columns)",
                    n + 1
                ));
            }
        }
        if rows.len() > MAX_BINS {
            return Err(format!("at most {MAX_BINS} rows"));
        }
    }
    if rows.len() < 2 {
        return Err("the CSV needs at least two rows charge,count".into());
    }
    let (c0, cn) = (rows[0].0, rows[rows.len() - 1].0);
    let width = (cn - c0) / (rows.len() - 1) as f64;
    if !(width.is_finite() && width > 0.0) {
        return Err("the charges must increase from row to row (bin centres)".into());
    }
    for (i, (c, _)) in rows.iter().enumerate() {
        if (c - (c0 + i as f64 * width)).abs() > 0.01 * width {
            return Err(format!(
                "the charges must be equally spaced bin centres; row {} ({c}) is off the \
                 spacing {width}",
                i + 1
            ));
        }
    }
    Ok(Histogram {
        lo: c0 - width / 2.0,
        width,
        counts: rows.into_iter().map(|r| r.1).collect(),
        unit: unit.to_string(),
        outside: 0,
    })
}

/// Why an upload was not stored: the sender's fault (400) or ours (500).
enum UploadError {
    Bad(String),
    Failed(String),
}

#[derive(Debug, Default, serde::Deserialize)]
struct UploadQuery {
    unit: Option<String>,
}

/// `POST /references/{pmt_type}`.
pub async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    pmt_type: Result<UrlPath<String>, PathRejection>,
    body: Body,
) -> Result<Response, AppError> {
    let Some(user) = current_user(&state, &headers).await? else {
        return Err(AppError::NoUploadSession);
    };
    if !origin_allowed(&state, &headers, false) {
        tracing::warn!(user = %user.name, "reference upload refused: foreign Origin");
        return Ok(text(
            StatusCode::FORBIDDEN,
            "refused: this upload was sent from another site; open pmtwatch directly",
        ));
    }
    let account = match state.commands().reference_uploader(&user).await {
        Ok(u) => u,
        Err(e @ CommandError::Forbidden { .. }) => {
            return Ok(text(StatusCode::FORBIDDEN, e.to_string()));
        }
        Err(e @ CommandError::SessionEnded) => {
            return Ok(text(StatusCode::UNAUTHORIZED, e.to_string()));
        }
        Err(e) => return Ok(server_error(&e.to_string())),
    };
    let pmt_type = match type_of(pmt_type) {
        Ok(t) => t,
        Err(answer) => return Ok(answer),
    };
    let unit = match Query::<UploadQuery>::try_from_uri(&uri) {
        Ok(Query(q)) => q.unit.unwrap_or_else(|| "pC".into()),
        Err(_) => return Ok(text(StatusCode::BAD_REQUEST, "the query cannot be read")),
    };
    if !valid_unit(&unit) {
        return Ok(text(
            StatusCode::BAD_REQUEST,
            "unit: 1–16 characters of letters, digits, * / . _ - (e.g. pC)",
        ));
    }
    let bytes = match to_bytes(body, MAX_UPLOAD).await {
        Ok(b) => b,
        Err(_) => {
            return Ok(text(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the upload is larger than 4 MB (or was cut off); a reference spectrum is a \
                 result.json or a CSV of a few thousand bins at most",
            ));
        }
    };
    let data_dir = state.monitor().data_dir().to_path_buf();
    let ty = pmt_type.clone();
    let stored = tokio::task::spawn_blocking(move || -> Result<Histogram, UploadError> {
        let hist = parse_upload(&bytes, &unit).map_err(UploadError::Bad)?;
        let json =
            serde_json::to_vec_pretty(&hist).map_err(|e| UploadError::Failed(e.to_string()))?;
        let path = dir(&data_dir).join(format!("{ty}.json"));
        write_atomic(&path, &json).map_err(|e| UploadError::Failed(e.to_string()))?;
        Ok(hist)
    })
    .await;
    let hist = match stored {
        Ok(Ok(h)) => h,
        Ok(Err(UploadError::Bad(why))) => {
            return Ok(text(
                StatusCode::BAD_REQUEST,
                format!("not a reference spectrum: {why}"),
            ));
        }
        Ok(Err(UploadError::Failed(e))) => {
            return Ok(server_error(&format!("storing a reference: {e}")));
        }
        Err(e) => return Ok(server_error(&format!("the upload worker failed: {e}"))),
    };
    let entries = hist.total();
    let details = json!({
        "pmt_type": pmt_type,
        "entries": entries,
        "bins": hist.bins(),
        "unit": hist.unit,
    });
    let (actor, d) = (account.name.clone(), details.clone());
    if let Err(e) = state
        .store()
        .run(move |s| s.audit(&actor, "reference_upload", &d))
        .await
    {
        tracing::error!("audit log write failed for reference_upload: {e}");
    }
    tracing::info!(user = %account.name, %pmt_type, entries, "reference spectrum stored");
    Ok((StatusCode::CREATED, Json(details)).into_response())
}

/// `GET /references`: `[{pmt_type, entries, bins, unit, updated}]`, by name.
pub async fn list(State(state): State<AppState>, _: Reader) -> Result<Response, AppError> {
    let root = dir(state.monitor().data_dir());
    let listed = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<Value>> {
        let rd = match std::fs::read_dir(&root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for entry in rd {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(ty) = name.strip_suffix(".json").filter(|t| valid_pmt_type(t)) else {
                continue;
            };
            let hist: Histogram = match std::fs::read(entry.path())
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
            {
                Some(h) => h,
                None => {
                    tracing::warn!("reference {name} cannot be read; not listed");
                    continue;
                }
            };
            let updated = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| rfc3339(i64::try_from(d.as_secs()).unwrap_or(0)));
            out.push(json!({
                "pmt_type": ty,
                "entries": hist.total(),
                "bins": hist.bins(),
                "unit": hist.unit,
                "updated": updated,
            }));
        }
        out.sort_by(|a, b| a["pmt_type"].as_str().cmp(&b["pmt_type"].as_str()));
        Ok(out)
    })
    .await;
    match listed {
        Ok(Ok(v)) => {
            Ok(([(header::CACHE_CONTROL, "no-store")], Json(Value::Array(v))).into_response())
        }
        Ok(Err(e)) => Ok(server_error(&format!("listing the references: {e}"))),
        Err(e) => Ok(server_error(&format!("the listing worker failed: {e}"))),
    }
}

/// `GET /references/{pmt_type}`: the stored histogram.
pub async fn get(
    State(state): State<AppState>,
    _: Reader,
    pmt_type: Result<UrlPath<String>, PathRejection>,
) -> Result<Response, AppError> {
    let ty = match type_of(pmt_type) {
        Ok(t) => t,
        Err(answer) => return Ok(answer),
    };
    let data_dir = state.monitor().data_dir().to_path_buf();
    let t = ty.clone();
    match tokio::task::spawn_blocking(move || load(&data_dir, &t)).await {
        Ok(Ok(Some(h))) => Ok(([(header::CACHE_CONTROL, "no-store")], Json(h)).into_response()),
        Ok(Ok(None)) => Ok(text(
            StatusCode::NOT_FOUND,
            format!(
                "there is no reference spectrum for PMT type {ty} (upload one with POST /references/{ty})"
            ),
        )),
        Ok(Err(e)) => Ok(server_error(&e)),
        Err(e) => Ok(server_error(&format!("the reading worker failed: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_and_without_header_and_bad_ones() {
        let h = parse_upload(b"charge,count\n0.0,5\n0.5,10\n1.0,3\n", "pC").expect("csv");
        assert_eq!(h.counts, vec![5.0, 10.0, 3.0]);
        assert!((h.width - 0.5).abs() < 1e-12 && (h.lo + 0.25).abs() < 1e-12);
        let h = parse_upload(b"0;1\r\n1;2\r\n", "ADC*samples").expect("csv without header");
        assert_eq!((h.bins(), h.unit.as_str()), (2, "ADC*samples"));
        let bad_inputs: [&[u8]; 8] = [
            b"charge,count\n",
            b"1,2\n",
            b"0,1\n1,x\n",
            b"0,1\n1,2\n5,3\n",
            b"0,1,2\n1,2,3\n",
            b"0,-1\n1,2\n",
            b"0,0\n1,0\n",
            b"a,b\nc,d\n",
        ];
        for bad in bad_inputs {
            assert!(
                parse_upload(bad, "pC").is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn json_result_document_or_histogram() {
        let h = parse_upload(
            br#"{"point": "x", "histogram": {"lo": 0, "width": 1, "counts": [1, 2], "unit": "pC", "outside": 0}}"#,
            "pC",
        )
        .expect("result document");
        assert_eq!(h.counts, vec![1.0, 2.0]);
        assert!(
            parse_upload(
                br#"{"lo": 0, "width": 1, "counts": [3], "unit": "pC", "outside": 0}"#,
                "pC"
            )
            .is_ok()
        );
        assert!(parse_upload(br#"{"point": "x"}"#, "pC").is_err());
        assert!(parse_upload(br#"{"histogram": {"lo": 0, "width": 0, "counts": [1], "unit": "pC", "outside": 0}}"#, "pC").is_err());
    }

    #[test]
    fn pmt_type_names() {
        for ok in ["R12860", "r12860-v2", "a.b_c"] {
            assert!(valid_pmt_type(ok), "{ok}");
        }
        for bad in ["", ".hidden", "..", "a/b", "a b", "x".repeat(33).as_str()] {
            assert!(!valid_pmt_type(bad), "{bad}");
        }
    }
}

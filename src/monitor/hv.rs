//! The HV check's live fit: once three voltages of an HV run are done, every new one fits
//! the power law again ([`crate::pipeline::hv`]), draws the summary plot into the run's
//! local directory (`<data>/runs/<id>/hv_fit.png`, with `hv_fit.json` beside it, both
//! atomic), stores the result per serial (`store::hv`) and then publishes it on the board,
//! so every browser's HV tab shows the voltage the moment it changes.
//!
//! A failing plot never fails the run: the result is stored and shown without it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::board::{HvCheck, HvLab};
use super::{Monitor, Result};
use crate::model::{HvResult, ScanKind};
use crate::pipeline::hv::{ExclusionKind, HvFit, HvFitOptions, HvInput, fit_hv};
use crate::pipeline::output::write_atomic;
use crate::pipeline::plot::{HvPlot, hv_png};
use crate::pipeline::scan::PointLabel;
use crate::store::{Point, PointStatus};

/// Voltages needed before a fit is tried.
pub const MIN_POINTS: usize = 3;

/// The plot's and the fit document's names in the run's local directory.
pub const PLOT_FILE: &str = "hv_fit.png";
pub const FIT_FILE: &str = "hv_fit.json";
/// The lab script's own plot and result (command mode), copied into the run's directory.
pub const LAB_PLOT_FILE: &str = "hv_lab.png";
pub const LAB_FILE: &str = "hv_lab.json";

/// The relative gain error assumed for a point that brings none (the old scripts' bare
/// `_GAIN.txt`), so the fit can weigh it; the fit says so in a warning.
pub const ASSUMED_REL_ERROR: f64 = 0.02;

/// A stored point as the fit's input: its gain, or why it has none.
fn input_of(p: &Point) -> Option<HvInput> {
    let volts =
        p.hv.or_else(|| PointLabel::parse(&p.label).and_then(|l| l.hv()))?;
    let problem = match p.status {
        PointStatus::NoSignal => Some((ExclusionKind::NoSignal, p.message.clone())),
        PointStatus::Failed | PointStatus::FitFailed | PointStatus::Unresolved => Some((
            ExclusionKind::Failed,
            format!("{}: {}", p.status.as_str().replace('_', " "), p.message),
        )),
        PointStatus::Healthy | PointStatus::Warning | PointStatus::Poor => None,
    };
    let error = p
        .gain_err
        .or_else(|| p.gain.map(|g| g.abs() * ASSUMED_REL_ERROR));
    Some(HvInput {
        volts,
        value: if problem.is_none() { p.gain } else { None },
        error: if problem.is_none() { error } else { None },
        problem,
        source: p.label.clone(),
    })
}

/// The fit over a run's finished points (`None` below [`MIN_POINTS`]). Microseconds: a
/// handful of points.
pub fn fit_points<'a>(points: impl IntoIterator<Item = &'a Point>) -> Option<HvFit> {
    let points: Vec<&Point> = points.into_iter().collect();
    let inputs: Vec<HvInput> = points.iter().copied().filter_map(input_of).collect();
    if inputs.len() < MIN_POINTS {
        return None;
    }
    let mut fit = fit_hv(&inputs, &HvFitOptions::default());
    let assumed = points
        .iter()
        .filter(|p| p.gain.is_some() && p.gain_err.is_none())
        .count();
    if assumed > 0 {
        fit.warnings.push(format!(
            "{assumed} gains came without an error (the lab script's _GAIN.txt): {:.0} % \
             was assumed for each",
            ASSUMED_REL_ERROR * 100.0
        ));
    }
    Some(fit)
}

/// A voltage as the result line writes it: `1800`, `1512.5`.
fn volts_text(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// "HV for 1.00e7: 1712 ± 6 V (4 of 5 points; 1800 V excluded: no signal)".
pub fn summary_line(fit: &HvFit, total: usize) -> String {
    let used = fit.points.iter().filter(|p| p.used).count();
    let mut detail = format!("{used} of {total} points");
    if !fit.exclusions.is_empty() {
        let ex: Vec<String> = fit
            .exclusions
            .iter()
            .map(|e| format!("{} V excluded: {}", volts_text(e.volts), e.kind.words()))
            .collect();
        detail.push_str("; ");
        detail.push_str(&ex.join(", "));
    }
    let target = format!("{:.2e}", fit.target);
    match (fit.hv_at_target, fit.hv_at_target_err_total) {
        (Some(v), Some(e)) => format!("HV for {target}: {v:.0} ± {e:.0} V ({detail})"),
        (Some(v), None) => format!("HV for {target}: {v:.0} V, error unknown ({detail})"),
        _ => format!("HV for {target}: no result yet ({detail}; the fit needs {MIN_POINTS})"),
    }
}

/// The stored result and the board's view of a fit.
pub fn check_of(
    run_id: i64,
    serial: &str,
    total: usize,
    fit: &HvFit,
    plot: Option<PathBuf>,
    at: i64,
) -> (HvResult, HvCheck) {
    let result = HvResult {
        run_id,
        serial: serial.to_string(),
        volts: fit.hv_at_target,
        volts_err: fit.hv_at_target.and(fit.hv_at_target_err_total),
        target: fit.target,
        points_used: fit.points.iter().filter(|p| p.used).count() as i64,
        points_total: total as i64,
        summary: summary_line(fit, total),
        at,
    };
    let excluded: BTreeMap<String, String> = fit
        .exclusions
        .iter()
        .map(|e| {
            let label = PointLabel::Hv { volts: e.volts }.label();
            let why = if e.reason.is_empty() {
                e.kind.words().to_string()
            } else {
                format!("{}: {}", e.kind.words(), e.reason)
            };
            (label, why)
        })
        .collect();
    let check = HvCheck {
        result: result.clone(),
        excluded,
        warnings: fit.warnings.clone(),
        plot,
    };
    (result, check)
}

/// Draws the plot and writes it with the fit document into `dir` (blocking: plotters).
fn draw(
    dir: &Path,
    serial: &str,
    run_id: i64,
    fit: &HvFit,
) -> std::result::Result<PathBuf, String> {
    let doc = serde_json::to_vec_pretty(fit).map_err(|e| format!("encoding the fit: {e}"))?;
    write_atomic(&dir.join(FIT_FILE), &doc).map_err(|e| e.to_string())?;
    let png = hv_png(&HvPlot {
        fit,
        title: format!("{serial}  run {run_id}  HV check"),
        quantity: "gain".into(),
    })
    .map_err(|e| format!("drawing the HV plot: {e}"))?;
    let path = dir.join(PLOT_FILE);
    write_atomic(&path, &png).map_err(|e| e.to_string())?;
    Ok(path)
}

/// Fits an HV run's points again (once it has [`MIN_POINTS`]), draws, stores and shows
/// the result. Does nothing for other runs.
pub(crate) async fn refresh(m: &Monitor, run_id: i64) -> Result<()> {
    if let Some(v) = m.snapshot().runs.get(&run_id)
        && v.run.kind != ScanKind::Hv
    {
        return Ok(());
    }
    let (run, points) = m
        .db(move |s| Ok((s.get_run(run_id)?, s.points(run_id)?)))
        .await?;
    let Some(run) = run else { return Ok(()) };
    if run.kind != ScanKind::Hv {
        return Ok(());
    }
    let Some(fit) = fit_points(&points) else {
        return Ok(());
    };
    let total = usize::try_from(run.points_total)
        .unwrap_or(0)
        .max(points.len());
    let dir = m.run_dir(run_id);
    let serial = run.serial.clone();
    let fit2 = fit.clone();
    let drawn = tokio::task::spawn_blocking(move || draw(&dir, &serial, run_id, &fit2)).await;
    let plot = match drawn {
        Ok(Ok(p)) => Some(p),
        Ok(Err(e)) => {
            tracing::warn!(run = run_id, "HV plot not written: {e}");
            None
        }
        Err(e) => {
            tracing::warn!(run = run_id, "HV plot task failed: {e}");
            None
        }
    };
    let (result, check) = check_of(run_id, &run.serial, total, &fit, plot, crate::store::now());
    let saved = result.clone();
    m.db(move |s| s.save_hv_result(&saved)).await?;
    let serial = run.serial.clone();
    m.publish(move |b| {
        if let Some(v) = b.runs.get_mut(&run_id) {
            let v = Arc::make_mut(v);
            v.run.hv = result.volts;
            v.run.hv_err = result.volts_err;
            v.hv = Some(check);
        }
        // Slots of this tube are offered the new voltage.
        if result.volts.is_some() {
            for s in &mut b.slots {
                if s.slot.serial.trim() == serial {
                    s.hv_offer = Some(result.clone());
                }
            }
        }
    });
    Ok(())
}

/// The board's view of an HV run's fit when the board is read again (a restart, a slot
/// change): the fit from its points, the plot if drawn.
pub(crate) fn check_on_reload(
    run_id: i64,
    serial: &str,
    total: i64,
    points: &[Point],
    stored: Option<&HvResult>,
    run_dir: &Path,
) -> Option<HvCheck> {
    let fit = fit_points(points)?;
    let total = usize::try_from(total).unwrap_or(0).max(points.len());
    let plot = Some(run_dir.join(PLOT_FILE)).filter(|p| p.is_file());
    let at = stored.map_or_else(crate::store::now, |h| h.at);
    Some(check_of(run_id, serial, total, &fit, plot, at).1)
}

/// The lab result files in a command-mode mirror: the newest `*_HV_at_gain_*.txt` and
/// `*_gain_vs_hv_loglog.png` (searched at most 6 levels and 20,000 entries deep).
fn find_lab_files(mirror: &Path) -> (Option<PathBuf>, Option<PathBuf>) {
    let mut txt: Option<(std::time::SystemTime, PathBuf)> = None;
    let mut png: Option<(std::time::SystemTime, PathBuf)> = None;
    let mut stack = vec![(mirror.to_path_buf(), 0usize)];
    let mut seen = 0usize;
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > 20_000 {
                break;
            }
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                if depth < 6 {
                    stack.push((path, depth + 1));
                }
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let mtime = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
            let slot = if name.contains("_HV_at_gain_") && name.ends_with(".txt") {
                &mut txt
            } else if name.ends_with("_gain_vs_hv_loglog.png") {
                &mut png
            } else {
                continue;
            };
            if slot.as_ref().is_none_or(|(t, _)| mtime >= *t) {
                *slot = Some((mtime, path));
            }
        }
    }
    (txt.map(|t| t.1), png.map(|p| p.1))
}

/// The voltage in the lab's result file: its first word, a positive number (`2002.3`).
pub fn parse_lab_volts(text: &str) -> Option<f64> {
    text.split_whitespace()
        .next()?
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
}

/// Reads the lab's result from `mirror` and keeps it in `run_dir` (the plot copied, the
/// result as `hv_lab.json`, both atomic). Blocking.
fn collect_lab(mirror: &Path, run_dir: &Path) -> std::result::Result<Option<HvLab>, String> {
    let (txt, png) = find_lab_files(mirror);
    let Some(txt) = txt else { return Ok(None) };
    let bytes = std::fs::read(&txt).map_err(|e| format!("reading {}: {e}", txt.display()))?;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]).into_owned();
    let mut plot = false;
    if let Some(png) = png {
        let data = std::fs::read(&png).map_err(|e| format!("reading {}: {e}", png.display()))?;
        write_atomic(&run_dir.join(LAB_PLOT_FILE), &data).map_err(|e| e.to_string())?;
        plot = true;
    }
    let lab = HvLab {
        volts: parse_lab_volts(&text),
        file: txt
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        plot,
    };
    let doc = serde_json::to_vec_pretty(&lab).map_err(|e| e.to_string())?;
    write_atomic(&run_dir.join(LAB_FILE), &doc).map_err(|e| e.to_string())?;
    Ok(Some(lab))
}

/// Command mode, an HV run: shows the lab script's own result (voltage file and plot) once
/// it was synced into `mirror`. A missing or unreadable one is only logged.
pub(crate) async fn refresh_lab(m: &Monitor, run_id: i64, mirror: &Path) {
    let (mirror, dir) = (mirror.to_path_buf(), m.run_dir(run_id));
    let found = tokio::task::spawn_blocking(move || collect_lab(&mirror, &dir)).await;
    let lab = match found {
        Ok(Ok(Some(lab))) => lab,
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            tracing::warn!(run = run_id, "the lab's HV result was not read: {e}");
            return;
        }
        Err(e) => {
            tracing::warn!(run = run_id, "reading the lab's HV result failed: {e}");
            return;
        }
    };
    m.publish(|b| {
        if let Some(v) = b.runs.get_mut(&run_id)
            && v.hv_lab.as_ref() != Some(&lab)
        {
            Arc::make_mut(v).hv_lab = Some(lab);
        }
    });
}

/// The lab result kept in `run_dir` (see [`refresh_lab`]). Blocking.
pub(crate) fn lab_on_reload(run_dir: &Path) -> Option<HvLab> {
    let bytes = std::fs::read(run_dir.join(LAB_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(volts: f64, status: PointStatus, gain: Option<f64>) -> Point {
        Point {
            run_id: 1,
            label: PointLabel::Hv { volts }.label(),
            theta: None,
            phi: None,
            hv: Some(volts),
            status,
            gain,
            gain_err: gain.map(|g| g * 0.01),
            message: if gain.is_none() {
                "pedestal only".into()
            } else {
                String::new()
            },
            figures: Default::default(),
            at: 0,
        }
    }

    /// A power law with slope 7 and 1e7 at 1700 V; the highest voltage has no signal.
    #[test]
    fn a_dark_voltage_is_excluded_and_the_line_says_so() {
        let g = |v: f64| 1e7 * (v / 1700.0f64).powf(7.0);
        let mut pts: Vec<Point> = [1600.0, 1650.0, 1700.0, 1750.0]
            .into_iter()
            .map(|v| point(v, PointStatus::Healthy, Some(g(v))))
            .collect();
        assert!(fit_points(&pts[..2]).is_none(), "two points: no fit");
        pts.push(point(1800.0, PointStatus::NoSignal, None));
        let fit = fit_points(&pts).expect("a fit");
        let v = fit.hv_at_target.expect("a voltage");
        assert!((v - 1700.0).abs() < 5.0, "{v}");
        let line = summary_line(&fit, 5);
        assert!(line.starts_with("HV for 1.00e7: 170"), "{line}");
        assert!(
            line.ends_with("(4 of 5 points; 1800 V excluded: no signal)"),
            "{line}"
        );
        let (r, c) = check_of(1, "KM7", 5, &fit, None, 9);
        assert_eq!((r.points_used, r.points_total), (4, 5));
        assert!(r.volts_err.is_some_and(|e| e > 0.0));
        assert!(c.excluded["hv1800"].starts_with("no signal"));
    }
}

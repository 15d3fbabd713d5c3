//! Scan-level outputs, written once a scan's points are processed: the scan table
//! (`<stem>.csv` / `<stem>.parquet`) and the gain map over the photocathode
//! (`<stem>_gainmap.png`), plus a [`ScanSummary`] of counts and gains for the terminal.
//! Shared by `process --watch` (end of a scan) and `demo`, so both leave the same files.
//!
//! Decisions, and why:
//! - Names: with a serial `<SN>_scan.csv|parquet` and `<SN>_gainmap.png`; without one
//!   `scan.csv|parquet` and `scan_gainmap.png` — the table names `process --watch` has
//!   always written, so nothing reading them breaks.
//! - The gain map only holds θ/φ points; a scan without any (an HV check) gets no map
//!   rather than an empty picture.
//! - Rows are in scan order ([`PointLabel::cmp_key`]), whatever order the caller collected
//!   the results in, so a watch restarted halfway writes the same table as one that was not.
//! - [`load_results`] reads the `result.json` files already in an output directory, so
//!   the outputs of a restarted watch still cover the points an earlier run processed.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::pipeline::config::AnalysisConfig;
use crate::pipeline::fit::Status;
use crate::pipeline::output::write_atomic;
use crate::pipeline::plot::{MapPoint, gain_map_png};
use crate::pipeline::point::{Health, PointResult};
use crate::pipeline::scan::PointLabel;
use crate::pipeline::table::write_scan_tables;

/// What a scan came to, and where its scan-level files are.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanSummary {
    /// Points with a result document.
    pub points: usize,
    /// Points whose fit status is `ok`.
    pub ok: usize,
    pub healthy: usize,
    pub poor: usize,
    /// Points with a result whose fit status is not `ok` (no signal, too few events, fit
    /// failed). Points that could not be processed at all have no result and are not here.
    pub failed: usize,
    /// Mean, minimum and maximum of the finite gains (`None` without any).
    pub gain_mean: Option<f64>,
    pub gain_min: Option<f64>,
    pub gain_max: Option<f64>,
    pub csv: PathBuf,
    pub parquet: PathBuf,
    /// `None` when the scan has no θ/φ point.
    pub gain_map: Option<PathBuf>,
}

/// Counts and gain statistics of `results` (paths left empty).
fn summarize(results: &[PointResult]) -> ScanSummary {
    let ok = results.iter().filter(|r| r.status == Status::Ok).count();
    let healthy = results
        .iter()
        .filter(|r| r.health == Health::Healthy)
        .count();
    let gains: Vec<f64> = results
        .iter()
        .filter_map(|r| r.gain)
        .filter(|g| g.is_finite())
        .collect();
    let (gain_mean, gain_min, gain_max) = if gains.is_empty() {
        (None, None, None)
    } else {
        (
            Some(gains.iter().sum::<f64>() / gains.len() as f64),
            gains.iter().copied().reduce(f64::min),
            gains.iter().copied().reduce(f64::max),
        )
    };
    ScanSummary {
        points: results.len(),
        ok,
        healthy,
        poor: results.len() - healthy,
        failed: results.len() - ok,
        gain_mean,
        gain_min,
        gain_max,
        csv: PathBuf::new(),
        parquet: PathBuf::new(),
        gain_map: None,
    }
}

/// Scan order of two results: by parsed label, labels that do not parse last by name.
fn scan_order(a: &PointResult, b: &PointResult) -> Ordering {
    match (PointLabel::parse(&a.point), PointLabel::parse(&b.point)) {
        (Some(x), Some(y)) => x.cmp_key(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.point.cmp(&b.point),
    }
    .then_with(|| a.point.cmp(&b.point))
}

/// Writes the scan table (CSV and Parquet) and, when the scan has θ/φ points, the gain
/// map into `out_dir`, each atomically, and returns the summary with the paths written.
pub fn write_scan_outputs(
    results: &[PointResult],
    out_dir: &Path,
    serial: Option<&str>,
    cfg: &AnalysisConfig,
) -> anyhow::Result<ScanSummary> {
    let mut sorted: Vec<&PointResult> = results.iter().collect();
    sorted.sort_by(|a, b| scan_order(a, b));
    let sorted: Vec<PointResult> = sorted.into_iter().cloned().collect();
    let mut summary = summarize(&sorted);

    let (table_stem, map_name) = match serial {
        Some(sn) => (format!("{sn}_scan"), format!("{sn}_gainmap.png")),
        None => ("scan".to_string(), "scan_gainmap.png".to_string()),
    };
    let (csv, parquet) = write_scan_tables(&sorted, out_dir, &table_stem).with_context(|| {
        format!(
            "writing the scan table {table_stem}.csv|parquet in {}",
            out_dir.display()
        )
    })?;
    summary.csv = csv;
    summary.parquet = parquet;

    let map_points: Vec<MapPoint> = sorted
        .iter()
        .filter_map(|r| {
            Some(MapPoint {
                label: r.point.clone(),
                theta: r.theta?,
                phi: r.phi?,
                gain: r.gain,
                healthy: r.health == Health::Healthy,
            })
        })
        .collect();
    if !map_points.is_empty() {
        let title = format!(
            "{}  gain map  {} of {} points ok",
            serial.unwrap_or("(no serial)"),
            summary.ok,
            summary.points
        );
        let health = (cfg.health.gain_min, cfg.health.gain_max);
        let path = out_dir.join(&map_name);
        let png = gain_map_png(&map_points, &title, health)
            .with_context(|| format!("drawing the gain map {}", path.display()))?;
        write_atomic(&path, &png).with_context(|| format!("writing {}", path.display()))?;
        summary.gain_map = Some(path);
    }
    Ok(summary)
}

/// The result documents in `out_dir/<label>/result.json` for each of `labels`; a label
/// without one (not processed, or failed) is skipped, as is a document that does not
/// parse (a warning says which), since the scan outputs are only a view of the results.
pub fn load_results<'a>(
    out_dir: &Path,
    labels: impl IntoIterator<Item = &'a str>,
) -> Vec<PointResult> {
    let mut out = Vec::new();
    for label in labels {
        let path = out_dir.join(label).join("result.json");
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                eprintln!("warning: cannot read {}: {e}", path.display());
                continue;
            }
        };
        match serde_json::from_slice(&bytes) {
            Ok(r) => out.push(r),
            Err(e) => eprintln!("warning: {} is not a result document: {e}", path.display()),
        }
    }
    out
}

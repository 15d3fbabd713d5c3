//! One point, once: its files copied here first (atomically), then the store (the `(run,
//! label)` key drops repeats), then the board. Labels are checked ([`Label`]) before they
//! name a directory.

use std::path::Path;
use std::sync::Arc;

use super::create_dir;
use crate::model::PointFigures;
use crate::monitor::{Error, Monitor, Result};
use crate::pipeline::fit::Status;
use crate::pipeline::label::Label;
use crate::pipeline::point::{Health, PointResult};
use crate::pipeline::scan::PointLabel;
use crate::remote::follow::PointEvent;
use crate::store::{self, Point, PointStatus};

/// The stored form of a point event.
fn point_of(run_id: i64, e: &PointEvent) -> Point {
    let now = store::now();
    match e {
        PointEvent::Done(r) => {
            let status = match r.status {
                Status::Ok => match r.health {
                    Health::Healthy => PointStatus::Healthy,
                    Health::Warning => PointStatus::Warning,
                    Health::Poor => PointStatus::Poor,
                },
                Status::NoSignal => PointStatus::NoSignal,
                Status::Unresolved => PointStatus::Unresolved,
                Status::InsufficientData | Status::FitFailed => PointStatus::FitFailed,
            };
            Point {
                run_id,
                label: r.point.clone(),
                theta: r.theta,
                phi: r.phi,
                hv: r.hv,
                status,
                gain: r.gain,
                gain_err: r.gain_err,
                // Why the cell has its colour: the status's reason, else the health's.
                message: r.message.clone().unwrap_or_else(|| r.health_reason.clone()),
                figures: figures_of(r),
                at: now,
            }
        }
        PointEvent::Failed { label, error } => {
            let p = PointLabel::parse(label.as_str());
            Point {
                run_id,
                label: label.to_string(),
                theta: p.and_then(|p| p.theta()),
                phi: p.and_then(|p| p.phi()),
                hv: p.and_then(|p| p.hv()),
                status: PointStatus::Failed,
                gain: None,
                gain_err: None,
                message: error.clone(),
                figures: Default::default(),
                at: now,
            }
        }
    }
}

/// The figures a grid cell can be coloured by, and the criteria that were not healthy.
fn figures_of(r: &PointResult) -> PointFigures {
    let f = &r.figures;
    let mut flagged: Vec<(Health, &str)> = r
        .checks
        .iter()
        .filter(|c| c.verdict != Health::Healthy)
        .map(|c| (c.verdict, c.criterion.label()))
        .collect();
    flagged.sort_by_key(|(h, _)| *h != Health::Poor);
    PointFigures {
        resolution: f.spe_resolution.as_ref().map(|p| p.value),
        peak_to_valley: f.peak_to_valley_model,
        dark_rate_hz: f.darkness.as_ref().map(|d| d.rate_hz.value),
        tts_fwhm_ns: f.timing.as_ref().and_then(|t| t.tts_fwhm_ns),
        relative_efficiency: f.relative_efficiency.as_ref().map(|p| p.value),
        reference_occupancy: f
            .reference
            .as_ref()
            .and_then(|r| r.occupancy.as_ref())
            .map(|p| p.value),
        flagged: flagged
            .into_iter()
            .map(|(h, c)| (c.to_string(), h.as_str().to_string()))
            .collect(),
    }
}

fn label_of(e: &PointEvent) -> &str {
    match e {
        PointEvent::Done(r) => &r.point,
        PointEvent::Failed { label, .. } => label.as_str(),
    }
}

/// Copies `src` to `dest` atomically (temp name in the same directory, flushed to disk,
/// then renamed); a failed copy leaves no `.part` file behind.
pub(super) async fn copy_atomic(src: &Path, dest: &Path) -> std::io::Result<()> {
    let tmp = dest.with_extension(format!(
        "{}.part",
        dest.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    let copied = async {
        tokio::fs::copy(src, &tmp).await?;
        tokio::fs::File::open(&tmp).await?.sync_all().await?;
        tokio::fs::rename(&tmp, dest).await
    }
    .await;
    if copied.is_err() {
        // Best effort: the error that matters is the copy's.
        let _ = tokio::fs::remove_file(&tmp).await;
    }
    copied
}

/// Files local, then the store, then the board: one point, once. `true` when it was new.
pub(super) async fn record(
    m: &Monitor,
    run_id: i64,
    e: &PointEvent,
    copy_from: Option<&Path>,
    local_dir: &Path,
) -> Result<bool> {
    let label = label_of(e);
    if !Label::is_valid(label) {
        tracing::warn!(run = run_id, "refused point label {label:?}");
        return Ok(false);
    }
    if let Some(from) = copy_from {
        let dir = local_dir.join(label);
        create_dir(&dir).await?;
        for name in ["charge.png", "result.json", "failed.json"] {
            let src = from.join(label).join(name);
            match copy_atomic(&src, &dir.join(name)).await {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(Error::Io {
                        what: format!("copying {}", src.display()),
                        source,
                    });
                }
            }
        }
    }
    // The result file's age when the point reaches the grid: the point → grid latency.
    let written = tokio::fs::metadata(local_dir.join(label).join("result.json"))
        .await
        .and_then(|meta| meta.modified())
        .ok();
    let point = point_of(run_id, e);
    let status = point.status;
    let new = insert(m, point).await?;
    if new {
        let processing = match e {
            PointEvent::Done(r) => Some(r.timings_ms.total / 1000.0),
            _ => None,
        };
        let latency = written
            .and_then(|w| std::time::SystemTime::now().duration_since(w).ok())
            .map(|d| d.as_secs_f64());
        m.metrics()
            .point_recorded(status.as_str(), processing, latency);
    }
    Ok(new)
}

/// Stores a point and, when it is new, shows it.
pub(super) async fn insert(m: &Monitor, point: Point) -> Result<bool> {
    let run_id = point.run_id;
    let p = point.clone();
    let new = m.db(move |s| s.insert_point(&p)).await?;
    if new {
        logbook_for_point(m, &point).await;
        m.publish(|b| {
            if let Some(v) = b.runs.get_mut(&point.run_id) {
                let v = Arc::make_mut(v);
                v.points.insert(point.label.clone(), point);
                v.run.points_done = v.points.len() as i64;
            }
        });
        // An HV check fits again with every new voltage; its failure is not the point's.
        if let Err(e) = crate::monitor::hv::refresh(m, run_id).await {
            tracing::warn!(run = run_id, "the HV fit was not updated: {e}");
        }
    }
    if new {
        m.poke_alarms();
    }
    Ok(new)
}

/// The logbook's automatic entries a new point causes: every N points, and an HV change
/// (the previous point of the run at another voltage). Called before the board shows it.
async fn logbook_for_point(m: &Monitor, point: &Point) {
    let board = m.snapshot();
    let Some(v) = board.runs.get(&point.run_id) else {
        return;
    };
    let every = m.alarm_config().log_every_points;
    let done = v.points.len() as i64 + 1;
    if every > 0 && done % every == 0 {
        m.log_auto(
            point.run_id,
            format!("{done} of {} points done", v.run.points_total),
        )
        .await;
    }
    let previous_hv = v
        .points
        .values()
        .filter(|p| p.hv.is_some())
        .max_by_key(|p| p.at)
        .and_then(|p| p.hv);
    if let (Some(before), Some(now)) = (previous_hv, point.hv)
        && (before - now).abs() > 1e-6
    {
        m.log_auto(
            point.run_id,
            format!(
                "HV changed: {before:.0} V → {now:.0} V (point {})",
                point.label
            ),
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (issue 10, finding 8): a copy that failed left its `.part` file behind.
    #[tokio::test]
    async fn a_failed_copy_leaves_no_part_file() {
        let d = tempfile::tempdir().expect("tempdir");
        let src = d.path().join("charge.png");
        std::fs::write(&src, b"png").expect("write");
        // The destination is a directory: the final rename fails after the copy.
        let dest = d.path().join("out.png");
        std::fs::create_dir(&dest).expect("mkdir");
        assert!(copy_atomic(&src, &dest).await.is_err());
        assert!(
            !d.path().join("out.png.part").exists(),
            "a .part file is left"
        );
        let ok = d.path().join("ok.png");
        copy_atomic(&src, &ok).await.expect("copy");
        assert_eq!(std::fs::read(&ok).expect("read"), b"png");
    }
}

//! Review and cleanup. Flag (with a reason) and archive move a finished run's result
//! directory, where the work ran, into the profile's flag or archive area — a verified move
//! (`remote::moves`: same inventory at the destination, source gone, nothing overwritten),
//! over SSH or on this machine. The run shows `flag_requested` / `archive_requested` until
//! the move is confirmed; a failed move puts the review back and says why. Cleanup removes
//! local copies of results (by default only of reviewed runs), with a preview first.

use std::path::Path;

use serde_json::json;

use super::engine::spec_of;
use super::{Monitor, Result, refused};
use crate::remote::backend::{Backend, Handle};
use crate::remote::moves::move_dir;
use crate::store::{self, Review, Run};

/// What the operator decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewAction {
    Archive,
    /// Flag the run for a closer look; the reason is required.
    Flag {
        reason: String,
    },
}

/// Which local copies a cleanup removes.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CleanupRequest {
    /// Only runs that ended more than this many hours ago (`None`: all).
    pub older_than_hours: Option<f64>,
    /// Also runs nobody has reviewed yet (the operator confirmed this).
    pub include_unreviewed: bool,
}

/// One run's local copy a cleanup removes (or would).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CleanupItem {
    pub run_id: i64,
    pub serial: String,
    pub review: Review,
    pub ended_at: Option<i64>,
    pub bytes: u64,
    pub files: u64,
}

/// The destination's name: `<SN>_run<id>`, unique per run.
fn dest_name(run: &Run) -> String {
    format!("{}_run{}", run.serial, run.id)
}

pub(super) async fn review(
    m: &Monitor,
    run_id: i64,
    action: ReviewAction,
    by: &str,
    automatic: bool,
) -> Result<Run> {
    let run = m
        .db(move |s| s.get_run(run_id))
        .await?
        .ok_or_else(|| refused(format!("run {run_id} does not exist")))?;
    if !run.state.is_final() {
        return Err(refused(format!(
            "run {run_id} is {}: stop it (or let it finish) before reviewing it",
            run.state
        )));
    }
    if run.review != Review::Unreviewed {
        return Err(refused(format!(
            "run {run_id} is already {}{}",
            run.review,
            if run.review_dest.is_empty() {
                String::new()
            } else {
                format!(" ({})", run.review_dest)
            }
        )));
    }
    let (requested, done, reason) = match &action {
        ReviewAction::Archive => (Review::ArchiveRequested, Review::Archived, String::new()),
        ReviewAction::Flag { reason } => {
            let r = reason.trim();
            if r.is_empty() {
                return Err(refused(
                    "flagging needs a reason: say what is wrong with the run",
                ));
            }
            if r.chars().count() > 1000 || r.chars().any(|c| c.is_control() && c != '\n') {
                return Err(refused(
                    "the reason is at most 1000 characters of plain text",
                ));
            }
            (Review::FlagRequested, Review::Flagged, r.to_string())
        }
    };
    let spec = spec_of(&run)?;
    let area = match done {
        Review::Flagged => spec.flag_dir.clone(),
        _ => spec.archive_dir.clone(),
    };
    let (r2, b2) = (reason.clone(), by.to_string());
    let run = m
        .db(move |s| s.set_review(run_id, requested, &r2, &b2, ""))
        .await?;
    m.publish_run(run);
    let moved = move_run_data(m, &run_id, &spec, &area).await;
    let audit_action = match done {
        Review::Flagged => "run_flag",
        _ => "run_archive",
    };
    match moved {
        Ok((src, dest)) => {
            let (r2, b2, d2) = (reason.clone(), by.to_string(), dest.clone());
            let run = m
                .db(move |s| s.set_review(run_id, done, &r2, &b2, &d2))
                .await?;
            let details = json!({
                "run": run_id, "serial": run.serial, "reason": reason, "from": src,
                "to": dest, "automatic": automatic,
            });
            let actor = by.to_string();
            m.db(move |s| s.audit(&actor, audit_action, &details))
                .await?;
            m.publish_run(run.clone());
            Ok(run)
        }
        Err(e) => {
            let b2 = by.to_string();
            let run = m
                .db(move |s| s.set_review(run_id, Review::Unreviewed, "", &b2, ""))
                .await?;
            m.publish_run(run);
            let details = json!({ "run": run_id, "error": e.to_string(), "automatic": automatic });
            let actor = by.to_string();
            m.db(move |s| s.audit(&actor, "run_review_failed", &details))
                .await?;
            Err(refused(format!(
                "the run's data could not be moved to {area}, so it stays unreviewed: {e}"
            )))
        }
    }
}

/// Moves the run's result directory into `area` where the work ran; `(from, to)`. A run
/// without a result directory (it never started) has nothing to move.
async fn move_run_data(
    m: &Monitor,
    run_id: &i64,
    spec: &super::ProfileSpec,
    area: &str,
) -> Result<(String, String)> {
    let id = *run_id;
    let run = m
        .db(move |s| s.get_run(id))
        .await?
        .ok_or_else(|| refused(format!("run {id} does not exist")))?;
    if run.remote_out.is_empty() {
        return Ok((String::new(), String::new()));
    }
    let backend = Backend::new(spec.backend_config(m.program())?)?;
    let name = dest_name(&run);
    let report = match backend.handle().await? {
        Handle::Local(h) => move_or_nothing(&h, &run.remote_out, area, &name).await?,
        Handle::Ssh(s) => move_or_nothing(s.as_ref(), &run.remote_out, area, &name).await?,
    };
    Ok(report)
}

/// A verified move; a source that never came to exist (no point ever written) is not an
/// error: there is nothing to move.
async fn move_or_nothing(
    exec: &impl crate::remote::exec::Exec,
    src: &str,
    area: &str,
    name: &str,
) -> Result<(String, String)> {
    let out = exec.run(&["test", "-e", src]).await?;
    if out.status == Some(1) {
        return Ok((src.to_string(), String::new()));
    }
    let r = move_dir(exec, src, area, name).await?;
    Ok((r.src, r.dest))
}

/// Total size and count of the regular files under `dir` (blocking; small trees).
fn tree_size(dir: &Path) -> (u64, u64) {
    let mut bytes = 0;
    let mut files = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => {
                    files += 1;
                    bytes += e.metadata().map(|md| md.len()).unwrap_or(0);
                }
                _ => {}
            }
        }
    }
    (bytes, files)
}

pub(super) async fn cleanup_preview(m: &Monitor, req: CleanupRequest) -> Result<Vec<CleanupItem>> {
    if let Some(h) = req.older_than_hours
        && !(h.is_finite() && h >= 0.0)
    {
        return Err(refused("\"older than\" must be a number of hours ≥ 0"));
    }
    let runs = m
        .db(|s| {
            s.runs(&store::RunFilter {
                limit: Some(100_000),
                ..store::RunFilter::default()
            })
        })
        .await?;
    let now = store::now();
    let root = m.data_dir().join("runs");
    let items = tokio::task::spawn_blocking(move || {
        runs.into_iter()
            .filter(|r| r.state.is_final() && !r.local_removed)
            .filter(|r| req.include_unreviewed || r.review.is_reviewed())
            .filter(|r| match (req.older_than_hours, r.ended_at) {
                (None, _) => true,
                (Some(h), Some(end)) => (now - end) as f64 >= h * 3600.0,
                (Some(_), None) => false,
            })
            .filter_map(|r| {
                let dir = root.join(r.id.to_string());
                dir.is_dir().then(|| {
                    let (bytes, files) = tree_size(&dir);
                    CleanupItem {
                        run_id: r.id,
                        serial: r.serial,
                        review: r.review,
                        ended_at: r.ended_at,
                        bytes,
                        files,
                    }
                })
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| refused(format!("the cleanup preview failed: {e}")))?;
    Ok(items)
}

pub(super) async fn cleanup(
    m: &Monitor,
    req: CleanupRequest,
    by: &str,
) -> Result<Vec<CleanupItem>> {
    let items = cleanup_preview(m, req).await?;
    let root = m.data_dir().join("runs");
    let mut removed = Vec::new();
    for item in items {
        let dir = root.join(item.run_id.to_string());
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => {
                let id = item.run_id;
                m.db(move |s| s.mark_local_removed(id)).await?;
                removed.push(item);
            }
            Err(e) => tracing::warn!("cleanup: cannot remove {}: {e}", dir.display()),
        }
    }
    let details = json!({
        "older_than_hours": req.older_than_hours,
        "include_unreviewed": req.include_unreviewed,
        "runs": removed.iter().map(|i| i.run_id).collect::<Vec<_>>(),
        "bytes": removed.iter().map(|i| i.bytes).sum::<u64>(),
    });
    let actor = by.to_string();
    m.db(move |s| s.audit(&actor, "cleanup", &details)).await?;
    Ok(removed)
}

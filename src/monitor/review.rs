//! Review and cleanup. Flag (with a reason) and archive move a finished run's result
//! directory, where the work ran, into the profile's flag or archive area — a verified move
//! (`remote::moves`: same inventory at the destination, source gone, nothing overwritten),
//! over SSH or on this machine. Local copies of results are removed by a cleanup (by
//! default only of reviewed runs), with a preview first.
//!
//! Rules that keep a run's data where the store says it is:
//! - **One winner.** `unreviewed → *_requested` is one conditional store transition that
//!   also records the source and destination; a second reviewer is told who won and when.
//!   The end (`*_requested → archived | flagged`, or back to `unreviewed` when the move
//!   failed) is conditional too and is written with its audit entry in one transaction.
//! - **No job writes into a moved directory.** A run with a job that has not ended has it
//!   cancelled (the run's message and the audit entry say so) and waited for first; when
//!   its state cannot be known, nothing moves.
//! - **A missing source is an error**, except for a run that never started running.
//! - **A crash mid-review is resolved at start** ([`recover`]): source and destination are
//!   looked at and the review finished or rolled back, with an audit entry.
//! - **Command mode** moves only the run's serial (`scan_output_<stamp>/<SN>`), or the
//!   whole stamp directory when it holds nothing else.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use super::engine::{parse_job, spec_of};
use super::{Error, Mode, Monitor, ProfileSpec, Result, refused};
use crate::model::{Review, Run};
use crate::remote::backend::{Backend, Handle};
use crate::remote::exec::Exec;
use crate::remote::jobs;
use crate::remote::moves::{Settled, move_dir, settle};
use crate::store::{self, ReviewStep};

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

/// How long a review waits for a job it cancelled to end before it gives up (nothing
/// moved).
const JOB_END_WAIT: Duration = Duration::from_secs(60);

/// A review step as the store records it (owned, to cross onto the blocking pool).
struct Step {
    review: Review,
    reason: String,
    by: String,
    src: String,
    dest: String,
}

impl Step {
    fn back() -> Step {
        Step {
            review: Review::Unreviewed,
            reason: String::new(),
            by: String::new(),
            src: String::new(),
            dest: String::new(),
        }
    }
}

/// One conditional transition of the run's review (`from` → `to`) with its audit entry,
/// in one store transaction. `Err(run)`: the run was not in `from`; it is as `run` says.
async fn transition(
    m: &Monitor,
    run_id: i64,
    from: Review,
    to: Step,
    audit: Option<(String, &'static str, serde_json::Value)>,
) -> Result<std::result::Result<Run, Run>> {
    let r = m
        .db(move |s| {
            let step = ReviewStep {
                review: to.review,
                reason: &to.reason,
                by: &to.by,
                src: &to.src,
                dest: &to.dest,
            };
            let audit = audit.as_ref().map(|(a, b, c)| (a.as_str(), *b, c));
            s.transition_review(run_id, from, step, audit)
        })
        .await?;
    match &r {
        Ok(run) | Err(run) => m.publish_run(run.clone()),
    }
    if let Ok(run) = &r
        && run.review.is_reviewed()
    {
        let text = if run.review == Review::Flagged {
            format!("Flagged by {}: {}", run.reviewed_by, run.review_reason)
        } else {
            format!("Archived by {}", run.reviewed_by)
        };
        m.log_auto(run_id, text).await;
    }
    Ok(r)
}

/// Why a run cannot be reviewed now, told the way the operator needs it: who reviewed it,
/// when, and where its data is.
fn not_reviewable(run: &Run) -> String {
    let by = if run.reviewed_by.is_empty() {
        String::new()
    } else {
        format!(" by {}", run.reviewed_by)
    };
    let when = run.reviewed_at.map(store::rfc3339);
    let at = when
        .as_ref()
        .map(|t| format!(" at {t}"))
        .unwrap_or_default();
    let since = when.map(|t| format!(" since {t}")).unwrap_or_default();
    match run.review {
        Review::Unreviewed => format!(
            "run {} is {}: stop it (or let it finish) before reviewing it",
            run.id, run.state
        ),
        Review::ArchiveRequested | Review::FlagRequested => format!(
            "run {} is already being {}{by}{since}; its data is moving to {}",
            run.id,
            if run.review == Review::FlagRequested {
                "flagged"
            } else {
                "archived"
            },
            if run.review_dest.is_empty() {
                "nowhere (it has none)"
            } else {
                run.review_dest.as_str()
            }
        ),
        Review::Archived | Review::Flagged => format!(
            "run {} is already {}{by}{at}{}",
            run.id,
            run.review,
            if run.review_dest.is_empty() {
                String::new()
            } else {
                format!("; its data is in {}", run.review_dest)
            }
        ),
    }
}

/// The audit action of a finished review.
fn audit_action(done: Review) -> &'static str {
    match done {
        Review::Flagged => "run_flag",
        _ => "run_archive",
    }
}

/// What a review moves.
struct Plan {
    /// The directory to move; empty when the run has no data where the work ran.
    src: String,
    /// `<area>/<SN>_run<id>`, or empty with `src`.
    dest: String,
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
    // A fast answer; the store's conditional transition below is what decides.
    if !run.state.is_final() || run.review != Review::Unreviewed {
        return Err(refused(not_reviewable(&run)));
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
    let backend = Backend::new(spec.backend_config(m.program())?)?;
    let plan = plan(&backend, &run, &spec, &area).await?;

    // The one conditional transition: of two reviewers, exactly one gets here.
    let step = Step {
        review: requested,
        reason: reason.clone(),
        by: by.to_string(),
        src: plan.src.clone(),
        dest: plan.dest.clone(),
    };
    if let Err(now) = transition(m, run_id, Review::Unreviewed, step, None).await? {
        return Err(refused(not_reviewable(&now)));
    }

    let moved = async {
        let note = ensure_job_ended(&backend, &run, by).await?;
        if let Some(n) = &note {
            let (id, text) = (run_id, format!("{}; {n}", run.message));
            m.db(move |s| s.set_run_message(id, &text)).await?;
        }
        let dest = move_data(&backend, &plan, &area, &dest_name(&run)).await?;
        Ok::<_, Error>((note, dest))
    }
    .await;
    match moved {
        Ok((note, dest)) => {
            let details = json!({
                "run": run_id, "serial": run.serial, "reason": reason, "from": plan.src,
                "to": dest, "automatic": automatic, "cancelled_job": note,
            });
            let step = Step {
                review: done,
                reason,
                by: by.to_string(),
                src: plan.src.clone(),
                dest,
            };
            let audit = Some((by.to_string(), audit_action(done), details));
            match transition(m, run_id, requested, step, audit).await? {
                Ok(run) => Ok(run),
                Err(now) => Err(refused(format!(
                    "the run's data was moved to {}, but the run changed meanwhile: {}",
                    plan.dest,
                    not_reviewable(&now)
                ))),
            }
        }
        Err(e) => {
            let details = json!({ "run": run_id, "error": e.to_string(), "automatic": automatic });
            let audit = Some((by.to_string(), "run_review_failed", details));
            if let Err(now) = transition(m, run_id, requested, Step::back(), audit).await? {
                tracing::warn!(run = run_id, review = %now.review, "review changed meanwhile");
            }
            Err(refused(format!(
                "the run's data could not be moved to {area}, so it stays unreviewed: {e}"
            )))
        }
    }
}

/// Which directory the review moves. A pipeline run's result directory is its own. A
/// command-mode run's `scan_output_<stamp>` may hold other tubes' data (one `<SN>`
/// directory each): only this serial's part moves, unless the stamp holds nothing else.
/// A run that never started running never had a result directory of its own: when none
/// is there, there is nothing to move; any other missing source is an error (the move
/// says so), never an empty success.
async fn plan(backend: &Backend, run: &Run, spec: &ProfileSpec, area: &str) -> Result<Plan> {
    let nothing = Plan {
        src: String::new(),
        dest: String::new(),
    };
    if run.remote_out.is_empty() {
        return Ok(nothing);
    }
    let h = backend.handle().await?;
    let stamp = run.remote_out.trim_end_matches('/').to_string();
    if run.started_at.is_none() && h.run(&["test", "-e", &stamp]).await?.status == Some(1) {
        return Ok(nothing);
    }
    let src = match spec.mode {
        Mode::Pipeline => stamp,
        Mode::Command => {
            let listing = h
                .run(&[
                    "find",
                    &stamp,
                    "-mindepth",
                    "1",
                    "-maxdepth",
                    "1",
                    "-printf",
                    "%f\\n",
                ])
                .await?;
            let others = listing
                .stdout
                .lines()
                .any(|name| !name.is_empty() && name != run.serial);
            if listing.success() && !others {
                stamp
            } else {
                format!("{stamp}/{}", run.serial)
            }
        }
    };
    let dest = format!("{}/{}", area.trim_end_matches('/'), dest_name(run));
    Ok(Plan { src, dest })
}

/// A run whose job may still write cannot be moved: the job is polled, and one that has
/// not ended is cancelled (the returned note tells the operator) and waited for. When its
/// state cannot be known (the cluster does not answer), nothing moves.
async fn ensure_job_ended(backend: &Backend, run: &Run, by: &str) -> Result<Option<String>> {
    let Some(job) = parse_job(run) else {
        return Ok(None);
    };
    let host = backend.host_label();
    let unknown = |e: crate::remote::Error| {
        refused(format!(
            "cannot tell whether {job} has ended ({e}), and a job that still writes would \
             split the run's data: nothing was moved — try again when {host} answers"
        ))
    };
    let info = backend.poll_job(&job).await.map_err(unknown)?;
    if jobs::is_final(&info.state) {
        return Ok(None);
    }
    let was = info.summary();
    backend.cancel_job(&job).await.map_err(unknown)?;
    let info = backend
        .wait_job(&job, JOB_END_WAIT, |_| {})
        .await
        .map_err(unknown)?;
    if !jobs::is_final(&info.state) {
        return Err(refused(format!(
            "{job} still runs ({}) although it was cancelled: nothing was moved",
            info.summary()
        )));
    }
    Ok(Some(format!(
        "{job} had not ended ({was}): {by} cancelled it for the review"
    )))
}

/// Moves the planned directory into `area` where the work ran; returns where it went.
async fn move_data(backend: &Backend, plan: &Plan, area: &str, name: &str) -> Result<String> {
    if plan.src.is_empty() {
        return Ok(String::new());
    }
    let r = match backend.handle().await? {
        Handle::Local(h) => move_dir(&h, &plan.src, area, name).await?,
        Handle::Ssh(s) => move_dir(s.as_ref(), &plan.src, area, name).await?,
    };
    Ok(r.dest)
}

/// Finishes or rolls back a review that a stopped server left `*_requested`, by looking
/// at the source and the destination the store recorded; audit-logged either way. Left
/// as it is (and said in the log and the audit) when neither side is complete or the
/// host cannot be reached.
pub(super) async fn recover(m: &Monitor, run: Run, src: String) {
    let id = run.id;
    let done = match run.review {
        Review::FlagRequested => Review::Flagged,
        _ => Review::Archived,
    };
    let settled = async {
        if src.is_empty() {
            return Ok(Settled::Moved);
        }
        let spec = spec_of(&run)?;
        let backend = Backend::new(spec.backend_config(m.program())?)?;
        let r = match backend.handle().await? {
            Handle::Local(h) => settle(&h, &src, &run.review_dest, None).await?,
            Handle::Ssh(s) => settle(s.as_ref(), &src, &run.review_dest, None).await?,
        };
        Ok::<_, Error>(r)
    }
    .await;
    let base = json!({
        "run": id, "serial": run.serial, "from": src, "to": run.review_dest,
        "reason": run.review_reason, "requested_by": run.reviewed_by, "recovered": true,
    });
    let (step, action) = match settled {
        Ok(Settled::Moved) => (
            Step {
                review: done,
                reason: run.review_reason.clone(),
                by: run.reviewed_by.clone(),
                src: src.clone(),
                dest: run.review_dest.clone(),
            },
            audit_action(done),
        ),
        Ok(Settled::NotMoved) => (Step::back(), "run_review_rolled_back"),
        Err(e) => {
            tracing::error!(run = id, "an interrupted review could not be resolved: {e}");
            let mut details = base;
            details["error"] = json!(e.to_string());
            let r = m
                .db(move |s| s.audit("monitor", "run_review_unresolved", &details))
                .await;
            if let Err(e) = r {
                tracing::error!(run = id, "recording that failed too: {e}");
            }
            return;
        }
    };
    let from = run.review;
    match transition(m, id, from, step, Some(("monitor".into(), action, base))).await {
        Ok(Ok(run)) => {
            tracing::info!(run = id, review = %run.review, "interrupted review resolved")
        }
        Ok(Err(now)) => tracing::info!(run = id, review = %now.review, "review changed meanwhile"),
        Err(e) => tracing::error!(run = id, "recording the resolved review failed: {e}"),
    }
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

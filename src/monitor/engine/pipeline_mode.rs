//! Pipeline mode: a `pmtwatch process --watch` scan where the profile says — streamed
//! locally or over SSH, or a SLURM job whose id is stored *before* it is followed (a resumed
//! run follows the stored job instead of submitting again). A resumed run first syncs what
//! finished while nobody was watching; job polls move the run between `running` and
//! `cluster_unreachable`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::machine::Event;
use super::record::record;
use super::{apply, parse_job, store_job, stored_labels};
use crate::model::{Run, ScanKind};
use crate::monitor::profile::ProfileSpec;
use crate::monitor::{Monitor, Result, refused};
use crate::pipeline::serial::Serial;
use crate::remote::backend::{Backend, JobEvent, Kind};
use crate::remote::exec::Exec;
use crate::remote::follow::{PointEvent, RemoteScan, ResultSource, sync_results};

/// The run's result directory where the work runs: `<work_dir>/runs/<id>-<SN>`.
pub(super) fn remote_out(spec: &ProfileSpec, run: &Run) -> String {
    if !run.remote_out.is_empty() {
        return run.remote_out.clone();
    }
    format!(
        "{}/runs/{}-{}",
        spec.work_dir.trim_end_matches('/'),
        run.id,
        run.serial
    )
}

/// The scan to follow for a pipeline-mode run, its config installed where the work runs.
pub(super) async fn prepare_scan(
    m: &Monitor,
    run: &Run,
    spec: &ProfileSpec,
    backend: &Backend,
) -> Result<RemoteScan> {
    let serial = Serial::parse(&run.serial).map_err(|e| refused(format!("serial number: {e}")))?;
    let out = remote_out(spec, run);
    if run.remote_out != out {
        let (id, o) = (run.id, out.clone());
        m.db(move |s| s.set_run_remote_out(id, &o)).await?;
    }
    let config_path = format!(
        "{}/.pmtwatch/run-{}.toml",
        spec.work_dir.trim_end_matches('/'),
        run.id
    );
    let text = toml::to_string(&spec.analysis_for(run.kind))
        .map_err(|e| refused(format!("the analysis settings cannot be written: {e}")))?;
    backend.install_file(&config_path, &text).await?;
    // The result directory exists before anything follows it (a SLURM job may start late).
    backend
        .handle()
        .await?
        .run_ok(&["mkdir", "-p", "--", &out])
        .await?;
    Ok(RemoteScan {
        scan_dir: spec.scan_root.clone(),
        serial,
        out_dir: out,
        points: spec.points(run.kind).len(),
        settle_secs: spec.settle_secs,
        config: Some(config_path),
    })
}

/// Where the backend's results are read from for a sync: over SFTP, or where they are.
pub(super) async fn with_source<T>(
    backend: &Backend,
    f: impl AsyncFnOnce(ResultSource<'_>) -> Result<T>,
) -> Result<T> {
    let transfer = backend.transfer().await?;
    let r = f(transfer
        .as_ref()
        .map_or(ResultSource::Local, ResultSource::Remote))
    .await;
    if let Some(t) = transfer
        && let Err(e) = t.close().await
    {
        tracing::debug!("closing an SFTP channel: {e}");
    }
    r
}

/// Reads the result directory and records every point not stored yet.
pub(super) async fn resync(
    m: &Monitor,
    run: &Run,
    scan: &RemoteScan,
    backend: &Backend,
    local_dir: &Path,
) -> Result<usize> {
    let mut seen = stored_labels(m, run.id).await?;
    let (events, warnings) = with_source(backend, async |src| {
        Ok(sync_results(src, &scan.out_dir, local_dir, &mut seen).await?)
    })
    .await?;
    for w in warnings {
        tracing::warn!(run = run.id, "sync: {w}");
    }
    let copy_from = results_here(backend, scan);
    let mut new = 0;
    for e in events {
        if record(m, run.id, &e, copy_from.as_deref(), local_dir).await? {
            new += 1;
        }
    }
    Ok(new)
}

/// For a backend on this machine the watch writes into `scan.out_dir`; the run's local
/// copy is made from there.
pub(super) fn results_here(backend: &Backend, scan: &RemoteScan) -> Option<PathBuf> {
    backend
        .config()
        .ssh
        .is_none()
        .then(|| PathBuf::from(&scan.out_dir))
}

pub(super) async fn follow_pipeline(
    m: &Monitor,
    run: &Run,
    spec: &ProfileSpec,
    backend: &Backend,
    local_dir: &Path,
) -> Result<String> {
    let scan = prepare_scan(m, run, spec, backend).await?;
    let copy_from = results_here(backend, &scan);
    if run.started_at.is_some() {
        let n = resync(m, run, &scan, backend, local_dir).await?;
        if n > 0 {
            tracing::info!(
                run = run.id,
                "{n} points finished while the run was not followed"
            );
        }
    }
    // Bounded: a remote that floods lines cannot grow memory here. A point that finds the
    // queue full is not lost: its result is on disk, and the sync after the scan reads it.
    let (tx, rx) = mpsc::channel::<PointEvent>(EVENT_QUEUE);
    let (jtx, jrx) = mpsc::channel::<JobEvent>(EVENT_QUEUE);
    let overflow = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (over1, over2) = (Arc::clone(&overflow), Arc::clone(&overflow));
    let host = backend.host_label();
    let total = scan.points;
    let scan_ref = &scan;
    let work = async move {
        let scan = scan_ref;
        let outcome: Result<crate::remote::follow::ScanOutcome> = match backend.config().kind {
            Kind::Local | Kind::Ssh => {
                let what = format!("processing on {host} as the scan's points arrive");
                apply(m, run.id, Event::Working(what)).await?;
                let tx2 = tx;
                Ok(backend
                    .follow_scan(scan, local_dir, move |e| queue(&tx2, e, &over1), |_| {})
                    .await?)
            }
            Kind::Slurm => {
                let job = match parse_job(run) {
                    Some(job) => job,
                    None => {
                        // A job submitted before a crash (or whose `sbatch` answer was
                        // lost) is followed, never submitted a second time.
                        let job = match backend.find_scan_job(scan).await? {
                            Some(job) => {
                                tracing::info!(
                                    run = run.id,
                                    "{job} was submitted for this run but not recorded; \
                                     following it instead of submitting again"
                                );
                                job
                            }
                            // An HV check runs its own script with the run's voltages.
                            None if run.kind == ScanKind::Hv => {
                                backend
                                    .submit_hv_check(scan, &spec.run_voltages(ScanKind::Hv))
                                    .await?
                            }
                            None => backend.submit_scan(scan).await?,
                        };
                        store_job(m, run.id, &job).await?;
                        job
                    }
                };
                apply(m, run.id, Event::Working(format!("{job} on {host}"))).await?;
                let seen = stored_labels(m, run.id).await?;
                let tx2 = tx;
                Ok(backend
                    .follow_job(
                        scan,
                        &job,
                        local_dir,
                        seen,
                        move |e| queue(&tx2, e, &over2),
                        // A poll's display text; a newer one follows.
                        move |e| drop(jtx.try_send(e)),
                    )
                    .await?)
            }
        };
        outcome
    };
    let points = consume_points(m, run.id, copy_from.as_deref(), local_dir, rx);
    let jobs = consume_job_events(m, run.id, jrx);
    let (outcome, recorded, ()) = tokio::join!(work, points, jobs);
    let outcome = outcome?;
    recorded?;
    let dropped = overflow.load(std::sync::atomic::Ordering::SeqCst);
    if dropped > 0 {
        tracing::warn!(
            run = run.id,
            "{dropped} point events found the queue full; reading the results again"
        );
        resync(m, run, &scan, backend, local_dir).await?;
    }
    let done = stored_labels(m, run.id).await?.len();
    let mut text = format!("{done}/{total} points");
    if !outcome.failed.is_empty() {
        text.push_str(&format!(
            ", {} could not be processed",
            outcome.failed.len()
        ));
    }
    Ok(text)
}

/// Point and job events waiting to be handled, at most.
const EVENT_QUEUE: usize = 1024;

/// Queues a point event; a full queue counts it in `overflow` (the final sync reads it).
fn queue(tx: &mpsc::Sender<PointEvent>, e: PointEvent, overflow: &std::sync::atomic::AtomicUsize) {
    if tx.try_send(e).is_err() {
        overflow.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Records every point event as it arrives (until the sender is gone).
async fn consume_points(
    m: &Monitor,
    run_id: i64,
    copy_from: Option<&Path>,
    local_dir: &Path,
    mut rx: mpsc::Receiver<PointEvent>,
) -> Result<()> {
    let mut first_err = None;
    while let Some(e) = rx.recv().await {
        if let Err(err) = record(m, run_id, &e, copy_from, local_dir).await {
            tracing::error!(run = run_id, "recording a point failed: {err}");
            first_err.get_or_insert(err);
        }
    }
    first_err.map_or(Ok(()), Err)
}

/// Shows each poll of the job; an unreachable controller moves the run to
/// `cluster_unreachable` and back when it answers again.
async fn consume_job_events(m: &Monitor, run_id: i64, mut rx: mpsc::Receiver<JobEvent>) {
    let mut unreachable = false;
    while let Some(e) = rx.recv().await {
        let (text, now_unreachable) = match e {
            JobEvent::Polled(text) => (text, false),
            JobEvent::Unreachable(text) => (text, true),
            JobEvent::Submitted(_) => continue,
        };
        if now_unreachable != unreachable {
            unreachable = now_unreachable;
            let event = if unreachable {
                Event::JobUnreachable(text.clone())
            } else {
                Event::JobAnswers(text.clone())
            };
            if let Err(err) = apply(m, run_id, event).await {
                tracing::error!(run = run_id, "recording the job state failed: {err}");
            }
        }
        m.publish(|b| {
            if let Some(v) = b.runs.get_mut(&run_id) {
                Arc::make_mut(v).job_status = text;
            }
        });
    }
}

//! The task that drives one run, from `queued` to its end, and the per-point bookkeeping.
//!
//! - Queued runs wait for the executor (step 1). A stop while queued cancels the run.
//! - Pipeline mode: `local`/`ssh` stream the watch's JSON lines (the backend restarts the
//!   watch across lost links); `slurm` submits the scan script, stores the job id *before*
//!   following it, and a resumed run follows the stored job instead of submitting again.
//! - Command mode: the lab's command runs over SSH; a `sbatch` command's job id is stored
//!   and polled; the files it writes are synced with [`CommandSync`].
//! - Every point goes through [`record`]: files local first, then the store (the `(run,
//!   label)` key drops repeats), then the board. A resumed run first syncs what finished
//!   while nobody was watching.
//! - An unreachable host or SLURM controller puts the run in `cluster_unreachable` and the
//!   task tries again with backoff; only a real failure ends it as `failed`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use tokio::sync::{mpsc, watch};

use super::profile::{Mode, ProfileSpec};
use super::{Error, Monitor, Result, StopRequest, refused};
use crate::pipeline::fit::Status;
use crate::pipeline::point::Health;
use crate::pipeline::scan::PointLabel;
use crate::pipeline::serial::Serial;
use crate::remote::Error as RemoteError;
use crate::remote::backend::{Backend, Handle, JobEvent, JobId, JobSpec, Kind};
use crate::remote::command::CommandProfile;
use crate::remote::command::sync::{CommandSync, SyncEvent};
use crate::remote::exec::Exec;
use crate::remote::pipeline::{PointEvent, RemoteScan, ResultSource, scan_job_name, sync_results};
use crate::store::{self, Point, PointStatus, Run, RunState};

/// How often an unreachable host or controller is retried before the run is failed
/// (with the backoff below: about an hour).
const MAX_UNREACHABLE: u32 = 40;
const BACKOFF_FIRST: Duration = Duration::from_secs(2);
const BACKOFF_MAX: Duration = Duration::from_secs(120);

/// Whether `label` can name a directory of its own (one plain path component).
pub(crate) fn safe_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 128
        && !label.starts_with('.')
        && !label.contains(['/', '\\', '\0'])
        && !label.chars().any(char::is_control)
}

/// Creates a directory (and its parents) on this machine.
async fn create_dir(dir: &Path) -> Result<()> {
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|source| Error::Io {
            what: format!("creating {}", dir.display()),
            source,
        })
}

/// Resolves once a stop is requested.
async fn stopped(stop: &mut watch::Receiver<Option<StopRequest>>) -> StopRequest {
    loop {
        if let Some(r) = stop.borrow_and_update().clone() {
            return r;
        }
        if stop.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Runs a run's task to its end; a failure of the task itself ends the run `failed`.
pub(crate) async fn supervise(
    m: Monitor,
    run_id: i64,
    mut stop: watch::Receiver<Option<StopRequest>>,
) {
    if let Err(e) = drive(&m, run_id, &mut stop).await {
        tracing::error!(run = run_id, "run failed: {e}");
        if let Err(e2) = m.set_state(run_id, RunState::Failed, e.to_string()).await {
            tracing::error!(run = run_id, "recording the failure failed too: {e2}");
        }
    }
}

async fn load(m: &Monitor, run_id: i64) -> Result<Run> {
    m.db(move |s| s.get_run(run_id))
        .await?
        .ok_or_else(|| refused(format!("run {run_id} does not exist")))
}

pub(crate) fn spec_of(run: &Run) -> Result<ProfileSpec> {
    serde_json::from_str(&run.profile)
        .map_err(|e| refused(format!("run {}: its profile cannot be read: {e}", run.id)))
}

fn parse_job(run: &Run) -> Option<JobId> {
    run.job
        .as_deref()
        .and_then(|j| serde_json::from_str::<JobId>(j).ok())
}

async fn drive(
    m: &Monitor,
    run_id: i64,
    stop: &mut watch::Receiver<Option<StopRequest>>,
) -> Result<()> {
    let run = load(m, run_id).await?;
    if run.state.is_final() {
        return Ok(());
    }
    let spec = spec_of(&run)?;
    let backend = Arc::new(Backend::new(spec.backend_config(m.program())?)?);
    if run.state == RunState::Queued {
        let mut gate = m.dispatching();
        let open = *gate.borrow();
        if !open {
            m.set_state(
                run_id,
                RunState::Queued,
                "waiting for the executor (step 1: Start executor)".into(),
            )
            .await?;
        }
        // `wait_for`'s guard is not `Send`: turn it into a bool inside the branch.
        let dispatched = tokio::select! {
            r = async { gate.wait_for(|on| *on).await.is_ok() } => Ok(r),
            req = stopped(stop) => Err(req),
        };
        let dispatched = match dispatched {
            Ok(d) => d,
            Err(req) => {
                m.set_state(
                    run_id,
                    RunState::Cancelled,
                    format!("stopped by {} before it was dispatched", req.by),
                )
                .await?;
                return Ok(());
            }
        };
        if !dispatched {
            return Err(refused("the executor is gone"));
        }
        m.set_state(
            run_id,
            RunState::Submitting,
            format!("dispatching to {}", backend.host_label()),
        )
        .await?;
    }
    let local_dir = m.run_dir(run_id);
    create_dir(&local_dir).await?;
    let mut unreachable = 0u32;
    loop {
        let run = load(m, run_id).await?;
        let work = async {
            match spec.mode {
                Mode::Pipeline => follow_pipeline(m, &run, &spec, &backend, &local_dir).await,
                Mode::Command => follow_command(m, &run, &spec, &backend, &local_dir).await,
            }
        };
        let result = tokio::select! {
            r = work => Ok(r),
            req = stopped(stop) => Err(req),
        };
        match result {
            Err(req) => {
                let run = load(m, run_id).await?;
                let mut msg = format!("stopped by {}", req.by);
                match (req.cancel, parse_job(&run)) {
                    (true, Some(job)) => match backend.cancel_job(&job).await {
                        Ok(()) => msg.push_str(&format!("; {job} cancelled")),
                        Err(e) => msg.push_str(&format!("; cancelling {job} FAILED: {e}")),
                    },
                    (true, None) => msg.push_str("; the processing was stopped"),
                    (false, _) => msg.push_str("; no longer followed"),
                }
                m.set_state(run_id, RunState::Cancelled, msg).await?;
                return Ok(());
            }
            Ok(Ok(text)) => {
                m.set_state(run_id, RunState::Complete, text).await?;
                return Ok(());
            }
            Ok(Err(Error::Remote(
                e @ (RemoteError::ClusterUnreachable { .. } | RemoteError::Unreachable { .. }),
            ))) if unreachable < MAX_UNREACHABLE => {
                unreachable += 1;
                let wait = BACKOFF_FIRST
                    .saturating_mul(1 << unreachable.min(6))
                    .min(BACKOFF_MAX);
                m.set_state(
                    run_id,
                    RunState::ClusterUnreachable,
                    format!(
                        "{e} — trying again in {} s (attempt {unreachable}); nothing is lost",
                        wait.as_secs()
                    ),
                )
                .await?;
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    req = stopped(stop) => {
                        m.set_state(run_id, RunState::Cancelled,
                            format!("stopped by {} while the cluster was unreachable", req.by)).await?;
                        return Ok(());
                    }
                }
            }
            Ok(Err(e)) => {
                m.set_state(run_id, RunState::Failed, e.to_string()).await?;
                return Ok(());
            }
        }
    }
}

/// The run's result directory where the work runs: `<work_dir>/runs/<id>-<SN>`.
fn remote_out(spec: &ProfileSpec, run: &Run) -> String {
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
async fn prepare_scan(
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
    let text = toml::to_string(&spec.analysis)
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

/// Records the run's job in the store (before it is followed: a restart re-attaches).
async fn store_job(m: &Monitor, run_id: i64, job: &JobId) -> Result<()> {
    let json = serde_json::to_string(job).map_err(|e| refused(format!("job id: {e}")))?;
    m.db(move |s| s.set_run_job(run_id, Some(&json))).await
}

/// Labels already stored for a run.
async fn stored_labels(m: &Monitor, run_id: i64) -> Result<BTreeSet<String>> {
    let points = m.db(move |s| s.points(run_id)).await?;
    Ok(points.into_iter().map(|p| p.label).collect())
}

/// Where the backend's results are read from for a sync: over SFTP, or where they are.
async fn with_source<T>(
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
async fn resync(
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
fn results_here(backend: &Backend, scan: &RemoteScan) -> Option<PathBuf> {
    backend
        .config()
        .ssh
        .is_none()
        .then(|| PathBuf::from(&scan.out_dir))
}

async fn follow_pipeline(
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
    let (tx, rx) = mpsc::unbounded_channel::<PointEvent>();
    let (jtx, jrx) = mpsc::unbounded_channel::<JobEvent>();
    let host = backend.host_label();
    let total = scan.points;
    let work = async move {
        let outcome: Result<crate::remote::pipeline::ScanOutcome> = match backend.config().kind {
            Kind::Local | Kind::Ssh => {
                m.set_state(
                    run.id,
                    RunState::Running,
                    format!("processing on {host} as the scan's points arrive"),
                )
                .await?;
                let tx2 = tx;
                Ok(backend
                    .follow_scan(&scan, local_dir, move |e| drop(tx2.send(e)), |_| {})
                    .await?)
            }
            Kind::Slurm => {
                let job = match parse_job(run) {
                    Some(job) => job,
                    None => {
                        // A job submitted before a crash (or whose `sbatch` answer was
                        // lost) is followed, never submitted a second time.
                        let job = match backend.find_scan_job(&scan).await? {
                            Some(job) => {
                                tracing::info!(
                                    run = run.id,
                                    "{job} was submitted for this run but not recorded; \
                                     following it instead of submitting again"
                                );
                                job
                            }
                            None => backend.submit_scan(&scan).await?,
                        };
                        store_job(m, run.id, &job).await?;
                        job
                    }
                };
                m.set_state(run.id, RunState::Running, format!("{job} on {host}"))
                    .await?;
                let seen = stored_labels(m, run.id).await?;
                let tx2 = tx;
                Ok(backend
                    .follow_job(
                        &scan,
                        &job,
                        local_dir,
                        seen,
                        move |e| drop(tx2.send(e)),
                        move |e| drop(jtx.send(e)),
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

/// Records every point event as it arrives (until the sender is gone).
async fn consume_points(
    m: &Monitor,
    run_id: i64,
    copy_from: Option<&Path>,
    local_dir: &Path,
    mut rx: mpsc::UnboundedReceiver<PointEvent>,
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
async fn consume_job_events(m: &Monitor, run_id: i64, mut rx: mpsc::UnboundedReceiver<JobEvent>) {
    let mut unreachable = false;
    while let Some(e) = rx.recv().await {
        let JobEvent::Polled(text) = e else { continue };
        let now_unreachable = text.starts_with("CLUSTER UNREACHABLE");
        if now_unreachable != unreachable {
            unreachable = now_unreachable;
            let (state, msg) = if unreachable {
                (RunState::ClusterUnreachable, text.clone())
            } else {
                (
                    RunState::Running,
                    format!("the cluster answers again: {text}"),
                )
            };
            if let Err(err) = m.set_state(run_id, state, msg).await {
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
                at: now,
            }
        }
        PointEvent::Failed { label, error } => {
            let p = PointLabel::parse(label);
            Point {
                run_id,
                label: label.clone(),
                theta: p.and_then(|p| p.theta()),
                phi: p.and_then(|p| p.phi()),
                hv: p.and_then(|p| p.hv()),
                status: PointStatus::Failed,
                gain: None,
                gain_err: None,
                message: error.clone(),
                at: now,
            }
        }
    }
}

fn label_of(e: &PointEvent) -> &str {
    match e {
        PointEvent::Done(r) => &r.point,
        PointEvent::Failed { label, .. } => label,
    }
}

/// Copies `src` to `dest` atomically (temp name in the same directory, then rename).
async fn copy_atomic(src: &Path, dest: &Path) -> std::io::Result<()> {
    let tmp = dest.with_extension(format!(
        "{}.part",
        dest.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    tokio::fs::copy(src, &tmp).await?;
    tokio::fs::rename(&tmp, dest).await
}

/// Files local, then the store, then the board: one point, once. `true` when it was new.
pub(crate) async fn record(
    m: &Monitor,
    run_id: i64,
    e: &PointEvent,
    copy_from: Option<&Path>,
    local_dir: &Path,
) -> Result<bool> {
    let label = label_of(e);
    if !safe_label(label) {
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
    insert(m, point_of(run_id, e)).await
}

/// Stores a point and, when it is new, shows it.
async fn insert(m: &Monitor, point: Point) -> Result<bool> {
    let p = point.clone();
    let new = m.db(move |s| s.insert_point(&p)).await?;
    if new {
        m.publish(|b| {
            if let Some(v) = b.runs.get_mut(&point.run_id) {
                let v = Arc::make_mut(v);
                v.points.insert(point.label.clone(), point);
                v.run.points_done = v.points.len() as i64;
            }
        });
    }
    Ok(new)
}

// ----- command mode -----

async fn follow_command(
    m: &Monitor,
    run: &Run,
    spec: &ProfileSpec,
    backend: &Backend,
    local_dir: &Path,
) -> Result<String> {
    let cmd_spec = spec
        .command
        .clone()
        .ok_or_else(|| refused("the profile has no command template"))?;
    let profile = CommandProfile::new(cmd_spec)?;
    let serial = Serial::parse(&run.serial).map_err(|e| refused(format!("serial number: {e}")))?;
    let Handle::Ssh(session) = backend.handle().await? else {
        return Err(refused(
            "command mode runs over SSH: give the profile a host",
        ));
    };
    let total = spec.points(run.kind).len();
    let since = run.started_at.map_or_else(std::time::SystemTime::now, |t| {
        UNIX_EPOCH + Duration::from_secs(u64::try_from(t).unwrap_or(0))
    });
    let mirror = local_dir.join("command");
    let mut sync = CommandSync::new(&profile, serial.clone(), &mirror, since);
    let mut job = parse_job(run);
    let resumed = run.started_at.is_some();
    let mut running = None;
    if !resumed {
        let mut values = BTreeMap::new();
        values.insert("SN", serial.as_str().to_string());
        let prepared = profile.prepare(&values)?;
        if prepared.is_sbatch() {
            // `sbatch` returns at once; its job id (parsed from its answer) is followed.
            m.set_state(
                run.id,
                RunState::Running,
                format!("running `{}` on {}", prepared.line(), backend.host_label()),
            )
            .await?;
            let started = prepared.start(&session).await?;
            running = Some(tokio::spawn(started.wait()));
        } else {
            // A long-running script is started detached with a job directory, so a
            // restarted pmtwatch re-attaches to it instead of losing it.
            let j = backend
                .start_process(&JobSpec {
                    name: "pmtwatch-command".into(),
                    argv: prepared.words().to_vec(),
                    dir: Some(prepared.dir().to_string()),
                })
                .await?;
            store_job(m, run.id, &j).await?;
            m.set_state(
                run.id,
                RunState::Running,
                format!(
                    "running `{}` on {} ({j})",
                    prepared.line(),
                    backend.host_label()
                ),
            )
            .await?;
            job = Some(j);
        }
    } else if job.is_none() {
        // An `sbatch` command's SSH channel ended with the previous server process before
        // it printed the job id; collect what was written and end the run honestly.
        let n = command_round(m, run, &mut sync, backend, local_dir).await?;
        return Err(refused(format!(
            "the command's session ended when pmtwatch stopped; {n} more points were synced \
             ({}/{total} in all) — start the run again to process the rest",
            stored_labels(m, run.id).await?.len()
        )));
    }
    let poll = Duration::from_secs_f64(spec.poll_secs.clamp(0.05, 3600.0));
    loop {
        if let Some(handle) = running.as_mut()
            && handle.is_finished()
        {
            if let Some(done) = running.take() {
                let result = done
                    .await
                    .map_err(|e| refused(format!("the command's task failed: {e}")))??;
                if let Some(id) = result.job_id {
                    let j = JobId::Slurm { id };
                    store_job(m, run.id, &j).await?;
                    m.set_state(run.id, RunState::Running, format!("{j}: `{}`", result.line))
                        .await?;
                    job = Some(j);
                } else {
                    // A plain command has finished: one last sync and done.
                    command_round(m, run, &mut sync, backend, local_dir).await?;
                    let done = stored_labels(m, run.id).await?.len();
                    return Ok(format!("{done}/{total} points; the command finished"));
                }
            }
        }
        command_round(m, run, &mut sync, backend, local_dir).await?;
        if let Some(j) = &job {
            let info = backend.poll_job(j).await;
            let text = crate::remote::jobs::describe(&info);
            m.publish(|b| {
                if let Some(v) = b.runs.get_mut(&run.id) {
                    Arc::make_mut(v).job_status = text.clone();
                }
            });
            match info {
                Ok(info) if crate::remote::jobs::is_final(&info.state) => {
                    command_round(m, run, &mut sync, backend, local_dir).await?;
                    let done = stored_labels(m, run.id).await?.len();
                    if info.state.is_success() {
                        return Ok(format!("{done}/{total} points; {j} completed"));
                    }
                    return Err(refused(format!(
                        "{j} ended {}: {}",
                        info.summary(),
                        info.output_tail.unwrap_or_default()
                    )));
                }
                Ok(_) | Err(RemoteError::ClusterUnreachable { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if stored_labels(m, run.id).await?.len() >= total && job.is_none() && running.is_none() {
            return Ok(format!("{total}/{total} points"));
        }
        tokio::time::sleep(poll).await;
    }
}

/// One command-mode sync: downloads what is new and records its points.
async fn command_round(
    m: &Monitor,
    run: &Run,
    sync: &mut CommandSync,
    backend: &Backend,
    local_dir: &Path,
) -> Result<usize> {
    let Some(transfer) = backend.transfer().await? else {
        return Err(refused(
            "command mode runs over SSH: give the profile a host",
        ));
    };
    let round = sync.sync(&transfer).await;
    if let Err(e) = transfer.close().await {
        tracing::debug!("closing an SFTP channel: {e}");
    }
    let round = round?;
    if let Some(stamp) = sync.run()
        && run.remote_out.is_empty()
    {
        let spec = spec_of(run)?;
        let dir = format!(
            "{}/{}{stamp}",
            spec.command
                .map(|c| c.remote_dir)
                .unwrap_or_default()
                .trim_end_matches('/'),
            crate::remote::command::sync::RUN_DIR_PREFIX
        );
        let id = run.id;
        m.db(move |s| s.set_run_remote_out(id, &dir)).await?;
    }
    let health = spec_of(run)?.analysis.health;
    let mut new = 0;
    for e in round.events {
        let p = e.label();
        let label = p.label();
        let (status, gain, message, png) = match &e {
            SyncEvent::Point(cp) => (
                if health.contains(cp.gain) {
                    PointStatus::Healthy
                } else {
                    PointStatus::Poor
                },
                Some(cp.gain),
                String::new(),
                Some(cp.charge_png.clone()),
            ),
            SyncEvent::Failed(f) => (PointStatus::Failed, None, f.error.clone(), None),
        };
        if let Some(png) = png {
            let dir = local_dir.join(&label);
            create_dir(&dir).await?;
            copy_atomic(&png, &dir.join("charge.png"))
                .await
                .map_err(|source| Error::Io {
                    what: format!("copying {}", png.display()),
                    source,
                })?;
        }
        let point = Point {
            run_id: run.id,
            label,
            theta: p.theta(),
            phi: p.phi(),
            hv: p.hv(),
            status,
            gain,
            gain_err: None,
            message,
            at: store::now(),
        };
        if insert(m, point).await? {
            new += 1;
        }
    }
    Ok(new)
}

// ----- manual sync, log -----

/// The operator's "Manual sync": reads the run's results once more.
pub(crate) async fn manual_sync(m: &Monitor, run_id: i64) -> Result<usize> {
    let run = load(m, run_id).await?;
    let spec = spec_of(&run)?;
    let backend = Backend::new(spec.backend_config(m.program())?)?;
    let local_dir = m.run_dir(run_id);
    match spec.mode {
        Mode::Pipeline => {
            if run.remote_out.is_empty() {
                return Err(refused(format!(
                    "run {run_id} has not started yet: there is nothing to sync"
                )));
            }
            let serial =
                Serial::parse(&run.serial).map_err(|e| refused(format!("serial number: {e}")))?;
            let scan = RemoteScan {
                scan_dir: spec.scan_root.clone(),
                serial,
                out_dir: run.remote_out.clone(),
                points: spec.points(run.kind).len(),
                settle_secs: spec.settle_secs,
                config: None,
            };
            resync(m, &run, &scan, &backend, &local_dir).await
        }
        Mode::Command => {
            let cmd = spec
                .command
                .clone()
                .ok_or_else(|| refused("the profile has no command template"))?;
            let profile = CommandProfile::new(cmd)?;
            let serial =
                Serial::parse(&run.serial).map_err(|e| refused(format!("serial number: {e}")))?;
            let since =
                UNIX_EPOCH + Duration::from_secs(u64::try_from(run.created_at - 60).unwrap_or(0));
            let mut sync = CommandSync::new(&profile, serial, local_dir.join("command"), since);
            command_round(m, &run, &mut sync, &backend, &local_dir).await
        }
    }
}

/// The tail of a run's job output.
pub(crate) async fn job_log(m: &Monitor, run_id: i64) -> Result<String> {
    let run = load(m, run_id).await?;
    let spec = spec_of(&run)?;
    let backend = Backend::new(spec.backend_config(m.program())?)?;
    let path = match parse_job(&run) {
        Some(JobId::Process { dir }) => format!("{dir}/out"),
        Some(JobId::Slurm { id }) => {
            let name = match spec.mode {
                Mode::Pipeline => {
                    let serial = Serial::parse(&run.serial)
                        .map_err(|e| refused(format!("serial number: {e}")))?;
                    scan_job_name(&serial, &run.remote_out)
                }
                Mode::Command => {
                    return Ok(format!(
                        "SLURM job {id} was submitted by the lab's command; its output file is \
                         wherever that script's #SBATCH --output puts it"
                    ));
                }
            };
            format!(
                "{}/.pmtwatch/jobs/{name}-{id}.out",
                spec.work_dir.trim_end_matches('/')
            )
        }
        None => {
            return Ok(format!(
                "run {run_id} has no job output file: its watch streams points directly. \
                 Last message: {}",
                run.message
            ));
        }
    };
    let h = backend.handle().await?;
    let out = h.run(&["tail", "-c", "65536", "--", &path]).await?;
    if out.success() {
        Ok(out.stdout)
    } else {
        Ok(format!(
            "cannot read {path} on {}: {}",
            backend.host_label(),
            out.stderr.trim()
        ))
    }
}

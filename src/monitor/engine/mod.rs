//! The task that drives one run, from `queued` to its end, and the per-point bookkeeping.
//!
//! - Queued runs wait for the executor (step 1). A stop while queued cancels the run.
//! - Pipeline mode: `local`/`ssh` stream the watch's JSON lines (the backend restarts the
//!   watch across lost links); `slurm` submits the scan script, stores the job id *before*
//!   following it, and a resumed run follows the stored job instead of submitting again.
//! - Command mode: the lab's command runs over SSH; a `sbatch` command's job id is stored
//!   and polled; the files it writes are synced with `CommandSync`.
//! - Every point goes through [`record`]: files local first, then the store (the `(run,
//!   label)` key drops repeats), then the board. A resumed run first syncs what finished
//!   while nobody was watching.
//! - An unreachable host or SLURM controller puts the run in `cluster_unreachable` and the
//!   task tries again with backoff; only a real failure ends it as `failed`.
//!
//! # Layout
//! - [`machine`]: the run's transitions as one pure function (`(state, event) -> (state,
//!   actions)`), unit-tested for every legal and illegal transition. Every state change
//!   below goes through [`apply`], which asks it.
//! - [`drive`]: the task of one run: queued → dispatched → the mode's work → its end; stops,
//!   retries of an unreachable host or controller.
//! - [`pipeline_mode`]: a `process --watch` scan followed locally, over SSH or as a SLURM job.
//! - [`command_mode`]: the lab's own command, its job and the files it writes.
//! - [`record`]: one point, once: files local, then the store, then the board.
//! - [`manual`]: the operator's manual sync and the job's log.

mod command_mode;
mod drive;
pub mod machine;
mod manual;
mod pipeline_mode;
mod record;

use std::collections::BTreeSet;
use std::path::Path;

use tokio::sync::watch;

use super::profile::ProfileSpec;
use super::{Error, Monitor, Result, StopRequest, refused};
use crate::model::{BackendKind, Run, RunGpu};
use crate::remote::backend::{Backend, JobId};
use machine::{Action, Event};

pub(crate) use manual::{job_log, manual_sync};

/// Creates a directory (and its parents) on this machine.
pub(super) async fn create_dir(dir: &Path) -> Result<()> {
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|source| Error::Io {
            what: format!("creating {}", dir.display()),
            source,
        })
}

/// Resolves once a stop is requested.
pub(super) async fn stopped(stop: &mut watch::Receiver<Option<StopRequest>>) -> StopRequest {
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
    if let Err(e) = drive::drive(&m, run_id, &mut stop).await {
        tracing::error!(run = run_id, "run failed: {e}");
        if let Err(e2) = apply(&m, run_id, Event::Failed(e.to_string())).await {
            tracing::error!(run = run_id, "recording the failure failed too: {e2}");
        }
    }
}

pub(super) async fn load(m: &Monitor, run_id: i64) -> Result<Run> {
    m.db(move |s| s.get_run(run_id))
        .await?
        .ok_or_else(|| refused(format!("run {run_id} does not exist")))
}

pub(crate) fn spec_of(run: &Run) -> Result<ProfileSpec> {
    serde_json::from_str(&run.profile)
        .map_err(|e| refused(format!("run {}: its profile cannot be read: {e}", run.id)))
}

/// The backend a run's work uses: its profile's settings, plus the GPU the run resolved
/// to at its start — `CUDA_VISIBLE_DEVICES` for local and SSH work, `--gres=gpu:N` for a
/// SLURM job. A run from before there was a GPU choice (`gpu` unset) runs as it always did.
pub(super) fn run_backend(m: &Monitor, run: &Run, spec: &ProfileSpec) -> Result<Backend> {
    let mut config = spec.backend_config(m.program())?;
    if let Some(gpu) = &run.gpu {
        match config.kind {
            BackendKind::Slurm => config.sbatch.gres = gpu.gres(),
            BackendKind::Local | BackendKind::Ssh => config.job_env = gpu.job_env(),
        }
    }
    Ok(Backend::new(config)?)
}

/// The value of `{GPU}` in a command template for `run` ([`RunGpu::placeholder`]).
pub(super) fn gpu_placeholder(run: &Run, spec: &ProfileSpec) -> String {
    let gpu = run.gpu.clone().unwrap_or(RunGpu::Cpu {
        why: "no GPU recorded".into(),
        hidden: false,
    });
    gpu.placeholder(spec.kind)
}

pub(crate) fn parse_job(run: &Run) -> Option<JobId> {
    run.job
        .as_deref()
        .and_then(|j| serde_json::from_str::<JobId>(j).ok())
}

/// Moves a run as [`machine::step`] says for `event`, from the state the store holds (the
/// run's own task is its only writer): stores and shows the new state, and returns the
/// actions left for the caller (a wait before retrying). An illegal transition changes
/// nothing and is an error.
pub(super) async fn apply(m: &Monitor, run_id: i64, event: Event) -> Result<Vec<Action>> {
    let from = load(m, run_id).await?.state;
    let (_, actions) =
        machine::step(from, event).map_err(|e| refused(format!("run {run_id}: {e}")))?;
    for a in &actions {
        if let Action::Record { state, message } = a {
            m.set_state(run_id, *state, message.clone()).await?;
        }
    }
    Ok(actions)
}

/// Records the run's job in the store (before it is followed: a restart re-attaches).
pub(super) async fn store_job(m: &Monitor, run_id: i64, job: &JobId) -> Result<()> {
    let json = serde_json::to_string(job).map_err(|e| refused(format!("job id: {e}")))?;
    m.db(move |s| s.set_run_job(run_id, Some(&json))).await
}

/// Labels already stored for a run.
pub(super) async fn stored_labels(m: &Monitor, run_id: i64) -> Result<BTreeSet<String>> {
    let points = m.db(move |s| s.points(run_id)).await?;
    Ok(points.into_iter().map(|p| p.label).collect())
}

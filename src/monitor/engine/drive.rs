//! The task of one run: it waits while queued, is dispatched, does its mode's work
//! ([`pipeline_mode`](super::pipeline_mode) or [`command_mode`](super::command_mode)) and
//! ends `complete`, `failed` or `cancelled`; an unreachable host or SLURM controller is
//! retried with backoff. Every state change is an [`Event`] for [`apply`].

use std::sync::Arc;

use tokio::sync::watch;

use super::machine::{Action, Event, StopPoint};
use super::{apply, load, parse_job, spec_of, stopped};
use crate::model::RunState;
use crate::monitor::profile::Mode;
use crate::monitor::{Error, Monitor, Result, StopRequest, refused};
use crate::remote::Error as RemoteError;

pub(super) async fn drive(
    m: &Monitor,
    run_id: i64,
    stop: &mut watch::Receiver<Option<StopRequest>>,
) -> Result<()> {
    let run = load(m, run_id).await?;
    if run.state.is_final() {
        return Ok(());
    }
    let spec = spec_of(&run)?;
    let backend = Arc::new(super::run_backend(m, &run, &spec)?);
    if run.state == RunState::Queued {
        let mut gate = m.dispatching();
        let open = *gate.borrow();
        if !open {
            apply(m, run_id, Event::ExecutorOff).await?;
        }
        // `wait_for`'s guard is not `Send`: turn it into a bool inside the branch.
        let dispatched = tokio::select! {
            r = async { gate.wait_for(|on| *on).await.is_ok() } => Ok(r),
            req = stopped(stop) => Err(req),
        };
        let dispatched = match dispatched {
            Ok(d) => d,
            Err(req) => {
                let at = StopPoint::BeforeDispatch;
                apply(m, run_id, Event::Stopped { by: req.by, at }).await?;
                return Ok(());
            }
        };
        if !dispatched {
            return Err(refused("the executor is gone"));
        }
        let host = backend.host_label();
        apply(m, run_id, Event::Dispatched { host }).await?;
    }
    let local_dir = m.run_dir(run_id);
    super::create_dir(&local_dir).await?;
    let mut unreachable = 0u32;
    loop {
        let run = load(m, run_id).await?;
        let work = async {
            match spec.mode {
                Mode::Pipeline => {
                    super::pipeline_mode::follow_pipeline(m, &run, &spec, &backend, &local_dir)
                        .await
                }
                Mode::Command => {
                    super::command_mode::follow_command(m, &run, &spec, &backend, &local_dir).await
                }
            }
        };
        let result = tokio::select! {
            r = work => Ok(r),
            req = stopped(stop) => Err(req),
        };
        match result {
            Err(req) => {
                let run = load(m, run_id).await?;
                let outcome = match (req.cancel, parse_job(&run)) {
                    (true, Some(job)) => match backend.cancel_job(&job).await {
                        Ok(()) => format!("; {job} cancelled"),
                        Err(e) => format!("; cancelling {job} FAILED: {e}"),
                    },
                    (true, None) => "; the processing was stopped".to_string(),
                    (false, _) => "; no longer followed".to_string(),
                };
                let at = StopPoint::Following { outcome };
                apply(m, run_id, Event::Stopped { by: req.by, at }).await?;
                return Ok(());
            }
            Ok(Ok(text)) => {
                apply(m, run_id, Event::Finished(text)).await?;
                return Ok(());
            }
            Ok(Err(Error::Remote(
                e @ (RemoteError::ClusterUnreachable { .. } | RemoteError::Unreachable { .. }),
            ))) => {
                unreachable += 1;
                let lost = Event::LostContact {
                    error: e.to_string(),
                    attempt: unreachable,
                };
                let actions = apply(m, run_id, lost).await?;
                // Past the last attempt the machine ended the run `failed`: no retry.
                let Some(wait) = actions.iter().find_map(|a| match a {
                    Action::RetryAfter(w) => Some(*w),
                    Action::Record { .. } => None,
                }) else {
                    return Ok(());
                };
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    req = stopped(stop) => {
                        let at = StopPoint::WhileRetrying;
                        apply(m, run_id, Event::Stopped { by: req.by, at }).await?;
                        return Ok(());
                    }
                }
            }
            Ok(Err(e)) => {
                apply(m, run_id, Event::Failed(e.to_string())).await?;
                return Ok(());
            }
        }
    }
}

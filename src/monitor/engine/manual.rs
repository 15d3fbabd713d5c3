//! What the operator asks of a run's data outside its task: a manual sync (read the
//! results once more, where a review left them) and the tail of the job's output.

use std::time::{Duration, UNIX_EPOCH};

use super::command_mode::command_round;
use super::pipeline_mode::resync;
use super::{load, parse_job, spec_of};
use crate::monitor::profile::Mode;
use crate::monitor::{Monitor, Result, refused};
use crate::pipeline::serial::Serial;
use crate::remote::backend::{Backend, JobId};
use crate::remote::command_mode::CommandProfile;
use crate::remote::command_mode::sync::CommandSync;
use crate::remote::exec::Exec;
use crate::remote::follow::{RemoteScan, scan_job_name};
use crate::store;

/// The operator's "Manual sync": reads the run's results once more.
pub(crate) async fn manual_sync(m: &Monitor, run_id: i64) -> Result<usize> {
    let run = load(m, run_id).await?;
    let spec = spec_of(&run)?;
    // A reviewed run's data is no longer where it was written: read it where it now is
    // (or say why not), never from the old place.
    let remote_out = match run.review {
        store::Review::Unreviewed => run.remote_out.clone(),
        store::Review::ArchiveRequested | store::Review::FlagRequested => {
            return Err(refused(format!(
                "run {run_id}'s data is being moved to {}: sync it when the review is done",
                run.review_dest
            )));
        }
        _ if spec.mode == Mode::Pipeline && !run.review_dest.is_empty() => run.review_dest.clone(),
        _ => {
            return Err(refused(format!(
                "run {run_id} is {}: its data was moved to {} and is not synced from there",
                run.review,
                if run.review_dest.is_empty() {
                    "nowhere (it had none)"
                } else {
                    run.review_dest.as_str()
                }
            )));
        }
    };
    let backend = Backend::new(spec.backend_config(m.program())?)?;
    let local_dir = m.run_dir(run_id);
    match spec.mode {
        Mode::Pipeline => {
            if remote_out.is_empty() {
                return Err(refused(format!(
                    "run {run_id} has not started yet: there is nothing to sync"
                )));
            }
            let serial =
                Serial::parse(&run.serial).map_err(|e| refused(format!("serial number: {e}")))?;
            let scan = RemoteScan {
                scan_dir: spec.scan_root.clone(),
                serial,
                out_dir: remote_out,
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

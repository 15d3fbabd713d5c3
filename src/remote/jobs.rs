//! SLURM jobs over an SSH session or on this machine (any [`Exec`]): submit
//! (`sbatch --parsable`), poll (`scontrol show job`, then `sacct` once the controller has
//! forgotten the job), cancel (`scancel`) and wait until a job ends. The argv builders, parsers and failure classification live in
//! [`slurm`](crate::remote::slurm); this file only runs them remotely and decides what each
//! outcome means.
//!
//! # An unreachable controller is not a failed job
//! Every SLURM command runs under the remote `timeout` (coreutils) and a local deadline
//! ([`SLURM_COMMAND_TIMEOUT`]): with the controller down, the clients retry for 9–18 s
//! before giving up, and a hung client would otherwise hold the poll loop. A command that
//! reports an unreachable controller, or that had to be stopped, gives
//! [`Error::ClusterUnreachable`]: the job's fate is unknown, so it is never reported as
//! failed and never resubmitted (a submission that timed out may well have been queued).
//! [`wait`] reports such polls and keeps polling.
//!
//! # A forgotten job without accounting
//! The controller forgets a job `MinJobAge` seconds after it ended. `poll` then asks `sacct`;
//! on a cluster without accounting (or when `sacct` does not know the job either) the state
//! is [`JobState::Unknown`] holding [`FORGOTTEN`]: the job ended, how is unknown, and the
//! caller must look at the job's output / result files. [`wait`] stops on it, since it can
//! never change again.

use std::time::Duration;

use crate::remote::error::{Error, Result};
use crate::remote::exec::Exec;
use crate::remote::slurm::{
    Fault, JobInfo, JobState, OUTPUT_TAIL_LINES, SbatchOptions, classify_failure, output_tail,
    parse_sacct, parse_sbatch_parsable, parse_scontrol_show_job, parse_squeue_all, sacct_args,
    sbatch_args, scancel_args, scontrol_args, squeue_named_args,
};
use crate::remote::ssh::Output;

/// Longest one SLURM command may run remotely before `timeout` stops it (the clients hang
/// 9–18 s on a dead controller, so this leaves them room to say so themselves).
pub const SLURM_COMMAND_TIMEOUT: Duration = Duration::from_secs(20);
/// Extra time the local side grants over [`SLURM_COMMAND_TIMEOUT`] (SSH round trip,
/// `timeout --kill-after`) before it gives up on the command itself.
const LOCAL_GRACE: Duration = Duration::from_secs(8);
/// Bytes of the job's output file read for [`JobInfo::output_tail`].
const TAIL_BYTES: &str = "4096";
/// The raw state of a job the controller forgot and no accounting knows (see the module
/// documentation).
pub const FORGOTTEN: &str = "FORGOTTEN: job left the controller; no accounting record";

/// The exit statuses of coreutils `timeout`: 124 (timed out), 137 (killed after
/// `--kill-after`).
fn timed_out(status: Option<i32>) -> bool {
    matches!(status, Some(124) | Some(137))
}

/// Runs one SLURM command remotely under `timeout`, bounded locally as well. A timeout on
/// either side is an unreachable controller (the SLURM clients only hang while waiting for
/// it); SSH errors pass through unchanged (the link, not the cluster, is at fault).
async fn run_slurm(session: &impl Exec, argv: &[String]) -> Result<Output> {
    let secs = SLURM_COMMAND_TIMEOUT.as_secs().to_string();
    let mut words: Vec<&str> = vec!["timeout", "--kill-after=5", &secs];
    words.extend(argv.iter().map(String::as_str));
    let host = session.host_name();
    let program = argv.first().map_or("", String::as_str);
    let out = tokio::time::timeout(SLURM_COMMAND_TIMEOUT + LOCAL_GRACE, session.run(&words))
        .await
        .map_err(|_| Error::ClusterUnreachable {
            host: host.clone(),
            detail: format!(
                "`{program}` gave no answer within {:?}",
                SLURM_COMMAND_TIMEOUT + LOCAL_GRACE
            ),
        })??;
    if timed_out(out.status) {
        return Err(Error::ClusterUnreachable {
            host,
            detail: format!("`{program}` gave no answer within {SLURM_COMMAND_TIMEOUT:?}"),
        });
    }
    Ok(out)
}

/// The classified error of a failed SLURM command.
fn failure(session: &impl Exec, argv: &[String], out: &Output) -> Error {
    classify_failure(&out.stderr, out.status).into_error(
        &session.host_name(),
        argv,
        out.status,
        &out.stderr,
    )
}

/// Submits `script` (a path on the remote host) as `job_name`; returns the job id. An
/// unreachable controller gives [`Error::ClusterUnreachable`] — the job may have been
/// queued anyway, so the caller must not simply submit again (look for the job by name
/// first).
pub async fn submit(
    session: &impl Exec,
    script: &str,
    job_name: &str,
    options: &SbatchOptions,
) -> Result<u64> {
    submit_with_args(session, script, &[], job_name, options).await
}

/// Like [`submit`], with `args` passed to the script (`sbatch … -- SCRIPT ARGS…`), each as
/// one word: the script sees them as `"$@"`.
pub async fn submit_with_args(
    session: &impl Exec,
    script: &str,
    args: &[String],
    job_name: &str,
    options: &SbatchOptions,
) -> Result<u64> {
    let mut argv = sbatch_args(script, job_name, options)?;
    argv.extend(args.iter().cloned());
    let out = run_slurm(session, &argv).await?;
    if !out.success() {
        return Err(failure(session, &argv, &out));
    }
    parse_sbatch_parsable(&out.stdout)
}

/// This user's jobs named `name` that the controller still lists (queued, running, or
/// ended less than `MinJobAge` ago), lowest id first. How a caller finds a job it
/// submitted but could not record (an `sbatch` whose answer was lost, a crash between
/// `sbatch` and storing the id) instead of submitting it twice.
pub async fn find_named(session: &impl Exec, name: &str) -> Result<Vec<JobInfo>> {
    let argv = squeue_named_args(name)?;
    let out = run_slurm(session, &argv).await?;
    if !out.success() {
        return Err(failure(session, &argv, &out));
    }
    let mut jobs = parse_squeue_all(&out.stdout)?;
    jobs.sort_by_key(|j| j.id);
    Ok(jobs)
}

/// How many SLURM job polls this process made (for `/metrics`).
static POLLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The number of [`poll`]s so far in this process.
pub fn polls() -> u64 {
    POLLS.load(std::sync::atomic::Ordering::Relaxed)
}

/// The job's current state. `scontrol show job` first (richest); once the controller no
/// longer knows the job, `sacct`; without accounting a [`FORGOTTEN`] state. For a job that
/// ended unsuccessfully, [`JobInfo::output_tail`] holds the tail of its output file when
/// that can be read (a failure to read it is not an error: the state is what matters).
pub async fn poll(session: &impl Exec, id: u64) -> Result<JobInfo> {
    POLLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let argv = scontrol_args(id);
    let out = run_slurm(session, &argv).await?;
    let mut info = if out.success() {
        parse_scontrol_show_job(&out.stdout)?
    } else {
        match classify_failure(&out.stderr, out.status) {
            Fault::InvalidJobId => from_accounting(session, id).await?,
            _ => return Err(failure(session, &argv, &out)),
        }
    };
    if info.state.is_terminal() && !info.state.is_success() && info.output_tail.is_none() {
        if let Some(path) = info.stdout_path.clone() {
            info.output_tail = read_tail(session, &path).await;
        }
    }
    Ok(info)
}

/// The job's record from `sacct`, or a [`FORGOTTEN`] record when there is none.
async fn from_accounting(session: &impl Exec, id: u64) -> Result<JobInfo> {
    let forgotten = || JobInfo::bare(id, JobState::Unknown(FORGOTTEN.to_string()), None, None);
    let argv = sacct_args(id);
    let out = run_slurm(session, &argv).await?;
    if !out.success() {
        return match classify_failure(&out.stderr, out.status) {
            Fault::AccountingDisabled | Fault::InvalidJobId => Ok(forgotten()),
            _ => Err(failure(session, &argv, &out)),
        };
    }
    Ok(parse_sacct(&out.stdout)?.unwrap_or_else(forgotten))
}

/// The last lines of a remote file, or `None` when it cannot be read.
async fn read_tail(session: &impl Exec, path: &str) -> Option<String> {
    let out = session
        .run(&["tail", "-c", TAIL_BYTES, "--", path])
        .await
        .ok()?;
    out.success()
        .then(|| output_tail(&out.stdout, OUTPUT_TAIL_LINES))
}

/// Cancels the job. slurm 22.05's `scancel` exits 0 for an unknown or finished job too, so
/// `Ok` means "not running any more or about to stop", not "was running".
pub async fn cancel(session: &impl Exec, id: u64) -> Result<()> {
    let argv = scancel_args(id);
    let out = run_slurm(session, &argv).await?;
    if out.success() {
        return Ok(());
    }
    Err(failure(session, &argv, &out))
}

/// Whether [`wait`] stops on this state: terminal, or [`FORGOTTEN`] (which never changes).
pub fn is_final(state: &JobState) -> bool {
    state.is_terminal() || matches!(state, JobState::Unknown(raw) if raw == FORGOTTEN)
}

/// Polls the job every `interval` until its state [`is_final`] or `timeout` has passed,
/// calling `observe` with every poll's outcome (for the operator's display).
/// [`Error::ClusterUnreachable`] is reported through `observe` and polling goes on — the
/// job is never resubmitted; any other error ends the wait.
///
/// Returns the final record; after `timeout`, the last record seen (not final — check
/// [`is_final`]) or, if no poll ever succeeded, the last error.
pub async fn wait(
    session: &impl Exec,
    id: u64,
    interval: Duration,
    timeout: Duration,
    mut observe: impl FnMut(&Result<JobInfo>),
) -> Result<JobInfo> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last: Option<JobInfo> = None;
    loop {
        let polled = poll(session, id).await;
        observe(&polled);
        let near_deadline = tokio::time::Instant::now() + interval >= deadline;
        match polled {
            Ok(info) if is_final(&info.state) => return Ok(info),
            Ok(info) if near_deadline => return Ok(info),
            Ok(info) => last = Some(info),
            Err(e @ Error::ClusterUnreachable { .. }) if near_deadline => {
                return last.ok_or(e);
            }
            Err(Error::ClusterUnreachable { .. }) => {}
            Err(e) => return Err(e),
        }
        tokio::time::sleep(interval).await;
    }
}

/// The state to show for a poll's outcome: a record's state, or `CLUSTER UNREACHABLE` for a
/// controller that did not answer (the job's own state is then unknown, not failed).
pub fn describe(polled: &Result<JobInfo>) -> String {
    match polled {
        Ok(info) => info.summary(),
        Err(Error::ClusterUnreachable { detail, .. }) => {
            format!("CLUSTER UNREACHABLE (job state unknown, not failed): {detail}")
        }
        Err(e) => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_and_final_states() {
        assert!(timed_out(Some(124)) && timed_out(Some(137)));
        assert!(!timed_out(Some(1)) && !timed_out(None));
        assert!(is_final(&JobState::Cancelled));
        assert!(is_final(&JobState::Unknown(FORGOTTEN.into())));
        assert!(!is_final(&JobState::Unknown("NEW_STATE".into())));
        assert!(!is_final(&JobState::Running));
        let e: Result<JobInfo> = Err(Error::ClusterUnreachable {
            host: "h".into(),
            detail: "d".into(),
        });
        assert!(describe(&e).starts_with("CLUSTER UNREACHABLE"));
    }
}

//! SLURM, the pure part: argv builders for `sbatch`/`scontrol`/`squeue`/`sacct`/`scancel`,
//! parsers of their output into a typed [`JobState`] / [`JobInfo`], and the classification
//! of a failed SLURM command ([`classify_failure`]). No I/O and no async here: the local and
//! SSH backends run the commands and hand their output to these functions, so all of it is
//! tested on real captured output without a cluster.
//!
//! This file holds the model ([`JobState`], [`JobInfo`]); the rest lives in submodules whose
//! items are re-exported here, so every path is `slurm::X`:
//! - `args`: the argv builders ([`sbatch_args`], [`SbatchOptions`], [`scan_env`], …) and the
//!   validation of the values they splice in;
//! - `parse`: the parsers of `sbatch`/`scontrol`/`squeue`/`sacct` output and [`output_tail`];
//! - `fault`: [`Fault`], [`classify_failure`] and [`check_status`].
//!
//! # Protocol (what a backend does)
//! 1. Submit: run [`sbatch_args`] → [`parse_sbatch_parsable`] gives the job id. The job's
//!    values travel as environment variables (`--export=ALL,NAME=value`), never spliced into
//!    a script, see [`scan_env`].
//! 2. Follow: run [`scontrol_args`] → [`parse_scontrol_show_job`] (richest: state, reason,
//!    exit code, output path). [`squeue_args`] → [`parse_squeue`] is the light alternative.
//! 3. A controller forgets a job `MinJobAge` seconds after it ended (then both commands
//!    fail with "Invalid job id specified", [`Fault::InvalidJobId`]): fall back to
//!    [`sacct_args`] → [`parse_sacct`] where accounting exists ([`Fault::AccountingDisabled`]
//!    where it does not), else to the job's output / result files.
//! 4. Any failed command goes through [`classify_failure`]. [`Fault::ControllerUnreachable`]
//!    becomes [`Error::ClusterUnreachable`](crate::remote::Error::ClusterUnreachable): the
//!    job's fate is *unknown*, so it is neither reported as failed nor resubmitted (a
//!    submission that timed out may well have been queued).
//! 5. A terminal state is reported with its exit code and the tail of the job's output
//!    ([`output_tail`], [`JobInfo::summary`]).
//!
//! Formats were taken from slurm-wlm 22.05 (Debian 12) on the project's test cluster; the
//! captured outputs are in `captured.rs`, used by the unit tests of each file.

use serde::{Deserialize, Serialize};

mod args;
#[cfg(test)]
mod captured;
mod fault;
mod parse;

pub use args::{
    HV_SCRIPT, SACCT_FIELDS, SCAN_SCRIPT, SQUEUE_FORMAT, SbatchOptions, check_option, sacct_args,
    sbatch_args, scan_env, scancel_args, scontrol_args, squeue_args, squeue_named_args,
};
pub use fault::{Fault, check_status, classify_failure};
pub use parse::{
    OUTPUT_TAIL_LINES, output_tail, parse_sacct, parse_sbatch_parsable, parse_scontrol_show_job,
    parse_squeue, parse_squeue_all,
};

/// A SLURM job's state, as `scontrol`, `squeue` and `sacct` report it, with the details
/// that matter to the operator attached to the states they belong to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", content = "detail", rename_all = "snake_case")]
pub enum JobState {
    /// Waiting to be scheduled; `reason` is SLURM's (`Priority`, `Resources`,
    /// `BeginTime`, `ReqNodeNotAvail, …`), `None` when SLURM gives none.
    Pending {
        reason: Option<String>,
    },
    /// Resources allocated, nodes booting / being set up.
    Configuring,
    Running,
    /// Finished, SLURM still cleaning up (epilog); not yet terminal.
    Completing,
    /// Exit code 0.
    Completed,
    /// Non-zero exit code (`exit_code`) or killed by a signal (`signal`, non-zero only).
    Failed {
        exit_code: Option<i32>,
        signal: Option<i32>,
    },
    Cancelled,
    /// Reached its time limit.
    Timeout,
    OutOfMemory,
    NodeFail,
    Preempted,
    BootFail,
    Deadline,
    Suspended,
    /// A state this code does not know (a newer SLURM); never terminal, so the caller keeps
    /// polling and shows the raw name.
    Unknown(String),
}

impl JobState {
    /// Maps a SLURM state name (long `FAILED` or short `F` form, `sacct`'s `CANCELLED by 0`
    /// or truncated `CANCELLED+` included) to a state. `reason` and `exit` (`exit:signal`,
    /// as in `ExitCode=3:0`) fill the details of `Pending` and `Failed`.
    pub fn from_slurm(state: &str, reason: Option<&str>, exit: Option<(i32, i32)>) -> JobState {
        let word = state
            .split_whitespace()
            .next()
            .unwrap_or("")
            .trim_end_matches('+')
            .to_ascii_uppercase();
        let reason = reason.and_then(clean).map(str::to_string);
        match word.as_str() {
            "PENDING" | "PD" => JobState::Pending { reason },
            // A requeued job goes back to the queue: pending from the operator's view.
            "REQUEUED" | "RQ" | "REQUEUE_HOLD" | "RH" | "REQUEUE_FED" | "RF" | "RESV_DEL_HOLD"
            | "RD" => JobState::Pending {
                reason: reason.or(Some(word.clone())),
            },
            "CONFIGURING" | "CF" => JobState::Configuring,
            "RUNNING" | "R" | "RESIZING" | "RS" | "SIGNALING" | "SI" | "STAGE_OUT" | "SO" => {
                JobState::Running
            }
            "COMPLETING" | "CG" => JobState::Completing,
            "COMPLETED" | "CD" => JobState::Completed,
            "FAILED" | "F" | "SPECIAL_EXIT" | "SE" => JobState::Failed {
                exit_code: exit.map(|(code, _)| code),
                signal: exit.map(|(_, sig)| sig).filter(|&s| s != 0),
            },
            "CANCELLED" | "CA" | "REVOKED" | "RV" => JobState::Cancelled,
            "TIMEOUT" | "TO" => JobState::Timeout,
            "OUT_OF_MEMORY" | "OOM" => JobState::OutOfMemory,
            "NODE_FAIL" | "NF" => JobState::NodeFail,
            "PREEMPTED" | "PR" => JobState::Preempted,
            "BOOT_FAIL" | "BF" => JobState::BootFail,
            "DEADLINE" | "DL" => JobState::Deadline,
            "SUSPENDED" | "S" | "STOPPED" | "ST" => JobState::Suspended,
            _ => JobState::Unknown(state.trim().to_string()),
        }
    }

    /// The job will not change state any more (it ended, one way or another).
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            JobState::Completed
                | JobState::Failed { .. }
                | JobState::Cancelled
                | JobState::Timeout
                | JobState::OutOfMemory
                | JobState::NodeFail
                | JobState::Preempted
                | JobState::BootFail
                | JobState::Deadline
        )
    }

    /// The job ended with exit code 0.
    pub fn is_success(&self) -> bool {
        matches!(self, JobState::Completed)
    }

    /// The SLURM name of the state (`PENDING`, `OUT_OF_MEMORY`, …), for messages.
    pub fn slurm_name(&self) -> &str {
        match self {
            JobState::Pending { .. } => "PENDING",
            JobState::Configuring => "CONFIGURING",
            JobState::Running => "RUNNING",
            JobState::Completing => "COMPLETING",
            JobState::Completed => "COMPLETED",
            JobState::Failed { .. } => "FAILED",
            JobState::Cancelled => "CANCELLED",
            JobState::Timeout => "TIMEOUT",
            JobState::OutOfMemory => "OUT_OF_MEMORY",
            JobState::NodeFail => "NODE_FAIL",
            JobState::Preempted => "PREEMPTED",
            JobState::BootFail => "BOOT_FAIL",
            JobState::Deadline => "DEADLINE",
            JobState::Suspended => "SUSPENDED",
            JobState::Unknown(raw) => raw,
        }
    }
}

/// What is known about one job. `scontrol` fills most fields; `squeue` and `sacct` only
/// `id`, `state`, `reason` (and `sacct` the exit code); the rest stay `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobInfo {
    pub id: u64,
    pub name: Option<String>,
    pub state: JobState,
    /// `(exit code, signal)` as SLURM's `ExitCode=3:0`.
    pub exit_code: Option<(i32, i32)>,
    /// SLURM's reason (`Priority`, `NonZeroExitCode`, …); `None` for SLURM's `None`.
    pub reason: Option<String>,
    /// The job's output file, `%j` etc. already expanded by SLURM.
    pub stdout_path: Option<String>,
    pub stderr_path: Option<String>,
    pub work_dir: Option<String>,
    /// The batch host (first node) once the job was allocated.
    pub node: Option<String>,
    /// Times as SLURM prints them (`2026-11-21T02:46:51`, the controller's local time).
    /// For a pending job `start_time` is SLURM's *expected* start, if it has one.
    pub submit_time: Option<String>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    /// The last lines of the job's output, filled by the backend that can read the file
    /// ([`output_tail`]); the parsers leave it `None`.
    #[serde(default)]
    pub output_tail: Option<String>,
}

impl JobInfo {
    /// A record holding only what `squeue`/`sacct` tell (or only a state).
    pub(crate) fn bare(
        id: u64,
        state: JobState,
        exit_code: Option<(i32, i32)>,
        reason: Option<&str>,
    ) -> Self {
        JobInfo {
            id,
            name: None,
            state,
            exit_code,
            reason: reason.and_then(clean).map(str::to_string),
            stdout_path: None,
            stderr_path: None,
            work_dir: None,
            node: None,
            submit_time: None,
            start_time: None,
            end_time: None,
            output_tail: None,
        }
    }

    /// One line for the operator: `job 6 (capfail): FAILED, exit code 3 (NonZeroExitCode);
    /// output: … | hi`.
    pub fn summary(&self) -> String {
        let mut s = format!("job {}", self.id);
        if let Some(name) = &self.name {
            s.push_str(&format!(" ({name})"));
        }
        s.push_str(": ");
        s.push_str(self.state.slurm_name());
        match self.exit_code {
            Some((code, sig)) if sig != 0 => {
                s.push_str(&format!(", exit code {code}, killed by signal {sig}"))
            }
            Some((code, _)) if self.state.is_terminal() => {
                s.push_str(&format!(", exit code {code}"))
            }
            _ => {}
        }
        if let Some(reason) = &self.reason {
            s.push_str(&format!(" ({reason})"));
        }
        if let Some(tail) = self.output_tail.as_deref().filter(|t| !t.trim().is_empty()) {
            let one_line: Vec<&str> = tail
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            s.push_str("; output: ");
            s.push_str(&one_line.join(" | "));
        }
        s
    }
}

/// SLURM's placeholders for "no value" become `None`.
fn clean(v: &str) -> Option<&str> {
    let v = v.trim();
    match v {
        "" | "None" | "(null)" | "Unknown" | "N/A" | "n/a" => None,
        _ => Some(v),
    }
}

#[cfg(test)]
mod tests {
    use super::captured::SC_FAILED_EXIT3;
    use super::*;

    #[test]
    fn state_names() {
        for (s, want) in [
            ("OUT_OF_MEMORY", JobState::OutOfMemory),
            ("OOM", JobState::OutOfMemory),
            ("TIMEOUT", JobState::Timeout),
            ("NODE_FAIL", JobState::NodeFail),
            ("PREEMPTED", JobState::Preempted),
            ("BOOT_FAIL", JobState::BootFail),
            ("DEADLINE", JobState::Deadline),
            ("SUSPENDED", JobState::Suspended),
            ("CONFIGURING", JobState::Configuring),
            ("COMPLETING", JobState::Completing),
            ("CD", JobState::Completed),
            ("R", JobState::Running),
            ("CANCELLED+", JobState::Cancelled),
            ("cancelled by 1000", JobState::Cancelled),
        ] {
            assert_eq!(JobState::from_slurm(s, None, None), want, "{s}");
        }
        let u = JobState::from_slurm("WEIRD_NEW", None, None);
        assert_eq!(u, JobState::Unknown("WEIRD_NEW".into()));
        assert!(!u.is_terminal());
        assert!(JobState::Completed.is_success());
        assert!(!JobState::Running.is_terminal() && !JobState::Suspended.is_terminal());
        for t in [
            JobState::Cancelled,
            JobState::Timeout,
            JobState::OutOfMemory,
            JobState::NodeFail,
            JobState::BootFail,
            JobState::Deadline,
            JobState::Preempted,
        ] {
            assert!(t.is_terminal() && !t.is_success(), "{t:?}");
        }
    }

    #[test]
    fn serde_shape() {
        let v = serde_json::to_value(JobState::Pending {
            reason: Some("Priority".into()),
        })
        .expect("serialises");
        assert_eq!(
            v,
            serde_json::json!({"state": "pending", "detail": {"reason": "Priority"}})
        );
        let v = serde_json::to_value(JobState::OutOfMemory).expect("serialises");
        assert_eq!(v, serde_json::json!({"state": "out_of_memory"}));
        let j = parse_scontrol_show_job(SC_FAILED_EXIT3).expect("parses");
        let text = serde_json::to_string(&j).expect("serialises");
        let back: JobInfo = serde_json::from_str(&text).expect("round trip");
        assert_eq!(back, j);
        let u: JobState =
            serde_json::from_str(r#"{"state":"unknown","detail":"X"}"#).expect("parses");
        assert_eq!(u, JobState::Unknown("X".into()));
    }
}

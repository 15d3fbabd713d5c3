//! SLURM, the pure part: argv builders for `sbatch`/`scontrol`/`squeue`/`sacct`/`scancel`,
//! parsers of their output into a typed [`JobState`] / [`JobInfo`], and the classification
//! of a failed SLURM command ([`classify_failure`]). No I/O and no async here: the local and
//! SSH backends run the commands and hand their output to these functions, so all of it is
//! tested on real captured output without a cluster.
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
//!    becomes [`Error::ClusterUnreachable`]: the job's fate is *unknown*, so it is neither
//!    reported as failed nor resubmitted (a submission that timed out may well have been
//!    queued).
//! 5. A terminal state is reported with its exit code and the tail of the job's output
//!    ([`output_tail`], [`JobInfo::summary`]).
//!
//! Formats were taken from slurm-wlm 22.05 (Debian 12) on the project's test cluster; the
//! captured outputs are in the unit tests below.

use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use crate::pipeline::serial::Serial;

/// The batch script for a full scan (relative to the repository / install root).
pub const SCAN_SCRIPT: &str = "slurm/pmtwatch-scan.sbatch";
/// The batch script for an HV-check scan (5 points).
pub const HV_SCRIPT: &str = "slurm/pmtwatch-hv.sbatch";

/// The `squeue -o` format [`parse_squeue`] reads: id, long state name, reason. The reason
/// comes last because it is the only field that may hold spaces or punctuation.
pub const SQUEUE_FORMAT: &str = "%i|%T|%r";
/// The `sacct -o` fields [`parse_sacct`] reads (with `-P -n`: `|`-separated, no header).
pub const SACCT_FIELDS: &str = "JobID,State,ExitCode,Reason";

/// Lines of job output kept by [`output_tail`] unless the caller asks otherwise.
pub const OUTPUT_TAIL_LINES: usize = 20;
/// Upper bound on the bytes [`output_tail`] keeps, so a job that prints megabytes on one
/// line cannot bloat a status message.
const OUTPUT_TAIL_MAX_BYTES: usize = 4096;

// ---------------------------------------------------------------------------------------
// States

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
    /// A record holding only what `squeue`/`sacct` tell.
    fn bare(id: u64, state: JobState, exit_code: Option<(i32, i32)>, reason: Option<&str>) -> Self {
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

/// `3:0` → `(3, 0)`.
fn parse_exit_code(v: &str) -> Option<(i32, i32)> {
    let (code, sig) = v.trim().split_once(':')?;
    Some((code.parse().ok()?, sig.parse().ok()?))
}

/// The numeric job id at the start of a SLURM id field (`123`, `123_4` of an array,
/// `123+0` of a heterogeneous job, `123.batch` of a step).
fn leading_id(field: &str) -> Option<u64> {
    let digits: &str = &field[..field
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(field.len())];
    digits.parse().ok()
}

fn bad_output(what: &str, why: impl Into<String>) -> Error {
    Error::Invalid {
        what: what.into(),
        why: why.into(),
    }
}

/// A short, single-line excerpt of unexpected output for an error message.
fn excerpt(text: &str) -> String {
    let t = text.trim();
    let mut end = t.len().min(120);
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}", &t[..end])
}

// ---------------------------------------------------------------------------------------
// Parsers

/// Parses `sbatch --parsable` output: `123` or `123;cluster`. Only the last non-empty line
/// counts, as site plugins sometimes print notices before it.
pub fn parse_sbatch_parsable(stdout: &str) -> Result<u64> {
    let line = stdout
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .ok_or_else(|| bad_output("sbatch output", "it is empty (no job id)"))?;
    let id = line.split(';').next().unwrap_or("").trim();
    id.parse::<u64>().map_err(|_| {
        bad_output(
            "sbatch output",
            format!(
                "expected a job id (`123` or `123;cluster`), got {}",
                excerpt(line)
            ),
        )
    })
}

/// Splits one `scontrol show job` record into `(key, value)` pairs.
///
/// Pairs are separated by single spaces, but some values hold spaces themselves
/// (`JobName=scan 7`, paths). A word starts a new pair only if it looks like `Key=`
/// (a letter, then letters, digits or `_ : / .`); any other word continues the previous
/// value. `JobName` is special: it is free text and always followed by `UserId=`, so its
/// value runs up to that word even if it contains `x=y`.
fn scontrol_pairs(record: &str) -> Vec<(String, String)> {
    let looks_like_key = |w: &str| {
        w.split_once('=').is_some_and(|(k, _)| {
            k.starts_with(|c: char| c.is_ascii_alphabetic())
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '/' | '.'))
        })
    };
    let name_runs_to_userid = record.contains(" UserId=");
    let mut pairs: Vec<(String, String)> = Vec::new();
    for word in record.split(' ') {
        let in_job_name = pairs.last().is_some_and(|(k, _)| k == "JobName")
            && name_runs_to_userid
            && !word.starts_with("UserId=");
        if !in_job_name && looks_like_key(word) {
            if let Some((k, v)) = word.split_once('=') {
                pairs.push((k.to_string(), v.to_string()));
                continue;
            }
        }
        if let Some((_, v)) = pairs.last_mut() {
            // Continuation of a value that held a space (or stray text before any key).
            v.push(' ');
            v.push_str(word);
        }
    }
    for (_, v) in &mut pairs {
        // The record ends with a space (`Power= `): trailing spaces are not part of values.
        let trimmed = v.trim_end().len();
        v.truncate(trimmed);
    }
    pairs
}

/// Parses `scontrol show job -o <id>` (one line per job; the first job is taken). The
/// multi-line form without `-o` is accepted too.
pub fn parse_scontrol_show_job(stdout: &str) -> Result<JobInfo> {
    // The first record: from the first line starting with `JobId=` to the next one.
    let mut record = String::new();
    for line in stdout.lines().map(str::trim) {
        if line.starts_with("JobId=") && !record.is_empty() {
            break;
        }
        if record.is_empty() && !line.starts_with("JobId=") {
            continue;
        }
        if !line.is_empty() {
            record.push_str(line);
            record.push(' ');
        }
    }
    if record.is_empty() {
        return Err(bad_output(
            "scontrol output",
            format!("no `JobId=` record in {}", excerpt(stdout)),
        ));
    }
    let pairs = scontrol_pairs(&record);
    let get = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let id_text = get("JobId").unwrap_or("");
    let id = id_text.parse::<u64>().map_err(|_| {
        bad_output(
            "scontrol output",
            format!("JobId is not a number: {}", excerpt(id_text)),
        )
    })?;
    let state_text = get("JobState")
        .ok_or_else(|| bad_output("scontrol output", format!("job {id} has no JobState")))?;
    let reason = get("Reason");
    let exit_code = get("ExitCode").and_then(parse_exit_code);
    let owned = |key: &str| get(key).and_then(clean).map(str::to_string);
    Ok(JobInfo {
        id,
        name: get("JobName").map(str::to_string),
        state: JobState::from_slurm(state_text, reason, exit_code),
        exit_code,
        reason: reason.and_then(clean).map(str::to_string),
        stdout_path: owned("StdOut"),
        stderr_path: owned("StdErr"),
        work_dir: owned("WorkDir"),
        node: owned("BatchHost").or_else(|| owned("NodeList")),
        submit_time: owned("SubmitTime"),
        start_time: owned("StartTime"),
        end_time: owned("EndTime"),
        output_tail: None,
    })
}

/// Parses `squeue -h -t all -j <id> -o '%i|%T|%r'` ([`squeue_args`]). `Ok(None)` when the
/// output is empty (the controller no longer lists the job). With several rows (an array
/// job) the first is taken.
pub fn parse_squeue(stdout: &str) -> Result<Option<JobInfo>> {
    let Some(line) = stdout.lines().map(str::trim).find(|l| !l.is_empty()) else {
        return Ok(None);
    };
    let mut fields = line.splitn(3, '|');
    let (Some(id), Some(state), reason) = (fields.next(), fields.next(), fields.next()) else {
        return Err(bad_output(
            "squeue output",
            format!("expected `id|STATE|reason`, got {}", excerpt(line)),
        ));
    };
    let id = leading_id(id.trim())
        .ok_or_else(|| bad_output("squeue output", format!("no job id in {}", excerpt(line))))?;
    let state = JobState::from_slurm(state, reason, None);
    Ok(Some(JobInfo::bare(id, state, None, reason)))
}

/// Parses `sacct -P -n -j <id> -o JobID,State,ExitCode,Reason` ([`sacct_args`]).
/// `Ok(None)` when accounting knows no such job.
///
/// The job's own row (`123`, no step suffix) gives the state; the step rows (`123.batch`,
/// `123.extern`, `123.0`) only refine it: when the job row says exit `0:0` but a step
/// failed, the step's exit code is used (the batch step first), and a `FAILED` job whose
/// step ran out of memory is reported as [`JobState::OutOfMemory`].
pub fn parse_sacct(stdout: &str) -> Result<Option<JobInfo>> {
    struct Row<'a> {
        id: &'a str,
        state: &'a str,
        exit: Option<(i32, i32)>,
        reason: Option<&'a str>,
    }
    let mut rows = Vec::new();
    for line in stdout.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.splitn(4, '|').collect();
        if f.len() < 3 {
            return Err(bad_output(
                "sacct output",
                format!(
                    "expected `JobID|State|ExitCode|Reason`, got {}",
                    excerpt(line)
                ),
            ));
        }
        rows.push(Row {
            id: f[0].trim(),
            state: f[1].trim(),
            exit: parse_exit_code(f[2]),
            reason: f.get(3).copied(),
        });
    }
    let is_step = |r: &Row| r.id.contains('.');
    let Some(job) = rows.iter().find(|r| !is_step(r)) else {
        return Ok(None);
    };
    let id = leading_id(job.id)
        .ok_or_else(|| bad_output("sacct output", format!("no job id in {}", excerpt(job.id))))?;
    let steps: Vec<&Row> = rows
        .iter()
        .filter(|r| is_step(r) && leading_id(r.id) == Some(id))
        .collect();
    let mut exit = job.exit;
    if matches!(exit, None | Some((0, 0))) {
        // The batch step holds the script's own exit status; other steps are srun steps.
        let failed_step = steps
            .iter()
            .filter(|s| matches!(s.exit, Some(e) if e != (0, 0)))
            .min_by_key(|s| !s.id.ends_with(".batch"));
        if let Some(step) = failed_step {
            exit = step.exit;
        }
    }
    let mut state = JobState::from_slurm(job.state, job.reason, exit);
    let step_oom = steps
        .iter()
        .any(|s| JobState::from_slurm(s.state, None, None) == JobState::OutOfMemory);
    if step_oom && matches!(state, JobState::Failed { .. }) {
        state = JobState::OutOfMemory;
    }
    Ok(Some(JobInfo::bare(id, state, exit, job.reason)))
}

/// The last `max_lines` lines of a job's output (at most 4 KiB, cut at a line or character
/// boundary), for failure reports.
pub fn output_tail(text: &str, max_lines: usize) -> String {
    let trimmed = text.trim_end();
    let lines: Vec<&str> = trimmed.lines().collect();
    let mut tail = lines[lines.len().saturating_sub(max_lines)..].join("\n");
    if tail.len() > OUTPUT_TAIL_MAX_BYTES {
        let mut start = tail.len() - OUTPUT_TAIL_MAX_BYTES;
        while !tail.is_char_boundary(start) {
            start += 1;
        }
        tail = format!("…{}", &tail[start..]);
    }
    tail
}

// ---------------------------------------------------------------------------------------
// Failures of the SLURM commands themselves

/// Why a SLURM command failed, as far as its stderr and exit status tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The controller (or the accounting daemon) does not answer, or the command gave no
    /// status at all (killed after hanging). The job's fate is unknown: never report it as
    /// failed, never resubmit.
    ControllerUnreachable { detail: String },
    /// The controller does not know the job (any more): fall back to `sacct` or to the
    /// job's output / result files.
    InvalidJobId,
    /// `sacct` on a cluster without accounting: use the output / result files instead.
    AccountingDisabled,
    /// The SLURM command is not installed (or not on the PATH of a non-login shell).
    NotInstalled { detail: String },
    /// Anything else (bad partition, invalid option, permission, …): the operator must act.
    Other { detail: String },
}

/// stderr fragments (lower case) that mean "no answer from the controller / slurmdbd".
const UNREACHABLE_MARKERS: &[&str] = &[
    "unable to contact slurm controller",
    "socket timed out on send/recv",
    "zero bytes were transmitted or received",
    "connection refused",
    "connection timed out",
    "connection reset by peer",
    "communication connection failure",
    "no route to host",
    "network is unreachable",
    "transport endpoint is not connected",
    "backup controller in standby mode",
    "slurmctld not responding",
    "problem talking to the database",
];

/// Tells "the controller does not answer" from "the job id is unknown" from everything
/// else, given a failed command's stderr and exit status (`None`: killed by a signal,
/// e.g. by the caller's time-out).
pub fn classify_failure(stderr: &str, status: Option<i32>) -> Fault {
    let lower = stderr.to_ascii_lowercase();
    let detail = super::ssh::tail(stderr, 3);
    if let Some(marker) = UNREACHABLE_MARKERS.iter().find(|m| lower.contains(*m)) {
        return Fault::ControllerUnreachable {
            detail: if detail.is_empty() {
                (*marker).to_string()
            } else {
                detail
            },
        };
    }
    if lower.contains("invalid job id") {
        return Fault::InvalidJobId;
    }
    if lower.contains("accounting storage is disabled") {
        return Fault::AccountingDisabled;
    }
    if status == Some(127) || lower.contains("command not found") {
        return Fault::NotInstalled {
            detail: if detail.is_empty() {
                "exit status 127 (command not found)".into()
            } else {
                detail
            },
        };
    }
    if status.is_none() {
        // A SLURM client that had to be killed was waiting on the controller (they retry
        // for MessageTimeout × n seconds before giving up).
        return Fault::ControllerUnreachable {
            detail: if detail.is_empty() {
                "the command gave no answer and was stopped".into()
            } else {
                detail
            },
        };
    }
    Fault::Other { detail }
}

impl Fault {
    /// The remote-layer error for this fault: [`Error::ClusterUnreachable`] for an
    /// unreachable controller, [`Error::Command`] (with the stderr tail) otherwise.
    pub fn into_error(
        self,
        host: &str,
        argv: &[String],
        status: Option<i32>,
        stderr: &str,
    ) -> Error {
        match self {
            Fault::ControllerUnreachable { detail } => Error::ClusterUnreachable {
                host: host.to_string(),
                detail,
            },
            Fault::NotInstalled { detail } => Error::Command {
                host: host.to_string(),
                command: argv.join(" "),
                status: status_text(status),
                stderr_tail: format!(
                    "{detail} — is SLURM installed there and on the PATH of a non-login shell?"
                ),
            },
            Fault::InvalidJobId | Fault::AccountingDisabled | Fault::Other { .. } => {
                Error::Command {
                    host: host.to_string(),
                    command: argv.join(" "),
                    status: status_text(status),
                    stderr_tail: super::ssh::tail(stderr, 5),
                }
            }
        }
    }
}

fn status_text(status: Option<i32>) -> String {
    status.map_or_else(
        || "no status (killed or timed out)".into(),
        |s| format!("status {s}"),
    )
}

/// `Ok(())` for exit status 0; otherwise the classified error ([`classify_failure`] then
/// [`Fault::into_error`]). For callers that have no fallback for an unknown job id.
pub fn check_status(host: &str, argv: &[String], status: Option<i32>, stderr: &str) -> Result<()> {
    if status == Some(0) {
        return Ok(());
    }
    Err(classify_failure(stderr, status).into_error(host, argv, status, stderr))
}

// ---------------------------------------------------------------------------------------
// Command builders

/// Options of one `sbatch` submission; `None` keeps the script's `#SBATCH` default (the
/// command line overrides `#SBATCH` lines).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SbatchOptions {
    pub partition: Option<String>,
    /// `--time`: `MM`, `HH:MM:SS`, `D-HH:MM:SS`, …
    pub time: Option<String>,
    /// `--mem`: `4000`, `4G`, `500M`, …
    pub mem: Option<String>,
    pub account: Option<String>,
    /// `--output`; SLURM expands `%j` (job id), `%x` (job name).
    pub output_path: Option<String>,
    /// `--chdir`: the job's working directory.
    pub chdir: Option<String>,
    /// Environment variables for the job (`--export=ALL,NAME=value,…`); see [`scan_env`].
    #[serde(default)]
    pub env: Vec<(String, String)>,
}

fn refuse(what: &str, why: impl Into<String>) -> Error {
    Error::Invalid {
        what: what.into(),
        why: why.into(),
    }
}

/// Free text that becomes one argv word: non-empty, no control characters (a newline
/// would end a `#SBATCH`-style line or a log record), bounded.
fn check_text(what: &str, v: &str) -> Result<()> {
    if v.is_empty() {
        return Err(refuse(what, "it is empty"));
    }
    if v.len() > 4096 {
        return Err(refuse(what, "it is longer than 4096 bytes"));
    }
    if let Some(c) = v.chars().find(|c| c.is_control()) {
        return Err(refuse(
            what,
            format!("{} contains the control character {c:?}", excerpt(v)),
        ));
    }
    Ok(())
}

/// A path: text as above that also cannot be read as an option.
fn check_path(what: &str, v: &str) -> Result<()> {
    check_text(what, v)?;
    if v.starts_with('-') {
        return Err(refuse(what, format!("{} starts with '-'", excerpt(v))));
    }
    Ok(())
}

/// Partition / account names: `[A-Za-z0-9_.-]+`.
fn check_name(what: &str, v: &str) -> Result<()> {
    let ok = !v.is_empty()
        && v.len() <= 128
        && !v.starts_with('-')
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(refuse(
            what,
            format!(
                "{} is not a name of letters, digits, '_', '.' and '-' (not starting with '-')",
                excerpt(v)
            ),
        ))
    }
}

/// `--time`: digits separated by `:` or `-`, or `UNLIMITED` / `INFINITE`.
fn check_time(v: &str) -> Result<()> {
    let ok = matches!(v, "UNLIMITED" | "INFINITE" | "unlimited" | "infinite")
        || (!v.is_empty()
            && v.starts_with(|c: char| c.is_ascii_digit())
            && v.len() <= 32
            && v.chars()
                .all(|c| c.is_ascii_digit() || matches!(c, ':' | '-')));
    if ok {
        Ok(())
    } else {
        Err(refuse(
            "SLURM time limit",
            format!(
                "{} is not a time like 90, 02:00:00 or 1-12:00:00",
                excerpt(v)
            ),
        ))
    }
}

/// `--mem`: a number with an optional `K`/`M`/`G`/`T` unit.
fn check_mem(v: &str) -> Result<()> {
    let digits = v.trim_end_matches(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't']);
    let ok = !digits.is_empty()
        && digits.len() <= 16
        && v.len() - digits.len() <= 1
        && digits.chars().all(|c| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(refuse(
            "SLURM memory request",
            format!("{} is not an amount like 4000, 500M or 4G", excerpt(v)),
        ))
    }
}

/// One `--export` entry. sbatch splits `--export` at every comma (quotes do not protect
/// one: `A="x,y"` arrives as `"x,y"` with the quotes), so values with commas are refused;
/// spaces, `$`, quotes and backticks arrive unchanged (checked on the test cluster).
fn check_env(name: &str, value: &str) -> Result<()> {
    let name_ok = name.starts_with(|c: char| c.is_ascii_uppercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 64;
    if !name_ok {
        return Err(refuse(
            "job environment variable name",
            format!("{} is not of the form [A-Z_][A-Z0-9_]*", excerpt(name)),
        ));
    }
    if matches!(name, "ALL" | "NONE" | "NIL") {
        return Err(refuse(
            "job environment variable name",
            format!("{name} is a keyword of sbatch --export"),
        ));
    }
    let what = format!("value of job environment variable {name}");
    check_text(&what, value)?;
    if value.contains(',') {
        return Err(refuse(
            &what,
            format!(
                "{} contains ',' which sbatch --export cannot carry (it splits there)",
                excerpt(value)
            ),
        ));
    }
    Ok(())
}

/// `sbatch --parsable --job-name=… [options] [--export=ALL,…] -- SCRIPT`. Every option is
/// one `--opt=value` word, so no value can be taken for an option; the script comes after
/// `--`. Nothing here is a shell string: the SSH layer quotes each word.
pub fn sbatch_args(script: &str, job_name: &str, extra: &SbatchOptions) -> Result<Vec<String>> {
    check_path("batch script path", script)?;
    check_text("job name", job_name)?;
    if job_name.len() > 128 {
        return Err(refuse("job name", "it is longer than 128 bytes"));
    }
    let mut argv = vec![
        "sbatch".to_string(),
        "--parsable".to_string(),
        format!("--job-name={job_name}"),
    ];
    if let Some(p) = &extra.partition {
        check_name("SLURM partition", p)?;
        argv.push(format!("--partition={p}"));
    }
    if let Some(t) = &extra.time {
        check_time(t)?;
        argv.push(format!("--time={t}"));
    }
    if let Some(m) = &extra.mem {
        check_mem(m)?;
        argv.push(format!("--mem={m}"));
    }
    if let Some(a) = &extra.account {
        check_name("SLURM account", a)?;
        argv.push(format!("--account={a}"));
    }
    if let Some(o) = &extra.output_path {
        check_path("job output path", o)?;
        argv.push(format!("--output={o}"));
    }
    if let Some(d) = &extra.chdir {
        check_path("job working directory", d)?;
        argv.push(format!("--chdir={d}"));
    }
    if !extra.env.is_empty() {
        // ALL: the job also gets the submitting environment (PATH to pmtwatch, modules).
        let mut export = String::from("--export=ALL");
        for (name, value) in &extra.env {
            check_env(name, value)?;
            export.push(',');
            export.push_str(name);
            export.push('=');
            export.push_str(value);
        }
        argv.push(export);
    }
    argv.push("--".to_string());
    argv.push(script.to_string());
    Ok(argv)
}

/// The environment the batch scripts in `slurm/` read: `SCAN_DIR`, `SN`, `OUT_DIR`.
pub fn scan_env(scan_dir: &str, serial: &Serial, out_dir: &str) -> Result<Vec<(String, String)>> {
    check_path("scan directory", scan_dir)?;
    check_path("output directory", out_dir)?;
    let env = vec![
        ("SCAN_DIR".to_string(), scan_dir.to_string()),
        ("SN".to_string(), serial.as_str().to_string()),
        ("OUT_DIR".to_string(), out_dir.to_string()),
    ];
    for (k, v) in &env {
        check_env(k, v)?;
    }
    Ok(env)
}

/// `scontrol show job -o ID` (one line per job).
pub fn scontrol_args(id: u64) -> Vec<String> {
    vec![
        "scontrol".into(),
        "show".into(),
        "job".into(),
        "-o".into(),
        id.to_string(),
    ]
}

/// `squeue -h -t all -j ID -o '%i|%T|%r'`. `-t all`: without it squeue hides jobs that
/// already ended (it printed nothing for a FAILED job on the test cluster).
pub fn squeue_args(id: u64) -> Vec<String> {
    vec![
        "squeue".into(),
        "-h".into(),
        "-t".into(),
        "all".into(),
        "-j".into(),
        id.to_string(),
        "-o".into(),
        SQUEUE_FORMAT.into(),
    ]
}

/// `sacct -P -n -j ID -o JobID,State,ExitCode,Reason` (steps included, to refine exit
/// codes).
pub fn sacct_args(id: u64) -> Vec<String> {
    vec![
        "sacct".into(),
        "-P".into(),
        "-n".into(),
        "-j".into(),
        id.to_string(),
        "-o".into(),
        SACCT_FIELDS.into(),
    ]
}

/// `scancel ID`. Note: slurm 22.05's scancel exits 0 even for an unknown or finished job.
pub fn scancel_args(id: u64) -> Vec<String> {
    vec!["scancel".into(), id.to_string()]
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured on the test cluster (slurm-wlm 22.05.8, scripts/test-cluster.sh).
    const SC_PENDING_PRIORITY: &str = "JobId=7 JobName=capsleep UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901753 Nice=0 Account=(null) QOS=(null) JobState=PENDING Reason=Priority Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:00:00 TimeLimit=UNLIMITED TimeMin=N/A SubmitTime=2026-11-21T02:46:51 EligibleTime=2026-11-21T02:46:51 AccrueTime=Unknown StartTime=Unknown EndTime=Unknown Deadline=N/A SuspendTime=None SecsPreSuspend=0 LastSchedEval=2026-11-21T02:46:51 Scheduler=Main Partition=debug AllocNode:Sid=localhost:27329 ReqNodeList=(null) ExcNodeList=(null) NodeList= NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:* TRES=cpu=1,mem=1000M,node=1,billing=1 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=1 MinMemoryNode=0 MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 Licenses=(null) Network=(null) Command=(null) WorkDir=/tmp/slcap StdErr=/tmp/slcap/sleep-7.out StdIn=/dev/null StdOut=/tmp/slcap/sleep-7.out Power= \n";
    const SC_PENDING_BEGIN_SPACE_NAME: &str = "JobId=9 JobName=cap pend UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901751 Nice=0 Account=(null) QOS=(null) JobState=PENDING Reason=BeginTime Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:00:00 TimeLimit=UNLIMITED TimeMin=N/A SubmitTime=2026-11-21T02:46:51 EligibleTime=2026-11-21T02:56:51 AccrueTime=Unknown StartTime=2026-11-21T02:56:51 EndTime=Unknown Deadline=N/A SuspendTime=None SecsPreSuspend=0 LastSchedEval=2026-11-21T02:46:51 Scheduler=Main Partition=debug AllocNode:Sid=localhost:27329 ReqNodeList=(null) ExcNodeList=(null) NodeList= NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:* TRES=cpu=1,mem=1000M,node=1,billing=1 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=1 MinMemoryNode=0 MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 Licenses=(null) Network=(null) Command=(null) WorkDir=/tmp/slcap StdErr=/tmp/slcap/slurm-9.out StdIn=/dev/null StdOut=/tmp/slcap/slurm-9.out Power= \n";
    const SC_FAILED_EXIT3: &str = "JobId=6 JobName=capfail UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901754 Nice=0 Account=(null) QOS=(null) JobState=FAILED Reason=NonZeroExitCode Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=3:0 RunTime=00:00:00 TimeLimit=UNLIMITED TimeMin=N/A SubmitTime=2026-11-21T02:46:51 EligibleTime=2026-11-21T02:46:51 AccrueTime=2026-11-21T02:46:51 StartTime=2026-11-21T02:46:51 EndTime=2026-11-21T02:46:51 Deadline=N/A SuspendTime=None SecsPreSuspend=0 LastSchedEval=2026-11-21T02:46:51 Scheduler=Main Partition=debug AllocNode:Sid=localhost:27329 ReqNodeList=(null) ExcNodeList=(null) NodeList=vm BatchHost=vm NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:* TRES=cpu=1,node=1,billing=1 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=1 MinMemoryNode=0 MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 Licenses=(null) Network=(null) Command=(null) WorkDir=/tmp/slcap StdErr=/tmp/slcap/fail-6.out StdIn=/dev/null StdOut=/tmp/slcap/fail-6.out Power= \n";
    const SC_FAILED_SIGNAL9: &str = "JobId=8 JobName=capsig UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901752 Nice=0 Account=(null) QOS=(null) JobState=FAILED Reason=JobLaunchFailure Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:9 RunTime=00:00:00 TimeLimit=365-00:00:00 TimeMin=N/A SubmitTime=2026-11-21T02:46:51 EligibleTime=2026-11-21T02:46:51 AccrueTime=2026-11-21T02:46:51 StartTime=2026-11-21T02:46:52 EndTime=2026-11-21T02:46:52 Deadline=N/A SuspendTime=None SecsPreSuspend=0 LastSchedEval=2026-11-21T02:46:52 Scheduler=Backfill Partition=debug AllocNode:Sid=localhost:27329 ReqNodeList=(null) ExcNodeList=(null) NodeList=vm BatchHost=vm NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:* TRES=cpu=1,node=1,billing=1 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=1 MinMemoryNode=0 MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 Licenses=(null) Network=(null) Command=(null) WorkDir=/tmp/slcap StdErr=/tmp/slcap/slurm-8.out StdIn=/dev/null StdOut=/tmp/slcap/slurm-8.out Power= \n";
    const SC_CANCELLED: &str = "JobId=7 JobName=capsleep UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901753 Nice=0 Account=(null) QOS=(null) JobState=CANCELLED Reason=None Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:15 RunTime=00:00:02 TimeLimit=UNLIMITED TimeMin=N/A SubmitTime=2026-11-21T02:46:51 EligibleTime=2026-11-21T02:46:51 AccrueTime=2026-11-21T02:46:51 StartTime=2026-11-21T02:46:51 EndTime=2026-11-21T02:46:53 Deadline=N/A SuspendTime=None SecsPreSuspend=0 LastSchedEval=2026-11-21T02:46:51 Scheduler=Main Partition=debug AllocNode:Sid=localhost:27329 ReqNodeList=(null) ExcNodeList=(null) NodeList=vm BatchHost=vm NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:* TRES=cpu=1,node=1,billing=1 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=1 MinMemoryNode=0 MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 Licenses=(null) Network=(null) Command=(null) WorkDir=/tmp/slcap StdErr=/tmp/slcap/sleep-7.out StdIn=/dev/null StdOut=/tmp/slcap/sleep-7.out Power= \n";
    // `squeue -h -t all -j 6,7,8,9 -o '%i|%T|%r'`
    const SQ_ALL: &str = "7|CANCELLED|None\n6|FAILED|NonZeroExitCode\n8|FAILED|JobLaunchFailure\n9|PENDING|BeginTime\n";
    // stderr of the commands with the controller down (a config pointing at a closed port).
    const ERR_SQUEUE_DOWN: &str =
        "slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n";
    const ERR_SCANCEL_DOWN: &str = "scancel: error: Kill job error on job id 6: Unable to contact slurm controller (connect failure)\n";
    const ERR_SBATCH_DOWN: &str = "sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)\n";
    const ERR_INVALID_ID: &str = "slurm_load_jobs error: Invalid job id specified\n";
    const ERR_SACCT_NO_ACCOUNTING: &str = "Slurm accounting storage is disabled\n";
    const ERR_BAD_PARTITION: &str = "sbatch: error: invalid partition specified: nope\nsbatch: error: Batch job submission failed: Invalid partition name specified\n";
    const ERR_MEM: &str = "sbatch: error: Memory specification can not be satisfied\nsbatch: error: Batch job submission failed: Requested node configuration is not available\n";

    #[test]
    fn sbatch_parsable() {
        assert_eq!(parse_sbatch_parsable("6\n").ok(), Some(6));
        assert_eq!(parse_sbatch_parsable("123;pmtest\n").ok(), Some(123));
        assert_eq!(parse_sbatch_parsable("notice\n42\n\n").ok(), Some(42));
        assert!(parse_sbatch_parsable("").is_err());
        assert!(parse_sbatch_parsable("Submitted batch job 5\n").is_err());
        assert!(parse_sbatch_parsable("-1\n").is_err());
    }

    #[test]
    fn scontrol_failed_with_exit_code() {
        let j = parse_scontrol_show_job(SC_FAILED_EXIT3).expect("parses");
        assert_eq!(j.id, 6);
        assert_eq!(j.name.as_deref(), Some("capfail"));
        assert_eq!(
            j.state,
            JobState::Failed {
                exit_code: Some(3),
                signal: None
            }
        );
        assert_eq!(j.exit_code, Some((3, 0)));
        assert_eq!(j.reason.as_deref(), Some("NonZeroExitCode"));
        assert_eq!(j.stdout_path.as_deref(), Some("/tmp/slcap/fail-6.out"));
        assert_eq!(j.stderr_path.as_deref(), Some("/tmp/slcap/fail-6.out"));
        assert_eq!(j.work_dir.as_deref(), Some("/tmp/slcap"));
        assert_eq!(j.node.as_deref(), Some("vm"));
        assert_eq!(j.submit_time.as_deref(), Some("2026-11-21T02:46:51"));
        assert_eq!(j.end_time.as_deref(), Some("2026-11-21T02:46:51"));
        assert!(j.state.is_terminal() && !j.state.is_success());
    }

    #[test]
    fn scontrol_signal_pending_cancelled() {
        let j = parse_scontrol_show_job(SC_FAILED_SIGNAL9).expect("parses");
        assert_eq!(
            j.state,
            JobState::Failed {
                exit_code: Some(0),
                signal: Some(9)
            }
        );
        assert!(j.summary().contains("signal 9"), "{}", j.summary());

        let j = parse_scontrol_show_job(SC_PENDING_PRIORITY).expect("parses");
        assert_eq!(
            j.state,
            JobState::Pending {
                reason: Some("Priority".into())
            }
        );
        assert_eq!(j.node, None);
        assert_eq!(j.start_time, None);
        assert!(!j.state.is_terminal());

        let j = parse_scontrol_show_job(SC_PENDING_BEGIN_SPACE_NAME).expect("parses");
        assert_eq!(j.name.as_deref(), Some("cap pend"));
        assert_eq!(
            j.state,
            JobState::Pending {
                reason: Some("BeginTime".into())
            }
        );
        assert_eq!(j.start_time.as_deref(), Some("2026-11-21T02:56:51"));

        let j = parse_scontrol_show_job(SC_CANCELLED).expect("parses");
        assert_eq!(j.state, JobState::Cancelled);
        assert_eq!(j.reason, None, "Reason=None is no reason");
        assert_eq!(j.exit_code, Some((0, 15)));
    }

    #[test]
    fn scontrol_values_with_spaces_and_equals() {
        let line = SC_FAILED_EXIT3
            .replace("JobName=capfail", "JobName=scan a=b  c")
            .replace("WorkDir=/tmp/slcap", "WorkDir=/data/my scan")
            .replace(
                "StdOut=/tmp/slcap/fail-6.out",
                "StdOut=/data/my scan/out 6.txt",
            );
        let j = parse_scontrol_show_job(&line).expect("parses");
        assert_eq!(j.name.as_deref(), Some("scan a=b  c"));
        assert_eq!(j.work_dir.as_deref(), Some("/data/my scan"));
        assert_eq!(j.stdout_path.as_deref(), Some("/data/my scan/out 6.txt"));
        assert_eq!(j.exit_code, Some((3, 0)));
    }

    #[test]
    fn scontrol_multiline_form_and_garbage() {
        // The form without -o: the same pairs over several indented lines.
        let multi = SC_FAILED_EXIT3
            .replace(" UserId=", "\n   UserId=")
            .replace(" JobState=", "\n   JobState=")
            + "\nJobId=99 JobName=other JobState=RUNNING\n";
        let j = parse_scontrol_show_job(&multi).expect("parses");
        assert_eq!(j.id, 6);
        assert_eq!(j.exit_code, Some((3, 0)));
        assert!(parse_scontrol_show_job("").is_err());
        assert!(parse_scontrol_show_job(ERR_INVALID_ID).is_err());
        assert!(parse_scontrol_show_job("JobId=x JobState=RUNNING").is_err());
        assert!(parse_scontrol_show_job("JobId=5 JobName=a").is_err());
    }

    #[test]
    fn squeue_rows() {
        let j = parse_squeue(SQ_ALL).expect("parses").expect("a row");
        assert_eq!((j.id, &j.state), (7, &JobState::Cancelled));
        let j = parse_squeue("9|PENDING|BeginTime\n")
            .expect("parses")
            .expect("a row");
        assert_eq!(
            j.state,
            JobState::Pending {
                reason: Some("BeginTime".into())
            }
        );
        let j = parse_squeue("6|FAILED|NonZeroExitCode\n")
            .expect("parses")
            .expect("a row");
        assert_eq!(
            j.state,
            JobState::Failed {
                exit_code: None,
                signal: None
            }
        );
        // The reason may itself hold '|' or spaces; array ids have a suffix.
        let j = parse_squeue("12_[1-3]|PENDING|ReqNodeNotAvail, UnavailableNodes:n|1\n")
            .expect("parses")
            .expect("a row");
        assert_eq!(j.id, 12);
        assert_eq!(
            j.reason.as_deref(),
            Some("ReqNodeNotAvail, UnavailableNodes:n|1")
        );
        assert_eq!(parse_squeue("\n").expect("parses"), None);
        assert!(parse_squeue("garbage\n").is_err());
    }

    // sacct: the test cluster runs without accounting, so these rows follow the documented
    // `sacct -P` format (JobID|State|ExitCode|Reason, job row then its steps).
    #[test]
    fn sacct_rows_and_step_refinement() {
        let out = "6|FAILED|3:0|NonZeroExitCode\n6.batch|FAILED|3:0|\n6.extern|COMPLETED|0:0|\n";
        let j = parse_sacct(out).expect("parses").expect("a job");
        assert_eq!(j.id, 6);
        assert_eq!(
            j.state,
            JobState::Failed {
                exit_code: Some(3),
                signal: None
            }
        );
        assert_eq!(j.reason.as_deref(), Some("NonZeroExitCode"));

        let out = "7|CANCELLED by 0|0:0|None\n7.batch|CANCELLED|0:15|\n7.extern|COMPLETED|0:0|\n";
        let j = parse_sacct(out).expect("parses").expect("a job");
        assert_eq!(j.state, JobState::Cancelled);
        assert_eq!(j.exit_code, Some((0, 15)), "refined from the batch step");
        assert_eq!(j.reason, None);

        let out = "8|FAILED|0:0|None\n8.extern|COMPLETED|0:0|\n8.batch|OUT_OF_MEMORY|0:125|\n";
        let j = parse_sacct(out).expect("parses").expect("a job");
        assert_eq!(j.state, JobState::OutOfMemory);
        assert_eq!(j.exit_code, Some((0, 125)));

        let out = "9|TIMEOUT|0:0|None\n9.batch|CANCELLED|0:15|\n";
        let j = parse_sacct(out).expect("parses").expect("a job");
        assert_eq!(j.state, JobState::Timeout);

        let j = parse_sacct("10|PENDING|0:0|Priority\n")
            .expect("parses")
            .expect("a job");
        assert_eq!(
            j.state,
            JobState::Pending {
                reason: Some("Priority".into())
            }
        );
        assert_eq!(parse_sacct("").expect("parses"), None);
        assert!(parse_sacct("x\n").is_err());
    }

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

    #[test]
    fn failures_are_classified() {
        for (err, status) in [
            (ERR_SQUEUE_DOWN, Some(1)),
            (ERR_SCANCEL_DOWN, Some(8)),
            (ERR_SBATCH_DOWN, Some(1)),
            (
                "squeue: error: Socket timed out on send/recv operation",
                Some(1),
            ),
            ("error: Connection refused", Some(1)),
            (
                "sacct: error: Problem talking to the database: Connection refused",
                Some(1),
            ),
            ("", None),
        ] {
            assert!(
                matches!(
                    classify_failure(err, status),
                    Fault::ControllerUnreachable { .. }
                ),
                "{err:?}"
            );
        }
        assert_eq!(
            classify_failure(ERR_INVALID_ID, Some(1)),
            Fault::InvalidJobId
        );
        assert_eq!(
            classify_failure(ERR_SACCT_NO_ACCOUNTING, Some(1)),
            Fault::AccountingDisabled
        );
        assert!(matches!(
            classify_failure("bash: line 1: sbatch: command not found", Some(127)),
            Fault::NotInstalled { .. }
        ));
        assert!(matches!(
            classify_failure(ERR_BAD_PARTITION, Some(1)),
            Fault::Other { .. }
        ));
        assert!(matches!(
            classify_failure(ERR_MEM, Some(1)),
            Fault::Other { .. }
        ));

        let argv = squeue_args(6);
        let e = check_status("cluster", &argv, Some(1), ERR_SQUEUE_DOWN).expect_err("fails");
        assert!(matches!(e, Error::ClusterUnreachable { .. }), "{e}");
        let e = check_status("cluster", &argv, Some(1), ERR_MEM).expect_err("fails");
        assert!(matches!(e, Error::Command { .. }), "{e}");
        assert!(
            e.to_string().contains("Requested node configuration"),
            "{e}"
        );
        assert!(check_status("cluster", &argv, Some(0), "warning").is_ok());
    }

    #[test]
    fn sbatch_argv() {
        let serial = Serial::parse("KM12345").expect("valid serial");
        let opts = SbatchOptions {
            partition: Some("debug".into()),
            time: Some("02:00:00".into()),
            mem: Some("500M".into()),
            account: Some("pmt_lab-1.x".into()),
            output_path: Some("/data/run 1/pmtwatch-%j.out".into()),
            chdir: Some("/data/run 1".into()),
            env: scan_env("/data/scan $HOME `id`", &serial, "/data/out").expect("valid"),
        };
        let argv = sbatch_args(SCAN_SCRIPT, "pmtwatch-KM12345", &opts).expect("valid");
        assert_eq!(
            argv,
            [
                "sbatch",
                "--parsable",
                "--job-name=pmtwatch-KM12345",
                "--partition=debug",
                "--time=02:00:00",
                "--mem=500M",
                "--account=pmt_lab-1.x",
                "--output=/data/run 1/pmtwatch-%j.out",
                "--chdir=/data/run 1",
                "--export=ALL,SCAN_DIR=/data/scan $HOME `id`,SN=KM12345,OUT_DIR=/data/out",
                "--",
                "slurm/pmtwatch-scan.sbatch",
            ]
        );
        let plain = sbatch_args("job.sh", "j", &SbatchOptions::default()).expect("valid");
        assert_eq!(
            plain,
            ["sbatch", "--parsable", "--job-name=j", "--", "job.sh"]
        );
    }

    #[test]
    fn sbatch_refuses_bad_values() {
        let ok = SbatchOptions::default();
        assert!(sbatch_args("job.sh", "a\nb", &ok).is_err());
        assert!(sbatch_args("job.sh", "", &ok).is_err());
        assert!(sbatch_args("-x.sh", "j", &ok).is_err());
        assert!(sbatch_args("job\r.sh", "j", &ok).is_err());
        let bad = [
            SbatchOptions {
                partition: Some("debug;rm".into()),
                ..ok.clone()
            },
            SbatchOptions {
                partition: Some("-p".into()),
                ..ok.clone()
            },
            SbatchOptions {
                account: Some("a b".into()),
                ..ok.clone()
            },
            SbatchOptions {
                time: Some("1h".into()),
                ..ok.clone()
            },
            SbatchOptions {
                mem: Some("4GB".into()),
                ..ok.clone()
            },
            SbatchOptions {
                output_path: Some("out\n.txt".into()),
                ..ok.clone()
            },
            SbatchOptions {
                chdir: Some("--help".into()),
                ..ok.clone()
            },
            SbatchOptions {
                env: vec![("SCAN_DIR".into(), "a,b".into())],
                ..ok.clone()
            },
            SbatchOptions {
                env: vec![("scan dir".into(), "a".into())],
                ..ok.clone()
            },
            SbatchOptions {
                env: vec![("ALL".into(), "a".into())],
                ..ok.clone()
            },
        ];
        for opts in bad {
            assert!(
                matches!(
                    sbatch_args("job.sh", "j", &opts),
                    Err(Error::Invalid { .. })
                ),
                "{opts:?}"
            );
        }
        for t in ["90", "2-00:00:00", "UNLIMITED"] {
            let o = SbatchOptions {
                time: Some(t.into()),
                ..ok.clone()
            };
            assert!(sbatch_args("job.sh", "j", &o).is_ok(), "{t}");
        }
    }

    #[test]
    fn other_builders() {
        assert_eq!(scontrol_args(6), ["scontrol", "show", "job", "-o", "6"]);
        assert_eq!(
            squeue_args(6),
            ["squeue", "-h", "-t", "all", "-j", "6", "-o", "%i|%T|%r"]
        );
        assert_eq!(
            sacct_args(6),
            [
                "sacct",
                "-P",
                "-n",
                "-j",
                "6",
                "-o",
                "JobID,State,ExitCode,Reason"
            ]
        );
        assert_eq!(scancel_args(6), ["scancel", "6"]);
    }

    #[test]
    fn tails_and_summary() {
        let text: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        let t = output_tail(&text, 3);
        assert_eq!(t, "line 28\nline 29\nline 30");
        let long = "é".repeat(5000);
        let t = output_tail(&long, 5);
        assert!(t.len() <= OUTPUT_TAIL_MAX_BYTES + "…".len() && t.starts_with('…'));

        let mut j = parse_scontrol_show_job(SC_FAILED_EXIT3).expect("parses");
        j.output_tail = Some(output_tail("hi\n", OUTPUT_TAIL_LINES));
        assert_eq!(
            j.summary(),
            "job 6 (capfail): FAILED, exit code 3 (NonZeroExitCode); output: hi"
        );
    }
}

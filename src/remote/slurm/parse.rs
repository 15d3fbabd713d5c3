//! Parsers of the SLURM commands' output (`sbatch --parsable`, `scontrol show job`, `squeue`,
//! `sacct`) into [`JobInfo`], and [`output_tail`] for failure reports. Pure functions, checked
//! on output captured from the test cluster.

use super::{JobInfo, JobState, clean};
use crate::remote::error::{Error, Result};

/// Lines of job output kept by [`output_tail`] unless the caller asks otherwise.
pub const OUTPUT_TAIL_LINES: usize = 20;
/// Upper bound on the bytes [`output_tail`] keeps, so a job that prints megabytes on one
/// line cannot bloat a status message.
const OUTPUT_TAIL_MAX_BYTES: usize = 4096;

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
pub(super) fn excerpt(text: &str) -> String {
    let t = text.trim();
    let mut end = t.len().min(120);
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}", &t[..end])
}

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
///
/// [`squeue_args`]: super::squeue_args
pub fn parse_squeue(stdout: &str) -> Result<Option<JobInfo>> {
    let Some(line) = stdout.lines().map(str::trim).find(|l| !l.is_empty()) else {
        return Ok(None);
    };
    squeue_row(line).map(Some)
}

/// Parses every row of `squeue -h -t all … -o '%i|%T|%r'` (e.g. [`squeue_named_args`]),
/// in the order printed; empty when the controller lists no such job.
///
/// [`squeue_named_args`]: super::squeue_named_args
pub fn parse_squeue_all(stdout: &str) -> Result<Vec<JobInfo>> {
    stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(squeue_row)
        .collect()
}

/// One `id|STATE|reason` row.
fn squeue_row(line: &str) -> Result<JobInfo> {
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
    Ok(JobInfo::bare(id, state, None, reason))
}

/// Parses `sacct -P -n -j <id> -o JobID,State,ExitCode,Reason` ([`sacct_args`]).
/// `Ok(None)` when accounting knows no such job.
///
/// The job's own row (`123`, no step suffix) gives the state; the step rows (`123.batch`,
/// `123.extern`, `123.0`) only refine it: when the job row says exit `0:0` but a step
/// failed, the step's exit code is used (the batch step first), and a `FAILED` job whose
/// step ran out of memory is reported as [`JobState::OutOfMemory`].
///
/// [`sacct_args`]: super::sacct_args
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

#[cfg(test)]
mod tests {
    use super::super::captured::{
        ERR_INVALID_ID, SC_CANCELLED, SC_FAILED_EXIT3, SC_FAILED_SIGNAL9,
        SC_PENDING_BEGIN_SPACE_NAME, SC_PENDING_PRIORITY, SQ_ALL,
    };
    use super::*;

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
        let all = parse_squeue_all(SQ_ALL).expect("parses");
        let ids: Vec<u64> = all.iter().map(|j| j.id).collect();
        assert_eq!(ids, [7, 6, 8, 9]);
        assert!(parse_squeue_all("\n").expect("parses").is_empty());
        assert!(parse_squeue_all("7|RUNNING|None\ngarbage\n").is_err());
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

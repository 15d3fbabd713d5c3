//! Pipeline mode over SSH: the remote host runs `pmtwatch process --watch SCAN --json`,
//! which prints one JSON line per finished point; [`follow_scan`] streams those lines back
//! as they are printed, fetches each point's `result.json` and `charge.png` (atomically,
//! through [`Transfer::download`]) and hands the point to the caller, so the monitor's
//! grid fills while the scan is still running.
//!
//! Decisions, and why:
//! - The remote command is built from argv words only; the scan and output directories
//!   are refused when empty or starting with `-` (clap would read them as options).
//! - A point's files are downloaded *before* the caller hears of it: whoever reacts to
//!   the event can open `local_out/<label>/result.json` at once.
//! - Each label is reported once: a restarted watch does not reprint finished points,
//!   but a duplicate line (a wrapper's retry, a second watch) must not count twice.
//! - A label names a local directory, so one that is not a single plain path component
//!   (`..`, `a/b`) is refused with a warning rather than followed.
//! - Lines that are not point records (a banner, a log line on stdout) are kept as
//!   warnings, never fatal; stderr is kept (its last lines) for the error message.
//!
//! Why this file is over 600 lines: the two ways of following a scan (streamed lines; a
//! SLURM job's result directory) share the record parsing, the label check, fetching a
//! point and the final sync, and are read side by side; about 60 lines are unit tests.

use std::collections::{BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::{Error, Result};
use super::exec::{Exec, LocalHost, with_env};
use super::jobs;
use super::slurm::{JobInfo, JobState, SbatchOptions, scan_env};
use super::ssh::{Line, SshSession};
use super::transfer::Transfer;
use crate::pipeline::label::Label;
use crate::pipeline::point::PointResult;
use crate::pipeline::serial::Serial;

/// Stderr lines kept for the error message of a failed remote watch.
const STDERR_TAIL: usize = 20;

/// Warnings kept in [`ScanOutcome::warnings`]: a chatty remote must not grow memory.
const MAX_WARNINGS: usize = 100;

/// The files fetched for every processed point, `result.json` last so that its local
/// presence means the point's files are all there (the rule `--watch` follows remotely).
const POINT_FILES: [&str; 2] = ["charge.png", "result.json"];

/// A scan to follow on the remote host.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteScan {
    /// The scan directory on the remote host (what the bench writes).
    pub scan_dir: String,
    pub serial: Serial,
    /// Where the remote watch writes `<label>/result.json`, … (on the remote host).
    pub out_dir: String,
    /// Points in the scan: the remote watch exits once this many are done.
    pub points: usize,
    /// Seconds a point's file sizes must hold still before it is processed.
    pub settle_secs: f64,
    /// An analysis config (TOML) on the remote host, for `--config`; the bench defaults
    /// when `None`.
    pub config: Option<String>,
}

/// The SLURM job name of a scan: `pmtwatch-scan-<serial>-<digest>`, the digest being the
/// first 8 hex digits of the SHA-256 of its result directory. One name per run, so a job
/// submitted whose id was never recorded (a lost `sbatch` answer, a crash right after it)
/// is found by name and followed instead of submitted again, and is never mistaken for
/// another run's job of the same tube.
pub fn scan_job_name(serial: &Serial, out_dir: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(out_dir.as_bytes());
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("pmtwatch-scan-{}-{hex}", serial.as_str())
}

impl RemoteScan {
    /// The SLURM job name of this scan; see [`scan_job_name`].
    pub fn job_name(&self) -> String {
        scan_job_name(&self.serial, &self.out_dir)
    }

    /// The remote command, as argv words.
    pub fn argv(&self) -> Result<Vec<String>> {
        for (what, dir) in [
            ("scan directory", &self.scan_dir),
            ("output directory", &self.out_dir),
        ] {
            if dir.is_empty() || dir.starts_with('-') {
                return Err(Error::Invalid {
                    what: format!("remote {what} {dir:?}"),
                    why: "it must be a path, not empty or starting with '-'".into(),
                });
            }
        }
        if !self.settle_secs.is_finite() || self.settle_secs < 0.0 {
            return Err(Error::Invalid {
                what: format!("settle time {}", self.settle_secs),
                why: "it must be a number of seconds ≥ 0".into(),
            });
        }
        if let Some(c) = &self.config
            && (c.is_empty() || c.starts_with('-'))
        {
            return Err(Error::Invalid {
                what: format!("remote config file {c:?}"),
                why: "it must be a path, not empty or starting with '-'".into(),
            });
        }
        let mut argv: Vec<String> = [
            "pmtwatch",
            "process",
            "--watch",
            &self.scan_dir,
            "--serial",
            self.serial.as_str(),
            "--json",
            "--out",
            &self.out_dir,
            "--points",
            &self.points.to_string(),
            "--settle",
            &self.settle_secs.to_string(),
        ]
        .map(str::to_string)
        .to_vec();
        if let Some(c) = &self.config {
            argv.extend(["--config".to_string(), c.clone()]);
        }
        Ok(argv)
    }
}

/// One finished point, reported once its files are local.
#[derive(Debug, Clone, PartialEq)]
pub enum PointEvent {
    /// Processed; `result.json` and `charge.png` are in `local_out/<label>/`.
    Done(Box<PointResult>),
    /// Processing failed remotely (unreadable or corrupt input); nothing was fetched.
    Failed { label: Label, error: String },
}

/// How a followed scan ended (successfully: the remote watch exited 0).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanOutcome {
    /// Labels of the processed points, in the order they arrived.
    pub points: Vec<String>,
    /// Labels of the points whose processing failed, in the order they arrived.
    pub failed: Vec<String>,
    /// Stdout lines that were not point records, duplicates, refused labels (at most
    /// [`MAX_WARNINGS`]).
    pub warnings: Vec<String>,
}

/// What one stdout line says.
#[derive(Debug)]
enum Record {
    Done(Box<PointResult>),
    Failed {
        label: String,
        error: String,
    },
    /// Not a point record; the reason, for a warning.
    Other(String),
}

fn parse_line(line: &str) -> Record {
    let value: serde_json::Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(_) => return Record::Other(format!("not a JSON line: {line:?}")),
    };
    if value.get("status").and_then(|s| s.as_str()) == Some("failed") {
        let Some(label) = value.get("point").and_then(|p| p.as_str()) else {
            return Record::Other(format!("failed-point line without a point: {line:?}"));
        };
        let error = value
            .get("error")
            .and_then(|e| e.as_str())
            .unwrap_or("(no error given)");
        return Record::Failed {
            label: label.to_string(),
            error: error.to_string(),
        };
    }
    match serde_json::from_value::<PointResult>(value) {
        Ok(r) => Record::Done(Box::new(r)),
        Err(e) => Record::Other(format!("not a point result ({e}): {line:?}")),
    }
}

/// Keeps warnings bounded and logs each.
fn warn(outcome: &mut ScanOutcome, msg: String) {
    tracing::warn!("{msg}");
    if outcome.warnings.len() < MAX_WARNINGS {
        outcome.warnings.push(msg);
    }
}

/// Runs the watch for `scan` on `session`'s host and follows it to the end: every point
/// it prints is fetched into `local_out/<label>/` and then passed to `on_point`, once per
/// label. Returns when the remote watch exits 0; a non-zero exit is an
/// [`Error::Command`] with the tail of its stderr, a dropped link [`Error::Unreachable`].
/// Dropping the future (a timeout, a cancel) kills the remote watch.
pub async fn follow_scan(
    session: &SshSession,
    scan: &RemoteScan,
    local_out: &Path,
    mut on_point: impl FnMut(PointEvent),
) -> Result<ScanOutcome> {
    // SFTP first: a host without the subsystem fails before any processing starts.
    let transfer = Transfer::open(session).await?;
    let mut followed = Followed::default();
    follow_stream(
        session,
        "pmtwatch",
        &[],
        scan,
        Some(&transfer),
        local_out,
        &mut followed,
        &mut on_point,
    )
    .await?;
    Ok(followed.outcome)
}

/// Runs the watch for `scan` on this machine (`program` is the pmtwatch binary, `env` its
/// job environment, see [`with_env`]) and follows it like [`follow_scan`]; the results are
/// written straight into `scan.out_dir`, so nothing is copied.
pub async fn follow_local_scan(
    host: &LocalHost,
    program: &str,
    env: &[(String, String)],
    scan: &RemoteScan,
    mut on_point: impl FnMut(PointEvent),
) -> Result<ScanOutcome> {
    let out = PathBuf::from(&scan.out_dir);
    let mut followed = Followed::default();
    follow_stream(
        host,
        program,
        env,
        scan,
        None,
        &out,
        &mut followed,
        &mut on_point,
    )
    .await?;
    Ok(followed.outcome)
}

/// What a follower has seen so far; kept across a reconnect so that no point is reported
/// twice when the watch is started again.
#[derive(Debug, Default)]
pub struct Followed {
    pub seen: BTreeSet<String>,
    pub outcome: ScanOutcome,
}

/// The follower behind [`follow_scan`] and [`follow_local_scan`]: with a `transfer`, each
/// point's files are fetched into `local_out` before the point is reported. The watch runs
/// with `env` added to its environment (a run's GPU), as argv words ([`with_env`]).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn follow_stream(
    exec: &impl Exec,
    program: &str,
    env: &[(String, String)],
    scan: &RemoteScan,
    transfer: Option<&Transfer>,
    local_out: &Path,
    followed: &mut Followed,
    on_point: &mut impl FnMut(PointEvent),
) -> Result<()> {
    let Followed { seen, outcome } = followed;
    let mut argv = scan.argv()?;
    argv[0] = program.to_string();
    let argv = with_env(env, argv)?;
    let words: Vec<&str> = argv.iter().map(String::as_str).collect();
    let host = exec.host_name();
    let mut stream = exec.stream(&words).await?;
    let mut stderr: VecDeque<String> = VecDeque::with_capacity(STDERR_TAIL);
    let stderr_tail = |stderr: &VecDeque<String>| {
        stderr
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" | ")
    };
    loop {
        let Some(line) = stream.next().await else {
            // The reader task ended without a status: it was aborted or panicked.
            return Err(Error::Unreachable {
                host,
                detail: "the remote watch's output ended without an exit status".into(),
            });
        };
        match line {
            Line::Stdout(text) => {
                if text.trim().is_empty() {
                    continue;
                }
                let (raw, record) = match parse_line(&text) {
                    Record::Other(why) => {
                        warn(outcome, format!("remote watch on {host}: {why}"));
                        continue;
                    }
                    Record::Done(r) => (r.point.clone(), Ok(r)),
                    Record::Failed { label, error } => (label, Err(error)),
                };
                let Ok(typed) = Label::parse(&raw) else {
                    warn(
                        outcome,
                        format!("remote watch on {host}: refused point label {raw:?}"),
                    );
                    continue;
                };
                let event = match record {
                    Ok(r) => PointEvent::Done(r),
                    Err(error) => PointEvent::Failed {
                        label: typed,
                        error,
                    },
                };
                let label = raw;
                if seen.contains(&label) {
                    warn(
                        outcome,
                        format!("remote watch on {host}: point {label} reported again; ignored"),
                    );
                    continue;
                }
                if let PointEvent::Done(_) = event {
                    if let Some(transfer) = transfer {
                        fetch_point(transfer, &scan.out_dir, &label, local_out).await?;
                    }
                    outcome.points.push(label.clone());
                } else {
                    outcome.failed.push(label.clone());
                }
                seen.insert(label);
                on_point(event);
            }
            Line::Stderr(text) => {
                if stderr.len() == STDERR_TAIL {
                    stderr.pop_front();
                }
                stderr.push_back(text);
            }
            Line::Exit(Some(0)) => return Ok(()),
            Line::Exit(_) if super::error::says_disk_full(&stderr_tail(&stderr)) => {
                return Err(Error::DiskFull {
                    host,
                    detail: stderr_tail(&stderr),
                });
            }
            Line::Exit(status) => {
                return Err(Error::Command {
                    host,
                    command: argv.join(" "),
                    status: status.map_or_else(
                        || "no status (signal or lost link)".into(),
                        |s| format!("status {s}"),
                    ),
                    stderr_tail: stderr_tail(&stderr),
                });
            }
            Line::Lost(detail) => {
                let tail = stderr_tail(&stderr);
                let detail = if tail.is_empty() {
                    detail
                } else {
                    format!("{detail} (last stderr: {tail})")
                };
                return Err(Error::Unreachable { host, detail });
            }
        }
    }
}

/// Where a SLURM scan's results are read from: over SFTP (the cluster is remote), or
/// straight from this machine's file system (SLURM runs here, or the cluster's file system
/// is mounted here).
#[derive(Clone, Copy)]
pub enum ResultSource<'a> {
    Remote(&'a Transfer),
    Local,
}

/// A scan run as a SLURM job: the batch script (a path on the cluster) that runs the watch,
/// the job's options, and how often the job and its result directory are looked at.
#[derive(Debug, Clone)]
pub struct SlurmScan {
    pub script: String,
    pub job_name: String,
    pub options: SbatchOptions,
    pub poll: Duration,
    /// The pmtwatch program the job runs (the profile's `program`), passed to the script
    /// as `PMTWATCH_PROGRAM`.
    pub program: String,
}

/// How a SLURM scan ended: its job id, and the points as in [`ScanOutcome`].
#[derive(Debug, Clone, PartialEq)]
pub struct SlurmOutcome {
    pub job_id: u64,
    pub outcome: ScanOutcome,
    /// The job's final record.
    pub job: JobInfo,
}

/// Submits `job.script` for `scan` (its values as the job's environment, never pasted into
/// a script: `SCAN_DIR`, `SN`, `OUT_DIR`, `POINTS`, `SETTLE`) and follows the job and its
/// result directory until the job has ended: every `<out>/<label>/result.json` (or
/// `failed.json`) that appears is fetched with the point's plot into `local_out/<label>/`
/// and reported once through `on_point`; every poll of the job goes to `on_job` (an
/// unreachable controller included: it is shown, never taken for a failure, and the job is
/// never submitted again). Once the job has ended, the directory is read one last time.
/// A job that did not complete is an [`Error::Command`] naming its state, exit code and
/// output tail.
#[allow(clippy::too_many_arguments)]
pub async fn follow_slurm_scan(
    exec: &impl Exec,
    results: ResultSource<'_>,
    scan: &RemoteScan,
    job: &SlurmScan,
    local_out: &Path,
    mut on_submitted: impl FnMut(u64),
    on_point: impl FnMut(PointEvent),
    on_job: impl FnMut(&Result<JobInfo>),
) -> Result<SlurmOutcome> {
    let id = submit_slurm_scan(exec, scan, job).await?;
    on_submitted(id);
    follow_slurm_job(
        exec,
        results,
        scan,
        job,
        id,
        local_out,
        BTreeSet::new(),
        on_point,
        on_job,
    )
    .await
}

/// Submits `job.script` for `scan` (its values as the job's environment) and returns the
/// job id; [`follow_slurm_job`] follows it (also from another process, after a restart).
pub async fn submit_slurm_scan(
    exec: &impl Exec,
    scan: &RemoteScan,
    job: &SlurmScan,
) -> Result<u64> {
    submit_slurm_scan_with(exec, scan, job, Vec::new()).await
}

/// [`submit_slurm_scan`] with more variables for the job (an HV check's `HV_LIST`),
/// checked like the others.
pub async fn submit_slurm_scan_with(
    exec: &impl Exec,
    scan: &RemoteScan,
    job: &SlurmScan,
    extra_env: Vec<(String, String)>,
) -> Result<u64> {
    // The same checks as the streamed watch, so a bad value is refused before submitting.
    scan.argv()?;
    let mut options = job.options.clone();
    options.env = scan_env(&scan.scan_dir, &scan.serial, &scan.out_dir)?;
    options.env.extend(extra_env);
    options.env.push(("POINTS".into(), scan.points.to_string()));
    options
        .env
        .push(("SETTLE".into(), scan.settle_secs.to_string()));
    if let Some(c) = &scan.config {
        options.env.push(("CONFIG".into(), c.clone()));
    }
    options
        .env
        .push(("PMTWATCH_PROGRAM".into(), job.program.clone()));
    jobs::submit(exec, &job.script, &job.job_name, &options).await
}

/// Follows the submitted SLURM job `id` of `scan` until it has ended; see
/// [`follow_slurm_scan`]. Points already in `seen` are not reported again.
#[allow(clippy::too_many_arguments)]
pub async fn follow_slurm_job(
    exec: &impl Exec,
    results: ResultSource<'_>,
    scan: &RemoteScan,
    job: &SlurmScan,
    id: u64,
    local_out: &Path,
    mut seen: BTreeSet<String>,
    mut on_point: impl FnMut(PointEvent),
    mut on_job: impl FnMut(&Result<JobInfo>),
) -> Result<SlurmOutcome> {
    let mut outcome = ScanOutcome::default();
    loop {
        let polled = jobs::poll(exec, id).await;
        on_job(&polled);
        let info = match polled {
            Ok(info) => Some(info),
            Err(Error::ClusterUnreachable { .. }) => None,
            Err(e) => return Err(e),
        };
        // After the state: a point written just before the job ended is still collected.
        collect_results(
            results,
            &scan.out_dir,
            local_out,
            &mut seen,
            &mut outcome,
            &mut on_point,
        )
        .await?;
        if let Some(info) = info.filter(|i| jobs::is_final(&i.state)) {
            if info.state.is_success() || info.state == JobState::Unknown(jobs::FORGOTTEN.into()) {
                return Ok(SlurmOutcome {
                    job_id: id,
                    outcome,
                    job: info,
                });
            }
            return Err(Error::Command {
                host: exec.host_name(),
                command: format!("sbatch {} (job {id})", job.script),
                status: info.summary(),
                stderr_tail: info.output_tail.clone().unwrap_or_default(),
            });
        }
        tokio::time::sleep(job.poll).await;
    }
}

/// Reads a scan's result directory `out_dir` (where `process --watch` writes
/// `<label>/result.json`, `charge.png` or `failed.json`) and reports every point not in
/// `seen` — fetched into `local_out/<label>/` first when `results` is remote. The sync of
/// a run after a restart, and the SLURM follower's collector.
pub async fn sync_results(
    results: ResultSource<'_>,
    out_dir: &str,
    local_out: &Path,
    seen: &mut BTreeSet<String>,
) -> Result<(Vec<PointEvent>, Vec<String>)> {
    let mut outcome = ScanOutcome::default();
    let mut events = Vec::new();
    collect_results(results, out_dir, local_out, seen, &mut outcome, &mut |e| {
        events.push(e)
    })
    .await?;
    Ok((events, outcome.warnings))
}

/// Reads the result directory of a scan and reports every point not seen before.
pub(crate) async fn collect_results(
    results: ResultSource<'_>,
    out_dir_text: &str,
    local_out: &Path,
    seen: &mut BTreeSet<String>,
    outcome: &mut ScanOutcome,
    on_point: &mut impl FnMut(PointEvent),
) -> Result<()> {
    let out_dir = Path::new(out_dir_text);
    let found: Vec<(String, &'static str)> = match results {
        ResultSource::Remote(t) => t
            .list_newer(out_dir, std::time::UNIX_EPOCH, Some("*.json"))
            .await?
            .into_iter()
            .filter_map(|f| point_record(out_dir, &f.path))
            .collect(),
        ResultSource::Local => local_records(out_dir).await?,
    };
    for (label, kind) in found {
        if seen.contains(&label) {
            continue;
        }
        let Ok(typed) = Label::parse(&label) else {
            continue;
        };
        let record_path = out_dir.join(&label).join(kind);
        let text = match results {
            ResultSource::Remote(t) => {
                if kind == "result.json" {
                    fetch_point(t, out_dir_text, &label, local_out).await?;
                    read_record(&local_out.join(&label).join(kind)).await?
                } else {
                    let local = local_out.join(&label).join(kind);
                    if let Some(parent) = local.parent() {
                        tokio::fs::create_dir_all(parent)
                            .await
                            .map_err(|source| Error::Io {
                                path: parent.to_path_buf(),
                                source,
                            })?;
                    }
                    t.download_capped(&record_path, &local, MAX_POINT_FILE_BYTES)
                        .await?;
                    read_record(&local).await?
                }
            }
            ResultSource::Local => read_record(&record_path).await?,
        };
        let event = match parse_line(text.trim()) {
            Record::Done(r) if r.point == label => PointEvent::Done(r),
            Record::Failed { error, .. } => PointEvent::Failed {
                label: typed,
                error,
            },
            Record::Done(r) => {
                warn(
                    outcome,
                    format!(
                        "{}: names point {:?}; ignored",
                        record_path.display(),
                        r.point
                    ),
                );
                continue;
            }
            Record::Other(why) => {
                warn(outcome, format!("{}: {why}", record_path.display()));
                continue;
            }
        };
        match &event {
            PointEvent::Done(_) => outcome.points.push(label.clone()),
            PointEvent::Failed { .. } => outcome.failed.push(label.clone()),
        }
        seen.insert(label);
        on_point(event);
    }
    Ok(())
}

/// `(label, file name)` when `path` is `<out_dir>/<label>/result.json` or `failed.json`.
fn point_record(out_dir: &Path, path: &Path) -> Option<(String, &'static str)> {
    let rel = path.strip_prefix(out_dir).ok()?;
    let mut parts = rel.components();
    let label = parts.next()?.as_os_str().to_str()?.to_string();
    let name = parts.next()?.as_os_str().to_str()?;
    if parts.next().is_some() {
        return None;
    }
    match name {
        "result.json" => Some((label, "result.json")),
        "failed.json" => Some((label, "failed.json")),
        _ => None,
    }
}

/// The point records under a local result directory (none when it does not exist yet).
async fn local_records(out_dir: &Path) -> Result<Vec<(String, &'static str)>> {
    let io = |source| Error::Io {
        path: out_dir.to_path_buf(),
        source,
    };
    let mut entries = match tokio::fs::read_dir(out_dir).await {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(e)),
    };
    let mut found = Vec::new();
    while let Some(entry) = entries.next_entry().await.map_err(io)? {
        let Some(label) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        for name in ["result.json", "failed.json"] {
            if tokio::fs::try_exists(entry.path().join(name))
                .await
                .unwrap_or(false)
            {
                found.push((label.clone(), name));
                break;
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Downloads one processed point's files from `<out_dir>/<label>/` on the remote host
/// into `local_out/<label>/`.
async fn fetch_point(
    transfer: &Transfer,
    out_dir: &str,
    label: &str,
    local_out: &Path,
) -> Result<()> {
    let remote_dir = Path::new(out_dir).join(label);
    let local_dir: PathBuf = local_out.join(label);
    tokio::fs::create_dir_all(&local_dir)
        .await
        .map_err(|source| Error::Io {
            path: local_dir.clone(),
            source,
        })?;
    for name in POINT_FILES {
        transfer
            .download_capped(
                &remote_dir.join(name),
                &local_dir.join(name),
                MAX_POINT_FILE_BYTES,
            )
            .await?;
    }
    Ok(())
}

/// Largest point file (`result.json`, `failed.json`, `charge.png`) fetched or read: a
/// real one is a few kB to a few hundred kB.
pub const MAX_POINT_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Reads a point record (`result.json` / `failed.json`) of at most
/// [`MAX_POINT_FILE_BYTES`]; a longer one is refused, naming the file.
async fn read_record(path: &Path) -> Result<String> {
    use tokio::io::AsyncReadExt;
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = tokio::fs::File::open(path).await.map_err(io)?;
    let mut bytes = Vec::new();
    file.take(MAX_POINT_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(io)?;
    if bytes.len() as u64 > MAX_POINT_FILE_BYTES {
        return Err(Error::Invalid {
            what: format!("point record {}", path.display()),
            why: format!("it is larger than {MAX_POINT_FILE_BYTES} bytes"),
        });
    }
    String::from_utf8(bytes).map_err(|_| Error::Invalid {
        what: format!("point record {}", path.display()),
        why: "it is not UTF-8 text".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan() -> RemoteScan {
        RemoteScan {
            scan_dir: "/data/scan 1".into(),
            serial: Serial::parse("KM12345").expect("serial"),
            out_dir: "/data/out".into(),
            points: 4,
            settle_secs: 0.5,
            config: None,
        }
    }

    #[test]
    fn argv_is_words_and_refuses_option_like_paths() {
        let argv = scan().argv().expect("argv");
        assert_eq!(
            argv,
            [
                "pmtwatch",
                "process",
                "--watch",
                "/data/scan 1",
                "--serial",
                "KM12345",
                "--json",
                "--out",
                "/data/out",
                "--points",
                "4",
                "--settle",
                "0.5"
            ]
        );
        let mut s = scan();
        s.scan_dir = "-rf".into();
        assert!(s.argv().is_err());
        let mut s = scan();
        s.out_dir = String::new();
        assert!(s.argv().is_err());
        let mut s = scan();
        s.settle_secs = f64::NAN;
        assert!(s.argv().is_err());
    }

    #[test]
    fn lines_are_classified() {
        assert!(matches!(parse_line("hello"), Record::Other(_)));
        assert!(matches!(parse_line("{\"a\":1}"), Record::Other(_)));
        match parse_line(r#"{"point":"theta30_phi90","status":"failed","error":"bad file"}"#) {
            Record::Failed { label, error } => {
                assert_eq!(label, "theta30_phi90");
                assert_eq!(error, "bad file");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_line(r#"{"status":"failed","error":"x"}"#),
            Record::Other(_)
        ));
    }
}

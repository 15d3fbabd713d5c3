//! Command mode: run a lab's existing scripts unchanged (`sbatch ./RUN_PMT_SCAN_DATA_MONITOR.slurm
//! {SN}`, `bash ./run_scan.sh {SN}`) and sync the files they write, reading each point's
//! θ/φ or HV from the file paths and its gain from the `_GAIN.txt` file.
//!
//! A [`CommandProfile`] is what a profile in the database or a TOML file holds; everything
//! in it is checked once, at construction ([`CommandProfile::new`]), so a broken template or
//! pattern is reported when the profile is loaded, not at the first scan. Running is split
//! in two steps: [`CommandProfile::prepare`] validates and renders the values (a hostile
//! serial number is refused there, without a session in reach, so before any connection or
//! command), and [`PreparedCommand::start`] runs the result over an [`SshSession`].
//! [`sync`] follows the files it writes.
//!
//! Decisions, and why:
//! - **No shell string is built here.** The template renders to quoted words
//!   ([`Template::render`]); they travel as argv words (quoted by the SSH client) to a fixed
//!   `sh -c` script that does `cd -- "$1"` and `exec "$@"`. The working directory and the
//!   values are positional parameters, never part of a script.
//! - **The command is streamed, not run with a deadline.** A lab script that runs the scan
//!   directly takes as long as the scan; [`SshSession::stream`] has no time limit and kills
//!   the remote command when the future or [`RunningCommand`] is dropped (a cancel).
//! - **The remote clock starts the sync.** [`RunningCommand::started`] is read with `date` on
//!   the remote host just before the command starts, because the files' mtimes come from
//!   that clock, not from ours; a sync from that moment ignores earlier runs' files.
//! - **`sbatch` prints the job id.** For a template whose program is `sbatch`, the id from
//!   `Submitted batch job N` or the `--parsable` form (`N` / `N;cluster`) is required and
//!   returned, so the caller follows the job with [`jobs::poll`](super::jobs::poll); for any
//!   other program (a wrapper script that calls `sbatch`), a `Submitted batch job N` line is
//!   picked up if there is one. A failing `sbatch` whose controller does not answer is
//!   [`Error::ClusterUnreachable`] (the job may or may not be queued), never a plain failure.
//! - **`remote_dir` is a plain path.** Relative paths are from the remote home directory
//!   (for `cd` and SFTP alike); `~` would not be expanded inside a quoted word, so it is
//!   refused with a message instead of silently meaning a directory named `~`.

pub mod sync;

use std::collections::{BTreeMap, VecDeque};
use std::time::SystemTime;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use super::quote::{check, preview};
use super::slurm::{Fault, classify_failure};
use super::ssh::{Line, LineStream, SshSession};
use super::template::Template;
use super::transfer::{glob_match, parse_epoch};
use crate::pipeline::serial::Serial;

pub use sync::{
    CommandPoint, CommandSync, GainText, LatePlot, PointFailure, SyncEvent, SyncRound, parse_gain,
};

pub use crate::model::command_mode::{
    CommandSpec, DEFAULT_CHARGE_PATTERN, DEFAULT_GAIN_PATTERN, DEFAULT_POINT_PATTERN,
    DEFAULT_SYNC_PATTERNS,
};

/// Named groups a point pattern may use.
const POINT_GROUPS: [&str; 3] = ["theta", "phi", "hv"];
/// Longest point pattern accepted (characters); a profile is hand-written.
const MAX_POINT_PATTERN: usize = 1024;
/// Compiled-size limit of the point pattern: far above any sane pattern, far below what a
/// hostile one could make the regex compiler allocate.
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Longest file pattern accepted (characters).
const MAX_FILE_PATTERN: usize = 256;
/// Most file patterns accepted.
const MAX_SYNC_PATTERNS: usize = 32;
/// Output lines (stdout and stderr, in arrival order) kept for an error message.
const OUTPUT_TAIL_LINES: usize = 20;

/// A validated command-mode profile: template parsed, patterns checked, point pattern
/// compiled. (De)serialises as its [`CommandSpec`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "CommandSpec", into = "CommandSpec")]
pub struct CommandProfile {
    spec: CommandSpec,
    template: Template,
    point: Regex,
}

impl PartialEq for CommandProfile {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
    }
}

impl TryFrom<CommandSpec> for CommandProfile {
    type Error = Error;
    fn try_from(spec: CommandSpec) -> Result<Self> {
        CommandProfile::new(spec)
    }
}

impl From<CommandProfile> for CommandSpec {
    fn from(p: CommandProfile) -> CommandSpec {
        p.spec
    }
}

impl CommandProfile {
    /// Validates `spec`; the error names the field, what is wrong and what to do.
    pub fn new(spec: CommandSpec) -> Result<CommandProfile> {
        let template = Template::parse(&spec.template)?;
        check_remote_dir(&spec.remote_dir)?;
        check_file_patterns(&spec)?;
        let point = compile_point_pattern(&spec.point_pattern)?;
        Ok(CommandProfile {
            spec,
            template,
            point,
        })
    }

    /// [`CommandProfile::new`] of [`CommandSpec::new`]: the old setup's patterns.
    pub fn with_defaults(template: &str, remote_dir: &str) -> Result<CommandProfile> {
        CommandProfile::new(CommandSpec::new(template, remote_dir))
    }

    pub fn spec(&self) -> &CommandSpec {
        &self.spec
    }

    pub fn template(&self) -> &Template {
        &self.template
    }

    pub fn remote_dir(&self) -> &str {
        &self.spec.remote_dir
    }

    /// The compiled point pattern.
    pub fn point_pattern(&self) -> &Regex {
        &self.point
    }

    /// The value of every placeholder a template may use ([`DEFAULT_PLACEHOLDERS`]) for
    /// one run, so rendering a saved template never meets a missing value:
    /// - `{SN}` the serial number;
    /// - `{HV}` the run's voltages in volts, comma-separated (an HV check's list, e.g.
    ///   `1400,1450,1500,1550,1600`; a surface scan's one nominal voltage);
    /// - `{RUN}` the run's id;
    /// - `{DIR}` the profile's `remote_dir`, where the command runs and writes;
    /// - `{GPU}` the run's GPU as `gpu` gives it (`model::RunGpu::placeholder`: the GPU's
    ///   index, a SLURM job's GPU count, `-1` or `0` without a GPU) — checked and quoted
    ///   like every value.
    ///
    /// [`DEFAULT_PLACEHOLDERS`]: super::template::DEFAULT_PLACEHOLDERS
    pub fn run_values(
        &self,
        serial: &Serial,
        run_id: i64,
        volts: &[f64],
        gpu: &str,
    ) -> BTreeMap<&'static str, String> {
        // Whole volts print without a decimal point (`1500`, not `1500.0`).
        let hv: Vec<String> = volts
            .iter()
            .map(|&v| {
                if v.fract() == 0.0 && v.abs() < 1e15 {
                    format!("{}", v as i64)
                } else {
                    format!("{v}")
                }
            })
            .collect();
        BTreeMap::from([
            ("SN", serial.as_str().to_string()),
            ("HV", hv.join(",")),
            ("RUN", run_id.to_string()),
            ("DIR", self.spec.remote_dir.clone()),
            ("GPU", gpu.to_string()),
        ])
    }

    /// Renders the template with `values` (keyed by placeholder name, without braces; `SN`
    /// must be a valid serial number, every value is quoted) and returns the command ready
    /// to run. Pure: nothing is connected or run, so a refused value never reaches a host.
    pub fn prepare(&self, values: &BTreeMap<&str, String>) -> Result<PreparedCommand> {
        let line = self.template.render(values)?;
        // The rendered words are quoted with `shlex`, so splitting them again gives back
        // exactly the words (checked by a test); they then travel as argv words.
        let words = shlex::split(&line).ok_or_else(|| Error::Invalid {
            what: format!("rendered command {}", preview(&line)),
            why:
                "it does not split back into words (a bug in pmtwatch's quoting; please report it)"
                    .into(),
        })?;
        let is_sbatch = words
            .first()
            .and_then(|p| p.rsplit('/').next())
            .is_some_and(|name| name == "sbatch");
        Ok(PreparedCommand {
            line,
            words,
            remote_dir: self.spec.remote_dir.clone(),
            is_sbatch,
        })
    }
}

/// Refuses a working directory that `cd`, SFTP or `find` would misread.
fn check_remote_dir(dir: &str) -> Result<()> {
    let invalid = |why: String| Error::Invalid {
        what: format!("command-mode remote_dir {}", preview(dir)),
        why,
    };
    check(dir).map_err(invalid)?;
    if dir.is_empty() {
        return Err(invalid(
            "it is empty; give the directory the command runs in (relative paths are from the remote home)".into(),
        ));
    }
    if dir.starts_with('-') {
        return Err(invalid(
            "it starts with '-', which commands would read as an option; write ./".to_string()
                + dir,
        ));
    }
    if dir.starts_with('~') {
        return Err(invalid(
            "'~' is not expanded; write the path relative to the home directory (without '~/') or absolute".into(),
        ));
    }
    if dir.len() > 4096 {
        return Err(invalid(format!(
            "it is {} bytes long; at most 4096",
            dir.len()
        )));
    }
    // The same path grammar as every other path of a profile (it is also `{DIR}`).
    super::inputs::check_path(dir, false).map_err(invalid)
}

/// Checks the sync patterns and that the charge and gain patterns are among them.
fn check_file_patterns(spec: &CommandSpec) -> Result<()> {
    let invalid = |what: String, why: String| Error::Invalid { what, why };
    if spec.sync_patterns.is_empty() {
        return Err(invalid(
            "command-mode sync_patterns".into(),
            format!(
                "it is empty: list the files to sync (the old setup: {:?})",
                DEFAULT_SYNC_PATTERNS
            ),
        ));
    }
    if spec.sync_patterns.len() > MAX_SYNC_PATTERNS {
        return Err(invalid(
            "command-mode sync_patterns".into(),
            format!(
                "it has {} patterns; at most {MAX_SYNC_PATTERNS}",
                spec.sync_patterns.len()
            ),
        ));
    }
    let all = spec
        .sync_patterns
        .iter()
        .map(|p| ("sync pattern", p))
        .chain([
            ("charge_pattern", &spec.charge_pattern),
            ("gain_pattern", &spec.gain_pattern),
        ]);
    for (field, p) in all {
        let what = format!("command-mode {field} {}", preview(p));
        check(p).map_err(|why| invalid(what.clone(), why))?;
        if p.is_empty() || p.chars().all(|c| c == '*') {
            return Err(invalid(
                what,
                "it matches every file; name the files, e.g. \"*_charge.png\"".into(),
            ));
        }
        if p.contains('/') {
            return Err(invalid(
                what,
                "it contains '/': patterns match file names, not paths (the whole tree below remote_dir is searched)".into(),
            ));
        }
        if p.chars().count() > MAX_FILE_PATTERN {
            return Err(invalid(
                what,
                format!("it is longer than {MAX_FILE_PATTERN} characters"),
            ));
        }
    }
    for (field, p) in [
        ("charge_pattern", &spec.charge_pattern),
        ("gain_pattern", &spec.gain_pattern),
    ] {
        if !spec.sync_patterns.contains(p) {
            return Err(invalid(
                format!("command-mode {field} {}", preview(p)),
                format!(
                    "it is not one of sync_patterns {:?}: add it there, or the file is never fetched",
                    spec.sync_patterns
                ),
            ));
        }
    }
    // Whether one pattern matches typical names of the other (`*` as nothing or as a
    // word, `?` as one letter): catches `*.txt` next to `*_GAIN.txt`.
    let probes = |p: &str| {
        [
            p.replace('*', "").replace('?', "x"),
            p.replace(['*', '?'], "x"),
        ]
    };
    let overlap = |a: &str, b: &str| probes(b).iter().any(|name| glob_match(a, name));
    if overlap(&spec.charge_pattern, &spec.gain_pattern)
        || overlap(&spec.gain_pattern, &spec.charge_pattern)
    {
        return Err(invalid(
            "command-mode charge_pattern and gain_pattern".into(),
            format!(
                "{} and {} can match the same file; they must tell the plot from the gain file",
                preview(&spec.charge_pattern),
                preview(&spec.gain_pattern)
            ),
        ));
    }
    Ok(())
}

/// Compiles the point pattern with bounded size and checks its named groups.
fn compile_point_pattern(pattern: &str) -> Result<Regex> {
    let invalid = |why: String| Error::Invalid {
        what: format!("command-mode point_pattern {}", preview(pattern)),
        why,
    };
    if pattern.chars().count() > MAX_POINT_PATTERN {
        return Err(invalid(format!(
            "it is longer than {MAX_POINT_PATTERN} characters"
        )));
    }
    // The regex crate matches in linear time, so no pattern can hang a sync; the size
    // limit bounds what compiling it may allocate.
    let re = regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| invalid(format!("it is not a valid regular expression: {e}")))?;
    let names: Vec<&str> = re.capture_names().flatten().collect();
    if let Some(bad) = names.iter().find(|n| !POINT_GROUPS.contains(*n)) {
        return Err(invalid(format!(
            "unknown group name {bad:?}; the named groups are theta and phi (a surface point) \
             and hv (a voltage); use (?:…) for other groups"
        )));
    }
    let has = |n: &str| names.contains(&n);
    if has("theta") != has("phi") {
        return Err(invalid(
            "it has only one of the groups theta and phi; a surface point needs both, e.g. theta(?P<theta>[0-9.]+)_phi(?P<phi>[0-9.]+)".into(),
        ));
    }
    if !has("theta") && !has("hv") {
        return Err(invalid(
            "it has no named group: use (?P<theta>…) and (?P<phi>…) for surface points, (?P<hv>…) for voltages".into(),
        ));
    }
    Ok(re)
}

/// A rendered, validated command, ready to run in its profile's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedCommand {
    /// The rendered line, every word quoted: for logs and messages.
    line: String,
    /// The words of `line`, passed as argv.
    words: Vec<String>,
    remote_dir: String,
    is_sbatch: bool,
}

/// The fixed script a command runs under: the directory and the command's words are its
/// positional parameters, never part of the script.
const RUN_SCRIPT: &str = "cd -- \"$1\" || { printf 'pmtwatch: cannot enter the command directory %s\\n' \"$1\" >&2; exit 125; }
shift
exec \"$@\"";

impl PreparedCommand {
    /// The command line as it runs (every word quoted).
    pub fn line(&self) -> &str {
        &self.line
    }

    /// The command's words as they run (the program first), each one argv word.
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// The directory the command runs in.
    pub fn dir(&self) -> &str {
        &self.remote_dir
    }

    /// Whether the program is `sbatch` (its job id is then required).
    pub fn is_sbatch(&self) -> bool {
        self.is_sbatch
    }

    /// Reads the remote clock, then starts the command in the profile's directory. The
    /// command runs until it ends or the returned [`RunningCommand`] is dropped (which
    /// kills it and everything it started, see [`SshSession::stream`]).
    pub async fn start(&self, session: &SshSession) -> Result<RunningCommand> {
        let started = remote_clock(session).await?;
        let mut argv: Vec<&str> = vec!["sh", "-c", RUN_SCRIPT, "pmtwatch-command"];
        argv.push(&self.remote_dir);
        argv.extend(self.words.iter().map(String::as_str));
        let stream = session.stream(&argv).await?;
        tracing::info!(
            "command mode on {}: {} (in {})",
            session.target().display(),
            self.line,
            self.remote_dir
        );
        Ok(RunningCommand {
            command: self.clone(),
            host: session.target().display(),
            started,
            stream,
        })
    }

    /// [`start`](Self::start), then [`RunningCommand::wait`].
    pub async fn run(&self, session: &SshSession) -> Result<CommandRun> {
        self.start(session).await?.wait().await
    }
}

/// The remote host's clock (`date +%s.%N`): file mtimes there come from it.
pub async fn remote_clock(session: &SshSession) -> Result<SystemTime> {
    let out = session.run_ok(&["date", "+%s.%N"]).await?;
    parse_epoch(out.trim()).ok_or_else(|| Error::Ssh {
        host: session.target().display(),
        detail: format!(
            "`date +%s.%N` printed {}, not a time: is it GNU date?",
            preview(out.trim())
        ),
    })
}

/// A started command; [`wait`](Self::wait) for its end. Dropping it kills the command.
#[derive(Debug)]
pub struct RunningCommand {
    command: PreparedCommand,
    host: String,
    started: SystemTime,
    stream: LineStream,
}

/// A command that ended with status 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRun {
    /// The rendered command line.
    pub line: String,
    /// The remote clock just before the command started: the watermark to sync from.
    pub started: SystemTime,
    /// The SLURM job id the command submitted, if it did (see the module documentation).
    pub job_id: Option<u64>,
    /// The last lines of output (stdout and stderr in arrival order), joined with " | ".
    pub output_tail: String,
}

impl RunningCommand {
    /// The remote clock just before the command started. A [`CommandSync`] from this
    /// moment sees only files this command (or anything else started since) wrote.
    pub fn started(&self) -> SystemTime {
        self.started
    }

    /// Waits for the command to end. Status 0: the [`CommandRun`] (with the job id of an
    /// `sbatch` submission, which is then required). Otherwise [`Error::Command`] with the
    /// exit status and the output tail; [`Error::ClusterUnreachable`] for an `sbatch` whose
    /// controller did not answer; [`Error::Unreachable`] when the link was lost (the
    /// command's fate is then unknown).
    pub async fn wait(mut self) -> Result<CommandRun> {
        let mut tail: VecDeque<String> = VecDeque::with_capacity(OUTPUT_TAIL_LINES);
        let mut stderr = String::new();
        let mut job_id = None;
        let status = loop {
            let Some(line) = self.stream.next().await else {
                break Err("the command's output ended without an exit status".to_string());
            };
            let text = match line {
                Line::Stdout(text) => {
                    if let Some(id) = parse_job_id(&text, self.command.is_sbatch) {
                        job_id = Some(id);
                    }
                    text
                }
                Line::Stderr(text) => {
                    // Only what SLURM's failure classification needs, bounded.
                    if stderr.len() < 64 * 1024 {
                        stderr.push_str(&text);
                        stderr.push('\n');
                    }
                    text
                }
                Line::Exit(status) => break Ok(status),
                Line::Lost(detail) => break Err(detail),
            };
            if text.trim().is_empty() {
                continue;
            }
            if tail.len() == OUTPUT_TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(text);
        };
        let output_tail = tail
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" | ");
        let status = status.map_err(|detail| Error::Unreachable {
            host: self.host.clone(),
            detail: if output_tail.is_empty() {
                detail
            } else {
                format!("{detail} (last output: {output_tail})")
            },
        })?;
        if status != Some(0) {
            if self.command.is_sbatch
                && let Fault::ControllerUnreachable { detail } = classify_failure(&stderr, status)
            {
                return Err(Error::ClusterUnreachable {
                    host: self.host,
                    detail: format!(
                        "{detail} — the job may or may not be queued: check `squeue` before submitting again"
                    ),
                });
            }
            return Err(Error::Command {
                host: self.host,
                command: self.command.line,
                status: status.map_or_else(
                    || "no status (signal or lost link)".into(),
                    |s| format!("status {s}"),
                ),
                stderr_tail: if output_tail.is_empty() {
                    "(no output)".into()
                } else {
                    output_tail
                },
            });
        }
        if self.command.is_sbatch && job_id.is_none() {
            return Err(Error::Ssh {
                host: self.host,
                detail: format!(
                    "`{}` succeeded but printed no job id (expected `Submitted batch job N` or N): output: {}",
                    self.command.line,
                    if output_tail.is_empty() {
                        "(none)"
                    } else {
                        &output_tail
                    }
                ),
            });
        }
        Ok(CommandRun {
            line: self.command.line,
            started: self.started,
            job_id,
            output_tail,
        })
    }
}

/// A job id in one stdout line: `Submitted batch job 123` anywhere; for `sbatch` itself
/// also the `--parsable` form, a line that is only `123` or `123;cluster`.
pub fn parse_job_id(line: &str, is_sbatch: bool) -> Option<u64> {
    const MARK: &str = "Submitted batch job ";
    let line = line.trim();
    if let Some(at) = line.find(MARK) {
        let rest = &line[at + MARK.len()..];
        let digits: &str = rest
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap_or("");
        return digits.parse().ok();
    }
    if is_sbatch {
        let id = line.split_once(';').map_or(line, |(id, _)| id);
        if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
            return id.parse().ok();
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

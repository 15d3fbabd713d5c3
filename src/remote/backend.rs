//! The one interface the monitor uses to get work done, wherever it runs: [`Backend`] over
//! this machine (`Local`), a host over SSH (`Ssh`) or a SLURM cluster (`Slurm`, reached
//! over SSH or with `sbatch` on this machine). Every operation is async and bounded, so
//! the monitor's runtime never blocks on a slow host.
//!
//! Operations: the connection test; following a scan in pipeline mode (the remote
//! `pmtwatch process --watch --json` streamed over SSH, or run as a SLURM job whose
//! result directory is read as points appear); detached jobs (start, poll, cancel, with
//! the exit code and output tail of a failed one) for any command; and the SFTP transfer
//! of files on the same connection. Command mode (a lab's own scripts and file layout)
//! is [`command`](super::command), run on the session [`Backend::handle`] gives.
//!
//! Decisions, and why:
//! - **One job model for all three.** A SLURM job is a job id; on `Local`/`Ssh` a job is
//!   a detached process (`setsid`) with a job directory holding its pid, output and exit
//!   status. Both survive a lost SSH link or a restart of pmtwatch: [`JobId`] is
//!   serialisable, so the monitor stores it and polls again later. States are the same
//!   [`JobState`]s SLURM has, so the monitor shows and decides one way.
//! - **Reconnect inside the backend.** The SSH master is checked before each operation and
//!   replaced (with backoff, [`ssh::connect_with_retry`]) when it died; an operation that
//!   failed because the link dropped is tried once more on the new master. Host-key and
//!   authentication errors are never retried.
//! - **Scripts are data.** The batch scripts in `slurm/` are compiled in and written to the
//!   working directory (`.pmtwatch/`) when missing or different, passed as an argv word —
//!   never built from text fields. Job values travel as environment variables or argv.
//! - **A run's GPU** reaches local and SSH work as `env CUDA_VISIBLE_DEVICES=…` argv words
//!   in front of the watch or job ([`BackendConfig::job_env`]), and a SLURM job as
//!   `sbatch --gres=gpu:N` ([`SbatchOptions::gres`]), where the scheduler picks the GPUs.
//!
//! Why this file is over 600 lines: it is the one interface the monitor uses, each
//! operation written for Local, Ssh and Slurm side by side so that a reader sees every kind
//! does every operation; the pieces behind it (`ssh`, `slurm`, `jobs`, `follow`,
//! `transfer`) have files of their own.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use super::exec::{Exec, LocalHost};
use super::follow::{self, Followed, PointEvent, RemoteScan, ResultSource, ScanOutcome, SlurmScan};
use super::inputs;
use super::jobs;
use super::report::{self, Report, TestOptions};
use super::slurm::{self, JobInfo, JobState, SbatchOptions};
use super::ssh::{self, LineStream, Output, SshSession, SshTarget};
use super::transfer::Transfer;

/// The scan batch script, compiled in and written to the cluster on first use.
pub const SCAN_SCRIPT: &str = include_str!("../../slurm/pmtwatch-scan.sbatch");
/// The HV-check batch script.
pub const HV_SCRIPT: &str = include_str!("../../slurm/pmtwatch-hv.sbatch");
/// An HV check's voltages as `pmtwatch-hv.sbatch` reads them: `1600 1650 1700` (plain
/// decimals, space-separated); refused when one is not a positive finite voltage.
pub fn hv_list(voltages: &[f64]) -> Result<String> {
    if voltages.is_empty() || voltages.len() > 50 {
        return Err(Error::Invalid {
            what: "HV check voltages".into(),
            why: format!("{} voltages: give 1–50", voltages.len()),
        });
    }
    let mut words = Vec::with_capacity(voltages.len());
    for &v in voltages {
        if !(v.is_finite() && v > 0.0 && v < 1e6) {
            return Err(Error::Invalid {
                what: "HV check voltage".into(),
                why: format!("{v} is not a positive voltage in volts"),
            });
        }
        words.push(if v.fract() == 0.0 {
            format!("{v:.0}")
        } else {
            format!("{v}")
        });
    }
    Ok(words.join(" "))
}

/// A batch script that runs its arguments (a generic command as a SLURM job).
pub const COMMAND_SCRIPT: &str =
    "#!/bin/sh\n# pmtwatch: runs its arguments as the job.\nexec \"$@\"\n";

pub use crate::model::backend::Kind;

/// A backend's settings (what a compute profile holds).
#[derive(Debug, Clone)]
pub struct BackendConfig {
    pub kind: Kind,
    /// The host, for `Ssh`, and for `Slurm` when the cluster is reached over SSH (`None`:
    /// `sbatch` runs on this machine).
    pub ssh: Option<SshTarget>,
    /// Working directory on the side where work runs: job directories, batch scripts.
    pub work_dir: String,
    /// The pmtwatch program on that side (`pmtwatch` on the PATH by default; for `Local`
    /// usually this very binary).
    pub program: String,
    /// SLURM options for every job (partition, time, memory, account).
    pub sbatch: SbatchOptions,
    /// How often a job and a SLURM scan's result directory are looked at.
    pub poll: Duration,
    /// Extra environment for commands run on this machine (e.g. `SLURM_CONF`).
    pub local_env: Vec<(String, String)>,
    /// Environment of the work itself on `Local` and `Ssh` — the scan's watch and detached
    /// jobs — such as a run's `CUDA_VISIBLE_DEVICES`; passed as `env NAME=value` argv words
    /// ([`exec::with_env`](super::exec::with_env)). (A SLURM job asks with
    /// [`SbatchOptions::gres`] instead; the scheduler sets the variable.)
    pub job_env: Vec<(String, String)>,
}

impl BackendConfig {
    /// Settings with the defaults: `pmtwatch` on the PATH, polling every second.
    pub fn new(kind: Kind, ssh: Option<SshTarget>, work_dir: impl Into<String>) -> BackendConfig {
        BackendConfig {
            kind,
            ssh,
            work_dir: work_dir.into(),
            program: "pmtwatch".into(),
            sbatch: SbatchOptions::default(),
            poll: Duration::from_secs(1),
            local_env: Vec::new(),
            job_env: Vec::new(),
        }
    }
}

/// A job started through a backend; store it to poll or cancel the job later, also from
/// another pmtwatch process.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum JobId {
    /// A SLURM job.
    Slurm { id: u64 },
    /// A detached process and its job directory (pid, out, exit).
    Process { dir: String },
}

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobId::Slurm { id } => write!(f, "SLURM job {id}"),
            JobId::Process { dir } => write!(f, "process job {dir}"),
        }
    }
}

/// A command to run as a job: argv words (never a shell string), in `dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSpec {
    /// A short name for the job (SLURM job name; part of the job directory's name).
    pub name: String,
    pub argv: Vec<String>,
    /// Working directory; the backend's `work_dir` when `None`.
    pub dir: Option<String>,
}

/// How many times a lost SSH master was replaced in this process (for `/metrics`).
static SSH_RECONNECTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The number of SSH reconnects so far in this process.
pub fn ssh_reconnects() -> u64 {
    SSH_RECONNECTS.load(std::sync::atomic::Ordering::Relaxed)
}

/// The SSH side: a master connection replaced when it dies.
struct Reconnecting {
    target: SshTarget,
    current: tokio::sync::Mutex<Option<Arc<SshSession>>>,
}

/// How often one followed scan may lose its link and carry on.
const MAX_RESUMES: u32 = 20;

/// Attempts and first delay of a reconnect (then doubling, capped at 30 s).
const RECONNECT_ATTEMPTS: u32 = 6;
const RECONNECT_FIRST_DELAY: Duration = Duration::from_millis(250);

impl Reconnecting {
    async fn session(&self) -> Result<Arc<SshSession>> {
        let mut current = self.current.lock().await;
        if let Some(s) = current.as_ref() {
            if s.is_alive().await {
                return Ok(Arc::clone(s));
            }
            tracing::warn!(
                "SSH master to {} is gone; reconnecting",
                self.target.display()
            );
            SSH_RECONNECTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let s = Arc::new(
            ssh::connect_with_retry(
                self.target.clone(),
                RECONNECT_ATTEMPTS,
                RECONNECT_FIRST_DELAY,
            )
            .await?,
        );
        *current = Some(Arc::clone(&s));
        Ok(s)
    }
}

/// What runs commands for one operation: this machine or the current SSH master.
#[derive(Clone)]
pub enum Handle {
    Local(LocalHost),
    Ssh(Arc<SshSession>),
}

impl Exec for Handle {
    fn host_name(&self) -> String {
        match self {
            Handle::Local(h) => h.host_name(),
            Handle::Ssh(s) => s.host_name(),
        }
    }

    async fn run(&self, argv: &[&str]) -> Result<Output> {
        match self {
            Handle::Local(h) => h.run(argv).await,
            Handle::Ssh(s) => s.run(argv).await,
        }
    }

    async fn run_for(&self, argv: &[&str], limit: std::time::Duration) -> Result<Output> {
        match self {
            Handle::Local(h) => h.run_for(argv, limit).await,
            Handle::Ssh(s) => Exec::run_for(s.as_ref(), argv, limit).await,
        }
    }

    async fn stream(&self, argv: &[&str]) -> Result<LineStream> {
        match self {
            Handle::Local(h) => h.stream(argv).await,
            Handle::Ssh(s) => s.stream(argv).await,
        }
    }
}

enum Conn {
    Local(LocalHost),
    Ssh(Box<Reconnecting>),
}

/// Local, SSH or SLURM execution behind one interface; see the module documentation.
pub struct Backend {
    config: BackendConfig,
    conn: Conn,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("kind", &self.config.kind)
            .field("host", &self.host_label())
            .field("work_dir", &self.config.work_dir)
            .finish_non_exhaustive()
    }
}

/// The exit status a job directory holds when the command could not be started.
const RUNNER: &str = r#"d=$1; w=$2; shift 2
echo $$ > "$d/pid"
trap 'trap "" TERM; : > "$d/cancelled"; kill -s TERM 0' TERM
if cd -- "$w"; then
  "$@" > "$d/out" 2>&1 </dev/null &
  c=$!
  wait $c; s=$?
  if [ -e "$d/cancelled" ]; then wait $c; s=143; fi
else
  echo "pmtwatch job: cannot enter the working directory $w" > "$d/out"; s=1
fi
echo $s > "$d/exit.tmp" && mv -f -- "$d/exit.tmp" "$d/exit""#;

/// Starts [`RUNNER`] detached (own session, so it outlives the SSH channel and pmtwatch).
const LAUNCH: &str = r#"r=$1; shift
mkdir -p -- "$1" || exit 1
setsid sh -c "$r" pmtwatch-job "$@" </dev/null >/dev/null 2>&1 &
echo started"#;

/// The state of a job directory, one word per line.
const POLL: &str = r#"d=$1
if [ -e "$d/exit" ]; then echo "exit $(cat -- "$d/exit")"
elif [ -e "$d/pid" ] && kill -0 "$(cat -- "$d/pid")" 2>/dev/null; then echo running
elif [ -e "$d/pid" ]; then echo gone
elif [ -d "$d" ]; then echo starting
else echo missing; fi
if [ -e "$d/cancelled" ]; then echo cancelled; fi"#;

/// Cancels a job directory's process group (through the runner's TERM trap).
const CANCEL: &str = r#"d=$1
[ -e "$d/exit" ] && exit 0
[ -e "$d/pid" ] || { : > "$d/cancelled"; exit 0; }
kill -s TERM "$(cat -- "$d/pid")" 2>/dev/null || true"#;

/// Writes `$1` (a script's text) to `$2` atomically, unless it is there already.
const INSTALL: &str = r#"[ -f "$2" ] && [ "$(cat -- "$2")" = "$1" ] && exit 0
mkdir -p -- "$(dirname -- "$2")" || exit 1
printf '%s\n' "$1" > "$2.tmp.$$" && chmod 755 "$2.tmp.$$" && mv -f -- "$2.tmp.$$" "$2""#;

/// Bytes of a job's output kept as its tail.
const TAIL_BYTES: &str = "4096";

impl Backend {
    /// A backend for `config`; refuses settings that cannot work (an SSH backend without a
    /// host, a relative or option-like working directory) before anything connects.
    pub fn new(config: BackendConfig) -> Result<Backend> {
        let bad = |why: &str| Error::Invalid {
            what: format!("{:?} backend", config.kind),
            why: why.into(),
        };
        // The same grammar as on save, at the point of use (relative: from the remote home).
        inputs::check_path(&config.work_dir, false)
            .map_err(|why| inputs::refusal("work_dir", &config.work_dir, why))?;
        inputs::check_program(&config.program)
            .map_err(|why| inputs::refusal("program", &config.program, why))?;
        let conn = match (config.kind, &config.ssh) {
            (Kind::Ssh, None) => return Err(bad("it needs a host (user@host)")),
            (Kind::Local, Some(_)) => return Err(bad("a local backend takes no host")),
            (_, Some(target)) => Conn::Ssh(Box::new(Reconnecting {
                target: target.clone(),
                current: tokio::sync::Mutex::new(None),
            })),
            (_, None) => Conn::Local(LocalHost {
                env: config.local_env.clone(),
            }),
        };
        Ok(Backend { config, conn })
    }

    pub fn config(&self) -> &BackendConfig {
        &self.config
    }

    /// `this machine` or `user@host:port`.
    pub fn host_label(&self) -> String {
        match &self.conn {
            Conn::Local(_) => "this machine".into(),
            Conn::Ssh(r) => r.target.display(),
        }
    }

    /// Something to run commands with now: this machine, or a live SSH master
    /// (reconnecting first when the last one died).
    pub async fn handle(&self) -> Result<Handle> {
        match &self.conn {
            Conn::Local(h) => Ok(Handle::Local(h.clone())),
            Conn::Ssh(r) => Ok(Handle::Ssh(r.session().await?)),
        }
    }

    /// An SFTP channel on the current master (`None` for a backend on this machine).
    pub async fn transfer(&self) -> Result<Option<Transfer>> {
        match self.handle().await? {
            Handle::Local(_) => Ok(None),
            Handle::Ssh(s) => Ok(Some(Transfer::open(&s).await?)),
        }
    }

    /// Runs `op` with a handle; when it fails because the SSH link dropped, once more on
    /// a fresh master. (`op` takes the handle by value: a closure over a borrowed handle
    /// would make the returned future not `Send` — a known limit of higher-ranked
    /// closures over references.)
    async fn with_retry<T, F, Fut>(&self, op: F) -> Result<T>
    where
        F: Fn(Handle) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let h = self.handle().await?;
        let over_ssh = matches!(h, Handle::Ssh(_));
        match op(h).await {
            Err(e @ Error::Unreachable { .. }) if over_ssh => {
                tracing::warn!("{e}; retrying on a new connection");
                op(self.handle().await?).await
            }
            other => other,
        }
    }

    /// The connection test: every item the profile depends on, as a report.
    pub async fn test(&self) -> Report {
        let opts = TestOptions {
            remote_dir: Some(self.config.work_dir.clone()),
            slurm: self.config.kind == Kind::Slurm,
            min_free_bytes: report::DEFAULT_MIN_FREE_BYTES,
            program: Some(self.config.program.clone()),
        };
        match &self.conn {
            Conn::Ssh(r) => report::test_connection(r.target.clone(), &opts).await,
            Conn::Local(h) => report::test_host(h, &self.config.program, &opts).await,
        }
    }

    /// Processes `scan` in pipeline mode and follows it to its end, every point once:
    /// `Local` and `Ssh` stream the watch's JSON lines; `Slurm` submits the scan script and
    /// reads the result directory. Points arrive in `local_out/<label>/` (for `Local`,
    /// `scan.out_dir` is used as it is). `on_job` sees the SLURM job's id (as soon as it
    /// is submitted) and each poll of its state.
    pub async fn follow_scan(
        &self,
        scan: &RemoteScan,
        local_out: &Path,
        on_point: impl FnMut(PointEvent),
        mut on_job: impl FnMut(JobEvent),
    ) -> Result<ScanOutcome> {
        let h = self.handle().await?;
        match (self.config.kind, &h) {
            (Kind::Local, Handle::Local(l)) => {
                follow::follow_local_scan(
                    l,
                    &self.config.program,
                    &self.config.job_env,
                    scan,
                    on_point,
                )
                .await
            }
            (Kind::Ssh, Handle::Ssh(_)) => self.follow_ssh_scan(scan, local_out, on_point).await,
            (Kind::Slurm, _) => {
                let id = self.submit_scan(scan).await?;
                on_job(JobEvent::Submitted(id.clone()));
                self.follow_job(scan, &id, local_out, BTreeSet::new(), on_point, on_job)
                    .await
            }
            _ => Err(Error::Invalid {
                what: format!("{:?} backend", self.config.kind),
                why: "its connection does not match its kind".into(),
            }),
        }
    }

    /// Submits `scan` as a SLURM job (a `Slurm` backend only) and returns its id without
    /// waiting; store it, then [`Backend::follow_job`] (also after a restart).
    pub async fn submit_scan(&self, scan: &RemoteScan) -> Result<JobId> {
        if self.config.kind != Kind::Slurm {
            return Err(Error::Invalid {
                what: format!("{:?} backend", self.config.kind),
                why: "only a SLURM backend submits scans as jobs".into(),
            });
        }
        let script = self
            .install_script("pmtwatch-scan.sbatch", SCAN_SCRIPT)
            .await?;
        let job = self.slurm_scan(scan, script);
        let h = self.handle().await?;
        let id = follow::submit_slurm_scan(&h, scan, &job).await?;
        Ok(JobId::Slurm { id })
    }

    /// Submits an HV check as a SLURM job running `pmtwatch-hv.sbatch` (a `Slurm` backend
    /// only), its voltages in `HV_LIST` (space-separated), and returns the job's id.
    pub async fn submit_hv_check(&self, scan: &RemoteScan, voltages: &[f64]) -> Result<JobId> {
        if self.config.kind != Kind::Slurm {
            return Err(Error::Invalid {
                what: format!("{:?} backend", self.config.kind),
                why: "only a SLURM backend submits HV checks as jobs".into(),
            });
        }
        let list = hv_list(voltages)?;
        let script = self.install_script("pmtwatch-hv.sbatch", HV_SCRIPT).await?;
        let job = self.slurm_scan(scan, script);
        let h = self.handle().await?;
        let env = vec![("HV_LIST".to_string(), list)];
        let id = follow::submit_slurm_scan_with(&h, scan, &job, env).await?;
        Ok(JobId::Slurm { id })
    }

    /// The job of `scan` the cluster still lists although its id was never recorded (see
    /// [`RemoteScan::job_name`]): the newest of this user's jobs of that name, or `None`
    /// (also for a backend that is not SLURM). Ask before [`Backend::submit_scan`] when a
    /// run has no stored job id, so a scan is never submitted twice.
    pub async fn find_scan_job(&self, scan: &RemoteScan) -> Result<Option<JobId>> {
        if self.config.kind != Kind::Slurm {
            return Ok(None);
        }
        let name = scan.job_name();
        let found = self
            .with_retry(move |h: Handle| {
                let name = name.clone();
                async move { jobs::find_named(&h, &name).await }
            })
            .await?;
        Ok(found.last().map(|j| JobId::Slurm { id: j.id }))
    }

    /// Follows a submitted scan job to its end: every result that appears (and is not in
    /// `seen`) is fetched into `local_out/<label>/` (for SLURM on this machine, read where
    /// it is: `scan.out_dir`) and reported once; each poll goes to `on_job`.
    pub async fn follow_job(
        &self,
        scan: &RemoteScan,
        id: &JobId,
        local_out: &Path,
        seen: BTreeSet<String>,
        on_point: impl FnMut(PointEvent),
        mut on_job: impl FnMut(JobEvent),
    ) -> Result<ScanOutcome> {
        let JobId::Slurm { id } = *id else {
            return Err(Error::Invalid {
                what: format!("{id}"),
                why: "only SLURM scan jobs are followed this way".into(),
            });
        };
        let h = self.handle().await?;
        let transfer = match &h {
            Handle::Ssh(s) => Some(Transfer::open(s).await?),
            Handle::Local(_) => None,
        };
        let results = transfer
            .as_ref()
            .map_or(ResultSource::Local, ResultSource::Remote);
        let local_out = if transfer.is_some() {
            local_out.to_path_buf()
        } else {
            PathBuf::from(&scan.out_dir)
        };
        let job = self.slurm_scan(scan, String::new());
        let done = follow::follow_slurm_job(
            &h,
            results,
            scan,
            &job,
            id,
            &local_out,
            seen,
            on_point,
            |polled| on_job(JobEvent::of_poll(polled)),
        )
        .await?;
        Ok(done.outcome)
    }

    fn slurm_scan(&self, scan: &RemoteScan, script: String) -> SlurmScan {
        SlurmScan {
            script,
            job_name: scan.job_name(),
            options: self.job_options(),
            poll: self.config.poll,
            program: self.config.program.clone(),
        }
    }

    /// Pipeline mode over SSH, carrying on across lost links: when the master dies (the
    /// remote watchdog then stops the watch), the backend reconnects with backoff, fetches
    /// the points that finished in the meantime from the result directory, and starts the
    /// watch again — which skips finished points — so every point is still reported once.
    async fn follow_ssh_scan(
        &self,
        scan: &RemoteScan,
        local_out: &Path,
        mut on_point: impl FnMut(PointEvent),
    ) -> Result<ScanOutcome> {
        let mut followed = Followed::default();
        let mut lost = 0;
        loop {
            let Handle::Ssh(session) = self.handle().await? else {
                return Err(Error::Invalid {
                    what: "SSH backend".into(),
                    why: "it has no SSH connection".into(),
                });
            };
            let transfer = Transfer::open(&session).await?;
            if lost > 0 {
                follow::collect_results(
                    ResultSource::Remote(&transfer),
                    &scan.out_dir,
                    local_out,
                    &mut followed.seen,
                    &mut followed.outcome,
                    &mut on_point,
                )
                .await?;
            }
            let run = follow::follow_stream(
                session.as_ref(),
                &self.config.program,
                &self.config.job_env,
                scan,
                Some(&transfer),
                local_out,
                &mut followed,
                &mut on_point,
            )
            .await;
            // A killed master ends the stream like a signal would (the mux protocol cannot
            // tell them apart), so whether the link is gone is asked of the master itself.
            let link_lost = match &run {
                Ok(()) => false,
                Err(Error::Unreachable { .. }) => true,
                Err(_) => !session.is_alive().await,
            };
            match run {
                Ok(()) => return Ok(followed.outcome),
                Err(e) if link_lost && lost < MAX_RESUMES => {
                    lost += 1;
                    tracing::warn!(
                        "following {} on {}: {e}; reconnecting ({lost}/{MAX_RESUMES})",
                        scan.scan_dir,
                        self.host_label()
                    );
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// SLURM options with pmtwatch's defaults filled in: output files under
    /// `.pmtwatch/jobs/` of the working directory.
    fn job_options(&self) -> SbatchOptions {
        let mut o = self.config.sbatch.clone();
        if o.output_path.is_none() {
            o.output_path = Some(format!("{}/.pmtwatch/jobs/%x-%j.out", self.config.work_dir));
        }
        if o.chdir.is_none() {
            o.chdir = Some(self.config.work_dir.clone());
        }
        o
    }

    /// Writes `text` to the file `path` where the work runs (atomically, creating its
    /// directory; unchanged when it already holds `text`), e.g. a run's analysis config.
    pub async fn install_file(&self, path: &str, text: &str) -> Result<()> {
        if !path.starts_with('/') {
            return Err(Error::Invalid {
                what: format!("file path {path:?}"),
                why: "it must be absolute".into(),
            });
        }
        let text = text.trim_end_matches('\n').to_string();
        let p = path.to_string();
        self.with_retry(move |h: Handle| {
            let (text, p) = (text.clone(), p.clone());
            async move {
                h.run_ok(&["sh", "-c", INSTALL, "pmtwatch-install", &text, &p])
                    .await
                    .map(drop)
            }
        })
        .await
    }

    /// Writes a compiled-in script to `<work_dir>/.pmtwatch/<name>` unless it is there
    /// already; returns its path. Also makes the job output directory.
    async fn install_script(&self, name: &str, text: &str) -> Result<String> {
        let path = format!("{}/.pmtwatch/{name}", self.config.work_dir);
        let jobs_dir = format!("{}/.pmtwatch/jobs", self.config.work_dir);
        let text = text.trim_end_matches('\n').to_string();
        let (p, j) = (path.clone(), jobs_dir);
        self.with_retry(move |h: Handle| {
            let (text, p, j) = (text.clone(), p.clone(), j.clone());
            async move {
                h.run_ok(&["sh", "-c", INSTALL, "pmtwatch-install", &text, &p])
                    .await?;
                h.run_ok(&["mkdir", "-p", "--", &j]).await
            }
        })
        .await?;
        Ok(path)
    }

    /// Starts `spec` as a job: a SLURM job on `Slurm`, a detached process otherwise.
    pub async fn start_job(&self, spec: &JobSpec) -> Result<JobId> {
        if self.config.kind != Kind::Slurm {
            return self.start_process(spec).await;
        }
        let dir = self.job_dir_of(spec)?;
        let script = self
            .install_script("pmtwatch-command.sbatch", COMMAND_SCRIPT)
            .await?;
        let mut options = self.job_options();
        options.chdir = Some(dir);
        let h = self.handle().await?;
        let id = jobs::submit_with_args(&h, &script, &spec.argv, &spec.name, &options).await?;
        Ok(JobId::Slurm { id })
    }

    /// The working directory of `spec`, after checking its command and name.
    fn job_dir_of(&self, spec: &JobSpec) -> Result<String> {
        if spec.argv.is_empty() {
            return Err(Error::Invalid {
                what: format!("job {:?}", spec.name),
                why: "its command is empty".into(),
            });
        }
        check_job_name(&spec.name)?;
        Ok(spec
            .dir
            .clone()
            .unwrap_or_else(|| self.config.work_dir.clone()))
    }

    /// Starts `spec` as a detached process on the host (any kind of backend; a SLURM
    /// backend's login node): it outlives the SSH channel and pmtwatch itself, and is
    /// followed and cancelled through its job directory ([`Backend::poll_job`],
    /// [`Backend::cancel_job`]), also by a restarted pmtwatch. It runs with
    /// [`BackendConfig::job_env`].
    pub async fn start_process(&self, spec: &JobSpec) -> Result<JobId> {
        let dir = self.job_dir_of(spec)?;
        let argv = super::exec::with_env(&self.config.job_env, spec.argv.clone())?;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let job_dir = format!(
            "{}/.pmtwatch/jobs/{}-{stamp}",
            self.config.work_dir, spec.name
        );
        let mut words: Vec<&str> = vec![
            "sh",
            "-c",
            LAUNCH,
            "pmtwatch-launch",
            RUNNER,
            &job_dir,
            &dir,
        ];
        words.extend(argv.iter().map(String::as_str));
        let h = self.handle().await?;
        h.run_ok(&words).await?;
        Ok(JobId::Process { dir: job_dir })
    }

    /// The job's state; for a job that ended unsuccessfully, with its exit code and the
    /// tail of its output. An unreachable SLURM controller is [`Error::ClusterUnreachable`].
    pub async fn poll_job(&self, id: &JobId) -> Result<JobInfo> {
        match id.clone() {
            JobId::Slurm { id } => {
                self.with_retry(move |h: Handle| async move { jobs::poll(&h, id).await })
                    .await
            }
            JobId::Process { dir } => {
                self.with_retry(move |h: Handle| {
                    let dir = dir.clone();
                    async move { poll_process(&h, &dir).await }
                })
                .await
            }
        }
    }

    /// Cancels the job (a finished one stays as it ended).
    pub async fn cancel_job(&self, id: &JobId) -> Result<()> {
        match id.clone() {
            JobId::Slurm { id } => {
                self.with_retry(move |h: Handle| async move { jobs::cancel(&h, id).await })
                    .await
            }
            JobId::Process { dir } => {
                self.with_retry(move |h: Handle| {
                    let dir = dir.clone();
                    async move {
                        h.run_ok(&["sh", "-c", CANCEL, "pmtwatch-cancel", &dir])
                            .await
                            .map(drop)
                    }
                })
                .await
            }
        }
    }

    /// Polls the job every [`BackendConfig::poll`] until it has ended or `timeout` passed;
    /// unreachable-controller polls go to `observe` and polling goes on.
    pub async fn wait_job(
        &self,
        id: &JobId,
        timeout: Duration,
        mut observe: impl FnMut(&Result<JobInfo>),
    ) -> Result<JobInfo> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let polled = self.poll_job(id).await;
            observe(&polled);
            let near = tokio::time::Instant::now() + self.config.poll >= deadline;
            match polled {
                Ok(info) if jobs::is_final(&info.state) || near => return Ok(info),
                Err(e @ Error::ClusterUnreachable { .. }) if near => return Err(e),
                Ok(_) | Err(Error::ClusterUnreachable { .. }) => {}
                Err(e) => return Err(e),
            }
            tokio::time::sleep(self.config.poll).await;
        }
    }
}

/// A job name is also part of a directory name: 1–64 of `[A-Za-z0-9._-]`, not starting
/// with `.` or `-`.
fn check_job_name(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && !name.starts_with(['.', '-']);
    if ok {
        return Ok(());
    }
    Err(Error::Invalid {
        what: format!("job name {name:?}"),
        why: "use 1–64 letters, digits, '.', '_' or '-', not starting with '.' or '-'".into(),
    })
}

/// What happens to a SLURM scan's job while it is followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEvent {
    Submitted(JobId),
    /// A poll that answered (or failed for another reason), as the operator reads it
    /// (`RUNNING`, `COMPLETED (exit 0)`).
    Polled(String),
    /// The host or the controller did not answer: the job's state is unknown, not failed.
    /// The text is what the operator reads (`CLUSTER UNREACHABLE …`).
    Unreachable(String),
}

impl JobEvent {
    /// The event for one poll's outcome: typed, so nobody reads the state back from text.
    pub fn of_poll(polled: &Result<JobInfo>) -> JobEvent {
        let text = jobs::describe(polled);
        match polled {
            Err(Error::ClusterUnreachable { .. }) => JobEvent::Unreachable(text),
            _ => JobEvent::Polled(text),
        }
    }
}

/// The state of a detached process job from its job directory.
async fn poll_process(h: &Handle, dir: &str) -> Result<JobInfo> {
    let out = h.run_ok(&["sh", "-c", POLL, "pmtwatch-poll", dir]).await?;
    let mut lines = out.lines();
    let first = lines.next().unwrap_or("missing").trim();
    let cancelled = lines.any(|l| l.trim() == "cancelled");
    let (state, exit) = match first.split_once(' ') {
        Some(("exit", code)) => {
            let code: i32 = code.trim().parse().unwrap_or(-1);
            let state = if cancelled {
                JobState::Cancelled
            } else if code == 0 {
                JobState::Completed
            } else {
                JobState::Failed {
                    exit_code: Some(code),
                    signal: None,
                }
            };
            (state, Some((code, 0)))
        }
        _ => match first {
            "running" if cancelled => (JobState::Completing, None),
            "running" => (JobState::Running, None),
            "starting" => (
                JobState::Pending {
                    reason: Some("starting".into()),
                },
                None,
            ),
            // The runner is gone without an exit status: killed, or the host rebooted.
            "gone" if cancelled => (JobState::Cancelled, None),
            "gone" => (
                JobState::Failed {
                    exit_code: None,
                    signal: None,
                },
                None,
            ),
            _ => {
                return Err(Error::Invalid {
                    what: format!("job directory {dir}"),
                    why: "it does not exist on this host (a job started elsewhere?)".into(),
                });
            }
        },
    };
    let mut info = JobInfo::bare(0, state, exit, None);
    info.work_dir = Some(dir.to_string());
    info.stdout_path = Some(format!("{dir}/out"));
    if info.state.is_terminal() && !info.state.is_success() {
        let tail = h
            .run(&["tail", "-c", TAIL_BYTES, "--", &format!("{dir}/out")])
            .await
            .ok()
            .filter(Output::success)
            .map(|o| slurm::output_tail(&o.stdout, slurm::OUTPUT_TAIL_LINES));
        info.output_tail = tail;
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The HV script's voltage list: plain decimals, space-separated; nonsense refused.
    #[test]
    fn hv_lists_are_plain_voltages() {
        assert_eq!(
            hv_list(&[1600.0, 1650.0, 1712.5]).expect("valid"),
            "1600 1650 1712.5"
        );
        assert!(hv_list(&[]).is_err());
        assert!(hv_list(&[1600.0, f64::NAN]).is_err());
        assert!(hv_list(&[-5.0]).is_err());
    }

    /// Compiles only while the backend's futures are `Send`: the monitor runs them in
    /// tokio tasks.
    #[allow(dead_code)]
    fn futures_are_send(b: Backend, scan: RemoteScan, id: JobId, spec: JobSpec) {
        fn send<T: Send>(_: T) {}
        let b = Arc::new(b);
        let (b1, b2, b3, b4, b5, b6) = (b.clone(), b.clone(), b.clone(), b.clone(), b.clone(), b);
        let (id1, id2, id3) = (id.clone(), id.clone(), id);
        send(async move { b1.test().await });
        send(async move {
            b2.follow_scan(&scan, Path::new("/tmp"), |_| {}, |_| {})
                .await
        });
        send(async move { b3.start_job(&spec).await });
        send(async move { b4.poll_job(&id1).await });
        send(async move { b5.cancel_job(&id2).await });
        send(async move { b6.wait_job(&id3, Duration::from_secs(1), |_| {}).await });
    }

    #[test]
    fn job_names_are_plain_path_components() {
        for ok in ["scan", "KM1234.hv-2", "a_b"] {
            assert!(check_job_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "-x", ".x", "a/b", "a b", "a;b", "ü"] {
            assert!(check_job_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_job_name(&"n".repeat(65)).is_err());
    }

    #[test]
    fn job_ids_round_trip_through_json() {
        for id in [
            JobId::Slurm { id: 42 },
            JobId::Process {
                dir: "/w/.pmtwatch/jobs/x-1".into(),
            },
        ] {
            let text = serde_json::to_string(&id).expect("encode");
            let back: JobId = serde_json::from_str(&text).expect("decode");
            assert_eq!(back, id);
        }
    }

    #[test]
    fn an_unanswered_poll_is_a_typed_event() {
        let unreachable: Result<JobInfo> = Err(Error::ClusterUnreachable {
            host: "h".into(),
            detail: "no answer".into(),
        });
        match JobEvent::of_poll(&unreachable) {
            JobEvent::Unreachable(text) => assert!(text.contains("no answer"), "{text}"),
            other => panic!("{other:?}"),
        }
        let other: Result<JobInfo> = Err(Error::Invalid {
            what: "x".into(),
            why: "y".into(),
        });
        assert!(matches!(JobEvent::of_poll(&other), JobEvent::Polled(_)));
    }
}

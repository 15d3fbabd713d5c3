//! SSH over the system OpenSSH client, through the `openssh` crate's multiplexed master:
//! one authenticated connection per host, every command a cheap new channel on it. Using
//! the system client means `~/.ssh/config`, the agent, `ProxyJump` and known_hosts behave
//! exactly as the operator's own `ssh` does. Host keys are checked strictly: an unknown or
//! changed key is an error that says so, never accepted silently.
//!
//! Arguments are passed as argv words that the `openssh` crate quotes for the remote shell;
//! nothing here builds a shell string from user input.
//!
//! Besides one-shot commands ([`SshSession::run`]) there is [`SshSession::stream`], which
//! delivers a long-running command's output line by line as it arrives (the pipeline's
//! one-JSON-line-per-point mode) and kills the remote process when cancelled or dropped,
//! and [`connect_with_retry`], which reconnects with capped exponential backoff after the
//! master connection is lost.
//!
//! Why this file is over 600 lines: it is the life of one OpenSSH master — its argv, start,
//! error classification, commands, line streams and reconnect — which share the master's
//! state; about 80 lines are unit tests.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use openssh::{KnownHosts, Session, SessionBuilder};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::error::{Error, Result};
use super::inputs;

/// Where and how to connect. Nothing in it is secret (the identity is a path; keys and
/// passphrases stay with ssh and the agent), so `Debug` may print it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    /// Private key file (`-i`, with `IdentitiesOnly=yes`); the agent / config otherwise.
    pub identity: Option<PathBuf>,
    /// known_hosts file to check the host key against (the user's own otherwise).
    pub known_hosts: Option<PathBuf>,
    /// An ssh_config file instead of `~/.ssh/config`.
    pub config_file: Option<PathBuf>,
    /// Jump hosts (`-J`), in order: each `[user@]host[:port]` ([`inputs::parse_hop`]).
    pub jump_hosts: Vec<String>,
    /// The SHA-256 of the ssh_config content an admin allowed to hold directives that run
    /// commands (`ProxyCommand`, …); `None`: such directives are refused.
    pub config_allowed: Option<String>,
    pub connect_timeout: Duration,
}

impl SshTarget {
    /// Parses `[user@]host` and validates both parts: the destination is passed to `ssh`
    /// as an argument, so a host starting with `-` would be read as an option.
    pub fn parse(destination: &str) -> Result<SshTarget> {
        let (user, host) = match destination.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, destination),
        };
        let bad = |why: &str| Error::Invalid {
            what: format!("SSH destination {destination:?}"),
            why: why.to_string(),
        };
        if let Some(u) = user {
            inputs::check_user(u).map_err(bad)?;
        }
        inputs::check_host(host).map_err(bad)?;
        Ok(SshTarget {
            user: user.map(str::to_string),
            host: host.to_string(),
            port: None,
            identity: None,
            known_hosts: None,
            config_file: None,
            jump_hosts: Vec::new(),
            config_allowed: None,
            connect_timeout: Duration::from_secs(10),
        })
    }

    /// Checks every field with pmtwatch's own grammar ([`inputs`]): user, host, each jump
    /// hop, the key, known_hosts and ssh_config paths, and the ssh_config's content (no
    /// directive that runs a command, unless `config_allowed` is its SHA-256). Runs before
    /// every connection, so a value that was never validated (an unsaved draft, a profile
    /// stored before a rule existed) cannot reach `ssh`. Reads the config file: blocking.
    pub fn check(&self) -> Result<()> {
        if let Some(u) = &self.user {
            inputs::check_user(u).map_err(|why| inputs::refusal("host", u, why))?;
        }
        inputs::check_host(&self.host).map_err(|why| inputs::refusal("host", &self.host, why))?;
        if self.port == Some(0) {
            return Err(inputs::refusal("port", "0", "a port is 1–65535"));
        }
        for hop in &self.jump_hosts {
            inputs::parse_hop(hop).map_err(|why| inputs::refusal("jump", hop, why))?;
        }
        let paths = [
            ("identity", &self.identity),
            ("known_hosts", &self.known_hosts),
            ("ssh_config", &self.config_file),
        ];
        for (field, path) in paths {
            if let Some(p) = path {
                let text = p.to_string_lossy();
                inputs::check_path(&text, true)
                    .map_err(|why| inputs::refusal(field, &text, why))?;
            }
        }
        if let Some(c) = &self.config_file {
            inputs::check_ssh_config_file(c, self.config_allowed.as_deref())
                .map_err(|why| inputs::refusal("ssh_config", &c.to_string_lossy(), why))?;
        }
        Ok(())
    }

    /// `user@host:port` for messages.
    pub fn display(&self) -> String {
        let mut s = String::new();
        if let Some(u) = &self.user {
            s.push_str(u);
            s.push('@');
        }
        s.push_str(&self.host);
        if let Some(p) = self.port {
            s.push_str(&format!(":{p}"));
        }
        s
    }

    fn known_hosts_display(&self) -> String {
        self.known_hosts.as_ref().map_or_else(
            || "~/.ssh/known_hosts".to_string(),
            |p| p.display().to_string(),
        )
    }

    fn builder(&self) -> SessionBuilder {
        let mut b = SessionBuilder::default();
        b.known_hosts_check(KnownHosts::Strict)
            .connect_timeout(self.connect_timeout)
            // A dead link is noticed within ~30 s instead of a TCP timeout's minutes.
            .server_alive_interval(Duration::from_secs(10));
        if let Some(u) = &self.user {
            b.user(u.clone());
        }
        if let Some(p) = self.port {
            b.port(p);
        }
        if let Some(k) = &self.identity {
            b.keyfile(k);
        }
        if let Some(k) = &self.known_hosts {
            b.user_known_hosts_file(k);
        }
        if let Some(c) = &self.config_file {
            b.config_file(c);
        }
        if !self.jump_hosts.is_empty() {
            b.jump_hosts(&self.jump_hosts);
        }
        b
    }

    /// Turns the client's error into one that says what to do. OpenSSH reports through
    /// text only, so this reads its messages (stable for many years across versions).
    fn classify(&self, e: &openssh::Error) -> Error {
        let mut text = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            text.push_str(": ");
            text.push_str(&s.to_string());
            src = s.source();
        }
        let host = self.display();
        let known_hosts = self.known_hosts_display();
        if text.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
            || text.contains("Host key for") && text.contains("has changed")
        {
            Error::HostKeyChanged { host, known_hosts }
        } else if text.contains("host key is known")
            || text.contains("No matching host key")
            || text.contains("Host key verification failed")
        {
            Error::HostKeyUnknown { host, known_hosts }
        } else if text.contains("Permission denied") {
            Error::AuthFailed { host }
        } else if text.contains("Connection refused")
            || text.contains("timed out")
            || text.contains("Could not resolve")
            || text.contains("Network is unreachable")
            || text.contains("No route to host")
            || text.contains("Connection closed")
            || text.contains("Connection reset")
        {
            Error::Unreachable {
                host,
                detail: last_line(&text),
            }
        } else {
            Error::Ssh {
                host,
                detail: last_line(&text),
            }
        }
    }
}

/// The last non-empty line of a message (OpenSSH puts the reason there).
fn last_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or(text)
        .to_string()
}

/// What a remote command produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Exit status; `None` when the command was killed by a signal or the link dropped.
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }
}

/// An open connection (a running master process) to one host.
pub struct SshSession {
    target: SshTarget,
    /// Shared so that an SFTP channel and commands can use the same master.
    session: Arc<Session>,
}

impl std::fmt::Debug for SshSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshSession")
            .field("target", &self.target.display())
            .finish_non_exhaustive()
    }
}

/// Longest any single remote command may take here before it is abandoned.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

impl SshSession {
    /// Starts the master connection: host key checked strictly, keys only (BatchMode).
    pub async fn connect(target: SshTarget) -> Result<SshSession> {
        let checked = target.clone();
        tokio::task::spawn_blocking(move || checked.check())
            .await
            .map_err(|e| Error::Invalid {
                what: "SSH target".into(),
                why: format!("its check did not run: {e}"),
            })??;
        let destination = target.host.clone();
        let session = target
            .builder()
            .connect_mux(&destination)
            .await
            .map_err(|e| target.classify(&e))?;
        Ok(SshSession {
            target,
            session: Arc::new(session),
        })
    }

    /// The underlying session, for SFTP and streaming on the same master.
    pub(crate) fn session(&self) -> &Arc<Session> {
        &self.session
    }

    pub fn target(&self) -> &SshTarget {
        &self.target
    }

    /// Runs `argv` remotely (each word quoted by the client) and collects its output; a
    /// non-zero exit is an `Output`, not an error.
    pub async fn run(&self, argv: &[&str]) -> Result<Output> {
        self.run_for(argv, COMMAND_TIMEOUT).await
    }

    /// Like [`run`](Self::run), bounded by `limit` instead of the default deadline.
    pub async fn run_for(&self, argv: &[&str], limit: Duration) -> Result<Output> {
        let Some((program, args)) = argv.split_first() else {
            return Err(Error::Invalid {
                what: "remote command".into(),
                why: "it is empty".into(),
            });
        };
        let mut cmd = self.session.command(*program);
        cmd.args(args.iter().copied())
            .stdin(openssh::Stdio::null())
            .stdout(openssh::Stdio::piped())
            .stderr(openssh::Stdio::piped());
        let collected = async {
            let mut child = cmd.spawn().await.map_err(|e| self.target.classify(&e))?;
            let (out, err) = read_both(child.stdout().take(), child.stderr().take())
                .await
                .map_err(|e| Error::Unreachable {
                    host: self.target.display(),
                    detail: format!("reading the output of `{program}` failed: {e}"),
                })?;
            // Dropping the child (on a refusal) closes the channel: the command is not
            // waited for, and one that keeps writing gets a broken pipe.
            too_long(&self.target.display(), program, &out, &err)?;
            let status = child.wait().await.map_err(|e| self.target.classify(&e))?;
            Ok::<_, Error>((status, out, err))
        };
        let (status, out, err) =
            tokio::time::timeout(limit, collected)
                .await
                .map_err(|_| Error::Unreachable {
                    host: self.target.display(),
                    detail: format!("`{program}` gave no answer within {limit:?}"),
                })??;
        Ok(Output {
            status: status.code(),
            stdout: String::from_utf8_lossy(&out.bytes).into_owned(),
            stderr: String::from_utf8_lossy(&err.bytes).into_owned(),
        })
    }

    /// Like [`run`](Self::run), but a non-zero exit is an [`Error::Command`] with the tail
    /// of stderr; returns stdout.
    pub async fn run_ok(&self, argv: &[&str]) -> Result<String> {
        let out = self.run(argv).await?;
        if out.success() {
            return Ok(out.stdout);
        }
        Err(Error::Command {
            host: self.target.display(),
            command: argv.join(" "),
            status: out.status.map_or_else(
                || "no status (signal or lost link)".into(),
                |s| format!("status {s}"),
            ),
            stderr_tail: tail(&out.stderr, 5),
        })
    }

    /// True while the master connection is alive.
    pub async fn is_alive(&self) -> bool {
        self.session.check().await.is_ok()
    }

    /// Closes the master connection (once nothing else holds it; otherwise the last
    /// holder's drop closes it).
    pub async fn close(self) -> Result<()> {
        let target = self.target;
        match Arc::try_unwrap(self.session) {
            Ok(session) => session.close().await.map_err(|e| target.classify(&e)),
            Err(_) => Ok(()),
        }
    }

    /// Turns an openssh error into this layer's error for this target.
    pub(crate) fn error(&self, e: &openssh::Error) -> Error {
        self.target.classify(e)
    }

    /// Starts `argv` remotely and streams its output line by line as it arrives: the
    /// pipeline's one-JSON-line-per-point mode, so the grid updates the moment a point is
    /// done. Stdout and stderr lines arrive separately, then one [`Line::Exit`] (or
    /// [`Line::Lost`]). Cancelling or dropping the stream kills the remote command and
    /// everything it started.
    ///
    /// Why a wrapper: closing an SSH channel does not kill a remote process that is not
    /// reading or writing (`sleep`, a fit in progress), and OpenSSH's mux protocol cannot
    /// send it a signal. So the command runs under a fixed `sh -c` script (the argv words
    /// are its positional parameters, never part of the script) with a watchdog that holds
    /// the channel's stdin: when the channel closes — cancel, drop, a crash of this
    /// process or a lost link — stdin ends and the watchdog kills the command's process
    /// group (sshd makes every session its own group), TERM first, KILL 2 s later.
    pub async fn stream(&self, argv: &[&str]) -> Result<LineStream> {
        if argv.is_empty() {
            return Err(Error::Invalid {
                what: "remote command".into(),
                why: "it is empty".into(),
            });
        }
        let mut cmd = Session::to_command(Arc::clone(&self.session), "sh");
        cmd.args(["-c", STREAM_WRAPPER, "pmtwatch-stream"])
            .args(argv.iter().copied())
            .stdin(openssh::Stdio::piped())
            .stdout(openssh::Stdio::piped())
            .stderr(openssh::Stdio::piped());
        let mut child = cmd.spawn().await.map_err(|e| self.target.classify(&e))?;
        let (tx, rx) = mpsc::channel(STREAM_CAPACITY);
        let target = self.target.clone();
        let task = tokio::spawn(async move {
            // Held open until the command is done: its end is the watchdog's kill signal.
            let _stdin = child.stdin().take();
            let stdout = child.stdout().take();
            let stderr = child.stderr().take();
            let (out, err) = tokio::join!(
                pump(stdout, tx.clone(), Line::Stdout),
                pump(stderr, tx.clone(), Line::Stderr)
            );
            let last = match (out.and(err), child.wait().await) {
                (Ok(()), Ok(status)) => Line::Exit(status.code()),
                (Err(e), _) => Line::Lost(format!("reading the output failed: {e}")),
                // openssh turns status 127 into an error; here it stays what it is over
                // plain ssh, an exit status (the shell's "not found" came on stderr).
                (Ok(()), Err(openssh::Error::Remote(e)))
                    if e.kind() == std::io::ErrorKind::NotFound =>
                {
                    Line::Exit(Some(127))
                }
                // The mux protocol cannot tell a signal from a dropped link; the output
                // ended cleanly, so most likely a signal.
                (Ok(()), Err(openssh::Error::RemoteProcessTerminated)) => Line::Exit(None),
                (Ok(()), Err(e)) => Line::Lost(target.classify(&e).to_string()),
            };
            // The receiver may be gone already; then nobody needs the status.
            let _ = tx.send(last).await;
        });
        Ok(LineStream { rx, task })
    }
}

/// Most bytes of stdout (and of stderr) a one-shot command may return: far beyond any
/// listing, inventory or tail pmtwatch asks for, far below what would strain memory. A
/// command that prints more is refused instead of being read to its end.
pub const MAX_OUTPUT_BYTES: usize = 16 * 1024 * 1024;

/// What [`read_capped`] read.
#[derive(Debug, Default)]
pub(crate) struct Capped {
    pub bytes: Vec<u8>,
    /// More was there than the cap; reading stopped.
    pub overflow: bool,
}

/// Reads `r` to its end, or until more than `cap` bytes came (then stops, `overflow`).
async fn read_capped<R: AsyncRead + Unpin>(r: Option<R>, cap: usize) -> std::io::Result<Capped> {
    let mut c = Capped::default();
    let Some(r) = r else { return Ok(c) };
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    r.take(limit).read_to_end(&mut c.bytes).await?;
    if c.bytes.len() > cap {
        c.bytes.truncate(cap);
        c.overflow = true;
    }
    Ok(c)
}

/// Reads a command's stdout and stderr together, each up to [`MAX_OUTPUT_BYTES`]; as soon
/// as one goes past it, stops reading both (a producer that never ends cannot hold the
/// other read open), and [`too_long`] refuses the result.
pub(crate) async fn read_both<A, B>(a: Option<A>, b: Option<B>) -> std::io::Result<(Capped, Capped)>
where
    A: AsyncRead + Unpin,
    B: AsyncRead + Unpin,
{
    let fa = read_capped(a, MAX_OUTPUT_BYTES);
    let fb = read_capped(b, MAX_OUTPUT_BYTES);
    tokio::pin!(fa, fb);
    let (mut ra, mut rb): (Option<Capped>, Option<Capped>) = (None, None);
    loop {
        tokio::select! {
            r = &mut fa, if ra.is_none() => ra = Some(r?),
            r = &mut fb, if rb.is_none() => rb = Some(r?),
        }
        let over =
            ra.as_ref().is_some_and(|c| c.overflow) || rb.as_ref().is_some_and(|c| c.overflow);
        if over || (ra.is_some() && rb.is_some()) {
            return Ok((ra.unwrap_or_default(), rb.unwrap_or_default()));
        }
    }
}

/// Refuses a command whose output went past [`MAX_OUTPUT_BYTES`].
pub(crate) fn too_long(host: &str, program: &str, out: &Capped, err: &Capped) -> Result<()> {
    if out.overflow || err.overflow {
        return Err(Error::Invalid {
            what: format!("the output of `{program}` on {host}"),
            why: format!(
                "it is larger than {} MiB, more than pmtwatch reads from one command; the \
                 command was stopped",
                MAX_OUTPUT_BYTES >> 20
            ),
        });
    }
    Ok(())
}

/// The fixed script [`SshSession::stream`] runs the command under (see there for why).
/// `$$` is the shell, whose pid the command keeps through `exec`; the watchdog reads the
/// channel's stdin (saved as fd 3, since a background job's stdin is otherwise
/// `/dev/null`) and, at its end, signals process group 0 — its own, the command's.
/// `kill 0` rather than `kill -- -PGID`, which dash's `kill` does not accept.
pub(crate) const STREAM_WRAPPER: &str = "exec 3<&0
( trap '' TERM
  cat >/dev/null
  kill -s TERM 0
  sleep 2
  kill -s KILL 0 ) <&3 >/dev/null 2>&1 &
exec 3<&- </dev/null
exec \"$@\"";

/// Lines buffered between the reader task and the consumer: enough to absorb a burst,
/// small enough that a stalled consumer pushes back on the remote side (SSH flow control)
/// instead of growing memory.
pub(crate) const STREAM_CAPACITY: usize = 256;

/// A longer line is cut here (and marked): a runaway line without newlines must not grow
/// memory without bound. Far beyond any JSON point record.
pub const MAX_LINE_BYTES: usize = 256 * 1024;

/// One event from a streamed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A line of stdout, without its newline (non-UTF-8 bytes replaced).
    Stdout(String),
    /// A line of stderr, likewise.
    Stderr(String),
    /// The command ended: its exit status, `None` when killed by a signal (or, as the mux
    /// protocol cannot tell them apart, when the link dropped just then). Always last.
    Exit(Option<i32>),
    /// No exit status could be had (the link or the local ssh client failed): the
    /// command's fate is unknown, though the watchdog kills it once the channel closes.
    /// Always last.
    Lost(String),
}

/// A streaming remote command; see [`SshSession::stream`]. Dropping it kills the command.
#[derive(Debug)]
pub struct LineStream {
    rx: mpsc::Receiver<Line>,
    task: JoinHandle<()>,
}

impl LineStream {
    /// A stream fed by `task` through `rx` (the task ends with `Exit` or `Lost`).
    pub(crate) fn new(rx: mpsc::Receiver<Line>, task: JoinHandle<()>) -> LineStream {
        LineStream { rx, task }
    }

    /// The next line or the final status; `None` after the final status (or a cancel).
    pub async fn next(&mut self) -> Option<Line> {
        self.rx.recv().await
    }

    /// Kills the remote command: closes the channel, which the remote watchdog answers
    /// with TERM to the command's process group (KILL 2 s later). Returns once the
    /// channel is closed here; the remote kill follows within a round trip.
    pub async fn cancel(mut self) {
        self.task.abort();
        // The task's result is only "cancelled" (or it had finished already): either way
        // the child and its channel are gone once this returns.
        let _ = (&mut self.task).await;
    }
}

impl Drop for LineStream {
    fn drop(&mut self) {
        // Dropping the task drops the child, which closes the channel: same as cancel.
        self.task.abort();
    }
}

/// Splits a byte stream into lines, capping each at [`MAX_LINE_BYTES`].
#[derive(Debug, Default)]
struct LineSplitter {
    line: Vec<u8>,
    /// Bytes of the current line dropped beyond the cap.
    dropped: usize,
}

impl LineSplitter {
    fn feed(&mut self, mut chunk: &[u8], out: &mut Vec<String>) {
        while let Some(i) = chunk.iter().position(|&b| b == b'\n') {
            self.push(&chunk[..i]);
            out.push(self.take());
            chunk = &chunk[i + 1..];
        }
        self.push(chunk);
    }

    fn push(&mut self, bytes: &[u8]) {
        let room = MAX_LINE_BYTES.saturating_sub(self.line.len());
        let keep = bytes.len().min(room);
        self.line.extend_from_slice(&bytes[..keep]);
        self.dropped += bytes.len() - keep;
    }

    fn take(&mut self) -> String {
        if self.line.last() == Some(&b'\r') && self.dropped == 0 {
            self.line.pop();
        }
        let mut s = String::from_utf8_lossy(&self.line).into_owned();
        if self.dropped > 0 {
            s.push_str(&format!(" …[line cut: {} more bytes]", self.dropped));
        }
        self.line.clear();
        self.dropped = 0;
        s
    }

    /// The last line when the stream ended without a newline.
    fn finish(&mut self) -> Option<String> {
        (!self.line.is_empty() || self.dropped > 0).then(|| self.take())
    }
}

/// Reads `r` to its end, sending each line wrapped by `wrap`. Stops quietly when the
/// receiver is gone (nobody is listening; the stream is being dropped).
pub(crate) async fn pump<R: AsyncRead + Unpin>(
    r: Option<R>,
    tx: mpsc::Sender<Line>,
    wrap: fn(String) -> Line,
) -> std::io::Result<()> {
    let Some(mut r) = r else { return Ok(()) };
    let mut buf = vec![0u8; 16 * 1024];
    let mut split = LineSplitter::default();
    let mut lines = Vec::new();
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        split.feed(&buf[..n], &mut lines);
        for l in lines.drain(..) {
            if tx.send(wrap(l)).await.is_err() {
                return Ok(());
            }
        }
    }
    if let Some(l) = split.finish() {
        let _ = tx.send(wrap(l)).await;
    }
    Ok(())
}

/// Longest wait between two connection attempts in [`connect_with_retry`].
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

/// Whether a connection error may go away by itself (a host rebooting, a network blip),
/// so that retrying makes sense. Host-key and authentication errors need a human and are
/// never retried: retrying would only hide them (and hammer the server's auth log).
pub fn is_retryable(e: &Error) -> bool {
    matches!(e, Error::Unreachable { .. } | Error::Ssh { .. })
}

/// Connects, retrying [retryable](is_retryable) failures up to `attempts` times in all
/// (at least once), waiting `first_delay` after the first failure and twice as long after
/// each further one, capped at [`MAX_RETRY_DELAY`]. Used after the master connection is
/// lost so a scan carries on once the host is back. Returns the last error.
pub async fn connect_with_retry(
    target: SshTarget,
    attempts: u32,
    first_delay: Duration,
) -> Result<SshSession> {
    let attempts = attempts.max(1);
    let mut delay = first_delay.min(MAX_RETRY_DELAY);
    let mut attempt = 1;
    loop {
        match SshSession::connect(target.clone()).await {
            Ok(session) => return Ok(session),
            Err(e) if attempt < attempts && is_retryable(&e) => {
                tracing::warn!(
                    "SSH to {}: attempt {attempt}/{attempts} failed ({e}); retrying in {delay:?}",
                    target.display()
                );
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2).min(MAX_RETRY_DELAY);
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The last `n` non-empty lines of `text`, joined with " | ".
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_validates_destinations() {
        let t = SshTarget::parse("pmtops@127.0.0.1").expect("valid");
        assert_eq!(t.user.as_deref(), Some("pmtops"));
        assert_eq!(t.host, "127.0.0.1");
        assert!(SshTarget::parse("cluster.example.org").is_ok());
        for bad in [
            "-oProxyCommand=evil",
            "a@-x",
            "@host",
            "u@",
            "a b@h",
            "u@h;rm",
            "u@$(id)",
            "",
        ] {
            assert!(SshTarget::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn lines_are_split_across_chunks_decoded_lossily_and_capped() {
        let mut sp = LineSplitter::default();
        let mut out = Vec::new();
        sp.feed(b"ab", &mut out);
        assert!(out.is_empty());
        sp.feed(b"c\r\nd\xffe\n\nf", &mut out);
        assert_eq!(out, ["abc", "d\u{fffd}e", ""]);
        assert_eq!(sp.finish().as_deref(), Some("f"));
        assert_eq!(sp.finish(), None);

        let mut out = Vec::new();
        let long = vec![b'x'; MAX_LINE_BYTES + 10];
        sp.feed(&long, &mut out);
        sp.feed(b"yy\nok\n", &mut out);
        assert_eq!(out.len(), 2);
        assert!(out[0].starts_with("xxx"));
        assert!(
            out[0].ends_with("[line cut: 12 more bytes]"),
            "{}",
            &out[0][MAX_LINE_BYTES - 5..]
        );
        assert_eq!(out[1], "ok");
    }

    #[test]
    fn only_transient_errors_are_retried() {
        let host = "h".to_string();
        assert!(is_retryable(&Error::Unreachable {
            host: host.clone(),
            detail: String::new()
        }));
        assert!(is_retryable(&Error::Ssh {
            host: host.clone(),
            detail: String::new()
        }));
        assert!(!is_retryable(&Error::AuthFailed { host: host.clone() }));
        assert!(!is_retryable(&Error::HostKeyChanged {
            host: host.clone(),
            known_hosts: String::new()
        }));
        assert!(!is_retryable(&Error::HostKeyUnknown {
            host,
            known_hosts: String::new()
        }));
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\n\nb\nc\n", 2), "b | c");
        assert_eq!(tail("", 3), "");
    }
}

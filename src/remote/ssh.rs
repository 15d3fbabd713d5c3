//! SSH over the system OpenSSH client, through the `openssh` crate's multiplexed master:
//! one authenticated connection per host, every command a cheap new channel on it. Using
//! the system client means `~/.ssh/config`, the agent, `ProxyJump` and known_hosts behave
//! exactly as the operator's own `ssh` does. Host keys are checked strictly: an unknown or
//! changed key is an error that says so, never accepted silently.
//!
//! Arguments are passed as argv words that the `openssh` crate quotes for the remote shell;
//! nothing here builds a shell string from user input.

use std::path::PathBuf;
use std::time::Duration;

use openssh::{KnownHosts, Session, SessionBuilder};

use super::error::{Error, Result};

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
    /// Jump hosts (`-J`), in order.
    pub jump_hosts: Vec<String>,
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
            let ok = !u.is_empty()
                && u.len() <= 32
                && u.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                && u.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
            if !ok {
                return Err(bad(
                    "the user name must be 1–32 letters, digits, '_', '.', '-' (not starting with '-')",
                ));
            }
        }
        let ok_host = !host.is_empty()
            && host.len() <= 253
            && host.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '[')
            && host.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']')
            });
        if !ok_host {
            return Err(bad(
                "the host must be a name or address (letters, digits, '.', '-', '_', ':')",
            ));
        }
        Ok(SshTarget {
            user: user.map(str::to_string),
            host: host.to_string(),
            port: None,
            identity: None,
            known_hosts: None,
            config_file: None,
            jump_hosts: Vec::new(),
            connect_timeout: Duration::from_secs(10),
        })
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
    session: Session,
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
        let destination = target.host.clone();
        let session = target
            .builder()
            .connect_mux(&destination)
            .await
            .map_err(|e| target.classify(&e))?;
        Ok(SshSession { target, session })
    }

    pub fn target(&self) -> &SshTarget {
        &self.target
    }

    /// Runs `argv` remotely (each word quoted by the client) and collects its output; a
    /// non-zero exit is an `Output`, not an error.
    pub async fn run(&self, argv: &[&str]) -> Result<Output> {
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
        let out = tokio::time::timeout(COMMAND_TIMEOUT, cmd.output())
            .await
            .map_err(|_| Error::Unreachable {
                host: self.target.display(),
                detail: format!("`{program}` gave no answer within {COMMAND_TIMEOUT:?}"),
            })?
            .map_err(|e| self.target.classify(&e))?;
        Ok(Output {
            status: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
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

    /// Closes the master connection.
    pub async fn close(self) -> Result<()> {
        let target = self.target;
        self.session.close().await.map_err(|e| target.classify(&e))
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
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\n\nb\nc\n", 2), "b | c");
        assert_eq!(tail("", 3), "");
    }
}

//! Where a command runs: this machine ([`LocalHost`]) or a host over SSH
//! ([`SshSession`]), behind one small trait, [`Exec`], so that SLURM jobs, detached
//! processes, the connection test and the scan follower are written once and work on
//! either side.
//!
//! Decisions, and why:
//! - Commands are argv words on both sides, never a shell string: a value can not turn
//!   into shell code locally any more than remotely.
//! - A local streamed command runs under the same `sh -c` watchdog wrapper as a remote one
//!   ([`ssh::STREAM_WRAPPER`]), in a process group of its own: dropping the stream closes
//!   its stdin and the watchdog stops the whole group, exactly as over SSH. So "cancel"
//!   means the same thing on every backend.
//! - A program that is not installed answers status 127 on both sides (the shell's
//!   convention, which the callers already understand), not an I/O error.
//! - A job's own environment (a run's `CUDA_VISIBLE_DEVICES`) travels the same way on both
//!   sides: [`with_env`] puts `env NAME=value` words in front of the command, each one argv
//!   word (quoted by the SSH client like every other), never text pasted into a shell line.

use std::future::Future;
use std::process::Stdio;
use std::time::Duration;

use tokio::sync::mpsc;

use super::error::{Error, Result};
use super::ssh::{self, Line, LineStream, Output, SshSession};

/// Something that runs commands: this machine or an SSH host.
pub trait Exec: Send + Sync {
    /// The host's name for messages (`user@host:port`, or `this machine`).
    fn host_name(&self) -> String;

    /// Runs `argv` and collects its output; a non-zero exit is an [`Output`], not an
    /// error. Bounded in time.
    fn run(&self, argv: &[&str]) -> impl Future<Output = Result<Output>> + Send;

    /// Like [`run`](Exec::run), but bounded by `limit` instead of the default deadline: for
    /// the few commands that may rightly take long (a move that copies across filesystems).
    fn run_for(
        &self,
        argv: &[&str],
        limit: Duration,
    ) -> impl Future<Output = Result<Output>> + Send;

    /// Runs `argv` and streams its output lines; dropping the stream stops the command.
    fn stream(&self, argv: &[&str]) -> impl Future<Output = Result<LineStream>> + Send;

    /// Like [`run`](Exec::run), but a non-zero exit is an [`Error::Command`] with the tail
    /// of stderr; returns stdout.
    fn run_ok(&self, argv: &[&str]) -> impl Future<Output = Result<String>> + Send {
        async move {
            let out = self.run(argv).await?;
            if out.success() {
                return Ok(out.stdout);
            }
            if super::error::says_disk_full(&out.stderr) {
                return Err(Error::DiskFull {
                    host: self.host_name(),
                    detail: format!("`{}`: {}", argv.join(" "), ssh::tail(&out.stderr, 3)),
                });
            }
            Err(Error::Command {
                host: self.host_name(),
                command: argv.join(" "),
                status: out.status.map_or_else(
                    || "no status (signal or lost link)".into(),
                    |s| format!("status {s}"),
                ),
                stderr_tail: ssh::tail(&out.stderr, 5),
            })
        }
    }
}

impl Exec for SshSession {
    fn host_name(&self) -> String {
        self.target().display()
    }

    async fn run(&self, argv: &[&str]) -> Result<Output> {
        SshSession::run(self, argv).await
    }

    async fn run_for(&self, argv: &[&str], limit: Duration) -> Result<Output> {
        SshSession::run_for(self, argv, limit).await
    }

    async fn stream(&self, argv: &[&str]) -> Result<LineStream> {
        SshSession::stream(self, argv).await
    }
}

/// `argv` run with `env` set: `env NAME=value … argv…`. Names must be `[A-Z_][A-Z0-9_]*`,
/// values free of control characters ([`super::quote::check`]); the program must not
/// contain `=` (`env` would take it for one more assignment). Empty `env`: `argv` as it is.
pub fn with_env(env: &[(String, String)], argv: Vec<String>) -> Result<Vec<String>> {
    if env.is_empty() {
        return Ok(argv);
    }
    let invalid = |what: String, why: String| Error::Invalid { what, why };
    let program = argv
        .first()
        .ok_or_else(|| invalid("command".into(), "it is empty".into()))?;
    if program.contains('=') {
        return Err(invalid(
            format!("program {}", super::quote::preview(program)),
            "it contains '=', which `env` would read as a variable to set".into(),
        ));
    }
    let mut words = Vec::with_capacity(argv.len() + env.len() + 1);
    words.push("env".to_string());
    for (name, value) in env {
        if !super::quote::is_env_name(name) {
            return Err(invalid(
                format!("job environment variable {}", super::quote::preview(name)),
                "a name is [A-Z_][A-Z0-9_]*".into(),
            ));
        }
        super::quote::check(value).map_err(|why| {
            invalid(
                format!("value {} of {name}", super::quote::preview(value)),
                why,
            )
        })?;
        words.push(format!("{name}={value}"));
    }
    words.extend(argv);
    Ok(words)
}

/// Longest a local command run through [`Exec::run`] may take.
const LOCAL_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// This machine. `env` is added to every command's environment (a SLURM profile that runs
/// `sbatch` here may need `SLURM_CONF`, say).
#[derive(Debug, Clone, Default)]
pub struct LocalHost {
    pub env: Vec<(String, String)>,
}

impl LocalHost {
    fn command(&self, program: &str, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd
    }
}

fn split(argv: &[&str]) -> Result<(String, Vec<String>)> {
    match argv.split_first() {
        Some((p, rest)) => Ok((p.to_string(), rest.iter().map(|s| s.to_string()).collect())),
        None => Err(Error::Invalid {
            what: "command".into(),
            why: "it is empty".into(),
        }),
    }
}

impl Exec for LocalHost {
    fn host_name(&self) -> String {
        "this machine".into()
    }

    async fn run(&self, argv: &[&str]) -> Result<Output> {
        self.run_for(argv, LOCAL_COMMAND_TIMEOUT).await
    }

    async fn run_for(&self, argv: &[&str], limit: Duration) -> Result<Output> {
        let (program, args) = split(argv)?;
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut cmd = self.command(&program, &args);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let collected = async {
            let mut child = cmd.spawn()?;
            let (out, err) = ssh::read_both(child.stdout.take(), child.stderr.take()).await?;
            // On a refusal, kill_on_drop stops the command once `child` goes.
            if let Err(e) = ssh::too_long("this machine", &program, &out, &err) {
                return Ok(Err(e));
            }
            let status = child.wait().await?;
            Ok::<_, std::io::Error>(Ok((status, out, err)))
        };
        let (status, out, err) = match tokio::time::timeout(limit, collected).await {
            Err(_) => {
                return Err(Error::Command {
                    host: self.host_name(),
                    command: argv.join(" "),
                    status: format!("no answer within {limit:?}; stopped"),
                    stderr_tail: String::new(),
                });
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Output {
                    status: Some(127),
                    stdout: String::new(),
                    stderr: format!("{program}: command not found"),
                });
            }
            Ok(Err(e)) => {
                return Err(Error::Io {
                    path: program.into(),
                    source: e,
                });
            }
            Ok(Ok(Err(refused))) => return Err(refused),
            Ok(Ok(Ok(done))) => done,
        };
        Ok(Output {
            status: status.code(),
            stdout: String::from_utf8_lossy(&out.bytes).into_owned(),
            stderr: String::from_utf8_lossy(&err.bytes).into_owned(),
        })
    }

    async fn stream(&self, argv: &[&str]) -> Result<LineStream> {
        if argv.is_empty() {
            return Err(Error::Invalid {
                what: "command".into(),
                why: "it is empty".into(),
            });
        }
        let mut args = vec!["-c", ssh::STREAM_WRAPPER, "pmtwatch-stream"];
        args.extend_from_slice(argv);
        let mut cmd = self.command("sh", &args);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own group, so the watchdog's `kill 0` stops the command, not us.
            .process_group(0);
        let mut child = cmd.spawn().map_err(|e| Error::Io {
            path: "sh".into(),
            source: e,
        })?;
        let (tx, rx) = mpsc::channel(ssh::STREAM_CAPACITY);
        let task = tokio::spawn(async move {
            // Held until the command ends: its closing is the watchdog's signal.
            let _stdin = child.stdin.take();
            let stdout = child.stdout.take();
            let stderr = child.stderr.take();
            let (out, err) = tokio::join!(
                ssh::pump(stdout, tx.clone(), Line::Stdout),
                ssh::pump(stderr, tx.clone(), Line::Stderr)
            );
            let last = match (out.and(err), child.wait().await) {
                (Ok(()), Ok(status)) => Line::Exit(status.code()),
                (Err(e), _) => Line::Lost(format!("reading the output failed: {e}")),
                (Ok(()), Err(e)) => Line::Lost(format!("waiting for the command failed: {e}")),
            };
            let _ = tx.send(last).await;
        });
        Ok(LineStream::new(rx, task))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_job_environment_is_env_words_in_front() {
        let env = vec![("CUDA_VISIBLE_DEVICES".to_string(), "GPU-1a-2b".to_string())];
        assert_eq!(
            with_env(&env, words(&["pmtwatch", "process"])).expect("valid"),
            [
                "env",
                "CUDA_VISIBLE_DEVICES=GPU-1a-2b",
                "pmtwatch",
                "process"
            ]
        );
        assert_eq!(
            with_env(&[], words(&["a=b"])).expect("nothing to add"),
            ["a=b"]
        );
        let bad_name = vec![("cuda devices".to_string(), "1".to_string())];
        assert!(with_env(&bad_name, words(&["p"])).is_err());
        let bad_value = vec![("X".to_string(), "1\nrm -rf /".to_string())];
        assert!(with_env(&bad_value, words(&["p"])).is_err());
        assert!(
            with_env(&env, words(&["A=b", "p"])).is_err(),
            "program with '='"
        );
        assert!(with_env(&env, Vec::new()).is_err());
    }
}

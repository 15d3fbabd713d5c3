//! The connection test behind the profile page's "test connection" button and
//! `pmtwatch remote test`: one entry per item, each with a verdict and a sentence, so a
//! lab knows *what* is wrong (host key, key, directory, binary, disk) before a scan
//! depends on the profile.

use std::net::ToSocketAddrs;
use std::time::{Duration, Instant};

use super::error::Error;
use super::exec::{Exec, LocalHost};
use super::ssh::{SshSession, SshTarget};

pub use crate::model::report::{Check, Report};

/// What to test beyond the connection itself.
#[derive(Debug, Clone, Default)]
pub struct TestOptions {
    /// Remote working directory that must be writable (created if missing).
    pub remote_dir: Option<String>,
    /// Also check that `sbatch` is available.
    pub slurm: bool,
    /// Free space below this many bytes in the remote directory is a failure.
    pub min_free_bytes: u64,
    /// The pmtwatch program to look for (the profile's `program`; `None`: `pmtwatch` on the
    /// PATH).
    pub program: Option<String>,
}

/// 1 GiB: a few scans' worth of results.
pub const DEFAULT_MIN_FREE_BYTES: u64 = 1 << 30;

struct Builder {
    checks: Vec<Check>,
    t: Instant,
}

impl Builder {
    fn push(&mut self, item: &'static str, ok: bool, detail: impl Into<String>) {
        self.checks.push(Check {
            item,
            ok,
            skipped: false,
            detail: detail.into(),
            ms: self.t.elapsed().as_secs_f64() * 1e3,
        });
        self.t = Instant::now();
    }

    fn skip(&mut self, items: &[&'static str], why: &str) {
        for &item in items {
            self.checks.push(Check {
                item,
                ok: false,
                skipped: true,
                detail: format!("not checked: {why}"),
                ms: 0.0,
            });
        }
    }
}

/// Runs every check against `target`. Never fails: problems are entries of the report.
pub async fn test_connection(target: SshTarget, opts: &TestOptions) -> Report {
    let name = target.display();
    let mut b = Builder {
        checks: Vec::new(),
        t: Instant::now(),
    };
    // 0. pmtwatch's own checks of every setting, before anything is resolved or run.
    let checked = target.clone();
    let settings = tokio::task::spawn_blocking(move || checked.check())
        .await
        .unwrap_or_else(|e| {
            Err(Error::Invalid {
                what: "the SSH settings".into(),
                why: format!("their check did not run: {e}"),
            })
        });
    if let Err(e) = settings {
        b.push("settings", false, e.to_string());
        let mut rest = vec!["reachable", "host_key", "authenticated"];
        rest.extend(["remote_dir_writable", "pmtwatch", "free_disk"]);
        if opts.slurm {
            rest.push("sbatch");
        }
        b.skip(&rest, "a setting was refused");
        return finish(name, b);
    }
    let mut after_connect = vec!["remote_dir_writable", "pmtwatch", "free_disk"];
    if opts.slurm {
        after_connect.push("sbatch");
    }

    // 1. TCP reachability, before ssh's own (slower, vaguer) failure.
    let port = target.port.unwrap_or(22);
    let host = target
        .host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let timeout = target.connect_timeout;
    let reach = tokio::task::spawn_blocking(move || tcp_reachable(&host, port, timeout))
        .await
        .unwrap_or_else(|e| Err(format!("check did not run: {e}")));
    if target.jump_hosts.is_empty() {
        match reach {
            Ok(d) => b.push("reachable", true, d),
            Err(d) => {
                b.push("reachable", false, d);
                let mut rest = vec!["host_key", "authenticated"];
                rest.extend(&after_connect);
                b.skip(&rest, "the host is not reachable");
                return finish(name, b);
            }
        }
    } else {
        b.push(
            "reachable",
            true,
            "through the jump host(s); checked by the connection",
        );
    }

    // 2–3. Host key, then authentication: one connection attempt tells both apart.
    let session = match SshSession::connect(target).await {
        Ok(s) => {
            b.push("host_key", true, "matches known_hosts");
            b.push("authenticated", true, "key accepted");
            s
        }
        Err(e @ (Error::HostKeyChanged { .. } | Error::HostKeyUnknown { .. })) => {
            b.push("host_key", false, e.to_string());
            let mut rest = vec!["authenticated"];
            rest.extend(&after_connect);
            b.skip(&rest, "the host key was not accepted");
            return finish(name, b);
        }
        Err(e @ Error::AuthFailed { .. }) => {
            b.push("host_key", true, "matches known_hosts");
            b.push("authenticated", false, e.to_string());
            b.skip(&after_connect, "not logged in");
            return finish(name, b);
        }
        Err(e) => {
            b.push("host_key", false, format!("no connection: {e}"));
            let mut rest = vec!["authenticated"];
            rest.extend(&after_connect);
            b.skip(&rest, "no connection");
            return finish(name, b);
        }
    };

    let program = opts.program.as_deref().unwrap_or("pmtwatch");
    host_checks(&session, program, opts, &mut b).await;
    // Closing is best effort: the report is already complete.
    let _ = session.close().await;
    finish(name, b)
}

/// The connection test of a backend on this machine: the working directory, the pmtwatch
/// program, free disk and (for SLURM) `sbatch`, as in [`test_connection`].
pub async fn test_host(host: &LocalHost, program: &str, opts: &TestOptions) -> Report {
    let mut b = Builder {
        checks: Vec::new(),
        t: Instant::now(),
    };
    host_checks(host, program, opts, &mut b).await;
    finish(host.host_name(), b)
}

/// The checks after the connection: items 4–7 of [`test_connection`].
async fn host_checks(exec: &impl Exec, program: &str, opts: &TestOptions, b: &mut Builder) {
    // 4. The working directory: created if missing, then a file written and removed.
    let dir = opts.remote_dir.clone().unwrap_or_else(|| ".".to_string());
    let probe = format!("{dir}/.pmtwatch-write-test");
    let writable = async {
        exec.run_ok(&["mkdir", "-p", "--", &dir]).await?;
        exec.run_ok(&["touch", "--", &probe]).await?;
        exec.run_ok(&["rm", "-f", "--", &probe]).await
    }
    .await;
    match writable {
        Ok(_) => b.push("remote_dir_writable", true, format!("{dir} is writable")),
        Err(e) => b.push("remote_dir_writable", false, format!("{dir}: {e}")),
    }

    // 5. The same binary on the other side.
    let missing = format!(
        "{program} is not on the remote PATH: deploy the binary, set the profile's program \
         (or use command mode)"
    );
    match exec.run(&[program, "--version"]).await {
        Ok(out) if out.success() => b.push("pmtwatch", true, out.stdout.trim().to_string()),
        Ok(out) if out.status == Some(127) => b.push("pmtwatch", false, missing),
        Ok(out) => b.push(
            "pmtwatch",
            false,
            format!(
                "`{program} --version` failed: {}",
                super::ssh::tail(&out.stderr, 3)
            ),
        ),
        // The client reports a missing program as an error, not as status 127.
        Err(e) if e.to_string().contains("not found") => b.push("pmtwatch", false, missing),
        Err(e) => b.push("pmtwatch", false, e.to_string()),
    }

    // 6. Free disk where results are written.
    match exec.run(&["df", "-Pk", "--", &dir]).await {
        Ok(out) if out.success() => match parse_df_available(&out.stdout) {
            Some(bytes) => b.push(
                "free_disk",
                bytes >= opts.min_free_bytes,
                format!(
                    "{:.1} GiB free in {dir}{}",
                    bytes as f64 / (1u64 << 30) as f64,
                    if bytes >= opts.min_free_bytes {
                        ""
                    } else {
                        " — too little for a scan's results"
                    }
                ),
            ),
            None => b.push("free_disk", false, "could not read the output of df"),
        },
        Ok(out) => b.push("free_disk", false, super::ssh::tail(&out.stderr, 3)),
        Err(e) => b.push("free_disk", false, e.to_string()),
    }

    // 7. SLURM, when the profile uses it.
    if opts.slurm {
        match exec.run(&["sbatch", "--version"]).await {
            Ok(out) if out.success() => b.push("sbatch", true, out.stdout.trim().to_string()),
            Ok(out) if out.status == Some(127) => b.push(
                "sbatch",
                false,
                "sbatch is not on the remote PATH (is this a SLURM login node?)",
            ),
            Ok(out) => b.push("sbatch", false, super::ssh::tail(&out.stderr, 3)),
            Err(e) => b.push("sbatch", false, e.to_string()),
        }
    }
}

fn finish(target: String, b: Builder) -> Report {
    Report {
        ok: b.checks.iter().all(|c| c.ok),
        target,
        checks: b.checks,
    }
}

/// A TCP connection to `host:port` within `timeout`.
fn tcp_reachable(host: &str, port: u16, timeout: Duration) -> Result<String, String> {
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let mut last = String::from("no address");
    for a in addrs {
        match std::net::TcpStream::connect_timeout(&a, timeout) {
            Ok(_) => return Ok(format!("{a} accepts connections")),
            Err(e) => last = format!("{a}: {e}"),
        }
    }
    Err(last)
}

/// Available bytes from `df -Pk` output (POSIX format: the 4th column of the 2nd line).
fn parse_df_available(stdout: &str) -> Option<u64> {
    let line = stdout.lines().nth(1)?;
    let kb: u64 = line.split_whitespace().nth(3)?.parse().ok()?;
    kb.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_df() {
        let out = "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/vda 263174212 11540372 238177236 5% /\n";
        assert_eq!(parse_df_available(out), Some(238_177_236 * 1024));
        assert_eq!(parse_df_available("garbage"), None);
    }
}

//! `pmtwatch user …` against the database of a running `pmtwatch serve` (the real binary),
//! and `serve`'s own start and graceful stop.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use super::util::{TestResult, get, login_response};

const BIN: &str = env!("CARGO_BIN_EXE_pmtwatch");

async fn user(dir: &std::path::Path, args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("user")
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn pmtwatch user");
    if let Some(mut pipe) = child.stdin.take()
        && let Some(text) = stdin
    {
        // The command may exit before reading (e.g. clap refusing an argument), so a
        // broken pipe here is not an error; its exit status and output tell.
        let _ = pipe.write_all(text.as_bytes()).await;
    }
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("pmtwatch user finished within 60 s")
        .expect("output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Starts `pmtwatch serve --bind 127.0.0.1:0` and reads the bound address from stdout.
async fn serve(dir: &std::path::Path) -> (Child, SocketAddr, String) {
    serve_on(dir, "127.0.0.1:0").await
}

/// Starts `pmtwatch serve --bind BIND`; returns it, its address and what it said on stderr.
async fn serve_on(dir: &std::path::Path, bind: &str) -> (Child, SocketAddr, String) {
    let mut child = Command::new(BIN)
        .args(["serve", "--bind", bind, "--data-dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn pmtwatch serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("serve printed its address within 60 s")
        .expect("read stdout")
        .expect("a line");
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    let mut stderr = child.stderr.take().expect("stderr");
    // The hint about the first account comes before the address line.
    let mut err = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_millis(500), stderr.read(&mut err))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or(0);
    (child, addr, String::from_utf8_lossy(&err[..n]).to_string())
}

#[tokio::test]
async fn user_commands_work_against_the_database_of_a_running_server() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (mut server, addr, hint) = serve(dir.path()).await;
    assert!(
        hint.contains("pmtwatch user add NAME --role admin"),
        "serve explains how to create the first account: {hint:?}"
    );
    assert_eq!(get(addr, "/healthz", None).await.status, 200);

    let (ok, out) = user(
        dir.path(),
        &["add", "alice", "--role", "operator", "--password-stdin"],
        Some("alice-password\n"),
    )
    .await;
    assert!(ok, "{out}");
    let r = login_response(addr, "alice", "alice-password", "").await;
    assert_eq!(r.status, 303, "the running server sees the new account");
    let cookie = r.session_cookie().expect("cookie");

    let (ok, out) = user(dir.path(), &["role", "alice", "observer"], None).await;
    assert!(ok, "{out}");
    let me = get(addr, "/api/me", Some(&cookie)).await;
    assert!(me.body.contains(r#""role":"observer""#), "{me:?}");

    let (ok, out) = user(dir.path(), &["list"], None).await;
    assert!(ok && out.contains("alice\tobserver"), "{out}");

    let (ok, out) = user(
        dir.path(),
        &["passwd", "alice", "--password-stdin"],
        Some("alice-new-password\n"),
    )
    .await;
    assert!(ok, "{out}");
    assert_eq!(
        get(addr, "/api/me", Some(&cookie)).await.status,
        401,
        "a new password ends the old sessions"
    );
    assert_eq!(
        login_response(addr, "alice", "alice-password", "")
            .await
            .status,
        401
    );
    assert_eq!(
        login_response(addr, "alice", "alice-new-password", "")
            .await
            .status,
        303
    );

    let (ok, out) = user(dir.path(), &["delete", "alice"], None).await;
    assert!(ok, "{out}");
    assert_eq!(
        login_response(addr, "alice", "alice-new-password", "")
            .await
            .status,
        401
    );

    // Refusals name the problem.
    let (ok, out) = user(dir.path(), &["delete", "alice"], None).await;
    assert!(!ok && out.contains("no user named 'alice'"), "{out}");
    let (ok, out) = user(
        dir.path(),
        &["add", "bob", "--role", "chief", "--password-stdin"],
        Some("x\n"),
    )
    .await;
    assert!(!ok && out.contains("chief"), "{out}");
    let (ok, out) = user(
        dir.path(),
        &["add", "bob", "--role", "admin", "--password-stdin"],
        Some("short\n"),
    )
    .await;
    assert!(!ok && out.contains("too short"), "{out}");

    // SIGTERM stops the server gracefully.
    let pid = server.id().expect("pid");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(15), server.wait())
        .await
        .expect("serve stopped within 15 s of SIGTERM")?;
    assert!(status.success(), "serve exits 0 on SIGTERM: {status:?}");
    Ok(())
}

#[tokio::test]
async fn serve_beyond_loopback_warns_and_recommends_a_tls_proxy() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (_server, addr, said) = serve_on(dir.path(), "0.0.0.0:0").await;
    assert!(
        said.contains("WARNING") && said.contains("TLS reverse proxy"),
        "{said:?}"
    );
    let local = SocketAddr::from(([127, 0, 0, 1], addr.port()));
    assert_eq!(get(local, "/healthz", None).await.status, 200);
    Ok(())
}

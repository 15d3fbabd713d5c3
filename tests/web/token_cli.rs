//! `pmtwatch token create|list|revoke` (the real binary) against the database of a running
//! server: the token is printed once, alone on stdout; it opens the JSON API until revoked.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use super::util::{TestResult, get_with, start};

const BIN: &str = env!("CARGO_BIN_EXE_pmtwatch");

/// Runs `pmtwatch token ARGS --data-dir DIR`; returns (success, stdout, stderr).
async fn token(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let child = Command::new(BIN)
        .arg("token")
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn pmtwatch token");
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("pmtwatch token finished within 60 s")
        .expect("output");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test]
async fn token_create_list_revoke_through_the_binary() -> TestResult {
    let s = start().await;
    let dir = s.data_dir();

    let (ok, out, err) = token(dir, &["create", "grafana"]).await;
    assert!(ok, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "only the token on stdout: {out:?}");
    let tok = lines[0];
    assert!(
        tok.len() == 64 && tok.bytes().all(|b| b.is_ascii_hexdigit()),
        "{tok:?}"
    );
    assert!(
        err.contains("Authorization: Bearer") && !err.contains(tok),
        "a hint on stderr, without the token: {err}"
    );

    let r = get_with(s.addr, "/api/runs", None, Some(tok)).await;
    assert_eq!(
        r.status, 200,
        "the running server accepts the new token: {}",
        r.body
    );

    let (ok, out, err) = token(dir, &["list"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("grafana\tcreated "), "{out}");
    assert!(!out.contains("last used never"), "it was just used: {out}");
    assert!(!out.contains(tok), "list never shows a token");

    let (ok, _, err) = token(dir, &["create", "grafana"]).await;
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, err) = token(dir, &["create", "bad name"]).await;
    assert!(!ok && err.contains("token name"), "{err}");

    let (ok, out, err) = token(dir, &["revoke", "grafana"]).await;
    assert!(ok && out.contains("revoked grafana"), "{out}{err}");
    let r = get_with(s.addr, "/api/runs", None, Some(tok)).await;
    assert_eq!(r.status, 401, "a revoked token is refused at once");
    let (ok, _, err) = token(dir, &["revoke", "grafana"]).await;
    assert!(!ok && err.contains("no API token named 'grafana'"), "{err}");

    let audit = s.store.recent_audit(50)?;
    for action in ["api_token_create", "api_token_revoke"] {
        let e = audit
            .iter()
            .find(|e| e.action == action)
            .ok_or(format!("{action} in the audit log"))?;
        assert_eq!(e.actor, "cli");
        assert_eq!(e.details["token"], "grafana");
        assert!(!e.details.to_string().contains(tok));
    }
    Ok(())
}

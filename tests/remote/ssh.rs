//! The SSH layer against a real OpenSSH server on 127.0.0.1 (started by
//! `scripts/test-cluster.sh`, which `scripts/test` runs): the connection test, host keys
//! that are unknown or changed, authentication failures, and arguments that must arrive
//! as single words however hostile they are.

use crate::common;

use common::{Cluster, cluster};

use std::process::Command;

use pmtwatch::remote::Error;
use pmtwatch::remote::ssh::SshSession;

impl Cluster {
    /// `pmtwatch remote test` with this cluster's options plus `extra`.
    fn remote_test(
        &self,
        known_hosts: &std::path::Path,
        extra: &[&str],
    ) -> (bool, serde_json::Value) {
        let out = Command::new(env!("CARGO_BIN_EXE_pmtwatch"))
            .args(["remote", "test", &format!("{}@{}", self.user, self.host)])
            .args(["--port", &self.port.to_string()])
            .args(["--identity", self.key.to_str().expect("utf8")])
            .args(["--known-hosts", known_hosts.to_str().expect("utf8")])
            .args(["--ssh-config", "/dev/null", "--json"])
            .args(extra)
            .output()
            .expect("run pmtwatch");
        let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "no JSON report ({e}): {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.success(), report)
    }
}

fn item<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["item"] == name))
        .unwrap_or_else(|| panic!("no {name} in {report}"))
}

#[test]
fn connection_test_checks_every_item_and_passes() {
    let _slurm = crate::common::slurm_shared_blocking();
    let c = cluster();
    c.deploy_binary();
    let dir = format!("/tmp/pmtwatch-remote-test-{}", std::process::id());
    let (ok, report) = c.remote_test(&c.known_hosts, &["--remote-dir", &dir, "--slurm"]);
    // The "remote" is this machine: leave nothing behind in /tmp.
    let _ = std::fs::remove_dir_all(&dir);
    assert!(ok, "exit status must be 0 when ok: {report}");
    assert_eq!(report["ok"], true, "{report}");
    for name in [
        "reachable",
        "host_key",
        "authenticated",
        "remote_dir_writable",
        "pmtwatch",
        "free_disk",
        "sbatch",
    ] {
        assert_eq!(item(&report, name)["ok"], true, "{name}: {report}");
    }
    assert!(
        item(&report, "pmtwatch")["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("pmtwatch ")),
        "{report}"
    );
}

#[test]
fn a_changed_host_key_is_reported_as_such() {
    let c = cluster();
    let dir = tempfile::tempdir().expect("tempdir");
    // A known_hosts entry for the right host with somebody else's key.
    let key = common::fresh_key(dir.path(), "other");
    let public = std::fs::read_to_string(key.with_extension("pub")).expect("public key");
    let mut words = public.split_whitespace();
    let (kind, blob) = (words.next().expect("type"), words.next().expect("key"));
    let kh = dir.path().join("known_hosts");
    std::fs::write(&kh, format!("[{}]:{} {kind} {blob}\n", c.host, c.port)).expect("write");

    let (ok, report) = c.remote_test(&kh, &[]);
    assert!(!ok && report["ok"] == false, "{report}");
    let hk = item(&report, "host_key");
    assert_eq!(hk["ok"], false);
    assert!(
        hk["detail"].as_str().is_some_and(|d| d.contains("CHANGED")),
        "{report}"
    );
    assert_eq!(
        item(&report, "authenticated")["skipped"],
        true,
        "nothing after a bad key"
    );

    let mut t = c.target();
    t.known_hosts = Some(kh);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let err = rt
        .block_on(SshSession::connect(t))
        .expect_err("must refuse");
    assert!(matches!(err, Error::HostKeyChanged { .. }), "{err}");
}

#[test]
fn an_unknown_host_key_is_refused() {
    let c = cluster();
    let dir = tempfile::tempdir().expect("tempdir");
    let kh = dir.path().join("known_hosts");
    std::fs::write(&kh, "").expect("write");
    let (ok, report) = c.remote_test(&kh, &[]);
    assert!(!ok);
    let hk = item(&report, "host_key");
    assert!(
        hk["detail"].as_str().is_some_and(|d| d.contains("unknown")),
        "{report}"
    );
    // ...and it was not added behind the operator's back.
    assert_eq!(std::fs::read_to_string(&kh).expect("read"), "");
}

#[test]
fn a_wrong_key_is_an_authentication_failure_and_a_closed_port_unreachable() {
    let c = cluster();
    let dir = tempfile::tempdir().expect("tempdir");
    let key = common::fresh_key(dir.path(), "stranger");
    let mut t = c.target();
    t.identity = Some(key);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let err = rt
        .block_on(SshSession::connect(t))
        .expect_err("must refuse");
    assert!(matches!(err, Error::AuthFailed { .. }), "{err}");

    // A port nothing listens on (the server's port + 1 is free in the test set-up).
    let mut t = c.target();
    t.port = Some(c.port + 1);
    let err = rt
        .block_on(SshSession::connect(t))
        .expect_err("nothing listens");
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_arguments_arrive_as_single_words_and_never_run() {
    let c = cluster();
    let session = SshSession::connect(c.target()).await.expect("connect");
    let canary = format!("/tmp/pmtwatch-canary-{}", std::process::id());
    let attacks = [
        format!("; touch {canary}"),
        format!("$(touch {canary})"),
        format!("`touch {canary}`"),
        format!("' ; touch {canary} ; '"),
        format!("\" ; touch {canary} ; \""),
        format!("| touch {canary}"),
        format!("&& touch {canary}"),
        format!("\ntouch {canary}"),
        "$HOME".to_string(),
        "*".to_string(),
        "~".to_string(),
        "-n".to_string(),
        "../../etc/passwd".to_string(),
        "ünïcødé ✓".to_string(),
        " leading and trailing ".to_string(),
        "x".repeat(10_000),
        String::new(),
    ];
    for value in &attacks {
        let out = session
            .run(&["printf", "%s", value])
            .await
            .unwrap_or_else(|e| panic!("{value:?}: {e}"));
        assert!(out.success(), "{value:?}: {out:?}");
        assert_eq!(
            &out.stdout, value,
            "the value must arrive as one unchanged word"
        );
    }
    let check = session
        .run(&["test", "-e", &canary])
        .await
        .expect("test -e");
    assert_eq!(
        check.status,
        Some(1),
        "the canary {canary} must never be created"
    );
    assert!(session.is_alive().await);
    session.close().await.expect("close");
}

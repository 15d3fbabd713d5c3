//! Pipeline mode over SSH, against the real OpenSSH server on 127.0.0.1 (started by
//! `scripts/test-cluster.sh`): a simulated point is processed by the remote
//! `pmtwatch process --watch --json` and its result arrives locally, and a scan played out
//! in real time (`simulate --interval`) is followed to completion, every point once.
//!
//! The "remote" is this machine as the test user, so the scans live under a `/tmp`
//! directory that user can write (mode 0777); the tests run as another user (root).

use crate::common;

use common::cluster;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use pmtwatch::pipeline::serial::Serial;
use pmtwatch::remote::follow::{PointEvent, RemoteScan, follow_scan};
use pmtwatch::remote::ssh::SshSession;

const SERIAL: &str = "KM54321";

/// A world-writable scratch directory under /tmp, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = PathBuf::from(format!("/tmp/pmtwatch-pipe-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("out")).expect("create the scratch directory");
        for d in [dir.clone(), dir.join("out")] {
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        }
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn simulate(dir: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pmtwatch"));
    cmd.arg("simulate")
        .arg(dir)
        .args(["--serial", SERIAL])
        .args(extra);
    cmd
}

fn remote_scan(s: &Scratch, points: usize, settle_secs: f64) -> RemoteScan {
    RemoteScan {
        scan_dir: s.0.join("scan").display().to_string(),
        serial: Serial::parse(SERIAL).expect("serial"),
        out_dir: s.0.join("out").display().to_string(),
        points,
        settle_secs,
        config: None,
    }
}

/// The labels of `Done` events; panics on a `Failed` one (also used by `backend`).
pub(crate) fn done_labels(events: &[PointEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            PointEvent::Done(r) => r.point.clone(),
            PointEvent::Failed { label, error } => panic!("point {label} failed: {error}"),
        })
        .collect()
}

fn assert_local_files(local_out: &Path, label: &str) {
    let dir = local_out.join(label);
    let json = std::fs::read(dir.join("result.json")).expect("local result.json");
    let doc: serde_json::Value = serde_json::from_slice(&json).expect("result.json parses");
    assert_eq!(doc["point"], label, "{doc}");
    let png = std::fs::read(dir.join("charge.png")).expect("local charge.png");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "charge.png is not a PNG"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_point_is_processed_remotely_and_arrives_locally() {
    let c = cluster();
    c.deploy_binary();
    let scratch = Scratch::new("one");
    let st = simulate(
        &scratch.0.join("scan"),
        &["--points", "1", "--events", "1500"],
    )
    .status()
    .expect("run simulate");
    assert!(st.success(), "simulate failed");
    let st = Command::new("chmod")
        .args(["-R", "a+rwX"])
        .arg(&scratch.0)
        .status()
        .expect("chmod");
    assert!(st.success());

    let local = tempfile::tempdir().expect("tempdir");
    let session = SshSession::connect(c.target()).await.expect("connect");
    let mut events = Vec::new();
    let outcome = tokio::time::timeout(
        Duration::from_secs(60),
        follow_scan(
            &session,
            &remote_scan(&scratch, 1, 0.2),
            local.path(),
            |e| events.push(e),
        ),
    )
    .await
    .expect("the remote watch ends within 60 s")
    .expect("the remote watch succeeds");

    let labels = done_labels(&events);
    assert_eq!(labels.len(), 1, "{events:?}");
    let PointEvent::Done(r) = &events[0] else {
        unreachable!()
    };
    assert_eq!(r.status.as_str(), "ok", "{r:?}");
    assert_eq!(r.serial.as_deref(), Some(SERIAL));
    assert_eq!(outcome.points, labels);
    assert!(outcome.failed.is_empty(), "{outcome:?}");
    assert_local_files(local.path(), &labels[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_played_out_in_real_time_is_followed_to_completion_every_point_once() {
    let c = cluster();
    c.deploy_binary();
    let scratch = Scratch::new("live");
    let session = SshSession::connect(c.target()).await.expect("connect");
    let mut sim = simulate(
        &scratch.0.join("scan"),
        &["--points", "4", "--events", "800", "--interval", "1"],
    )
    .spawn()
    .expect("start simulate");

    let local = tempfile::tempdir().expect("tempdir");
    let mut events = Vec::new();
    // Whether the simulator was still writing when each point arrived: the first point
    // must stream back while the scan is running, not when it ends.
    let mut while_running = Vec::new();
    let result = tokio::time::timeout(
        Duration::from_secs(120),
        follow_scan(
            &session,
            &remote_scan(&scratch, 4, 0.5),
            local.path(),
            |e| {
                while_running.push(matches!(sim.try_wait(), Ok(None)));
                events.push(e)
            },
        ),
    )
    .await;
    // Reap the simulator whatever happened, so a failure leaves nothing running.
    if !matches!(sim.try_wait(), Ok(Some(_))) {
        let _ = sim.kill();
    }
    let sim_status = sim.wait().expect("wait for simulate");
    let outcome = result
        .expect("the remote watch ends within 120 s")
        .expect("the remote watch succeeds");
    assert!(sim_status.success(), "simulate failed: {sim_status}");

    let labels = done_labels(&events);
    assert_eq!(labels.len(), 4, "{events:?}");
    let distinct: BTreeSet<&String> = labels.iter().collect();
    assert_eq!(distinct.len(), 4, "a point was reported twice: {labels:?}");
    assert_eq!(outcome.points, labels);
    assert!(outcome.failed.is_empty(), "{outcome:?}");
    assert_eq!(
        while_running.first(),
        Some(&true),
        "the first point arrived only after the scan ended"
    );
    for label in &labels {
        assert_local_files(local.path(), label);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_remote_watch_is_an_error_with_its_stderr() {
    let c = cluster();
    c.deploy_binary();
    let scratch = Scratch::new("missing");
    let local = tempfile::tempdir().expect("tempdir");
    let session = SshSession::connect(c.target()).await.expect("connect");
    // A scan directory the remote user may not enter (a missing one is waited for: the
    // scan may not have started): the watch retries listing it (~10 s), then exits 1.
    let scan = scratch.0.join("scan");
    std::fs::create_dir_all(scan.join(SERIAL)).expect("create the scan directory");
    std::fs::set_permissions(&scan, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let mut events = Vec::new();
    let err = tokio::time::timeout(
        Duration::from_secs(60),
        follow_scan(
            &session,
            &remote_scan(&scratch, 1, 0.2),
            local.path(),
            |e| events.push(e),
        ),
    )
    .await
    .expect("the remote watch ends within 60 s")
    .expect_err("a watch of a missing directory fails");
    match &err {
        pmtwatch::remote::Error::Command {
            status,
            stderr_tail,
            ..
        } => {
            assert_ne!(status, "status 0");
            assert!(stderr_tail.contains("scan"), "{err}");
        }
        other => panic!("expected a command error, got {other}"),
    }
    assert!(events.is_empty(), "{events:?}");
}

//! An SSH profile behind a jump host (`ssh -J`, configured by the profile's own ssh_config
//! file, which also gives the jump hop its key and known_hosts): *Test connection* passes
//! and a scan runs through it; the same profile through a jump host whose port is closed
//! fails the connection test — so the hop is really taken, not bypassed.

use std::time::Duration;

use pmtwatch::remote::backend::Kind;
use pmtwatch::store::{PointStatus, RunState};

use crate::common;
use crate::fixture::{
    Bench, PATTERN, POOR, finish_simulation, labels, pattern_labels, remote_spec,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_behind_a_jump_host_tests_and_scans_through_it() {
    let b = Bench::new("jump").await;
    let c = common::cluster();
    let config = b.dir.join("ssh_config");
    let hop = |alias: &str, port: u16| {
        format!(
            "Host {alias}\n  HostName {}\n  Port {port}\n  User {}\n  IdentityFile {}\n  \
             IdentitiesOnly yes\n  UserKnownHostsFile {}\n  StrictHostKeyChecking yes\n  \
             BatchMode yes\n  ConnectTimeout 5\n",
            c.host,
            c.user,
            c.key.display(),
            c.known_hosts.display()
        )
    };
    // Port 1 on 127.0.0.1: nothing listens there.
    let text = hop("pmt-gate", c.port) + &hop("pmt-gate-closed", 1);
    std::fs::write(&config, text).expect("write the ssh config");

    let mut spec = remote_spec(&b.dir, PATTERN, Kind::Ssh);
    spec.jump = "pmt-gate".into();
    spec.ssh_config = config.display().to_string();
    assert_eq!(spec.validate(), vec![]);
    let report = b.monitor.test_profile(spec.clone()).await.expect("test");
    assert!(report.ok, "through the jump host: {report:?}");
    assert!(
        report.checks.iter().any(|c| c.detail.contains("jump")),
        "the report says the hop was taken: {report:?}"
    );

    let mut closed = spec.clone();
    closed.jump = "pmt-gate-closed".into();
    let report = b.monitor.test_profile(closed).await.expect("test");
    assert!(
        !report.ok,
        "a closed jump host must fail the test: {report:?}"
    );

    let id = b.start_in_slot("KM6001", spec).await;
    let sim = b.simulate("KM6001", Some(POOR), 0.3);
    let v = b
        .wait_run(id, Duration::from_secs(300), |v| v.run.state.is_final())
        .await;
    finish_simulation(sim);
    assert_eq!(v.run.state, RunState::Complete, "{}", v.run.message);
    assert_eq!(labels(&v), pattern_labels(PATTERN));
    assert_eq!(v.points[POOR].status, PointStatus::Poor);
}

//! A host that does not answer: the run is not failed but shows `cluster_unreachable` with
//! what is wrong and when it tries again (nothing is lost); the operator can still stop it.

use std::time::Duration;

use pmtwatch::remote::backend::Kind;
use pmtwatch::store::RunState;

use crate::fixture::{Bench, PATTERN, remote_spec};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_host_is_recoverable_not_a_failure() {
    let b = Bench::new("unreachable").await;
    let mut spec = remote_spec(&b.dir, PATTERN, Kind::Ssh);
    // Nothing listens on port 1 of the loopback address.
    spec.port = Some(1);
    let id = b.start_in_slot("KM6001", spec).await;
    let v = b
        .wait_run(id, Duration::from_secs(120), |v| {
            v.run.state == RunState::ClusterUnreachable || v.run.state.is_final()
        })
        .await;
    assert_eq!(
        v.run.state,
        RunState::ClusterUnreachable,
        "{}",
        v.run.message
    );
    assert!(
        v.run.message.contains("unreachable") && v.run.message.contains("trying again"),
        "{}",
        v.run.message
    );
    b.monitor.stop_run(id, false, "olga").await.expect("stop");
    let v = b
        .wait_run(id, Duration::from_secs(60), |v| v.run.state.is_final())
        .await;
    assert_eq!(v.run.state, RunState::Cancelled, "{}", v.run.message);
}

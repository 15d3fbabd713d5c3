//! Remote-layer speed: the round trip of a command over the multiplexed SSH master
//! (goal ≤ 50 ms p50 on loopback; a fresh `ssh` is ~300 ms here), and a full connection
//! (master start + one command + close), against the test cluster's sshd.
//!
//! Run: `eval "$(sudo scripts/test-cluster.sh start)"; cargo bench --bench remote`.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use pmtwatch::remote::ssh::{SshSession, SshTarget};

fn target() -> SshTarget {
    let var = |k: &str| {
        std::env::var(k).unwrap_or_else(|_| {
            panic!("{k} is not set: eval \"$(sudo scripts/test-cluster.sh start)\" first")
        })
    };
    let mut t = SshTarget::parse(&format!("{}@{}", var("PMT_SSH_USER"), var("PMT_SSH_HOST")))
        .expect("target");
    t.port = Some(var("PMT_SSH_PORT").parse().expect("port"));
    t.identity = Some(var("PMT_SSH_KEY").into());
    t.known_hosts = Some(var("PMT_SSH_KNOWN_HOSTS").into());
    t.config_file = Some("/dev/null".into());
    t
}

fn ssh(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let session = rt
        .block_on(SshSession::connect(target()))
        .expect("connect to the test cluster");
    let mut g = c.benchmark_group("ssh");
    g.measurement_time(Duration::from_secs(10));
    g.bench_function("command_round_trip_multiplexed", |b| {
        b.iter(|| {
            let out = rt.block_on(session.run(&["true"])).expect("run");
            assert!(out.success());
        });
    });
    g.sample_size(10);
    g.bench_function("connect_run_close", |b| {
        b.iter(|| {
            rt.block_on(async {
                let s = SshSession::connect(target()).await.expect("connect");
                s.run(&["true"]).await.expect("run");
                s.close().await.expect("close");
            });
        });
    });
    g.finish();
    rt.block_on(session.close()).expect("close");
}

criterion_group!(benches, ssh);
criterion_main!(benches);

//! Remote-layer speed against the test cluster's sshd and SLURM on 127.0.0.1:
//! - the round trip of a command over the multiplexed SSH master (goal ≤ 50 ms p50 on
//!   loopback; a fresh `ssh` is ~300 ms here), and a full connection (criterion);
//! - a point's result available locally after the remote process finished it: pipeline
//!   mode over SSH (goal ≤ 200 ms) and under SLURM (goal ≤ 2 s) — measured per point as
//!   the time from the remote `result.json`'s mtime (same clock: loopback) to the moment
//!   the backend hands the point over with its files local;
//! - the sync of a finished 21-point run (PNG + JSON each) into an empty directory (goal
//!   ≤ 1 s).
//!
//! Run: `eval "$(sudo scripts/test-cluster.sh start)"; cargo bench --bench remote`. Under
//! `cargo test` (no `--bench`) only the criterion part runs, once, as a smoke test.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use criterion::Criterion;
use pmtwatch::pipeline::serial::Serial;
use pmtwatch::remote::backend::{Backend, BackendConfig, Kind};
use pmtwatch::remote::follow::{PointEvent, RemoteScan, ResultSource, sync_results};
use pmtwatch::remote::ssh::{SshSession, SshTarget};
use pmtwatch::remote::transfer::Transfer;

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

const SERIAL: &str = "KM13579";

/// A world-writable scratch directory (the remote user writes results into it).
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(format!("/tmp/pmtwatch-bench-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("out")).expect("scratch");
    chmod(&dir);
    dir
}

fn chmod(dir: &Path) {
    let st = Command::new("chmod")
        .args(["-R", "a+rwX"])
        .arg(dir)
        .status()
        .expect("chmod");
    assert!(st.success());
}

fn pmtwatch() -> PathBuf {
    // target/release/deps/remote-… → target/release/pmtwatch
    let exe = std::env::current_exe().expect("current exe");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("pmtwatch"))
        .expect("target dir");
    assert!(
        bin.is_file(),
        "{} missing: cargo build --release first",
        bin.display()
    );
    bin
}

fn simulate(dir: &Path, points: usize) {
    let st = Command::new(pmtwatch())
        .arg("simulate")
        .arg(dir.join("scan"))
        .args([
            "--serial",
            SERIAL,
            "--events",
            "2000",
            "--points",
            &points.to_string(),
        ])
        .status()
        .expect("simulate");
    assert!(st.success());
    chmod(dir);
}

/// Deploys this build's pmtwatch where the test user's PATH finds it.
fn deploy() {
    let bin = std::env::var("PMT_REMOTE_BIN").expect("PMT_REMOTE_BIN (start the test cluster)");
    let tmp = Path::new(&bin).join(format!(".pmtwatch.{}.tmp", std::process::id()));
    std::fs::copy(pmtwatch(), &tmp).expect("copy pmtwatch");
    std::fs::rename(&tmp, Path::new(&bin).join("pmtwatch")).expect("install pmtwatch");
}

fn stats(name: &str, goal: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    let p50 = ms[ms.len() / 2];
    let max = ms[ms.len() - 1];
    println!(
        "{name:<44} n={:<3} p50 {p50:8.1} ms  max {max:8.1} ms  (goal {goal})",
        ms.len()
    );
}

/// Per point: from the remote result.json's mtime to the point handed over locally.
fn point_latency(rt: &tokio::runtime::Runtime, kind: Kind) -> Vec<f64> {
    const POINTS: usize = 8;
    let dir = scratch(&format!("{kind:?}"));
    simulate(&dir, POINTS);
    let mut cfg = BackendConfig::new(kind, Some(target()), dir.join("work").display().to_string());
    cfg.sbatch.mem = Some("200M".into());
    let backend = Backend::new(cfg).expect("backend");
    let local = tempfile::tempdir().expect("tempdir");
    let scan = RemoteScan {
        scan_dir: dir.join("scan").display().to_string(),
        serial: Serial::parse(SERIAL).expect("serial"),
        out_dir: dir.join("out").display().to_string(),
        points: POINTS,
        settle_secs: 0.0,
        config: None,
    };
    let mut ms = Vec::new();
    let out = dir.join("out");
    rt.block_on(backend.follow_scan(
        &scan,
        local.path(),
        |e| {
            let now = SystemTime::now();
            if let PointEvent::Done(r) = e {
                let done = std::fs::metadata(out.join(&r.point).join("result.json"))
                    .and_then(|m| m.modified())
                    .expect("remote result.json");
                let lag = now.duration_since(done).unwrap_or_default();
                ms.push(lag.as_secs_f64() * 1e3);
            }
        },
        |_| {},
    ))
    .expect("scan");
    let _ = std::fs::remove_dir_all(&dir);
    ms
}

/// The sync of a finished 21-point run into an empty local directory, repeatedly.
fn sync_21(rt: &tokio::runtime::Runtime) -> Vec<f64> {
    let dir = scratch("sync");
    simulate(&dir, 21);
    let st = Command::new(pmtwatch())
        .arg("process")
        .arg("--watch")
        .arg(dir.join("scan"))
        .args([
            "--serial", SERIAL, "--points", "21", "--settle", "0", "--out",
        ])
        .arg(dir.join("out"))
        .stdout(std::process::Stdio::null())
        .status()
        .expect("process the run");
    assert!(st.success());
    chmod(&dir);
    let out = dir.join("out").display().to_string();
    let session = rt.block_on(SshSession::connect(target())).expect("connect");
    let mut ms = Vec::new();
    for _ in 0..10 {
        let local = tempfile::tempdir().expect("tempdir");
        let t0 = Instant::now();
        let events = rt.block_on(async {
            let transfer = Transfer::open(&session).await.expect("sftp");
            let mut seen = BTreeSet::new();
            sync_results(
                ResultSource::Remote(&transfer),
                &out,
                local.path(),
                &mut seen,
            )
            .await
            .expect("sync")
            .0
        });
        ms.push(t0.elapsed().as_secs_f64() * 1e3);
        assert_eq!(events.len(), 21, "all 21 points synced");
    }
    let _ = rt.block_on(session.close());
    let _ = std::fs::remove_dir_all(&dir);
    ms
}

fn main() {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    if bench_mode {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        deploy();
        stats(
            "point result local after remote, SSH",
            "≤ 200 ms",
            point_latency(&rt, Kind::Ssh),
        );
        stats(
            "point result local after remote, SLURM",
            "≤ 2 s",
            point_latency(&rt, Kind::Slurm),
        );
        stats("sync of a 21-point run (PNG + JSON)", "≤ 1 s", sync_21(&rt));
    }
    let mut c = Criterion::default().configure_from_args();
    ssh(&mut c);
    c.final_summary();
}

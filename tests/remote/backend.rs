//! The same story against each backend — `Local`, `Ssh` and `Slurm` (over SSH) — through
//! `remote::backend::Backend`, the interface the monitor uses, against the real sshd and
//! SLURM of `scripts/test-cluster.sh` on 127.0.0.1:
//!
//! 1. the connection test reports every item, all passing;
//! 2. a simulated point is processed where the backend runs and its result arrives locally;
//! 3. a scan played out in real time (`simulate --interval`) is followed to completion with
//!    every point exactly once;
//! 4. a running job is cancelled (and its process is really gone);
//! 5. a job that exits non-zero is reported as failed, with its exit code and output tail.
//!
//! The "remote" is this machine as the test user, so scans live under a world-writable
//! `/tmp` directory.

use crate::common;
use crate::follow::done_labels;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pmtwatch::pipeline::serial::Serial;
use pmtwatch::remote::backend::{Backend, BackendConfig, JobEvent, JobId, JobSpec, Kind};
use pmtwatch::remote::follow::RemoteScan;
use pmtwatch::remote::slurm::JobState;

const SERIAL: &str = "KM24680";

/// A world-writable scratch directory under /tmp, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = PathBuf::from(format!(
            "/tmp/pmtwatch-backend-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        for d in [dir.clone(), dir.join("out"), dir.join("work")] {
            std::fs::create_dir_all(&d).expect("create the scratch directory");
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        }
        Scratch(dir)
    }

    fn path(&self, rel: &str) -> String {
        self.0.join(rel).display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The backends under test: SLURM both over SSH and with `sbatch` on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Where {
    Local,
    Ssh,
    SlurmOverSsh,
    SlurmHere,
}

impl Where {
    fn kind(self) -> Kind {
        match self {
            Where::Local => Kind::Local,
            Where::Ssh => Kind::Ssh,
            Where::SlurmOverSsh | Where::SlurmHere => Kind::Slurm,
        }
    }

    /// Whether results arrive through SFTP (otherwise they are read where they are).
    fn remote(self) -> bool {
        matches!(self, Where::Ssh | Where::SlurmOverSsh)
    }
}

fn backend(at: Where, work: &str) -> Backend {
    let c = common::cluster();
    let mut cfg = match at {
        Where::Local => {
            let mut cfg = BackendConfig::new(Kind::Local, None, work);
            cfg.program = env!("CARGO_BIN_EXE_pmtwatch").into();
            cfg
        }
        Where::Ssh | Where::SlurmOverSsh => {
            c.deploy_binary();
            BackendConfig::new(at.kind(), Some(c.target()), work)
        }
        Where::SlurmHere => {
            c.deploy_binary();
            let mut cfg = BackendConfig::new(Kind::Slurm, None, work);
            let conf = std::env::var("PMT_SLURM_CONF")
                .expect("PMT_SLURM_CONF is not set: start the test cluster first");
            let path = format!(
                "{}:{}",
                c.remote_bin.display(),
                std::env::var("PATH").unwrap_or_default()
            );
            // sbatch here finds the cluster through SLURM_CONF; the job (exported
            // environment) finds the deployed pmtwatch through PATH.
            cfg.local_env = vec![("SLURM_CONF".into(), conf), ("PATH".into(), path)];
            cfg
        }
    };
    // The single test node has 1000 MB.
    cfg.sbatch.mem = Some("200M".into());
    cfg.sbatch.time = Some("10".into());
    cfg.poll = Duration::from_millis(250);
    Backend::new(cfg).expect("backend")
}

fn simulate(scan_dir: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pmtwatch"));
    cmd.arg("simulate")
        .arg(scan_dir)
        .args(["--serial", SERIAL, "--events", "1500"])
        .args(extra);
    cmd
}

fn chmod_all(dir: &Path) {
    let st = Command::new("chmod")
        .args(["-R", "a+rwX"])
        .arg(dir)
        .status()
        .expect("chmod");
    assert!(st.success());
}

fn scan(s: &Scratch, points: usize) -> RemoteScan {
    RemoteScan {
        scan_dir: s.path("scan"),
        serial: Serial::parse(SERIAL).expect("serial"),
        out_dir: s.path("out"),
        points,
        settle_secs: 0.3,
        config: None,
    }
}

/// Where a backend's points arrive locally: `local` for SSH/SLURM, the scan's own output
/// directory for a local backend.
fn arrived(at: Where, s: &Scratch, local: &Path) -> PathBuf {
    if at.remote() {
        local.to_path_buf()
    } else {
        s.0.join("out")
    }
}

fn assert_point_files(dir: &Path, label: &str) {
    let json = std::fs::read(dir.join(label).join("result.json")).expect("local result.json");
    let doc: serde_json::Value = serde_json::from_slice(&json).expect("result.json parses");
    assert_eq!(doc["point"], label, "{doc}");
    assert_eq!(doc["serial"], SERIAL, "{doc}");
    let png = std::fs::read(dir.join(label).join("charge.png")).expect("local charge.png");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "charge.png is not a PNG"
    );
}

async fn connection_test(kind: Where) {
    let s = Scratch::new(&format!("{kind:?}-test"));
    let b = backend(kind, &s.path("work"));
    let report = b.test().await;
    let items: Vec<&str> = report.checks.iter().map(|c| c.item).collect();
    let mut expected = vec!["remote_dir_writable", "pmtwatch", "free_disk"];
    if kind.remote() {
        expected.splice(0..0, ["reachable", "host_key", "authenticated"]);
    }
    if kind.kind() == Kind::Slurm {
        expected.push("sbatch");
    }
    assert_eq!(items, expected, "{report:?}");
    assert!(report.ok, "{report:#?}");
}

async fn one_point(kind: Where) {
    let s = Scratch::new(&format!("{kind:?}-one"));
    let st = simulate(&s.0.join("scan"), &["--points", "1"])
        .status()
        .expect("run simulate");
    assert!(st.success(), "simulate failed");
    chmod_all(&s.0);
    let b = backend(kind, &s.path("work"));
    let local = tempfile::tempdir().expect("tempdir");
    let mut events = Vec::new();
    let mut jobs = Vec::new();
    let outcome = tokio::time::timeout(
        Duration::from_secs(120),
        b.follow_scan(
            &scan(&s, 1),
            local.path(),
            |e| events.push(e),
            |j| jobs.push(j),
        ),
    )
    .await
    .expect("the scan ends within 120 s")
    .expect("the scan succeeds");
    let labels = done_labels(&events);
    assert_eq!(labels.len(), 1, "{events:?}");
    assert_eq!(outcome.points, labels);
    assert_point_files(&arrived(kind, &s, local.path()), &labels[0]);
    if kind.kind() == Kind::Slurm {
        assert!(
            matches!(jobs.first(), Some(JobEvent::Submitted(JobId::Slurm { .. }))),
            "{jobs:?}"
        );
    }
}

/// The bench writing a scan while it is followed: `simulate --interval` in the background,
/// and a loop that keeps the new directories readable for the test user for 15 s.
struct Bench {
    child: std::process::Child,
    chmod_loop: std::thread::JoinHandle<()>,
}

impl Bench {
    fn start(s: &Scratch, points: usize, interval: f64) -> Bench {
        std::fs::create_dir_all(s.0.join("scan")).expect("scan dir");
        chmod_all(&s.0);
        let child = simulate(
            &s.0.join("scan"),
            &[
                "--points",
                &points.to_string(),
                "--interval",
                &interval.to_string(),
            ],
        )
        .spawn()
        .expect("start simulate");
        let dir = s.0.clone();
        let chmod_loop = std::thread::spawn(move || {
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(15) {
                let _ = Command::new("chmod")
                    .args(["-R", "a+rwX"])
                    .arg(&dir)
                    .status();
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Bench { child, chmod_loop }
    }

    fn finish(mut self) {
        let _ = self.child.wait();
        let _ = self.chmod_loop.join();
    }
}

async fn live_scan(kind: Where) {
    const POINTS: usize = 5;
    let s = Scratch::new(&format!("{kind:?}-live"));
    let bench = Bench::start(&s, POINTS, 0.7);
    let b = backend(kind, &s.path("work"));
    let local = tempfile::tempdir().expect("tempdir");
    let mut events = Vec::new();
    let outcome = tokio::time::timeout(
        Duration::from_secs(180),
        b.follow_scan(&scan(&s, POINTS), local.path(), |e| events.push(e), |_| {}),
    )
    .await
    .expect("the scan ends within 180 s")
    .expect("the scan succeeds");
    bench.finish();
    let labels = done_labels(&events);
    let unique: BTreeSet<&String> = labels.iter().collect();
    assert_eq!(labels.len(), POINTS, "every point: {labels:?}");
    assert_eq!(unique.len(), POINTS, "each point once: {labels:?}");
    assert_eq!(outcome.points, labels);
    for l in &labels {
        assert_point_files(&arrived(kind, &s, local.path()), l);
    }
}

/// Whether a process whose command line contains `marker` runs on this machine.
fn running(marker: &str) -> bool {
    Command::new("pgrep")
        .args(["-f", marker])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

async fn cancel_job(kind: Where) {
    let s = Scratch::new(&format!("{kind:?}-cancel"));
    let b = backend(kind, &s.path("work"));
    // A distinctive duration, to find the process.
    let marker = format!("300.{}{}", std::process::id(), kind as u8);
    let id = b
        .start_job(&JobSpec {
            name: "sleeper".into(),
            argv: vec!["sleep".into(), marker.clone()],
            dir: None,
        })
        .await
        .expect("start the job");
    let t0 = Instant::now();
    loop {
        let info = b.poll_job(&id).await.expect("poll");
        if info.state == JobState::Running && running(&format!("sleep {marker}")) {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "job never ran: {info:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    b.cancel_job(&id).await.expect("cancel");
    let info = b
        .wait_job(&id, Duration::from_secs(60), |_| {})
        .await
        .expect("wait");
    assert_eq!(info.state, JobState::Cancelled, "{info:?}");
    let t0 = Instant::now();
    while running(&format!("sleep {marker}")) {
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "the cancelled job's process still runs"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

async fn failing_job(kind: Where) {
    let s = Scratch::new(&format!("{kind:?}-fail"));
    let b = backend(kind, &s.path("work"));
    let id = b
        .start_job(&JobSpec {
            name: "failing".into(),
            argv: vec![
                "sh".into(),
                "-c".into(),
                "echo 'processing point 7'; echo 'fit diverged: no photoelectron peak' >&2; exit 3"
                    .into(),
            ],
            dir: None,
        })
        .await
        .expect("start the job");
    let info = b
        .wait_job(&id, Duration::from_secs(60), |_| {})
        .await
        .expect("wait");
    assert!(
        matches!(
            info.state,
            JobState::Failed {
                exit_code: Some(3),
                ..
            }
        ),
        "{info:?}"
    );
    let tail = info.output_tail.clone().unwrap_or_default();
    assert!(tail.contains("fit diverged"), "output tail: {tail:?}");
    assert!(tail.contains("processing point 7"), "output tail: {tail:?}");
}

async fn story(kind: Where) {
    connection_test(kind).await;
    one_point(kind).await;
    live_scan(kind).await;
    cancel_job(kind).await;
    failing_job(kind).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_backend_story() {
    let _c = common::cluster();
    story(Where::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_backend_story() {
    story(Where::Ssh).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slurm_over_ssh_backend_story() {
    let _slurm = common::slurm_shared().await;
    story(Where::SlurmOverSsh).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slurm_here_backend_story() {
    let _slurm = common::slurm_shared().await;
    story(Where::SlurmHere).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_settings_are_refused_before_connecting() {
    let c = common::cluster();
    for (kind, ssh, dir) in [
        (Kind::Ssh, None, "/tmp/x"),
        (Kind::Local, Some(c.target()), "/tmp/x"),
        (Kind::Local, None, ""),
        (Kind::Slurm, Some(c.target()), "-rf"),
    ] {
        let cfg = BackendConfig::new(kind, ssh, dir);
        assert!(Backend::new(cfg).is_err(), "{kind:?} {dir:?} accepted");
    }
    let b = backend(Where::Local, "/tmp");
    for name in ["", "../x", "a b", "-x", ".hidden", &"n".repeat(65)] {
        let r = b
            .start_job(&JobSpec {
                name: name.into(),
                argv: vec!["true".into()],
                dir: None,
            })
            .await;
        assert!(r.is_err(), "job name {name:?} accepted");
    }
}

/// Kills the backend's current SSH master (SIGKILL), as a dropped link would end it.
/// Returns false when no master was found.
async fn kill_master(b: &Backend) -> bool {
    let Ok(Some(t)) = b.transfer().await else {
        return false;
    };
    let socket = t.control_socket().to_path_buf();
    let Some(pid) = common::master_pid(&socket) else {
        return false;
    };
    let st = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill");
    drop(t);
    st.success()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_master_is_replaced_and_a_followed_scan_carries_on() {
    const POINTS: usize = 6;
    const KILLS: usize = 2;
    let s = Scratch::new("resume");
    let bench = Bench::start(&s, POINTS, 1.0);
    let b = backend(Where::Ssh, &s.path("work"));
    let local = tempfile::tempdir().expect("tempdir");
    let mut events = Vec::new();
    let the_scan = scan(&s, POINTS);
    let follow = b.follow_scan(&the_scan, local.path(), |e| events.push(e), |_| {});
    let killer = async {
        let mut kills = 0;
        for _ in 0..KILLS {
            tokio::time::sleep(Duration::from_millis(1800)).await;
            if kill_master(&b).await {
                kills += 1;
            }
        }
        kills
    };
    let (outcome, kills) = tokio::time::timeout(Duration::from_secs(180), async {
        tokio::join!(follow, killer)
    })
    .await
    .expect("the scan ends within 180 s");
    let outcome = outcome.expect("the scan carries on across lost masters");
    bench.finish();
    assert_eq!(kills, KILLS, "the master was killed mid-scan");
    let labels = done_labels(&events);
    let unique: BTreeSet<&String> = labels.iter().collect();
    assert_eq!(labels.len(), POINTS, "every point: {labels:?}");
    assert_eq!(unique.len(), POINTS, "each point once: {labels:?}");
    assert_eq!(outcome.points, labels);
    for l in &labels {
        assert_point_files(local.path(), l);
    }

    // A job started before the master dies is still polled and waited for afterwards.
    let id = b
        .start_job(&JobSpec {
            name: "after-kill".into(),
            argv: vec!["sh".into(), "-c".into(), "sleep 1; echo done".into()],
            dir: None,
        })
        .await
        .expect("start");
    assert!(kill_master(&b).await, "master found");
    let info = b
        .wait_job(&id, Duration::from_secs(60), |_| {})
        .await
        .expect("wait after the master was killed");
    assert_eq!(info.state, JobState::Completed, "{info:?}");
}

/// A tmpfs of `kib` KiB mounted at `dir` (needs root, as `scripts/test` runs), unmounted
/// on drop.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, kib: u32) -> SmallDisk {
        std::fs::create_dir_all(dir).expect("mount point");
        let st = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={kib}k,mode=0777"),
                "tmpfs",
            ])
            .arg(dir)
            .status()
            .expect("run mount");
        assert!(
            st.success(),
            "mounting a small tmpfs at {} failed: this test needs root (scripts/test runs the \
             suite as root)",
            dir.display()
        );
        SmallDisk(dir.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_remote_disk_is_a_clear_error_and_no_point_is_marked_failed() {
    let s = Scratch::new("full");
    let st = simulate(&s.0.join("scan"), &["--points", "2"])
        .status()
        .expect("run simulate");
    assert!(st.success());
    chmod_all(&s.0);
    let disk = SmallDisk::mount(&s.0.join("out"), 64);
    // Fill it up: what is left cannot hold a point's plot.
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=1k", "count=1024"])
        .arg(format!("of={}", disk.0.join("filler").display()))
        .stderr(std::process::Stdio::null())
        .status();
    let b = backend(Where::Ssh, &s.path("work"));
    let local = tempfile::tempdir().expect("tempdir");
    let mut events = Vec::new();
    let err = tokio::time::timeout(
        Duration::from_secs(60),
        b.follow_scan(&scan(&s, 2), local.path(), |e| events.push(e), |_| {}),
    )
    .await
    .expect("the watch stops within 60 s")
    .expect_err("a full disk is an error");
    assert!(
        matches!(err, pmtwatch::remote::Error::DiskFull { .. }),
        "not a disk-full error: {err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("disk full") && msg.contains("free space"),
        "{msg}"
    );
    assert!(events.is_empty(), "no point reported: {events:?}");
    // Nothing recorded as failed: after freeing space the points are done, not skipped.
    let failed: Vec<_> = walk(&disk.0)
        .into_iter()
        .filter(|p| p.ends_with("failed.json"))
        .collect();
    assert!(failed.is_empty(), "points recorded as failed: {failed:?}");
    std::fs::remove_file(disk.0.join("filler")).expect("free the disk");
    drop(disk);
    let mut events = Vec::new();
    tokio::time::timeout(
        Duration::from_secs(60),
        b.follow_scan(&scan(&s, 2), local.path(), |e| events.push(e), |_| {}),
    )
    .await
    .expect("the scan ends within 60 s")
    .expect("with space, the scan completes");
    assert_eq!(done_labels(&events).len(), 2);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

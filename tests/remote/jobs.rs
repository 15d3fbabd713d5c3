//! `remote::jobs` over SSH against the real single-node cluster of `scripts/test-cluster.sh`:
//! a failing job reported with its exit code and output tail, a cancelled job, and a
//! controller outage that is reported as `ClusterUnreachable` (never as a failure, never
//! resubmitted) until the controller is back and the same job is known again.
//!
//! Needs the cluster (`eval "$(scripts/test-cluster.sh start)"`, as root: the outage test
//! stops and restarts slurmctld on this machine). Without it every test fails and says so.

use crate::common;

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::cluster;
use pmtwatch::remote::Error;
use pmtwatch::remote::jobs::{self, FORGOTTEN};
use pmtwatch::remote::slurm::{JobInfo, JobState, SbatchOptions};
use pmtwatch::remote::ssh::SshSession;

/// The test node has 1000 MB; the default request would be refused there.
const TEST_MEM: &str = "200M";
const POLL: Duration = Duration::from_millis(500);
const WAIT: Duration = Duration::from_secs(60);

/// The outage test stops the controller: it holds this for writing, the other tests for
/// reading, so none of them runs while the controller is down.
static CONTROLLER: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Writes `$1` to the file `$2` and makes it executable: fixed text, values as arguments.
const WRITE_SCRIPT: &str = r#"printf '%s' "$1" > "$2" && chmod 755 "$2""#;

async fn connect() -> SshSession {
    SshSession::connect(cluster().target())
        .await
        .expect("ssh to the test cluster (is it running?)")
}

/// A remote directory of one test, removed when the test ends (the "remote" is this
/// machine, so the test process can remove what the test user wrote).
struct RemoteDir(String);

impl std::ops::Deref for RemoteDir {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RemoteDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Drop for RemoteDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh remote directory `/tmp/pmtwatch-jobs-<pid>-<n>` for one test.
async fn remote_dir(s: &SshSession) -> RemoteDir {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = format!(
        "/tmp/pmtwatch-jobs-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    s.run_ok(&["mkdir", "-p", "--", &dir]).await.expect("mkdir");
    RemoteDir(dir)
}

/// Writes a batch script into `dir` and returns its path.
async fn write_job(s: &SshSession, dir: &str, name: &str, body: &str) -> String {
    let path = format!("{dir}/{name}.sh");
    let text = format!("#!/bin/sh\n{body}\n");
    s.run_ok(&["sh", "-c", WRITE_SCRIPT, "sh", &text, &path])
        .await
        .expect("write job script");
    path
}

fn options(dir: &str) -> SbatchOptions {
    SbatchOptions {
        mem: Some(TEST_MEM.into()),
        output_path: Some(format!("{dir}/%x-%j.out")),
        chdir: Some(dir.to_string()),
        ..SbatchOptions::default()
    }
}

fn unique_name(what: &str) -> String {
    format!("pmtj-{what}-{}", std::process::id())
}

#[tokio::test]
async fn failing_job_reports_exit_code_and_output() {
    let _slurm = crate::common::slurm_shared().await;
    let _shared = CONTROLLER.read().await;
    let s = connect().await;
    let dir = remote_dir(&s).await;
    let script = write_job(&s, &dir, "fail", "echo hi; exit 3").await;
    let id = jobs::submit(&s, &script, &unique_name("fail"), &options(&dir))
        .await
        .expect("submit");
    let mut seen = Vec::new();
    let info = jobs::wait(&s, id, POLL, WAIT, |p| seen.push(jobs::describe(p)))
        .await
        .expect("wait");
    assert_eq!(info.id, id);
    assert_eq!(
        info.state,
        JobState::Failed {
            exit_code: Some(3),
            signal: None
        },
        "{}; polls: {seen:?}",
        info.summary()
    );
    let tail = info.output_tail.as_deref().unwrap_or_default();
    assert!(tail.contains("hi"), "output tail {tail:?}");
    assert!(info.summary().contains("output: hi"), "{}", info.summary());
}

#[tokio::test]
async fn sleeping_job_is_cancelled() {
    let _slurm = crate::common::slurm_shared().await;
    let _shared = CONTROLLER.read().await;
    let s = connect().await;
    let dir = remote_dir(&s).await;
    let script = write_job(&s, &dir, "sleep", "sleep 120").await;
    let id = jobs::submit(&s, &script, &unique_name("cancel"), &options(&dir))
        .await
        .expect("submit");
    jobs::cancel(&s, id).await.expect("cancel");
    let info = jobs::wait(&s, id, POLL, WAIT, |_| {}).await.expect("wait");
    assert_eq!(info.state, JobState::Cancelled, "{}", info.summary());
}

#[tokio::test]
async fn unknown_job_is_forgotten_not_failed() {
    let _slurm = crate::common::slurm_shared().await;
    let _shared = CONTROLLER.read().await;
    let s = connect().await;
    let info = jobs::poll(&s, 999_999_999).await.expect("poll");
    // Neither the controller nor accounting (absent on the test cluster, or without a
    // record of this id) knows the job: ended, how unknown.
    assert_eq!(info.state, JobState::Unknown(FORGOTTEN.into()));
    assert!(jobs::is_final(&info.state) && !info.state.is_terminal());
}

/// Path of slurmctld's pid file, from the cluster's environment.
fn slurmctld_pid() -> Option<u32> {
    let base = std::env::var("PMT_BASE").expect("PMT_BASE is set (source the cluster's env)");
    let text = std::fs::read_to_string(format!("{base}/pids/slurmctld.pid")).ok()?;
    text.trim().parse().ok()
}

fn alive(pid: u32) -> bool {
    // Not a zombie: /proc/PID/stat's third field.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(") ")
                .is_some_and(|(_, rest)| !rest.starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Starts the cluster again (idempotent; restarts a missing slurmctld), bounded.
fn restart_cluster() -> Result<(), String> {
    let root = crate::common::manifest_dir();
    let script = root.join("scripts/test-cluster.sh");
    let out = Command::new("timeout")
        .arg("120")
        .arg(&script)
        .arg("start")
        .current_dir(&root)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} start: {:?}: {}",
            script.display(),
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Restarts slurmctld when dropped, so a failed assertion does not leave the cluster down.
struct RestoreController {
    armed: bool,
}

impl Drop for RestoreController {
    fn drop(&mut self) {
        if self.armed {
            if let Err(e) = restart_cluster() {
                eprintln!("could not restart the test cluster: {e}");
            }
        }
    }
}

/// Rows of `squeue` for a job name (all states), over SSH: `id|STATE`.
async fn jobs_named(s: &SshSession, name: &str) -> Vec<String> {
    let out = s
        .run_ok(&["squeue", "-h", "-t", "all", "-n", name, "-o", "%i|%T"])
        .await
        .expect("squeue by name");
    out.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn controller_outage_is_unreachable_never_failed_nor_resubmitted() {
    let _slurm = crate::common::slurm_exclusive().await;
    let _exclusive = CONTROLLER.write().await;
    let s = connect().await;
    let dir = remote_dir(&s).await;
    let script = write_job(&s, &dir, "long", "sleep 90").await;
    let name = unique_name("outage");
    let id = jobs::submit(&s, &script, &name, &options(&dir))
        .await
        .expect("submit");

    // Running first, so the outage hits a job in flight.
    let t0 = Instant::now();
    loop {
        let info = jobs::poll(&s, id).await.expect("poll before the outage");
        if info.state == JobState::Running {
            break;
        }
        assert!(
            !info.state.is_terminal() && t0.elapsed() < WAIT,
            "job {id} not running: {}",
            info.summary()
        );
        tokio::time::sleep(POLL).await;
    }

    let pid = slurmctld_pid().expect("slurmctld's pid file");
    let mut guard = RestoreController { armed: true };
    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success(), "kill -TERM {pid}");
    let t0 = Instant::now();
    while alive(pid) {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "slurmctld {pid} still alive"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("slurmctld {pid} stopped after {:?}", t0.elapsed());

    // For 60 s, every poll is "unreachable": never a state, never a failure.
    let outage = Instant::now();
    let mut polls = 0;
    while outage.elapsed() < Duration::from_secs(60) {
        let t = Instant::now();
        let polled: Result<JobInfo, Error> = jobs::poll(&s, id).await;
        let took = t.elapsed();
        eprintln!(
            "outage +{:>5.1}s: poll took {:>5.1}s: {}",
            outage.elapsed().as_secs_f64(),
            took.as_secs_f64(),
            jobs::describe(&polled)
        );
        assert!(
            matches!(polled, Err(Error::ClusterUnreachable { .. })),
            "poll during the outage: {}",
            jobs::describe(&polled)
        );
        assert!(took < Duration::from_secs(30), "a poll took {took:?}");
        polls += 1;
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    assert!(polls >= 2, "only {polls} polls during the outage");

    // Back up: the same job is known again, and there is no second one.
    let t = Instant::now();
    restart_cluster().expect("restart the cluster");
    guard.armed = false;
    eprintln!("cluster restarted in {:?}", t.elapsed());
    let t0 = Instant::now();
    let info = loop {
        match jobs::poll(&s, id).await {
            Ok(info) => break info,
            Err(e @ Error::ClusterUnreachable { .. }) => {
                assert!(t0.elapsed() < WAIT, "still unreachable after restart: {e}");
                tokio::time::sleep(POLL).await;
            }
            Err(e) => panic!("poll after restart: {e}"),
        }
    };
    eprintln!("after restart: {}", info.summary());
    assert_eq!(info.id, id);
    assert!(
        matches!(info.state, JobState::Running | JobState::Completed),
        "{}",
        info.summary()
    );
    let rows = jobs_named(&s, &name).await;
    assert_eq!(rows.len(), 1, "jobs named {name}: {rows:?}");
    assert!(rows[0].starts_with(&format!("{id}|")), "{rows:?}");

    jobs::cancel(&s, id).await.expect("cancel");
}

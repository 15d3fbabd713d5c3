//! A bench for one test: a world-writable scratch directory under /tmp (the SSH test user
//! writes there too), a data directory with its store, a started monitor, profiles on the
//! scratch directory, and the simulated digitizer (`pmtwatch simulate --interval`).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pmtwatch::monitor::{Monitor, ProfileSpec, RunView};
use pmtwatch::pipeline::config::HealthRange;
use pmtwatch::remote::backend::Kind;
use pmtwatch::store::{ScanKind, Store};

use crate::common;

/// Five points: the centre and the first ring.
pub const PATTERN: &str = "0/0 10/0 10/90 10/180 10/270";
/// The weak spot the simulated tubes have (gain × 0.7).
pub const POOR: &str = "theta10_phi90";

pub struct Bench {
    pub dir: PathBuf,
    pub store: Store,
    pub monitor: Monitor,
}

impl Drop for Bench {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A directory everybody may write (the SSH test user is another account).
pub fn open_dir(p: &Path) {
    std::fs::create_dir_all(p).expect("create a scratch directory");
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o777)).expect("chmod");
}

impl Bench {
    pub fn scratch(name: &str) -> PathBuf {
        let dir = PathBuf::from(format!("/tmp/pmtwatch-mon-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        open_dir(&dir);
        for d in ["work", "scan", "archive", "flag"] {
            open_dir(&dir.join(d));
        }
        dir
    }

    pub async fn new(name: &str) -> Bench {
        Self::with_dir(Self::scratch(name)).await
    }

    /// A bench on a scratch directory made already (its `data` may be a mount).
    pub async fn with_dir(dir: PathBuf) -> Bench {
        let data = dir.join("data");
        let store = Store::open_dir(&data).expect("open the store");
        let monitor = Monitor::start(
            store.clone(),
            &data,
            env!("CARGO_BIN_EXE_pmtwatch").to_string(),
        )
        .await
        .expect("start the monitor");
        Bench {
            dir,
            store,
            monitor,
        }
    }

    pub fn path(&self, rel: &str) -> String {
        self.dir.join(rel).display().to_string()
    }

    /// A local profile on the scratch directory, for `pattern`.
    pub fn local_spec(&self, pattern: &str) -> ProfileSpec {
        spec_in(&self.dir, pattern)
    }

    pub async fn profile(&self, name: &str, spec: ProfileSpec) -> i64 {
        self.monitor
            .save_profile(None, name.into(), spec)
            .await
            .expect("save the profile")
    }

    pub async fn slot(&self, slot: i64, serial: &str, profile: i64) {
        self.monitor
            .set_slot(slot, serial.into(), Some(profile), ScanKind::Surface)
            .await
            .expect("set the slot");
    }

    /// Slot 1 with `serial` on a new profile `spec`, the executor started, and a run
    /// started in the slot; the run's id.
    pub async fn start_in_slot(&self, serial: &str, spec: ProfileSpec) -> i64 {
        let profile = self.profile("profile", spec).await;
        self.slot(1, serial, profile).await;
        self.monitor
            .set_executor(true, "olga")
            .await
            .expect("executor");
        self.monitor
            .start_run(1, "olga")
            .await
            .expect("start")
            .run_id
    }

    /// Plays out a scan of `serial` in the scan root, one point per `interval` seconds.
    pub fn simulate(&self, serial: &str, poor: Option<&str>, interval: f64) -> Child {
        simulate_into(&self.dir.join("scan"), serial, PATTERN, poor, interval)
    }

    /// Waits (bounded) until the run's view satisfies `done`; panics with the last view.
    pub async fn wait_run(
        &self,
        run_id: i64,
        timeout: Duration,
        done: impl Fn(&RunView) -> bool,
    ) -> RunView {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self
                .monitor
                .run_detail(run_id)
                .await
                .expect("read the run")
                .expect("the run exists");
            if done(&v) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "run {run_id} did not get there in {timeout:?}: state {} ({}), {} points, job {}",
                v.run.state,
                v.run.message,
                v.points.len(),
                v.job_status
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A local profile whose directories are under `dir`.
pub fn spec_in(dir: &Path, pattern: &str) -> ProfileSpec {
    let p = |rel: &str| dir.join(rel).display().to_string();
    let mut spec = ProfileSpec {
        kind: Kind::Local,
        work_dir: p("work"),
        scan_root: p("scan"),
        archive_dir: p("archive"),
        flag_dir: p("flag"),
        settle_secs: 0.3,
        poll_secs: 0.25,
        pattern: pmtwatch::monitor::profile::parse_pattern(pattern).expect("pattern"),
        ..ProfileSpec::default()
    };
    // The simulated tube's gain varies ±5 % over the photocathode; the weak spot is at 0.7.
    spec.analysis.health = HealthRange {
        gain_min: 0.85e7,
        gain_max: 1.2e7,
        ..HealthRange::default()
    };
    spec
}

/// The same profile reaching the test cluster over SSH (`Ssh`) or submitting to its SLURM
/// (`Slurm`); the binary is deployed on the remote PATH.
pub fn remote_spec(dir: &Path, pattern: &str, kind: Kind) -> ProfileSpec {
    let c = common::cluster();
    c.deploy_binary();
    ProfileSpec {
        kind,
        host: format!("{}@{}", c.user, c.host),
        port: Some(c.port),
        identity: c.key.display().to_string(),
        known_hosts: c.known_hosts.display().to_string(),
        program: String::new(),
        mem: "200M".into(),
        time_limit: "10".into(),
        ..spec_in(dir, pattern)
    }
}

/// `pmtwatch simulate` into `scan_root` in the background.
pub fn simulate_into(
    scan_root: &Path,
    serial: &str,
    pattern: &str,
    poor: Option<&str>,
    interval: f64,
) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pmtwatch"));
    cmd.arg("simulate")
        .arg(scan_root)
        .args(["--serial", serial, "--events", "1500", "--pattern", pattern])
        .args(["--interval", &interval.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(p) = poor {
        cmd.args(["--poor", p]);
    }
    cmd.spawn().expect("start pmtwatch simulate")
}

/// Waits (bounded) for the simulator and checks that it succeeded.
pub fn finish_simulation(mut child: Child) {
    assert!(child.wait_with_output_bounded(), "pmtwatch simulate failed");
}

/// `Child::wait` with a deadline (every wait in a test is bounded).
pub trait WaitBounded {
    fn wait_with_output_bounded(&mut self) -> bool;
}

impl WaitBounded for Child {
    fn wait_with_output_bounded(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            match self.try_wait() {
                Ok(Some(st)) => return st.success(),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                _ => {
                    let _ = self.kill();
                    return false;
                }
            }
        }
    }
}

/// The labels of a run's points, sorted.
pub fn labels(v: &RunView) -> Vec<String> {
    v.points.keys().cloned().collect()
}

/// The pattern's labels, sorted.
pub fn pattern_labels(pattern: &str) -> Vec<String> {
    let mut v: Vec<String> = pmtwatch::monitor::profile::parse_pattern(pattern)
        .expect("pattern")
        .into_iter()
        .map(|[theta, phi]| pmtwatch::pipeline::scan::PointLabel::Surface { theta, phi }.label())
        .collect();
    v.sort();
    v
}

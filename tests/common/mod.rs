//! Helpers shared by the integration test binaries: the package root, and the test
//! cluster's coordinates, read from the environment `scripts/test-cluster.sh start` prints.
//! A missing variable fails the test with what to do; the tests never skip.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Once;

use pmtwatch::remote::ssh::SshTarget;

/// The package root: cargo's run-time `CARGO_MANIFEST_DIR` first, because a target
/// directory shared between checkouts at different paths can keep a binary whose
/// compile-time value names a checkout that is gone.
pub fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// Where the test cluster's sshd listens and how to log in.
pub struct Cluster {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub key: PathBuf,
    pub known_hosts: PathBuf,
    /// Directory on the remote PATH where tests deploy the pmtwatch binary.
    pub remote_bin: PathBuf,
    /// The remote user's home directory.
    pub remote_home: PathBuf,
}

/// Reads the cluster's coordinates; panics with the command to run when they are missing.
pub fn cluster() -> Cluster {
    let var = |k: &str| {
        std::env::var(k).unwrap_or_else(|_| {
            panic!(
                "{k} is not set: start the test cluster first: \
                 eval \"$(sudo scripts/test-cluster.sh start)\" (scripts/test does this)"
            )
        })
    };
    Cluster {
        host: var("PMT_SSH_HOST"),
        port: var("PMT_SSH_PORT")
            .parse()
            .expect("PMT_SSH_PORT is a port number"),
        user: var("PMT_SSH_USER"),
        key: var("PMT_SSH_KEY").into(),
        known_hosts: var("PMT_SSH_KNOWN_HOSTS").into(),
        remote_bin: var("PMT_REMOTE_BIN").into(),
        remote_home: var("PMT_REMOTE_HOME").into(),
    }
}

impl Cluster {
    /// An SSH target for the test user, isolated from this machine's ssh config.
    pub fn target(&self) -> SshTarget {
        let mut t = SshTarget::parse(&format!("{}@{}", self.user, self.host)).expect("target");
        t.port = Some(self.port);
        t.identity = Some(self.key.clone());
        t.known_hosts = Some(self.known_hosts.clone());
        t.config_file = Some("/dev/null".into());
        t
    }
}

impl Cluster {
    /// Puts this build's `pmtwatch` where the remote user's PATH finds it: once per test
    /// process, atomically (copy to a per-process temp name, then rename), because two
    /// test runs may deploy at the same time.
    pub fn deploy_binary(&self) {
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            let tmp = self
                .remote_bin
                .join(format!(".pmtwatch.{}.tmp", std::process::id()));
            std::fs::copy(env!("CARGO_BIN_EXE_pmtwatch"), &tmp).expect("copy the binary");
            std::fs::rename(&tmp, self.remote_bin.join("pmtwatch")).expect("install the binary");
        });
    }
}

/// A new ed25519 key pair in `dir` that the server has never seen; returns the private
/// key's path (the public one is next to it with `.pub`).
pub fn fresh_key(dir: &Path, name: &str) -> PathBuf {
    let key = dir.join(name);
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen (install openssh-client)");
    assert!(st.success(), "ssh-keygen failed");
    key
}

/// The SLURM controller, as a resource of this test process: tests that talk to it hold
/// a shared guard, the outage test (which stops slurmctld) an exclusive one. A tokio lock
/// because the guard lives across `.await` in the async tests.
static SLURM: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Shared use of the SLURM controller from a synchronous test.
pub fn slurm_shared_blocking() -> tokio::sync::RwLockReadGuard<'static, ()> {
    SLURM.blocking_read()
}

/// Shared use of the SLURM controller from an async test.
pub async fn slurm_shared() -> tokio::sync::RwLockReadGuard<'static, ()> {
    SLURM.read().await
}

/// Sole use of the SLURM controller (the test stops and restarts it).
pub async fn slurm_exclusive() -> tokio::sync::RwLockWriteGuard<'static, ()> {
    SLURM.write().await
}

/// The pid of the `ssh` master whose command line names `socket`, from /proc.
pub fn master_pid(socket: &Path) -> Option<u32> {
    let needle = socket.as_os_str().as_encoded_bytes();
    for entry in std::fs::read_dir("/proc").ok()? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let mut words = cmdline.split(|&b| b == 0);
        let is_ssh = words
            .next()
            .is_some_and(|w| w == b"ssh" || w.ends_with(b"/ssh"));
        let names_socket = cmdline
            .split(|&b| b == 0)
            .any(|w| w == needle || w.ends_with(needle));
        let is_master = cmdline.split(|&b| b == 0).any(|w| w == b"-M");
        if is_ssh && names_socket && is_master {
            return Some(pid);
        }
    }
    None
}

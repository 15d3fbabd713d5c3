//! The System tab's sampler against real parts: the test cluster's SSH host and SLURM
//! (partition, this user's queue with a held job's reason in words), and the disk guard
//! on a real, nearly full filesystem (a tmpfs mounted for the test; we run as root).

use std::path::Path;
use std::time::Duration;

use pmtwatch::model::{BackendKind as Kind, NO_NVIDIA_SMI, SystemStatus};
use pmtwatch::monitor::SamplerConfig;
use pmtwatch::remote::ssh::SshSession;

use super::common;
use super::fixture::{Bench, PATTERN, remote_spec};

fn fast() -> SamplerConfig {
    SamplerConfig {
        every: Duration::from_millis(250),
        remote_every: Duration::from_secs(1),
        ..SamplerConfig::default()
    }
}

/// Waits (at most `limit`) until the published status passes `ok`; the last one seen.
async fn wait_status(
    bench: &Bench,
    limit: Duration,
    ok: impl Fn(&SystemStatus) -> bool,
) -> (bool, std::sync::Arc<SystemStatus>) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let s = bench.monitor.system_snapshot();
        if ok(&s) {
            return (true, s);
        }
        if tokio::time::Instant::now() >= deadline {
            return (false, s);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_shows_the_ssh_host_the_slurm_partition_and_a_held_jobs_reason() {
    let _slurm = common::slurm_shared().await;
    let c = common::cluster();
    let bench = Bench::new("system-cluster").await;
    let mut spec = remote_spec(&bench.dir, PATTERN, Kind::Slurm);
    spec.partition = "debug".into();
    bench.profile("cluster", spec).await;

    // A job of ours that pends for a known reason: held at submission.
    let ssh = SshSession::connect(c.target())
        .await
        .expect("ssh to the test cluster");
    let out = ssh
        .run(&[
            "sbatch",
            "--parsable",
            "--hold",
            "-p",
            "debug",
            "-J",
            "pmtwatch-system-held",
            "-o",
            "/dev/null",
            "--wrap",
            "true",
        ])
        .await
        .expect("sbatch over ssh");
    assert!(out.success(), "sbatch --hold failed: {}", out.stderr);
    let job = out
        .stdout
        .trim()
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(job.parse::<u64>().is_ok(), "not a job id: {:?}", out.stdout);

    bench.monitor.start_sampler(fast());
    let (seen, status) = wait_status(&bench, Duration::from_secs(90), |s| {
        s.clusters.first().is_some_and(|cl| {
            cl.partitions.iter().any(|p| p.name == "debug")
                && cl.queue.iter().any(|j| {
                    j.id == job
                        && j.reason_words
                            .as_deref()
                            .is_some_and(|w| w.starts_with("held"))
                })
        }) && s.hosts.first().is_some_and(|h| h.load.is_some())
    })
    .await;
    // Cancel only our own job, whatever happened.
    let cancelled = ssh.run(&["scancel", &job]).await;
    bench.monitor.stop_sampler();
    assert!(
        seen,
        "the status never showed the host, the partition and held job {job}: {status:#?}"
    );
    let host = &status.hosts[0];
    assert!(host.name.contains(&c.host), "{}", host.name);
    assert!(host.memory_total_bytes.unwrap_or(0) > 0, "{host:?}");
    assert!(
        host.disks
            .iter()
            .any(|d| d.role == "cluster work" && d.space.is_some()),
        "{host:?}"
    );
    // The test cluster has no NVIDIA driver: the host says so.
    assert_eq!(host.gpu_note.as_deref(), Some(NO_NVIDIA_SMI), "{host:?}");
    assert!(cancelled.is_ok_and(|o| o.success()), "scancel {job} failed");
}

/// Mounts a small tmpfs at `dir` (unmounted when dropped, and the scratch directory
/// around it removed: the bench's own cleanup cannot remove a mount point).
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).expect("mount point");
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("mount (util-linux)");
        assert!(
            st.success(),
            "mounting a tmpfs needs root (the tests run as root)"
        );
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
        if let Some(scratch) = self.0.parent() {
            let _ = std::fs::remove_dir_all(scratch);
        }
    }
}

#[tokio::test]
async fn a_nearly_full_data_directory_raises_the_alarm_and_refuses_a_new_scan() {
    let dir = Bench::scratch("system-disk");
    let mount = dir.join("data");
    let _fs = Tmpfs::mount(&mount, "8m");
    let bench = Bench::with_dir(dir).await;
    let profile = bench.profile("local", bench.local_spec(PATTERN)).await;
    bench.slot(1, "KM50000", profile).await;
    // Fill the filesystem past 90 %.
    std::fs::write(mount.join("ballast"), vec![0u8; 7_600_000]).expect("fill the tmpfs");
    bench.monitor.start_sampler(SamplerConfig {
        remote: false,
        ..fast()
    });
    let (seen, status) = wait_status(&bench, Duration::from_secs(30), |s| {
        s.alarms
            .iter()
            .any(|a| a.path == mount.display().to_string())
    })
    .await;
    assert!(seen, "no disk alarm for {}: {status:#?}", mount.display());
    assert!(
        status.alarms[0]
            .message
            .contains("(10 % of the disk, at most 5.0 GiB)"),
        "{:?}",
        status.alarms
    );
    let refused = bench
        .monitor
        .start_run(1, "otto")
        .await
        .expect_err("a scan must not start on a full disk");
    let why = refused.to_string();
    assert!(
        why.contains("the disk is too full") && why.contains("% of the disk, at most"),
        "{why}"
    );
    // Space freed: the alarm goes and the scan may start.
    std::fs::remove_file(mount.join("ballast")).expect("free the space");
    let (cleared, status) =
        wait_status(&bench, Duration::from_secs(30), |s| s.alarms.is_empty()).await;
    assert!(cleared, "the alarm stayed: {:?}", status.alarms);
    bench.monitor.stop_sampler();
}

//! Issue 13, item 5: a run's GPU reaches its work through `remote::backend::Backend`, the
//! interface the monitor uses — `CUDA_VISIBLE_DEVICES` in the environment of the scan's
//! watch and of a detached job on this machine and over SSH (as argv words the SSH client
//! quotes, so a hostile value arrives as itself and runs nothing), and `--gres=gpu:N` on the
//! `sbatch` line of a SLURM scan. The test node has no GPU, so no `--gres` job is really
//! submitted (it would pend forever): `sbatch` on this machine is a stand-in on `PATH` that
//! records its argv and answers a job id, after everything before it ran for real.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pmtwatch::model::{BackendKind, GpuChoice, RunGpu, resolve_gpu};
use pmtwatch::pipeline::serial::Serial;
use pmtwatch::remote::backend::{Backend, BackendConfig, JobId, JobSpec, Kind};
use pmtwatch::remote::follow::RemoteScan;

/// A world-writable scratch directory under /tmp (the SSH user is another user), removed
/// on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = PathBuf::from(format!("/tmp/pmtwatch-gpu-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for d in [
            dir.clone(),
            dir.join("out"),
            dir.join("work"),
            dir.join("bin"),
        ] {
            std::fs::create_dir_all(&d).expect("create the scratch directory");
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        }
        Scratch(dir)
    }

    fn path(&self, rel: &str) -> String {
        self.0.join(rel).display().to_string()
    }

    /// An executable shell script at `rel`.
    fn script(&self, rel: &str, body: &str) -> String {
        let p = self.0.join(rel);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write a script");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        p.display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The file a stand-in wrote, once it is there (a detached job runs in the background).
fn wait_for_file(p: &Path) -> String {
    let t0 = std::time::Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(p)
            && text.ends_with('\n')
        {
            return text;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "{} was never written",
            p.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn scan(s: &Scratch) -> RemoteScan {
    RemoteScan {
        scan_dir: s.path("scan"),
        serial: Serial::parse("KM13579").expect("serial"),
        out_dir: s.path("out"),
        points: 1,
        settle_secs: 0.3,
        config: None,
    }
}

/// The run's GPU as the monitor resolves it: automatic on a host with two GPUs, the second
/// one idle.
fn resolved_gpu() -> RunGpu {
    let gpu = |index: u32, util: f64| pmtwatch::model::Gpu {
        index,
        name: "NVIDIA H100 80GB HBM3".into(),
        uuid: format!("GPU-5fd2b6a4-0000-4000-8000-00000000000{index}"),
        utilisation_pct: Some(util),
        memory_used_mib: Some(500.0),
        memory_total_mib: Some(81_559.0),
        temperature_c: None,
        power_draw_w: None,
        power_limit_w: None,
        mig_mode: None,
    };
    resolve_gpu(
        GpuChoice::Auto,
        BackendKind::Ssh,
        0,
        &[gpu(0, 87.0), gpu(1, 0.0)],
        "lab@gpu-host",
    )
    .expect("resolved")
}

/// Local and SSH: the watch (`program`, here a stand-in that writes what it sees) and a
/// detached job both run with the run's `CUDA_VISIBLE_DEVICES`, and a hostile value in the
/// job environment arrives as exactly itself.
async fn gpu_reaches_the_work(remote: bool) {
    let s = Scratch::new(if remote { "ssh" } else { "local" });
    let seen = s.path("seen-watch");
    let program = s.script(
        "bin/fake-pmtwatch",
        &format!(
            "printf '%s|%s|%s\\n' \"${{CUDA_VISIBLE_DEVICES-unset}}\" \"${{CUDA_DEVICE_ORDER-unset}}\" \"$1\" > '{seen}'"
        ),
    );
    let gpu = resolved_gpu();
    let uuid = "GPU-5fd2b6a4-0000-4000-8000-000000000001";
    assert_eq!(gpu.cuda_visible_devices().as_deref(), Some(uuid));
    let mut cfg = if remote {
        BackendConfig::new(Kind::Ssh, Some(common::cluster().target()), s.path("work"))
    } else {
        BackendConfig::new(Kind::Local, None, s.path("work"))
    };
    cfg.program = program;
    cfg.job_env = gpu.job_env();
    let b = Backend::new(cfg.clone()).expect("backend");
    b.follow_scan(&scan(&s), Path::new(&s.path("local")), |_| {}, |_| {})
        .await
        .expect("the stand-in watch exits 0");
    assert_eq!(
        std::fs::read_to_string(&seen).expect("the watch ran"),
        format!("{uuid}|PCI_BUS_ID|process\n")
    );

    // A detached job, with a value no shell may read as code.
    let hostile = "0,1 $(touch /tmp/pmtwatch-gpu-pwned) `id`;'\"\\";
    cfg.job_env = vec![("CUDA_VISIBLE_DEVICES".into(), hostile.into())];
    let b = Backend::new(cfg).expect("backend");
    let out = s.path("seen-job");
    let id = b
        .start_job(&JobSpec {
            name: "gpu-env".into(),
            argv: vec![
                "sh".into(),
                "-c".into(),
                "printf '%s\\n' \"$CUDA_VISIBLE_DEVICES\" > \"$1\"".into(),
                "sh".into(),
                out.clone(),
            ],
            dir: None,
        })
        .await
        .expect("start the job");
    assert!(matches!(id, JobId::Process { .. }), "{id:?}");
    assert_eq!(wait_for_file(Path::new(&out)), format!("{hostile}\n"));
    assert!(!Path::new("/tmp/pmtwatch-gpu-pwned").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runs_gpu_reaches_local_work_as_cuda_visible_devices() {
    gpu_reaches_the_work(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runs_gpu_reaches_ssh_work_as_cuda_visible_devices() {
    gpu_reaches_the_work(true).await;
}

/// SLURM: a scan submitted for a run with `gpu:2` carries `--gres=gpu:2` on its `sbatch`
/// line (and no `CUDA_VISIBLE_DEVICES`: the scheduler sets it); a run without a GPU asks
/// for none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slurm_scan_asks_for_its_gpus_with_gres() {
    let s = Scratch::new("slurm");
    let argv_file = s.path("sbatch-argv");
    s.script(
        "bin/sbatch",
        &format!("printf '%s\\n' \"$@\" > '{argv_file}'\necho 4242"),
    );
    let path = format!(
        "{}:{}",
        s.path("bin"),
        std::env::var("PATH").unwrap_or_default()
    );
    for (gpu, want) in [
        (
            resolve_gpu(GpuChoice::Count(2), BackendKind::Slurm, 0, &[], "c").expect("gpu:2"),
            Some("--gres=gpu:2"),
        ),
        (
            resolve_gpu(GpuChoice::Auto, BackendKind::Slurm, 0, &[], "c").expect("none"),
            None,
        ),
    ] {
        let _ = std::fs::remove_file(&argv_file);
        let mut cfg = BackendConfig::new(Kind::Slurm, None, s.path("work"));
        cfg.local_env = vec![("PATH".into(), path.clone())];
        cfg.sbatch.gres = gpu.gres();
        let b = Backend::new(cfg).expect("backend");
        let id = b.submit_scan(&scan(&s)).await.expect("submitted");
        assert_eq!(id, JobId::Slurm { id: 4242 });
        let argv = std::fs::read_to_string(&argv_file).expect("sbatch ran");
        let words: Vec<&str> = argv.lines().collect();
        let gres: Vec<&&str> = words.iter().filter(|w| w.starts_with("--gres")).collect();
        match want {
            Some(w) => assert_eq!(gres, [&w], "{words:?}"),
            None => assert!(gres.is_empty(), "{words:?}"),
        }
        // The options come before `--`, the script after it; no GPU in the job's env.
        let end = words.iter().position(|w| *w == "--").expect("--");
        assert!(gres.iter().all(|g| words[..end].contains(g)), "{words:?}");
        assert!(!argv.contains("CUDA_VISIBLE_DEVICES"), "{words:?}");
        assert!(
            words[end + 1].ends_with("pmtwatch-scan.sbatch"),
            "{words:?}"
        );
    }
}

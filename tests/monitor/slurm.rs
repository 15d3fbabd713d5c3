//! SLURM profile (pipeline mode, cluster reached over SSH): a run is submitted as a real
//! job on the test cluster and its points arrive as the scan plays out; a second run whose
//! scan never starts is stopped with "cancel the job" and the cluster reports the job
//! cancelled; a job submitted for a run but never recorded (a crash right after `sbatch`)
//! is found by name and followed, not submitted a second time.

use std::time::{Duration, Instant};

use pmtwatch::pipeline::serial::Serial;
use pmtwatch::remote::backend::{Backend, JobId, Kind};
use pmtwatch::remote::follow::RemoteScan;
use pmtwatch::remote::jobs;
use pmtwatch::remote::slurm::JobState;
use pmtwatch::store::{PointStatus, RunState};

use crate::common;
use crate::fixture::{
    Bench, PATTERN, POOR, finish_simulation, labels, pattern_labels, remote_spec,
};

const LONG: Duration = Duration::from_secs(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slurm_run_fills_in_and_a_stopped_run_is_cancelled_on_the_cluster() {
    let _slurm = common::slurm_shared().await;
    let b = Bench::new("slurm").await;
    let spec = remote_spec(&b.dir, PATTERN, Kind::Slurm);
    let profile = b.profile("cluster", spec.clone()).await;
    b.slot(1, "KM3001", profile).await;
    b.slot(2, "KM3002", profile).await;
    b.monitor
        .set_executor(true, "olga")
        .await
        .expect("executor");

    let r1 = b.monitor.start_run(1, "olga").await.expect("run 1").run_id;
    let sim = b.simulate("KM3001", Some(POOR), 0.4);
    let v = b.wait_run(r1, LONG, |v| v.run.state.is_final()).await;
    finish_simulation(sim);
    assert_eq!(v.run.state, RunState::Complete, "{}", v.run.message);
    assert_eq!(labels(&v), pattern_labels(PATTERN));
    assert_eq!(v.points[POOR].status, PointStatus::Poor);
    let job: JobId = serde_json::from_str(v.run.job.as_deref().expect("a job id")).expect("job");
    let JobId::Slurm { id } = job else {
        panic!("not a SLURM job: {job:?}")
    };
    // The executor's "log tail" reads the job's output file on the cluster.
    let log = b.monitor.job_log(r1).await.expect("job log");
    assert!(
        log.contains(&format!("pmtwatch-scan: job {id} "))
            && log.contains("\"point\":\"theta10_phi90\""),
        "the job's output file, not: {log}"
    );
    assert!(
        b.monitor
            .run_dir(r1)
            .join(POOR)
            .join("charge.png")
            .is_file()
    );

    // A run whose scan never starts: its job waits for data until it is cancelled.
    let r2 = b.monitor.start_run(2, "olga").await.expect("run 2").run_id;
    let v2 = b
        .wait_run(r2, LONG, |v| {
            v.run.state == RunState::Running && v.run.job.is_some()
        })
        .await;
    let job2: JobId = serde_json::from_str(v2.run.job.as_deref().expect("job")).expect("job");
    b.monitor.stop_run(r2, true, "olga").await.expect("stop");
    let v2 = b.wait_run(r2, LONG, |v| v.run.state.is_final()).await;
    assert_eq!(v2.run.state, RunState::Cancelled);
    assert!(v2.run.message.contains("cancelled"), "{}", v2.run.message);
    let backend = Backend::new(spec.backend_config("pmtwatch").expect("config")).expect("backend");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let info = backend.poll_job(&job2).await.expect("poll the job");
        if info.state == JobState::Cancelled {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{job2} is {:?}, not cancelled",
            info.state
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_submitted_but_never_recorded_is_followed_not_submitted_again() {
    let _slurm = common::slurm_shared().await;
    let b = Bench::new("slurm-orphan").await;
    let spec = remote_spec(&b.dir, PATTERN, Kind::Slurm);
    let profile = b.profile("cluster", spec.clone()).await;
    b.slot(1, "KM3011", profile).await;
    // The executor is stopped, so the run waits queued and has no job yet.
    let r = b.monitor.start_run(1, "olga").await.expect("run").run_id;
    let v = b
        .wait_run(r, LONG, |v| v.run.state == RunState::Queued)
        .await;
    assert!(v.run.job.is_none(), "{:?}", v.run.job);

    // What a server killed between `sbatch` and storing the id leaves behind: the run's
    // scan submitted under the run's job name, recorded nowhere.
    let backend = Backend::new(spec.backend_config("pmtwatch").expect("config")).expect("backend");
    let scan = RemoteScan {
        scan_dir: spec.scan_root.clone(),
        serial: Serial::parse("KM3011").expect("serial"),
        out_dir: format!("{}/runs/{r}-KM3011", spec.work_dir.trim_end_matches('/')),
        points: pattern_labels(PATTERN).len(),
        settle_secs: spec.settle_secs,
        config: None,
    };
    let orphan = backend
        .submit_scan(&scan)
        .await
        .expect("submit the orphan job");

    b.monitor
        .set_executor(true, "olga")
        .await
        .expect("executor");
    let sim = b.simulate("KM3011", Some(POOR), 0.3);
    let v = b.wait_run(r, LONG, |v| v.run.state.is_final()).await;
    finish_simulation(sim);
    assert_eq!(v.run.state, RunState::Complete, "{}", v.run.message);
    assert_eq!(labels(&v), pattern_labels(PATTERN));
    let job: JobId = serde_json::from_str(v.run.job.as_deref().expect("a job id")).expect("job");
    assert_eq!(job, orphan, "the run must follow the job already submitted");
    let h = backend.handle().await.expect("connect");
    let named = jobs::find_named(&h, &scan.job_name())
        .await
        .expect("squeue");
    let ids: Vec<u64> = named.iter().map(|j| j.id).collect();
    assert_eq!(ids.len(), 1, "one job for the run, not {ids:?}");
}

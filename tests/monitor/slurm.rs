//! SLURM profile (pipeline mode, cluster reached over SSH): a run is submitted as a real
//! job on the test cluster and its points arrive as the scan plays out; a second run whose
//! scan never starts is stopped with "cancel the job" and the cluster reports the job
//! cancelled.

use std::time::{Duration, Instant};

use pmtwatch::remote::backend::{Backend, JobId, Kind};
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
    assert!(matches!(job, JobId::Slurm { .. }), "{job:?}");
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

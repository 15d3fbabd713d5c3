//! The darkness check end to end on a local profile (issue 15): a slot set to `dark` runs
//! the profile's dark runs (`dark1 … dark<n>`); the bench writes them with no light beside
//! a surface scan of the same tube, which the run leaves alone; each dark run becomes a
//! dark rate judged by the dark-rate band alone (no gain), and a light leak in one of them
//! makes that point poor, with its reason, and raises a poor-point alarm.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pmtwatch::model::AlarmKind;
use pmtwatch::store::{PointStatus, RunState, ScanKind};

use crate::fixture::{Bench, PATTERN, WaitBounded, finish_simulation, simulate_into};

const LONG: Duration = Duration::from_secs(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_darkness_check_counts_each_dark_run_and_finds_a_light_leak() {
    let b = Bench::new("dark").await;
    let scan = b.dir.join("scan");
    // The tube's surface scan is already in its directory: not part of a darkness check.
    finish_simulation(simulate_into(&scan, "KM5151", PATTERN, None, 0.0));

    let mut spec = b.local_spec(PATTERN);
    spec.dark_points = 3;
    // 0.25 PE of the simulated tube's SPE pulse height (what its lit points report).
    spec.analysis.darkness.threshold_mv = Some(2.2);
    let profile = b.profile("bench pc", spec).await;
    b.monitor
        .set_slot(1, "KM5151".into(), Some(profile), ScanKind::Dark)
        .await
        .expect("set the slot");
    b.monitor
        .set_executor(true, "olga")
        .await
        .expect("executor");
    let id = b.monitor.start_run(1, "olga").await.expect("start").run_id;
    let v = b.wait_run(id, LONG, |v| v.pattern.len() == 3).await;
    let labels: Vec<String> = v.pattern.iter().map(|p| p.label()).collect();
    assert_eq!(labels, ["dark1", "dark2", "dark3"]);

    let mut sim = Command::new(env!("CARGO_BIN_EXE_pmtwatch"));
    sim.arg("simulate")
        .arg(&scan)
        .args(["--serial", "KM5151", "--events", "6000", "--dark-check"])
        .args([
            "--points",
            "3",
            "--dark-rate",
            "5000",
            "--light-leak",
            "dark3",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = sim.spawn().expect("start pmtwatch simulate --dark-check");
    assert!(child.wait_with_output_bounded(), "pmtwatch simulate failed");

    let v = b.wait_run(id, LONG, |v| v.run.state.is_final()).await;
    assert_eq!(v.run.state, RunState::Complete, "{}", v.run.message);
    assert_eq!(
        v.points.len(),
        3,
        "only the dark runs: {:?}",
        v.points.keys()
    );
    for label in ["dark1", "dark2"] {
        let p = &v.points[label];
        assert_eq!(p.status, PointStatus::Healthy, "{label}: {}", p.message);
        assert_eq!(p.gain, None, "{label}: a dark run has no gain");
        assert!(p.message.starts_with("dark rate"), "{label}: {}", p.message);
        let rate = p.figures.dark_rate_hz.expect("a dark rate");
        assert!(
            (2500.0..9000.0).contains(&rate),
            "{label}: {rate} Hz, truth 5000 Hz"
        );
    }
    let leak = &v.points["dark3"];
    assert_eq!(leak.status, PointStatus::Poor, "{}", leak.message);
    assert!(leak.message.contains("dark rate"), "{}", leak.message);
    let rate = leak.figures.dark_rate_hz.expect("a dark rate");
    assert!(rate > 1e5, "50 × 5000 Hz, measured {rate} Hz");
    // The light leak reaches people off-site like any poor point.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let board = b.monitor.snapshot();
        if board
            .alarms
            .iter()
            .any(|a| a.kind == AlarmKind::PoorPoint && a.run_id == Some(id) && a.subject == "dark3")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no poor-point alarm for dark3; active: {:?}",
            board.alarms
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

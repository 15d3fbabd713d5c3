//! The HV check end to end — on a local profile, over SSH and as a SLURM job on the test
//! cluster (the same story for each): the operator's nominal voltage sets the
//! run's five voltages; `pmtwatch simulate --hv-check` writes the bench's own layout
//! (`<SN>/wavesave_HV_CHECK/wave<ch>save_HV_<V>.txt`, one voltage without light); each
//! voltage is processed as its files settle, the fit and plot are published once three are
//! done, the dark voltage is excluded with its reason, the result is stored per serial, and
//! the tube's next surface scan is offered (and records) that voltage. Under SLURM the job
//! is `pmtwatch-hv.sbatch` with the run's voltages.

use std::process::{Command, Stdio};
use std::time::Duration;

use pmtwatch::monitor::ProfileSpec;
use pmtwatch::remote::backend::Kind;
use pmtwatch::store::{PointStatus, RunState, ScanKind};

use crate::common;
use crate::fixture::{Bench, PATTERN, WaitBounded, remote_spec};

const LONG: Duration = Duration::from_secs(300);
const STAMP: &str = "20260105_143012";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_hv_check_fits_live_and_offers_its_voltage_to_the_next_scan() {
    let b = Bench::new("hv").await;
    let spec = b.local_spec(PATTERN);
    hv_story(&b, spec, "KM4242").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hv_check_over_ssh() {
    let b = Bench::new("hv-ssh").await;
    let spec = remote_spec(&b.dir, PATTERN, Kind::Ssh);
    hv_story(&b, spec, "KM4243").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hv_check_as_a_slurm_job_runs_the_hv_script_with_its_voltages() {
    let _slurm = common::slurm_shared().await;
    let b = Bench::new("hv-slurm").await;
    let spec = remote_spec(&b.dir, PATTERN, Kind::Slurm);
    let id = hv_story(&b, spec, "KM4244").await;
    let log = b.monitor.job_log(id).await.expect("job log");
    assert!(
        log.contains("pmtwatch-hv: job") && log.contains("voltages 1600 1650 1700 1750 1800"),
        "the HV script ran with the run's voltages, not: {log}"
    );
}

/// The story on `spec` (its scan root set to the bench's output directory); the HV run's id.
async fn hv_story(b: &Bench, spec: ProfileSpec, serial: &'static str) -> i64 {
    let mut spec = spec;
    // The bench's layout: the scan root is the digitizer's output directory of this check.
    let out = b.dir.join("scan");
    spec.scan_root = out
        .join("WaveDumpSaves")
        .join(format!("wavedump_output_{STAMP}"))
        .display()
        .to_string();
    let profile = b.profile("bench pc", spec).await;
    b.monitor
        .set_slot(1, serial.into(), Some(profile), ScanKind::Hv)
        .await
        .expect("set the slot");
    assert!(
        b.monitor.set_slot_hv_nominal(1, Some(-5.0)).await.is_err(),
        "a negative nominal voltage is refused"
    );
    b.monitor
        .set_slot_hv_nominal(1, Some(1700.0))
        .await
        .expect("nominal HV");
    b.monitor
        .set_executor(true, "olga")
        .await
        .expect("executor");
    let id = b.monitor.start_run(1, "olga").await.expect("start").run_id;
    let v = b.wait_run(id, LONG, |v| v.pattern.len() == 5).await;
    let volts: Vec<f64> = v.pattern.iter().filter_map(|p| p.hv()).collect();
    assert_eq!(volts, [1600.0, 1650.0, 1700.0, 1750.0, 1800.0]);

    // The bench writes the check: 1e7 at 1712 V, slope 7, 1800 V without light.
    let mut sim = Command::new(env!("CARGO_BIN_EXE_pmtwatch"));
    sim.arg("simulate")
        .arg(&out)
        .args(["--serial", serial, "--events", "1500", "--hv-check"])
        .args(["--nominal", "1700", "--hv-at-1e7", "1712", "--slope", "7"])
        .args(["--dark", "1800", "--stamp", STAMP, "--seed", "5"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = sim.spawn().expect("start pmtwatch simulate --hv-check");

    // Live: the fit is on the board once three voltages are done, before the run ends.
    let v = b
        .wait_run(id, LONG, |v| v.hv.is_some() || v.run.state.is_final())
        .await;
    assert!(
        v.hv.is_some(),
        "the fit is published: {} ({})",
        v.run.state,
        v.run.message
    );
    assert!(child.wait_with_output_bounded(), "pmtwatch simulate failed");
    let v = b.wait_run(id, LONG, |v| v.run.state.is_final()).await;
    assert_eq!(v.run.state, RunState::Complete, "{}", v.run.message);
    assert_eq!(v.points.len(), 5, "every voltage is a point");
    assert_eq!(v.points["hv1800"].status, PointStatus::NoSignal);
    // Regression: the surface scan's gain band (0.85e7–1.2e7 here) called the low voltages
    // poor and raised alarms; an HV check's gains differ by design.
    for label in ["hv1600", "hv1650", "hv1700", "hv1750"] {
        let p = &v.points[label];
        assert_eq!(p.status, PointStatus::Healthy, "{label}: {}", p.message);
    }
    let hv = v.hv.as_ref().expect("the fit");
    let r = &hv.result;
    let (volts, err) = (r.volts.expect("a voltage"), r.volts_err.expect("an error"));
    assert!(err > 0.0 && err < 50.0, "error {err}");
    assert!(
        (volts - 1712.0).abs() < (5.0 * err).max(10.0),
        "{volts} ± {err} V, truth 1712 V"
    );
    assert_eq!((r.points_used, r.points_total), (4, 5), "{}", r.summary);
    assert!(
        r.summary.starts_with("HV for 1.00e7: ")
            && r.summary
                .ends_with("(4 of 5 points; 1800 V excluded: no signal)"),
        "{}",
        r.summary
    );
    assert!(hv.excluded["hv1800"].starts_with("no signal"));
    let plot = hv.plot.as_ref().expect("the plot is drawn");
    let png = std::fs::read(plot).expect("read the plot");
    assert!(png.starts_with(b"\x89PNG"), "the plot is a PNG");
    assert!(b.monitor.run_dir(id).join("hv_fit.json").is_file());
    assert_eq!((v.run.hv, v.run.hv_err), (Some(volts), Some(err)));

    // Stored per serial (real SQLite), and shown in the slot for the next surface scan.
    let stored = b
        .store
        .latest_hv_of_serial(serial)
        .expect("read")
        .expect("stored");
    assert_eq!((stored.run_id, stored.volts), (id, Some(volts)));
    let board = b.monitor.snapshot();
    assert_eq!(
        board.slots[0].hv_offer.as_ref().and_then(|h| h.volts),
        Some(volts)
    );

    // The next surface scan of the tube records the voltage it was offered.
    b.monitor
        .set_slot(1, serial.into(), Some(profile), ScanKind::Surface)
        .await
        .expect("surface scan");
    let scan = b
        .monitor
        .start_run(1, "olga")
        .await
        .expect("start the scan");
    assert_eq!(scan.auto_archived, Some(id), "the HV check is archived");
    let s = b.store.get_run(scan.run_id).expect("read").expect("run");
    assert_eq!((s.hv, s.hv_from), (Some(volts), Some(id)));
    b.monitor
        .stop_run(scan.run_id, true, "olga")
        .await
        .expect("stop");
    b.wait_run(scan.run_id, LONG, |v| v.run.state.is_final())
        .await;
    // History lists the HV check with its voltage.
    let h = b.store.get_run(id).expect("read").expect("run");
    assert_eq!((h.kind, h.hv), (ScanKind::Hv, Some(volts)));
    id
}

//! A finished run as the monitor leaves it, for the tests of links, files and the run API:
//! a run in the store with three points, two of which have real local files
//! (`<data>/runs/<id>/<label>/{charge.png,result.json}`) made by simulating the point and
//! processing it with the pipeline exactly as a watch does, and one (a failed fit, as a
//! command-mode run would report it) that is in the tables only.
//!
//! The two processed points are made once per test binary (1500 events each, a few
//! seconds) and copied into each test server's data directory.

use std::path::PathBuf;
use std::sync::OnceLock;

use pmtwatch::monitor::ProfileSpec;
use pmtwatch::pipeline::config::AnalysisConfig;
use pmtwatch::pipeline::point::{
    Health, OutputOptions, PointResult, ProcessOptions, process_inputs, write_outputs,
};
use pmtwatch::pipeline::scan::{PointLabel, point_dir_name};
use pmtwatch::pipeline::serial::Serial;
use pmtwatch::pipeline::simulate::{SimParams, simulate_point, write_point};
use pmtwatch::store::{NewRun, Point, PointStatus, Run, RunState, ScanKind, now};

use super::util::TestServer;

pub const SERIAL: &str = "KM12345";
pub const PMT_TYPE: &str = "R12860";
/// The points with local files, and the one without.
pub const WITH_FILES: [&str; 2] = ["theta0_phi0", "theta15_phi90"];
pub const WITHOUT_FILES: &str = "theta30_phi180";

/// A run of the fixture.
pub struct Fixture {
    pub run: Run,
    /// The result documents of the points with files, in `WITH_FILES` order.
    pub results: Vec<PointResult>,
}

impl Fixture {
    /// Where the run's local files are.
    pub fn run_dir(&self, s: &TestServer) -> PathBuf {
        s.state.monitor().run_dir(self.run.id)
    }
}

/// The processed points: (directory holding `<label>/{charge.png,result.json}`, results).
static PROCESSED: OnceLock<(tempfile::TempDir, Vec<PointResult>)> = OnceLock::new();

fn processed() -> &'static (tempfile::TempDir, Vec<PointResult>) {
    PROCESSED.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let scan = dir.path().join("scan");
        std::fs::create_dir_all(&scan).expect("scan dir");
        let cfg = AnalysisConfig::default();
        let serial = Serial::parse(SERIAL).expect("serial");
        let base = SimParams {
            events: 1500,
            ..SimParams::default()
        };
        let mut results = Vec::new();
        for (i, name) in WITH_FILES.iter().enumerate() {
            let label = PointLabel::parse(name).expect("a point label");
            let waves = simulate_point(&base.for_point(&label), 100 + i as u64);
            write_point(&scan, &label, &waves).expect("write the simulated point");
            let opts = ProcessOptions {
                serial: Some(serial.clone()),
                point: Some(label.label()),
                ..ProcessOptions::default()
            };
            let mut p = process_inputs(&[scan.join(point_dir_name(&label))], &cfg, &opts)
                .expect("process the simulated point");
            p.result.theta = p.result.theta.or(label.theta());
            p.result.phi = p.result.phi.or(label.phi());
            let out = dir.path().join("results").join(name);
            write_outputs(
                &p,
                &out,
                &OutputOptions {
                    plot: true,
                    reference: None,
                },
            )
            .expect("write result.json and charge.png");
            results.push(p.result);
        }
        (dir, results)
    })
}

/// The profile every fixture run carries (its PMT type selects the reference).
pub fn profile() -> ProfileSpec {
    ProfileSpec {
        pmt_type: PMT_TYPE.into(),
        ..ProfileSpec::default()
    }
}

/// Creates a finished surface run with the fixture's points and files in `s`.
pub async fn surface_run(s: &TestServer) -> Fixture {
    let (dir, results) = tokio::task::spawn_blocking(|| {
        let (dir, results) = processed();
        (dir.path().to_path_buf(), results.clone())
    })
    .await
    .expect("fixture worker");
    let run = s
        .store
        .create_run(&NewRun {
            slot_id: 1,
            serial: SERIAL.into(),
            kind: ScanKind::Surface,
            profile_name: "bench".into(),
            profile: serde_json::to_string(&profile()).expect("profile JSON"),
            points_total: 21,
            operator: "otto".into(),
        })
        .expect("create run");
    let run_dir = s.state.monitor().run_dir(run.id);
    for r in &results {
        let to = run_dir.join(&r.point);
        std::fs::create_dir_all(&to).expect("point dir");
        for name in ["charge.png", "result.json"] {
            std::fs::copy(dir.join("results").join(&r.point).join(name), to.join(name))
                .expect("copy a point file");
        }
        let status = match r.health {
            Health::Healthy => PointStatus::Healthy,
            Health::Warning => PointStatus::Warning,
            Health::Poor => PointStatus::Poor,
        };
        s.store
            .insert_point(&Point {
                run_id: run.id,
                label: r.point.clone(),
                theta: r.theta,
                phi: r.phi,
                hv: None,
                status,
                gain: r.gain,
                gain_err: r.gain_err,
                message: r.health_reason.clone(),
                figures: Default::default(),
                at: now(),
            })
            .expect("insert point");
    }
    s.store
        .insert_point(&Point {
            run_id: run.id,
            label: WITHOUT_FILES.into(),
            theta: Some(30.0),
            phi: Some(180.0),
            hv: None,
            status: PointStatus::FitFailed,
            gain: None,
            gain_err: None,
            message: "the fit did not converge".into(),
            figures: Default::default(),
            at: now(),
        })
        .expect("insert point");
    let run = s
        .store
        .set_run_state(run.id, RunState::Complete, "3 points")
        .expect("complete the run");
    Fixture { run, results }
}

/// Creates a finished HV run with two points and no local files.
pub async fn hv_run(s: &TestServer) -> Run {
    let run = s
        .store
        .create_run(&NewRun {
            slot_id: 2,
            serial: SERIAL.into(),
            kind: ScanKind::Hv,
            profile_name: "bench".into(),
            profile: serde_json::to_string(&profile()).expect("profile JSON"),
            points_total: 2,
            operator: "otto".into(),
        })
        .expect("create run");
    for (label, hv, gain) in [("hv1450", 1450.0, 8.0e6), ("hv1500", 1500.0, 1.0e7)] {
        s.store
            .insert_point(&Point {
                run_id: run.id,
                label: label.into(),
                theta: None,
                phi: None,
                hv: Some(hv),
                status: PointStatus::Healthy,
                gain: Some(gain),
                gain_err: Some(1e5),
                message: String::new(),
                figures: Default::default(),
                at: now(),
            })
            .expect("insert point");
    }
    s.store
        .set_run_state(run.id, RunState::Complete, "2 points")
        .expect("complete the run")
}

//! The default analysis recovers the true gain of simulated R12860 scans: `pmtwatch
//! simulate` (20k events, the bench layout, WaveDump ASCII) then `pmtwatch process`, for
//! gains 0.8e7 … 1.2e7 and occupancies 0.1 … 2. The gain must be within 2 % and within 2σ
//! of the truth in `truth.json`.
//!
//! The SPE response here is the Gaussian one (`--underamp 0`): the default model
//! (poisson-gauss) has no term for under-amplified photoelectrons, and with the
//! simulator's default 4 % of them its gain comes out 0.5–3 % low (more at occupancy 0.1);
//! BENCHMARKS.md lists the measured bias. That is a limit of the model, not of the
//! pipeline, and this test is about the pipeline.

use std::path::Path;
use std::process::Command;

fn pmtwatch(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_pmtwatch"))
        .args(args)
        .output()
        .expect("run pmtwatch");
    assert!(
        out.status.success(),
        "pmtwatch {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn check(gain: f64, occupancy: f64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let scan = dir.path().to_str().expect("utf8");
    pmtwatch(&[
        "simulate",
        scan,
        "--serial",
        "SIMACC",
        "--points",
        "1",
        "--events",
        "20000",
        "--gain",
        &gain.to_string(),
        "--occupancy",
        &occupancy.to_string(),
        "--underamp",
        "0",
    ]);
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("truth.json")).expect("truth.json"))
            .expect("truth json");
    let point = &truth["points"][0];
    let label = point["label"].as_str().expect("label");
    let true_gain = point["gain"].as_f64().expect("gain");
    let point_dir = Path::new(scan)
        .join("SIMACC")
        .join(format!("wavesave_{label}"));
    let out = pmtwatch(&["process", point_dir.to_str().expect("utf8"), "--json"]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("result json");
    assert_eq!(r["status"], "ok", "{r}");
    assert_eq!(r["events"], 20000);
    let g = r["gain"].as_f64().expect("gain");
    let e = r["gain_err"].as_f64().expect("gain_err");
    let rel = g / true_gain - 1.0;
    let pull = (g - true_gain) / e;
    eprintln!(
        "gain {gain:e} occupancy {occupancy}: fit {g:.4e} ± {e:.2e}, truth {true_gain:.4e}: {:+.2} %, {pull:+.2} σ",
        rel * 100.0
    );
    assert!(
        rel.abs() <= 0.02,
        "gain {g:e} is {:+.2} % off the truth {true_gain:e}",
        rel * 100.0
    );
    assert!(
        pull.abs() <= 2.0,
        "gain {g:e} ± {e:e} is {pull:+.2} σ off the truth {true_gain:e}"
    );
    let mu = r["params"]["mu"]["value"].as_f64().expect("mu");
    let true_mu = point["occupancy"].as_f64().expect("occupancy");
    assert!(
        (mu / true_mu - 1.0).abs() < 0.05,
        "mu {mu} vs truth {true_mu}"
    );
}

#[test]
fn gain_0_8e7_occupancy_0_1() {
    check(0.8e7, 0.1);
}

#[test]
fn gain_1_2e7_occupancy_0_1() {
    check(1.2e7, 0.1);
}

#[test]
fn gain_1_0e7_occupancy_0_5() {
    check(1.0e7, 0.5);
}

#[test]
fn gain_1_0e7_occupancy_1() {
    check(1.0e7, 1.0);
}

#[test]
fn gain_0_8e7_occupancy_2() {
    check(0.8e7, 2.0);
}

#[test]
fn gain_1_2e7_occupancy_2() {
    check(1.2e7, 2.0);
}

#[test]
fn seed_compatible_applies_the_old_selection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scan = dir.path().to_str().expect("utf8");
    pmtwatch(&[
        "simulate",
        scan,
        "--serial",
        "SIMSEED",
        "--points",
        "1",
        "--events",
        "8000",
        "--underamp",
        "0",
    ]);
    let point_dir = dir.path().join("SIMSEED/wavesave_theta0_phi0");
    let out = pmtwatch(&[
        "process",
        point_dir.to_str().expect("utf8"),
        "--json",
        "--model",
        "seed-compatible",
    ]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("result json");
    assert_eq!(r["status"], "ok", "{r}");
    assert_eq!(r["model"], "seed-compatible");
    let (events, selected) = (r["events"].as_u64(), r["selected"].as_u64());
    assert!(
        selected < events,
        "the cuts select a subset: {selected:?} of {events:?}"
    );
    let h = &r["histogram"];
    let lo = h["lo"].as_f64().expect("lo");
    let hi = lo
        + h["width"].as_f64().expect("width")
            * h["counts"].as_array().expect("counts").len() as f64;
    assert!(
        (lo - 0.5).abs() < 1e-9 && (hi - 4.5).abs() < 1e-9,
        "histogram [{lo}, {hi}] is the cut window"
    );
    for name in ["q0", "sigma0", "q1", "sigma1", "sigma2", "mu"] {
        assert!(r["params"][name]["value"].is_f64(), "{name} missing: {r}");
    }
    assert!(
        r["params"]["q0"]["error"].is_null(),
        "q0 is fixed in the old model"
    );
    // The legacy model is biased (it cuts into the SPE below 0.5 pC); it is kept for
    // comparison with a lab's history, so only a loose agreement is expected.
    let g = r["gain"].as_f64().expect("gain");
    assert!(
        (g / 1.05e7 - 1.0).abs() < 0.06,
        "seed-compatible gain {g:e}"
    );
}

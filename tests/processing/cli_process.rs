//! `pmtwatch process` through the real binary: the JSON contract, the output files, and
//! clear errors (never a panic) for bad inputs and hostile serial numbers.

use std::path::PathBuf;
use std::process::{Command, Output};

fn data(rel: &str) -> PathBuf {
    crate::common::manifest_dir().join("tests/data").join(rel)
}

fn pmtwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pmtwatch"))
        .args(args)
        .output()
        .expect("run pmtwatch")
}

fn json_of(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "pmtwatch failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "--json must print exactly one line: {text}");
    serde_json::from_str(lines[0]).expect("stdout is one JSON object")
}

#[test]
fn json_contract_for_a_charge_input() {
    let f = data("wavedump-binary-v1730b/RUN000004_ADC_data.npy");
    let v = json_of(&pmtwatch(&["process", f.to_str().expect("utf8"), "--json"]));
    for key in [
        "status",
        "model",
        "gain",
        "gain_err",
        "events",
        "selected",
        "charge_unit",
        "params",
        "chi2",
        "ndf",
        "health",
        "warnings",
        "timings_ms",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    assert_eq!(v["status"], "ok");
    assert_eq!(v["model"], "poisson-gauss-ua");
    assert_eq!(v["charge_unit"], "ADC*samples");
    assert_eq!(v["events"], 60_001);
    for name in ["q0", "sigma0", "q1", "sigma1", "mu"] {
        let p = &v["params"][name];
        assert!(
            p["value"].is_f64() && p["error"].is_f64(),
            "param {name}: {p}"
        );
    }
    assert!(v["warnings"].is_array());
}

#[test]
fn bellamy_reports_w_and_alpha() {
    let f = data("r6233-histogram/R6233-example.txt");
    let v = json_of(&pmtwatch(&[
        "process",
        f.to_str().expect("utf8"),
        "--json",
        "--model",
        "bellamy",
    ]));
    assert_eq!(v["model"], "bellamy");
    assert_eq!(v["charge_unit"], "V*s");
    assert!(v["params"]["w"]["value"].is_f64() && v["params"]["alpha"]["value"].is_f64());
}

#[test]
fn pedestal_only_has_null_gain() {
    let f = data("wavedump-binary-v1730b/RUN000001_wave_1.dat");
    let v = json_of(&pmtwatch(&["process", f.to_str().expect("utf8"), "--json"]));
    assert_eq!(v["status"], "no_signal");
    assert!(v["gain"].is_null() && v["gain_err"].is_null());
    // No gain: the tube cannot be judged from this point — a warning, not "poor".
    assert_eq!(v["health"], "warning");
    assert!(
        v["health_reason"]
            .as_str()
            .is_some_and(|r| r.contains("no gain")),
        "{v}"
    );
}

#[test]
fn out_dir_gets_result_json_png_and_legacy_gain_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("pt");
    let f = data("uzh-r12699-v1730d/areas_on.npy");
    let o = pmtwatch(&[
        "process",
        f.to_str().expect("utf8"),
        "--serial",
        "EA0001",
        "--out",
        out.to_str().expect("utf8"),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("result.json")).expect("result.json"))
            .expect("json");
    assert_eq!(doc["serial"], "EA0001");
    let png = std::fs::read(out.join("charge.png")).expect("charge.png");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let gain = std::fs::read_to_string(out.join("EA0001_areas_on_GAIN.txt")).expect("GAIN.txt");
    let g: f64 = gain.trim().parse().expect("a number");
    assert!((g - doc["gain"].as_f64().expect("gain")).abs() / g < 1e-5);
    // Nothing half-written is left behind.
    for e in std::fs::read_dir(&out).expect("list") {
        let name = e.expect("entry").file_name();
        assert!(!name.to_string_lossy().ends_with(".tmp"), "{name:?}");
    }
}

#[test]
fn bad_inputs_fail_with_a_message_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let junk = dir.path().join("junk.dat");
    std::fs::write(&junk, b"\x01\x02\x03 definitely not a digitizer file").expect("write");
    let missing = dir.path().join("missing.txt");
    for f in [&junk, &missing] {
        let o = pmtwatch(&["process", f.to_str().expect("utf8"), "--json"]);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(f.file_name().and_then(|n| n.to_str()).expect("name")),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        assert!(o.stdout.is_empty());
    }
}

#[test]
fn hostile_serial_numbers_are_refused() {
    let f = data("wavedump-binary-v1730b/RUN000004_ADC_data.npy");
    for sn in ["a'; rm -rf ~; '", "../../etc", "$(reboot)", "-rf"] {
        let arg = format!("--serial={sn}");
        let o = pmtwatch(&["process", f.to_str().expect("utf8"), &arg, "--json"]);
        assert!(!o.status.success(), "serial {sn:?} accepted");
        assert!(String::from_utf8_lossy(&o.stderr).contains("serial"));
    }
}

#[test]
fn config_file_overrides_model_and_typos_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("analysis.toml");
    std::fs::write(&cfg, "[fit]\nmodel = \"bellamy\"\n").expect("write");
    let f = data("r6233-histogram/R6233-example.txt");
    let v = json_of(&pmtwatch(&[
        "process",
        f.to_str().expect("utf8"),
        "--config",
        cfg.to_str().expect("utf8"),
        "--json",
    ]));
    assert_eq!(v["model"], "bellamy");
    std::fs::write(&cfg, "[fit]\nmodell = \"bellamy\"\n").expect("write");
    let o = pmtwatch(&[
        "process",
        f.to_str().expect("utf8"),
        "--config",
        cfg.to_str().expect("utf8"),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("modell"));
}

#[test]
fn led_off_run_adds_the_model_independent_occupancy_to_result_json() {
    let on = data("uzh-r12699-v1730d/areas_on.npy");
    let off = data("uzh-r12699-v1730d/areas_off.npy");
    let o = pmtwatch(&[
        "process",
        on.to_str().expect("utf8"),
        "--led-off",
        off.to_str().expect("utf8"),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let mi = &doc["figures"]["model_independent"];
    let lambda = mi["occupancy"]["value"].as_f64().expect("λ");
    let mean = mi["mean_spe"]["value"].as_f64().expect("mean SPE");
    // Through the binned spectra of the CLI path: the lab's range (tests/data/README.md).
    assert!((1.64..=1.68).contains(&lambda), "{mi}");
    assert!((950.0..=990.0).contains(&mean), "{mi}");
    // The same count made on the fit sits beside it: within 2 % of the data's count, and
    // below the fit's μ, which counts also the photoelectrons inside the pedestal.
    let counted = mi["fit_counted"]["occupancy"]
        .as_f64()
        .expect("fit counted");
    let mu = doc["params"]["mu"]["value"].as_f64().expect("μ");
    assert!((counted / lambda - 1.0).abs() < 0.02, "{mi}");
    assert!(counted < mu, "{mi} μ {mu}");
    // Giving the LED-on run twice is named as what it is, not a number.
    let o = pmtwatch(&[
        "process",
        on.to_str().expect("utf8"),
        "--led-off",
        on.to_str().expect("utf8"),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert!(doc["figures"]["model_independent"].is_null(), "{doc}");
    let warnings = doc["warnings"].to_string();
    assert!(warnings.contains("is the LED on"), "{warnings}");
}

/// A file that passes the reader's own checks but makes the decoder (oxyroot) panic — one
/// byte of the uproot-written file's uncompressed TTree record set to 0 — is one line on
/// stderr naming the file, the decoder's complaint and where it gave up: no panic message
/// or backtrace for an error that was handled, even with `RUST_BACKTRACE=1`.
#[test]
fn a_decoder_panic_is_one_error_line_not_a_panic_message() {
    let mut file = std::fs::read(data("uproot-written/wf0_uproot_zlib.root")).expect("read");
    file[2093] = 0;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("corrupt_tree.root");
    std::fs::write(&path, &file).expect("write");
    let o = Command::new(env!("CARGO_BIN_EXE_pmtwatch"))
        .args([
            "process",
            path.to_str().expect("utf8"),
            "--json",
            "--no-plot",
        ])
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("run pmtwatch");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("corrupt_tree.root")
            && err.contains("oxyroot")
            && err.contains("failed on this file")
            && err.contains("(at oxyroot-"),
        "{err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(o.stdout.is_empty());
}

//! End-to-end test of `pmtwatch demo`, driving the real binary on a short scan: it must
//! simulate, process every point, write the per-point and scan-level files and report
//! each point — and do it again over its own output. The child is killed after a bounded
//! time, so a hang fails the test instead of stalling the suite.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_pmtwatch");
const LABELS: [&str; 3] = ["theta0_phi0", "theta15_phi0", "theta15_phi90"];

/// Runs `pmtwatch demo` on `dir` with 3 points of 1500 events, at most `limit`.
fn run_demo(dir: &Path, limit: Duration) -> Output {
    let mut child = Command::new(BIN)
        .args(["demo", "--offline"])
        .arg("--dir")
        .arg(dir)
        .args(["--points", "3", "--events", "1500"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pmtwatch demo");
    let end = Instant::now() + limit;
    // The output is small (a few dozen lines), so the pipes cannot fill up and block it.
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("pmtwatch demo did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("demo output")
}

fn check(dir: &Path, out: &Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "demo failed: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    let results = dir.join("results");
    for label in LABELS {
        let path = results.join(label).join("result.json");
        let doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("result.json"))
                .expect("result.json parses");
        assert_eq!(doc["status"], "ok", "{}: {doc}", path.display());
        assert_eq!(doc["point"], label);
        assert!(results.join(label).join("charge.png").is_file());
        assert!(
            results
                .join(label)
                .join(format!("DEMO0001_{label}_GAIN.txt"))
                .is_file()
        );
        assert!(stdout.contains(label), "{label} not in stdout:\n{stdout}");
    }
    let csv = std::fs::read_to_string(results.join("DEMO0001_scan.csv")).expect("scan csv");
    let rows: Vec<&str> = csv.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(rows.len(), 1 + LABELS.len(), "header + 3 rows:\n{csv}");
    assert!(rows[0].starts_with("point,"), "{csv}");
    assert!(results.join("DEMO0001_scan.parquet").is_file());
    let png = std::fs::read(results.join("DEMO0001_gainmap.png")).expect("gain map");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(dir.join("scan/truth.json").is_file());
}

#[test]
fn demo_runs_end_to_end_and_again() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("demo");
    let limit = Duration::from_secs(180);
    let first = run_demo(&dir, limit);
    check(&dir, &first);
    // Idempotent: a second run over the same directory overwrites and succeeds.
    let second = run_demo(&dir, limit);
    check(&dir, &second);
}

//! End-to-end tests of `pmtwatch simulate` and `pmtwatch process --watch`, driving the real
//! binary: the bench layout and WaveDump files the simulator writes, the charge its pulses
//! carry, and a watch that follows a scan playing out in real time — including a restart
//! halfway, a corrupt point and Ctrl-C. Every wait is bounded and fails with a message.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use pmtwatch::pipeline::readers::{ReadOptions, read_waveforms};
use pmtwatch::pipeline::scan::{
    PointLabel, channel_file_name, point_dir_name, standard_surface_points,
};
use pmtwatch::pipeline::simulate::{SimParams, simulate_point, write_point};

const BIN: &str = env!("CARGO_BIN_EXE_pmtwatch");

/// A child process that is killed when the test ends, even by a failed assertion.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn simulate(args: &[&str]) -> Guard {
    let child = Command::new(BIN)
        .arg("simulate")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start pmtwatch simulate");
    Guard(child)
}

/// Starts `process --watch` with its stdout lines arriving on a channel.
fn watch(scan: &Path, extra: &[&str]) -> (Guard, Receiver<String>) {
    let mut child = Command::new(BIN)
        .args(["process", "--watch"])
        .arg(scan)
        .args(["--serial", "EA0001", "--json", "--no-plot"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start pmtwatch process --watch");
    let stdout = child.stdout.take().expect("stdout piped");
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (Guard(child), rx)
}

/// Waits for the child to exit, at most `limit`.
fn wait_exit(g: &mut Guard, limit: Duration, what: &str) -> ExitStatus {
    let end = Instant::now() + limit;
    loop {
        if let Some(st) = g.0.try_wait().expect("try_wait") {
            return st;
        }
        assert!(Instant::now() < end, "{what} did not exit within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Collects stdout lines until the stream closes (the process exited) or `limit` passes.
fn lines_until_close(rx: &Receiver<String>, limit: Duration, what: &str) -> Vec<String> {
    let end = Instant::now() + limit;
    let mut out = Vec::new();
    loop {
        match rx.recv_timeout(end.saturating_duration_since(Instant::now())) {
            Ok(l) => out.push(l),
            Err(RecvTimeoutError::Disconnected) => return out,
            Err(RecvTimeoutError::Timeout) => {
                panic!("{what}: output still open after {limit:?}; lines so far: {out:#?}")
            }
        }
    }
}

/// The point label of each JSON line, counted.
fn points_of(lines: &[String]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for l in lines {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        let p = v["point"]
            .as_str()
            .unwrap_or_else(|| panic!("no point in {l}"))
            .to_string();
        *m.entry(p).or_insert(0) += 1;
    }
    m
}

fn labels(n: usize) -> Vec<String> {
    let mut v: Vec<String> = standard_surface_points(n)
        .iter()
        .map(PointLabel::label)
        .collect();
    v.sort();
    v
}

/// Checks a WaveDump ASCII file by reading its text: 7 header lines per event, then
/// `record_len` integer samples. Returns the number of events.
fn check_wavedump_text(path: &Path, ch: u32) -> usize {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let lines: Vec<&str> = text.lines().collect();
    let per_event = 7 + 520;
    assert_eq!(
        lines.len() % per_event,
        0,
        "{}: {} lines",
        path.display(),
        lines.len()
    );
    for (i, ev) in lines.chunks(per_event).enumerate() {
        assert_eq!(ev[0], "Record Length: 520");
        assert!(ev[1].starts_with("BoardID:"), "{}", ev[1]);
        assert_eq!(ev[2], format!("Channel: {ch}"));
        assert_eq!(ev[3], format!("Event Number: {i}"));
        assert_eq!(ev[4], "Pattern: 0x0000");
        assert!(ev[5].starts_with("Trigger Time Stamp: "), "{}", ev[5]);
        assert!(ev[6].starts_with("DC offset (DAC): "), "{}", ev[6]);
        for s in &ev[7..] {
            let v: u32 = s.parse().unwrap_or_else(|e| panic!("sample {s:?}: {e}"));
            assert!(v < 16384);
        }
    }
    lines.len() / per_event
}

#[test]
fn simulate_writes_the_bench_layout_with_truth() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let scan = tmp.path().join("scan");
    let scan_s = scan.to_str().expect("utf-8 path");
    let mut sim = simulate(&[
        scan_s, "--serial", "EA0001", "--points", "3", "--events", "500",
    ]);
    assert!(wait_exit(&mut sim, Duration::from_secs(120), "simulate").success());

    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(scan.join("truth.json")).expect("truth.json"))
            .expect("JSON");
    assert_eq!(truth["serial"], "EA0001");
    let pts = truth["points"].as_array().expect("points");
    assert_eq!(pts.len(), 3);
    for p in pts {
        assert_eq!(p["events"], 500);
        let g = p["gain"].as_f64().expect("gain");
        assert!((0.9e7..1.1e7).contains(&g), "{g}");
    }
    // Different points, different truth: the gain varies over the photocathode.
    assert_ne!(pts[0]["gain"], pts[1]["gain"]);

    let sn_dir = scan.join("EA0001");
    let mut names: Vec<String> = std::fs::read_dir(&sn_dir)
        .expect("serial dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut want: Vec<String> = standard_surface_points(3)
        .iter()
        .map(point_dir_name)
        .collect();
    want.sort();
    assert_eq!(names, want, "only the point directories, no temp dirs left");

    for label in standard_surface_points(3) {
        let dir = sn_dir.join(point_dir_name(&label));
        for ch in 0..3 {
            let f = dir.join(channel_file_name(ch, &label));
            assert_eq!(check_wavedump_text(&f, ch), 500, "{}", f.display());
            let w = read_waveforms(&f, &ReadOptions::default()).expect("the reader takes it");
            assert_eq!((w.events(), w.record_len), (500, 520));
        }
    }
}

#[test]
fn simulated_pulses_carry_the_photoelectron_charge() {
    let p = SimParams {
        occupancy: 0.5,
        events: 40_000,
        noise_mv: 0.0,
        dark_rate_hz: 0.0,
        ..SimParams::default()
    };
    let [_, _, pmt] = simulate_point(&p, 42);
    let mut sum = 0.0;
    for ev in pmt.iter() {
        let base: f64 = ev[..40].iter().map(|&s| f64::from(s)).sum::<f64>() / 40.0;
        sum += ev.iter().map(|&s| base - f64::from(s)).sum::<f64>();
    }
    let mean = sum / pmt.events() as f64;
    let want = p.occupancy * p.mean_spe_adc_samples();
    // Statistics alone: ~0.8 % (40,000 events, λ = 0.5, σ1/Q1 = 0.3).
    assert!(
        ((mean - want) / want).abs() < 0.03,
        "mean charge {mean:.2} ADC·samples, want {want:.2}"
    );
    assert!((want - 0.5 * 0.972 * 328.1).abs() < 2.0, "{want}");
}

#[test]
fn watch_follows_a_live_scan_once_per_point() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let scan = tmp.path().join("scan");
    let scan_s = scan.to_str().expect("utf-8 path");
    let mut sim = simulate(&[
        scan_s,
        "--serial",
        "EA0001",
        "--points",
        "4",
        "--events",
        "300",
        "--interval",
        "1",
    ]);
    let (mut w, rx) = watch(&scan, &["--settle", "0.3", "--points", "4"]);
    let lines = lines_until_close(&rx, Duration::from_secs(120), "watch");
    let st = wait_exit(&mut w, Duration::from_secs(10), "watch");
    assert!(st.success(), "watch exited with {st}");
    assert!(wait_exit(&mut sim, Duration::from_secs(30), "simulate").success());
    assert_eq!(lines.len(), 4, "{lines:#?}");
    let seen = points_of(&lines);
    assert_eq!(seen.keys().cloned().collect::<Vec<_>>(), labels(4));
    assert!(seen.values().all(|&n| n == 1), "{seen:?}");
    let out = scan.join("EA0001-results");
    for l in labels(4) {
        assert!(
            out.join(&l).join("result.json").is_file(),
            "{l}: no result.json"
        );
    }
}

#[test]
fn watch_restarted_midway_reports_each_point_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let scan = tmp.path().join("scan");
    let scan_s = scan.to_str().expect("utf-8 path");
    let mut sim = simulate(&[
        scan_s,
        "--serial",
        "EA0001",
        "--points",
        "4",
        "--events",
        "300",
        "--interval",
        "1",
    ]);
    let args = ["--settle", "0.3", "--points", "4"];
    let (w1, rx1) = watch(&scan, &args);
    let mut first = Vec::new();
    let end = Instant::now() + Duration::from_secs(60);
    while first.len() < 2 {
        match rx1.recv_timeout(end.saturating_duration_since(Instant::now())) {
            Ok(l) => first.push(l),
            Err(e) => panic!("first watch: {e:?} before 2 lines; got {first:#?}"),
        }
    }
    drop(w1); // kill it
    // Lines printed before the kill may still be in the pipe.
    first.extend(lines_until_close(
        &rx1,
        Duration::from_secs(10),
        "killed watch",
    ));

    let (mut w2, rx2) = watch(&scan, &args);
    let second = lines_until_close(&rx2, Duration::from_secs(120), "restarted watch");
    assert!(wait_exit(&mut w2, Duration::from_secs(10), "restarted watch").success());
    assert!(wait_exit(&mut sim, Duration::from_secs(30), "simulate").success());

    assert!(
        !second.is_empty(),
        "the first watch saw the whole scan: nothing was restarted"
    );
    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    let seen = points_of(&all);
    assert_eq!(
        seen.keys().cloned().collect::<Vec<_>>(),
        labels(4),
        "{all:#?}"
    );
    assert!(
        seen.values().all(|&n| n == 1),
        "a point reported twice: {seen:?}"
    );
}

#[test]
fn corrupt_point_is_reported_once_and_not_retried() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let scan = tmp.path().join("scan");
    let sn_dir = scan.join("EA0001");
    let p = SimParams {
        events: 300,
        ..SimParams::default()
    };
    let good = PointLabel::Surface {
        theta: 0.0,
        phi: 0.0,
    };
    let bad = PointLabel::Surface {
        theta: 15.0,
        phi: 0.0,
    };
    write_point(&sn_dir, &good, &simulate_point(&p, 1)).expect("write good point");
    write_point(&sn_dir, &bad, &simulate_point(&p, 2)).expect("write bad point");
    let f = sn_dir
        .join(point_dir_name(&bad))
        .join(channel_file_name(2, &bad));
    std::fs::write(&f, "Record Length: 520\nthis is not a waveform\n").expect("corrupt");

    let args = ["--settle", "0", "--points", "2"];
    let (mut w, rx) = watch(&scan, &args);
    let lines = lines_until_close(&rx, Duration::from_secs(60), "watch");
    assert!(wait_exit(&mut w, Duration::from_secs(10), "watch").success());
    assert_eq!(lines.len(), 2, "{lines:#?}");
    let docs: BTreeMap<String, serde_json::Value> = lines
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON");
            (v["point"].as_str().expect("point").to_string(), v)
        })
        .collect();
    assert_eq!(docs["theta15_phi0"]["status"], "failed");
    assert!(
        docs["theta15_phi0"]["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty())
    );
    assert_ne!(docs["theta0_phi0"]["status"], "failed");
    assert!(
        scan.join("EA0001-results/theta15_phi0/failed.json")
            .is_file()
    );

    // A second run finds both points finished: nothing is redone or reprinted.
    let (mut w, rx) = watch(&scan, &args);
    let again = lines_until_close(&rx, Duration::from_secs(30), "second watch");
    assert!(wait_exit(&mut w, Duration::from_secs(10), "second watch").success());
    assert!(again.is_empty(), "{again:#?}");
}

#[test]
fn ctrl_c_stops_the_watch_with_130() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (mut w, _rx) = watch(tmp.path(), &["--points", "3"]);
    std::thread::sleep(Duration::from_millis(800));
    let st = Command::new("kill")
        .args(["-INT", &w.0.id().to_string()])
        .status()
        .expect("run kill");
    assert!(st.success());
    let st = wait_exit(&mut w, Duration::from_secs(10), "interrupted watch");
    assert_eq!(st.code(), Some(130), "{st}");
}

#[test]
fn simulate_point_is_deterministic_and_shaped() {
    let p = SimParams {
        events: 600,
        ..SimParams::default()
    };
    let a = simulate_point(&p, 7);
    let b = simulate_point(&p, 7);
    assert_eq!(a, b);
    assert_ne!(a[2].samples, simulate_point(&p, 8)[2].samples);
    for w in &a {
        assert_eq!(w.events(), 600);
        assert_eq!(w.samples.len(), 600 * 520);
        assert!(
            w.samples
                .iter()
                .all(|&s| (0.0..16384.0).contains(&s) && s.fract() == 0.0)
        );
    }
    // Trigger: about +800 mV (the bench's positive level) from sample 50 for ~10 samples.
    let e = a[0].event(0);
    assert!(
        e[45] < 8100.0 && e[55] > 8000.0 + 6000.0 && e[70] < 8100.0,
        "{:?}",
        &e[40..75]
    );
    // Pick-off: a positive pulse a few samples after the trigger.
    let pick = a[1].event(0);
    let top = pick.iter().copied().fold(f32::MIN, f32::max);
    assert!(top > 7979.0 + 1500.0, "pick-off peak {top}");
    // PMT: the mean waveform dips at ~sample 212, not at the trigger.
    let mut mean = vec![0.0f64; 520];
    for ev in a[2].iter() {
        for (m, &s) in mean.iter_mut().zip(ev) {
            *m += f64::from(s) / 600.0;
        }
    }
    let (kmin, _) = mean
        .iter()
        .enumerate()
        .fold((0, f64::MAX), |b, (k, &v)| if v < b.1 { (k, v) } else { b });
    assert!((210..=218).contains(&kmin), "PMT peak at {kmin}");
}

#[test]
fn point_truth_varies_over_the_scan() {
    let p = SimParams::default();
    let pole = p.for_point(&PointLabel::Surface {
        theta: 0.0,
        phi: 0.0,
    });
    let rim = p.for_point(&PointLabel::Surface {
        theta: 75.0,
        phi: 90.0,
    });
    assert!((pole.gain / p.gain - 1.05).abs() < 1e-9);
    assert!(rim.gain < p.gain && rim.gain > 0.9 * p.gain);
    let hv = p.for_point(&PointLabel::Hv { volts: 1500.0 });
    assert!((hv.gain - p.gain).abs() < 1e-6);
    assert!(p.for_point(&PointLabel::Hv { volts: 1600.0 }).gain > 1.5 * p.gain);
    let mut bad = p.clone();
    bad.fall_ns = -1.0;
    assert!(bad.validate().is_err());
    assert!(p.validate().is_ok());
}

#[test]
fn write_point_writes_wavedump_ascii_atomically() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let p = SimParams {
        events: 3,
        ..SimParams::default()
    };
    let label = PointLabel::Hv { volts: 1500.0 };
    let waves = simulate_point(&p, 1);
    write_point(tmp.path(), &label, &waves).expect("write");
    write_point(tmp.path(), &label, &waves).expect("rewrite replaces");
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["wavesave_hv1500"]);
    let text = std::fs::read_to_string(tmp.path().join("wavesave_hv1500/wave2save_hv1500.txt"))
        .expect("read");
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 3 * (7 + 520));
    assert_eq!(lines[0], "Record Length: 520");
    assert_eq!(lines[2], "Channel: 2");
    assert_eq!(lines[527 + 3], "Event Number: 1");
    assert_eq!(
        lines[7].parse::<f32>().expect("sample"),
        waves[2].samples[0]
    );
}

/// A tube's HV check and its surface scan share `<SN>/`: each watch takes only its own
/// points (a surface watch that also took the voltages would count them and stop early).
#[test]
fn a_watch_takes_only_the_points_of_its_kind() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let scan = tmp.path().join("scan");
    let scan_s = scan.to_str().expect("utf-8 path");
    let mut sim = simulate(&[
        scan_s, "--serial", "EA0001", "--points", "3", "--events", "300",
    ]);
    assert!(wait_exit(&mut sim, Duration::from_secs(60), "simulate").success());
    // The HV check: two voltages, their files copied from the first surface point.
    let first = scan.join("EA0001").join("wavesave_theta0_phi0");
    let hv = scan.join("EA0001").join("wavesave_HV_CHECK");
    std::fs::create_dir_all(&hv).expect("mkdir");
    for entry in std::fs::read_dir(&first).expect("read point dir") {
        let name = entry.expect("entry").file_name();
        let name = name.to_str().expect("utf-8 name").to_string();
        for volts in [1500, 1550] {
            let to = name.replace("theta0_phi0", &format!("HV_{volts}"));
            std::fs::copy(first.join(&name), hv.join(to)).expect("copy");
        }
    }
    // Asked for 3 surface points, the watch must not stop after 3 of any kind.
    let (mut w, rx) = watch(
        &scan,
        &["--settle", "0", "--points", "3", "--kind", "surface"],
    );
    let lines = lines_until_close(&rx, Duration::from_secs(120), "surface watch");
    assert!(wait_exit(&mut w, Duration::from_secs(10), "watch").success());
    let seen = points_of(&lines);
    assert_eq!(
        seen.keys().cloned().collect::<Vec<_>>(),
        labels(3),
        "{lines:#?}"
    );
    let out = tmp.path().join("hv-out");
    let (mut w, rx) = watch(
        &scan,
        &[
            "--settle",
            "0",
            "--points",
            "2",
            "--kind",
            "hv",
            "--out",
            out.to_str().expect("utf-8"),
        ],
    );
    let lines = lines_until_close(&rx, Duration::from_secs(120), "HV watch");
    assert!(wait_exit(&mut w, Duration::from_secs(10), "watch").success());
    let seen = points_of(&lines);
    assert_eq!(
        seen.keys().cloned().collect::<Vec<_>>(),
        ["hv1500", "hv1550"],
        "{lines:#?}"
    );
}

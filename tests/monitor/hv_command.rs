//! The HV check in command mode (issue 12): the lab's own `HV_CHECK.slurm {SN} {HV…}` — a
//! stand-in written by the test — is submitted with `sbatch` over SSH to the test
//! cluster's SLURM and writes the old layout: `HV_output_<stamp>/<SN>/data_HV_<V>/
//! <SN>_HV_<V>_GAIN.txt` (gain ± error, no per-voltage plot but one drawn late), then the
//! one-number `<SN>_HV_at_gain_1.00e+07.txt` and `<SN>_gain_vs_hv_loglog.png`. The monitor
//! follows the job and shows every gain, pmtwatch's own fit with its error, the lab's
//! voltage and plot, and offers the fitted voltage to the tube's next surface scan.

use std::time::Duration;

use pmtwatch::monitor::Mode;
use pmtwatch::remote::backend::{JobId, Kind};
use pmtwatch::remote::command_mode::CommandSpec;
use pmtwatch::store::{RunState, ScanKind};

use crate::common;
use crate::fixture::{Bench, PATTERN, open_dir, remote_spec};

/// A 1×1 greyscale PNG, base64 (the lab's plots).
const PNG_BASE64: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNoAAAAggCBd81ytgAAAABJRU5ErkJggg==";
/// The tube's truth: gain 1e7 at this voltage, slope 7.
const HV_AT_1E7: f64 = 1712.0;
const SLOPE: f64 = 7.0;
/// What the lab's own fit writes (not the truth, so the two results are told apart).
const LAB_VOLTS: &str = "1709.4";
/// The voltage whose charge plot the script draws after its gain (the rest have none).
const LATE_PLOT_VOLTS: u32 = 1700;

/// The stand-in for the lab's HV check: a gain ± 1 % per voltage given as arguments
/// (`printf %.4e`, so the test can recompute each), one late plot, then the result.
fn hv_script() -> String {
    format!(
        r#"#!/bin/bash
#SBATCH --job-name=hv-check
#SBATCH --mem=50M
#SBATCH --time=5
#SBATCH --output=slurm-%j.out
# Stand-in for HV_CHECK.slurm: the old HV layout, one voltage at a time.
set -eu
SN="$1"; shift
out="HV_output_$(date +%Y%m%d_%H%M%S)/$SN"
mkdir -p "$out"
echo "HV check of $SN at $*"
for V in "$@"; do
  d="$out/data_HV_$V"
  mkdir -p "$d"
  gain=$(awk -v v="$V" 'BEGIN {{ printf "%.4e", 1e7 * (v / {HV_AT_1E7}) ^ {SLOPE} }}')
  err=$(awk -v g="$gain" 'BEGIN {{ printf "%.4e", g * 0.01 }}')
  printf '%s ± %s\n' "$gain" "$err" > "$d/${{SN}}_HV_${{V}}_GAIN.txt"
  sleep 0.4
  if [ "$V" = {LATE_PLOT_VOLTS} ]; then
    printf '%s' '{PNG_BASE64}' | base64 -d > "$d/${{SN}}_HV_${{V}}_charge.png"
  fi
done
echo {LAB_VOLTS} > "$out/${{SN}}_HV_at_gain_1.00e+07.txt"
printf '%s' '{PNG_BASE64}' | base64 -d > "$out/${{SN}}_gain_vs_hv_loglog.png"
echo "HV check of $SN done"
"#
    )
}

/// The gain the script writes at `volts` (to 5 significant digits, as `printf %.4e`).
fn written_gain(volts: f64) -> f64 {
    let g = 1e7 * (volts / HV_AT_1E7).powf(SLOPE);
    format!("{g:.4e}").parse().expect("a number")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_labs_hv_script_in_command_mode_shows_its_gains_and_voltage() {
    let _slurm = common::slurm_shared().await;
    let b = Bench::new("hv-command").await;
    let serial = "KM4250";
    let lab = b.dir.join("lab");
    open_dir(&lab);
    std::fs::write(lab.join("HV_CHECK.slurm"), hv_script()).expect("write the lab script");
    let mut spec = remote_spec(&b.dir, PATTERN, Kind::Ssh);
    spec.mode = Mode::Command;
    spec.command = Some(CommandSpec::new(
        "sbatch ./HV_CHECK.slurm {SN} {HV...}",
        &lab.display().to_string(),
    ));
    let profile = b.profile("lab hv", spec).await;
    b.monitor
        .set_slot(1, serial.into(), Some(profile), ScanKind::Hv)
        .await
        .expect("set the slot");
    b.monitor
        .set_slot_hv_nominal(1, Some(1700.0))
        .await
        .expect("nominal HV");
    b.monitor
        .set_executor(true, "olga")
        .await
        .expect("executor");
    let id = b.monitor.start_run(1, "olga").await.expect("start").run_id;

    let long = Duration::from_secs(180);
    let v = b.wait_run(id, long, |v| v.run.state.is_final()).await;
    assert_eq!(v.run.state, RunState::Complete, "{}", v.run.message);
    let job: JobId = serde_json::from_str(v.run.job.as_deref().expect("a job")).expect("job");
    assert!(
        matches!(job, JobId::Slurm { .. }),
        "followed as a SLURM job: {job:?}"
    );
    assert!(
        v.run.remote_out.contains("HV_output_"),
        "{}",
        v.run.remote_out
    );
    // The script got one argument per voltage ({HV...}).
    let out = std::fs::read_dir(&lab)
        .expect("the lab directory")
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("slurm-"))
        .expect("the job's output file");
    let text = std::fs::read_to_string(out.path()).expect("read the job's output");
    assert!(
        text.contains(&format!("HV check of {serial} at 1600 1650 1700 1750 1800")),
        "{text}"
    );

    // Every voltage's gain and error, read from its _GAIN.txt alone.
    let want = ["hv1600", "hv1650", "hv1700", "hv1750", "hv1800"];
    assert_eq!(v.points.keys().collect::<Vec<_>>(), want);
    for p in v.points.values() {
        let volts = p.hv.expect("the voltage from data_HV_<V>");
        let gain = written_gain(volts);
        let shown = p.gain.expect("a gain");
        assert!(
            (shown / gain - 1.0).abs() < 2e-4,
            "{}: {shown} vs {gain}",
            p.label
        );
        let err = p.gain_err.expect("the error from the file");
        assert!((err / gain - 0.01).abs() < 1e-4, "{}: ± {err}", p.label);
        // Only one voltage had a plot, drawn after its gain; it reached the run anyway.
        let plot = b.monitor.run_dir(id).join(&p.label).join("charge.png");
        let late = volts == f64::from(LATE_PLOT_VOLTS);
        assert_eq!(plot.is_file(), late, "{}", plot.display());
    }

    // pmtwatch's own fit, with the errors the files gave (nothing assumed).
    let hv = v.hv.as_ref().expect("the fit is on the board");
    let r = &hv.result;
    let (volts, err) = (r.volts.expect("a voltage"), r.volts_err.expect("an error"));
    assert!(err > 0.0 && err < 20.0, "error {err}");
    assert!(
        (volts - HV_AT_1E7).abs() < (3.0 * err).max(2.0),
        "{volts} ± {err} V, truth {HV_AT_1E7} V"
    );
    assert_eq!((r.points_used, r.points_total), (5, 5), "{}", r.summary);
    assert!(
        r.summary.starts_with("HV for 1.00e7: 171") && r.summary.ends_with("(5 of 5 points)"),
        "{}",
        r.summary
    );
    assert!(
        hv.warnings.iter().all(|w| !w.contains("assumed")),
        "{:?}",
        hv.warnings
    );
    assert!(
        hv.plot.as_ref().is_some_and(|p| p.is_file()),
        "the fit's plot"
    );
    assert_eq!((v.run.hv, v.run.hv_err), (Some(volts), Some(err)));

    // The lab's own result beside it: its voltage and its plot.
    let lab_result = v.hv_lab.as_ref().expect("the lab's result is shown");
    assert_eq!(lab_result.volts, Some(LAB_VOLTS.parse().expect("number")));
    assert_eq!(lab_result.file, format!("{serial}_HV_at_gain_1.00e+07.txt"));
    assert!(lab_result.plot, "the lab's plot was copied");
    let png = std::fs::read(b.monitor.run_dir(id).join("hv_lab.png")).expect("the lab's plot");
    assert!(png.starts_with(b"\x89PNG"));

    // Stored per serial and offered to the slot's next surface scan.
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
}

//! Command mode: the lab's own script (a stand-in for `RUN_PMT_SCAN_DATA_MONITOR.slurm`)
//! runs over SSH and writes the old layout — `scan_output_<stamp>/<SN>/data_theta<T>_phi<P>/
//! …_charge.png` and `…_GAIN.txt` — point by point; the monitor syncs it into the grid
//! (gain read from the file, poor outside the profile's range) and archiving moves the
//! script's run directory.

use std::path::Path;
use std::time::Duration;

use pmtwatch::monitor::{Mode, ProfileSpec, ReviewAction};
use pmtwatch::remote::backend::{Backend, JobId, Kind};
use pmtwatch::remote::command_mode::CommandSpec;
use pmtwatch::remote::slurm::JobState;
use pmtwatch::store::{PointStatus, Review, RunState};

use crate::fixture::{Bench, PATTERN, POOR, labels, open_dir, pattern_labels, remote_spec};

/// A 1×1 greyscale PNG, base64.
const PNG_BASE64: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNoAAAAggCBd81ytgAAAABJRU5ErkJggg==";

/// The stand-in lab script, one point every `step` seconds.
fn lab_script(step: f64) -> String {
    format!(
        r#"#!/bin/bash
# Stand-in for the lab's scan script: the old layout, one point every {step} s.
set -eu
SN="$1"
out="scan_output_$(date +%Y%m%d_%H%M%S)/$SN"
for point in 0:0 10:0 10:90 10:180 10:270; do
  t=${{point%%:*}}; p=${{point##*:}}
  d="$out/data_theta${{t}}_phi${{p}}"
  mkdir -p "$d"
  printf '%s' '{PNG_BASE64}' | base64 -d > "$d/live_data_${{SN}}_theta${{t}}_phi${{p}}_charge.png"
  gain=1.01e+07
  if [ "$t:$p" = "10:90" ]; then gain=5.2e+06; fi
  echo "$gain" > "$d/live_data_${{SN}}_theta${{t}}_phi${{p}}_GAIN.txt"
  sleep {step}
done
echo "scan of $SN done"
"#
    )
}

/// An SSH profile in command mode running `bash ./lab.sh {SN}` in `<dir>/lab`, where the
/// stand-in lab script (one point every `step` seconds) is written.
pub fn lab_profile(dir: &Path, step: f64) -> ProfileSpec {
    let lab = dir.join("lab");
    open_dir(&lab);
    std::fs::write(lab.join("lab.sh"), lab_script(step)).expect("write the lab script");
    let mut spec = remote_spec(dir, PATTERN, Kind::Ssh);
    spec.mode = Mode::Command;
    spec.command = Some(CommandSpec::new(
        "bash ./lab.sh {SN}",
        &lab.display().to_string(),
    ));
    spec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_labs_own_script_fills_the_grid_in_command_mode() {
    let b = Bench::new("command").await;
    let id = b.start_in_slot("KM5001", lab_profile(&b.dir, 0.3)).await;
    let v = b
        .wait_run(id, Duration::from_secs(120), |v| v.run.state.is_final())
        .await;
    assert_eq!(v.run.state, RunState::Complete, "{}", v.run.message);
    assert_eq!(labels(&v), pattern_labels(PATTERN));
    // The script ran detached, with a job directory a restarted server re-attaches to.
    let job: JobId = serde_json::from_str(v.run.job.as_deref().expect("a job")).expect("job");
    assert!(matches!(job, JobId::Process { .. }), "{job:?}");
    for (label, p) in &v.points {
        let (status, gain) = if label == POOR {
            (PointStatus::Poor, 5.2e6)
        } else {
            (PointStatus::Healthy, 1.01e7)
        };
        assert_eq!(p.status, status, "{label}");
        assert_eq!(p.gain, Some(gain), "{label}");
        assert!(
            b.monitor
                .run_dir(id)
                .join(label)
                .join("charge.png")
                .is_file()
        );
    }
    assert!(
        v.run.remote_out.contains("scan_output_"),
        "{}",
        v.run.remote_out
    );
    let run = b
        .monitor
        .review(id, ReviewAction::Archive, "olga", false)
        .await
        .expect("archive");
    assert_eq!(run.review, Review::Archived);
    assert!(
        std::path::Path::new(&run.review_dest)
            .join("KM5001")
            .is_dir()
    );
    assert!(!std::path::Path::new(&v.run.remote_out).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_a_command_run_with_cancel_ends_the_script() {
    let b = Bench::new("command-cancel").await;
    let spec = lab_profile(&b.dir, 30.0);
    let id = b.start_in_slot("KM5002", spec.clone()).await;
    let v = b
        .wait_run(id, Duration::from_secs(120), |v| !v.points.is_empty())
        .await;
    let job: JobId = serde_json::from_str(v.run.job.as_deref().expect("a job")).expect("job");
    b.monitor.stop_run(id, true, "olga").await.expect("stop");
    let v = b
        .wait_run(id, Duration::from_secs(120), |v| v.run.state.is_final())
        .await;
    assert_eq!(v.run.state, RunState::Cancelled, "{}", v.run.message);
    assert!(v.run.message.contains("cancelled"), "{}", v.run.message);
    let backend = Backend::new(spec.backend_config("pmtwatch").expect("config")).expect("backend");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let info = backend.poll_job(&job).await.expect("poll the script");
        if info.state == JobState::Cancelled {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{job} is {:?}, not cancelled",
            info.state
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Finding 7 of issue 10: README advertised `{HV}`, `{RUN}` and `{DIR}` but the engine
/// filled only `{SN}`, so such a template failed at the run's start. Each is filled now
/// (an HV check's voltages, the run id, the profile's remote directory); `{POINT}`, which
/// a once-per-run command cannot have, is refused when the profile is saved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_placeholders_hv_run_and_dir_are_filled_by_the_engine() {
    let b = Bench::new("command-values").await;
    let mut spec = lab_profile(&b.dir, 0.05);
    let lab = b.dir.join("lab");
    // Records its arguments, then runs the stand-in scan.
    std::fs::write(
        lab.join("args.sh"),
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > args.txt\nexec bash ./lab.sh \"$1\"\n",
    )
    .expect("write the wrapper");
    let dir = lab.display().to_string();
    spec.command = Some(CommandSpec::new("sh ./args.sh {SN} {HV} {RUN} {DIR}", &dir));
    let mut point = spec.clone();
    point.command = Some(CommandSpec::new("sh ./args.sh {SN} {POINT}", &dir));
    assert!(
        point.validate().iter().any(|e| e.field == "command"),
        "{{POINT}} must be refused on save: {:?}",
        point.validate()
    );
    let id = b.start_in_slot("KM5010", spec.clone()).await;
    let v = b
        .wait_run(id, Duration::from_secs(120), |v| v.run.state.is_final())
        .await;
    assert_eq!(v.run.state, RunState::Complete, "{}", v.run.message);
    let args = std::fs::read_to_string(lab.join("args.txt")).expect("the script's arguments");
    let want = format!("KM5010\n{}\n{id}\n{dir}\n", spec.hv_nominal);
    assert_eq!(args, want);
}

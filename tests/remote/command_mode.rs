//! Command mode against the test cluster's real sshd and SLURM (`scripts/test-cluster.sh`):
//! a stand-in for the lab's old `RUN_PMT_SCAN_DATA_MONITOR.slurm` writes the old layout
//! (`scan_output_<stamp>/<SN>/data_theta<T>_phi<P>/live_data_…_charge.png` and `…_GAIN.txt`)
//! point by point over a few seconds, run once directly (`bash ./script {SN}`) and once
//! through SLURM (`sbatch ./script {SN}`); repeated syncs follow it until every point is
//! local, and θ/φ, gains, files and "each point once" are checked exactly. Also: hostile
//! serials are refused before anything connects, hostile values reach the script as one
//! word with no canary ever created, and a failing command is reported with its exit code
//! and output tail.
//!
//! Every loop has a deadline; without the cluster's environment the tests fail with what
//! to do (`common::cluster()`), they never skip.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{self, cluster};

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use pmtwatch::pipeline::scan::PointLabel;
use pmtwatch::pipeline::serial::Serial;
use pmtwatch::remote::Error;
use pmtwatch::remote::command_mode::{
    CommandPoint, CommandProfile, CommandSync, PointFailure, SyncEvent, SyncRound,
};
use pmtwatch::remote::jobs;
use pmtwatch::remote::ssh::SshSession;
use pmtwatch::remote::template::{HOSTILE_CANARY, hostile_values};
use pmtwatch::remote::transfer::Transfer;

/// A 1×1 greyscale PNG (67 bytes), as the fake lab script writes it (base64 below).
const PNG: [u8; 67] = [
    137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0,
    0, 0, 58, 126, 155, 85, 0, 0, 0, 10, 73, 68, 65, 84, 120, 156, 99, 104, 0, 0, 0, 130, 0, 129,
    119, 205, 114, 182, 0, 0, 0, 0, 73, 69, 78, 68, 174, 66, 96, 130,
];
const PNG_BASE64: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNoAAAAggCBd81ytgAAAABJRU5ErkJggg==";

/// The points the fake script writes, in order, with a valid gain `1.0<i>3e+07` each.
const GOOD_POINTS: [(u32, u32); 7] = [
    (0, 0),
    (15, 0),
    (15, 90),
    (15, 180),
    (15, 270),
    (30, 0),
    (30, 90),
];
/// The point whose gain file arrives 1.5 s after its plot (several syncs later).
const LATE_GAIN: usize = 2;
/// The last point: its gain file holds `nan`, a per-point error.
const BAD_POINT: (u32, u32) = (45, 0);
/// Seed of the hostile values ("cmd").
const SEED: u64 = 0x636d64;
/// Another PMT's files in the same run directory: never synced.
const OTHER_SERIAL: &str = "OTHER-1";

/// The stand-in for the lab's SLURM script. The `#SBATCH` lines are comments to bash, so
/// the same file runs directly and under `sbatch` (the test node has 1000 MB).
fn lab_script() -> String {
    let points: Vec<String> = GOOD_POINTS
        .iter()
        .map(|(t, p)| format!("{t}:{p}"))
        .collect();
    format!(
        r#"#!/bin/bash
#SBATCH --job-name=pmt-cmd-mode
#SBATCH --mem=100M
#SBATCH --time=5
#SBATCH --output=slurm-%j.out
# Stand-in for RUN_PMT_SCAN_DATA_MONITOR.slurm: the old layout, point by point.
set -eu
SN="$1"
stamp=$(date +%Y%m%d_%H%M%S)
out="scan_output_$stamp/$SN"
mkdir -p "scan_output_$stamp/{OTHER_SERIAL}/data_theta0_phi0" "$out"
printf '%s' '{PNG_BASE64}' | base64 -d > "scan_output_$stamp/{OTHER_SERIAL}/data_theta0_phi0/live_data_x_charge.png"
echo "not a result" > "$out/notes.txt"
i=0
for point in {points}; do
  t=${{point%%:*}}; p=${{point##*:}}
  d="$out/data_theta${{t}}_phi${{p}}"
  mkdir -p "$d"
  printf '%s' '{PNG_BASE64}' | base64 -d > "$d/live_data_${{SN}}_theta${{t}}_phi${{p}}_charge.png"
  if [ "$i" = {LATE_GAIN} ]; then sleep 1.5; fi
  printf '1.0%d3e+07\n' "$i" > "$d/live_data_${{SN}}_theta${{t}}_phi${{p}}_GAIN.txt"
  i=$((i+1))
  sleep 0.3
done
d="$out/data_theta{bt}_phi{bp}"
mkdir -p "$d"
printf '%s' '{PNG_BASE64}' | base64 -d > "$d/live_data_${{SN}}_charge.png"
echo nan > "$d/live_data_${{SN}}_GAIN.txt"
echo "scan of $SN done: $i good points in $out"
"#,
        points = points.join(" "),
        bt = BAD_POINT.0,
        bp = BAD_POINT.1,
    )
}

/// A fresh remote directory, removed when dropped (best effort, over a fresh `ssh`).
struct RemoteDir {
    path: String,
}

impl RemoteDir {
    async fn new(s: &SshSession, tag: &str) -> RemoteDir {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("clock")
            .as_nanos();
        let path = format!("/tmp/pmtwatch-cmd-{tag}-{}-{nanos}", std::process::id());
        s.run_ok(&["mkdir", "-p", "--", &path])
            .await
            .expect("mkdir");
        RemoteDir { path }
    }
}

impl Drop for RemoteDir {
    fn drop(&mut self) {
        let c = cluster();
        let _ = Command::new("ssh")
            .args(["-F", "/dev/null", "-o", "BatchMode=yes", "-i"])
            .arg(&c.key)
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", c.known_hosts.display()))
            .args(["-p", &c.port.to_string()])
            .arg(format!("{}@{}", c.user, c.host))
            .args(["rm", "-rf", "--", &self.path])
            .status();
    }
}

async fn connect() -> SshSession {
    tokio::time::timeout(
        Duration::from_secs(30),
        SshSession::connect(cluster().target()),
    )
    .await
    .expect("connect within 30 s")
    .expect("ssh to the test cluster (is it running?)")
}

/// Writes `text` to `path` on the remote side, executable: fixed script, values as args.
async fn write_remote(s: &SshSession, path: &str, text: &str) {
    s.run_ok(&[
        "sh",
        "-c",
        r#"printf '%s' "$1" > "$2" && chmod 755 "$2""#,
        "sh",
        text,
        path,
    ])
    .await
    .expect("write a remote script");
}

fn sn(s: &str) -> BTreeMap<&'static str, String> {
    BTreeMap::from([("SN", s.to_string())])
}

fn serial() -> Serial {
    Serial::parse(&format!("EA{}", std::process::id() % 100_000)).expect("serial")
}

/// Everything the syncs reported, with the round each event and download came in.
#[derive(Default)]
struct Followed {
    points: Vec<(usize, CommandPoint)>,
    failed: Vec<(usize, PointFailure)>,
    downloaded: BTreeMap<PathBuf, usize>,
    warnings: Vec<String>,
    rounds: usize,
}

impl Followed {
    fn take(&mut self, round: SyncRound) {
        let n = self.rounds;
        self.rounds += 1;
        for e in round.events {
            match e {
                SyncEvent::Point(p) => self.points.push((n, p)),
                SyncEvent::Failed(f) => self.failed.push((n, f)),
            }
        }
        for d in round.downloaded {
            self.downloaded.entry(d).or_insert(n);
        }
        self.warnings.extend(round.warnings);
    }

    fn events(&self) -> usize {
        self.points.len() + self.failed.len()
    }
}

/// Syncs every 200 ms until `events` events arrived or `deadline` passed.
async fn follow(
    sync: &mut CommandSync,
    x: &Transfer,
    events: usize,
    deadline: Instant,
) -> Followed {
    let mut f = Followed::default();
    while f.events() < events && Instant::now() < deadline {
        let round = sync.sync(x).await.expect("a sync round");
        f.take(round);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    f
}

/// The checks shared by the direct and the SLURM story.
async fn check_story(f: &Followed, sync: &mut CommandSync, x: &Transfer, local: &std::path::Path) {
    let expected = GOOD_POINTS.len() + 1;
    assert_eq!(
        f.events(),
        expected,
        "every point reported within the deadline; warnings: {:?}",
        f.warnings
    );
    let stamp = sync.run().expect("the run's stamp").to_string();
    assert_eq!(stamp.len(), "20240101_120000".len(), "{stamp}");

    // θ/φ and gains exactly, each point once.
    let labels: BTreeSet<String> = f.points.iter().map(|(_, p)| p.label.label()).collect();
    assert_eq!(
        labels.len(),
        GOOD_POINTS.len(),
        "each point once: {labels:?}"
    );
    for (i, (t, p)) in GOOD_POINTS.iter().enumerate() {
        let label = PointLabel::Surface {
            theta: f64::from(*t),
            phi: f64::from(*p),
        };
        let (_, point) = f
            .points
            .iter()
            .find(|(_, pt)| pt.label == label)
            .unwrap_or_else(|| panic!("{label} not reported"));
        let gain: f64 = format!("1.0{i}3e+07").parse().unwrap();
        assert_eq!(point.gain, gain, "{label}");
        assert_eq!(point.run.as_deref(), Some(stamp.as_str()));
        // Files complete locally, in the mirrored layout.
        let dir = local.join(format!(
            "scan_output_{stamp}/{}/data_theta{t}_phi{p}",
            serial()
        ));
        let charge_png = point.charge_png.as_ref().expect("the plot came first");
        assert_eq!(charge_png.parent(), Some(dir.as_path()));
        let png = std::fs::read(charge_png).unwrap();
        assert_eq!(png, PNG, "{label}: charge plot byte for byte");
        image::load_from_memory(&png).expect("a valid PNG");
        let text = std::fs::read_to_string(&point.gain_file).unwrap();
        assert_eq!(text, format!("1.0{i}3e+07\n"));
    }
    // The late gain file arrived rounds after its plot; the point came with the gain.
    let (t, p) = GOOD_POINTS[LATE_GAIN];
    let (late_round, late) = f
        .points
        .iter()
        .find(|(_, pt)| pt.label.label() == format!("theta{t}_phi{p}"))
        .expect("the late point");
    let png_round = f.downloaded[late.charge_png.as_ref().expect("its plot")];
    assert!(
        png_round < *late_round,
        "plot in round {png_round}, point in round {late_round}"
    );
    assert!(
        f.points
            .iter()
            .map(|(r, _)| r)
            .collect::<BTreeSet<_>>()
            .len()
            > 2,
        "points arrived over several syncs"
    );

    // The bad gain is one per-point error, not fatal for the sync.
    let [(_, bad)] = f.failed.as_slice() else {
        panic!("one failed point: {:?}", f.failed)
    };
    assert_eq!(
        bad.label,
        PointLabel::Surface {
            theta: f64::from(BAD_POINT.0),
            phi: f64::from(BAD_POINT.1)
        }
    );
    assert!(bad.error.contains("not a number"), "{}", bad.error);

    // Other serial's and unlisted files are not synced; the other serial is named once.
    assert!(
        f.downloaded.keys().all(|p| {
            let p = p.to_string_lossy();
            !p.contains(OTHER_SERIAL) && !p.ends_with("notes.txt")
        }),
        "{:?}",
        f.downloaded.keys()
    );
    assert_eq!(
        f.warnings
            .iter()
            .filter(|w| w.contains(OTHER_SERIAL))
            .count(),
        1,
        "{:?}",
        f.warnings
    );
    assert_eq!(
        f.downloaded.len(),
        2 * expected,
        "{:?}",
        f.downloaded.keys()
    );

    // Exactly once: more syncs report nothing and fetch nothing.
    for _ in 0..3 {
        let round = sync.sync(x).await.expect("sync");
        assert!(round.events.is_empty(), "{:?}", round.events);
        assert!(round.downloaded.is_empty(), "{:?}", round.downloaded);
    }
    assert_eq!(sync.reported(), GOOD_POINTS.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_script_old_layout_is_synced_point_by_point() {
    let s = connect().await;
    let x = Transfer::open(&s).await.expect("SFTP");
    let dir = RemoteDir::new(&s, "direct").await;
    write_remote(&s, &format!("{}/run_scan.sh", dir.path), &lab_script()).await;
    let local = tempfile::tempdir().expect("local dir");

    let profile = CommandProfile::with_defaults("bash ./run_scan.sh {SN}", &dir.path).unwrap();
    let cmd = profile.prepare(&sn(serial().as_str())).unwrap();
    assert!(!cmd.is_sbatch());
    let running = cmd.start(&s).await.expect("start the script");
    let mut sync = CommandSync::new(&profile, serial(), local.path(), running.started());
    let deadline = Instant::now() + Duration::from_secs(60);
    let (run, followed) = tokio::join!(
        tokio::time::timeout(Duration::from_secs(60), running.wait()),
        follow(&mut sync, &x, GOOD_POINTS.len() + 1, deadline),
    );
    let run = run
        .expect("the script ends within 60 s")
        .expect("the script succeeds");
    assert_eq!(run.job_id, None);
    assert!(
        run.output_tail
            .contains(&format!("scan of {} done: 7 good points", serial())),
        "{}",
        run.output_tail
    );
    check_story(&followed, &mut sync, &x, local.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slurm_job_old_layout_is_followed_to_the_end() {
    let _slurm = common::slurm_shared().await;
    let s = connect().await;
    let x = Transfer::open(&s).await.expect("SFTP");
    let dir = RemoteDir::new(&s, "slurm").await;
    let script = format!("{}/RUN_PMT_SCAN_DATA_MONITOR.slurm", dir.path);
    write_remote(&s, &script, &lab_script()).await;
    let local = tempfile::tempdir().expect("local dir");

    let profile =
        CommandProfile::with_defaults("sbatch ./RUN_PMT_SCAN_DATA_MONITOR.slurm {SN}", &dir.path)
            .unwrap();
    let cmd = profile.prepare(&sn(serial().as_str())).unwrap();
    assert!(cmd.is_sbatch());
    let run = cmd.run(&s).await.expect("sbatch submits");
    let id = run.job_id.expect("the job id from `Submitted batch job N`");
    assert!(
        run.output_tail.contains(&id.to_string()),
        "{}",
        run.output_tail
    );

    let mut sync = CommandSync::new(&profile, serial(), local.path(), run.started);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut followed = Followed::default();
    let mut last_state = None;
    loop {
        let polled = jobs::poll(&s, id).await;
        let round = sync.sync(&x).await.expect("a sync round");
        followed.take(round);
        if let Ok(info) = &polled
            && jobs::is_final(&info.state)
        {
            last_state = Some(info.clone());
        }
        let done = last_state.is_some() && followed.events() > GOOD_POINTS.len();
        if done || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let info = last_state.unwrap_or_else(|| {
        panic!(
            "job {id} not finished within 120 s; events {}",
            followed.events()
        )
    });
    assert!(info.state.is_success(), "{}", info.summary());
    check_story(&followed, &mut sync, &x, local.path()).await;
}

/// A hostile serial never gets as far as a session: `prepare` needs none, and refuses.
#[test]
fn hostile_serials_are_refused_before_any_connection() {
    let profile = CommandProfile::with_defaults(
        "sbatch ./RUN_PMT_SCAN_DATA_MONITOR.slurm {SN}",
        "/nonexistent/never/used",
    )
    .unwrap();
    let mut refused = 0;
    for v in hostile_values(1_000, SEED) {
        match profile.prepare(&sn(&v)) {
            Ok(cmd) => {
                assert!(Serial::parse(&v).is_ok(), "{v:?} accepted as a serial");
                assert_eq!(
                    cmd.line(),
                    format!("sbatch ./RUN_PMT_SCAN_DATA_MONITOR.slurm {v}")
                );
            }
            Err(Error::Invalid { what, .. }) => {
                assert!(what.contains("{SN}"), "{what}");
                refused += 1;
            }
            Err(e) => panic!("{v:?}: {e}"),
        }
    }
    assert!(refused > 900, "refused {refused}");
}

/// Hostile values in other placeholders reach the lab script as one word each, byte for
/// byte, and no canary appears in the command's directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_values_reach_the_script_as_one_word() {
    let s = connect().await;
    let dir = RemoteDir::new(&s, "hostile").await;
    // Prints its argument count, then the second argument in hex: exact bytes, one line.
    write_remote(
        &s,
        &format!("{}/args.sh", dir.path),
        "#!/bin/sh\nprintf '%s:' \"$#\"; printf '%s' \"$2\" | od -An -v -tx1 | tr -d ' \\n'; echo\n",
    )
    .await;
    let profile = CommandProfile::with_defaults("sh ./args.sh {SN} {RUN}", &dir.path).unwrap();
    let started = Instant::now();
    let (mut ran, mut refused) = (0, 0);
    for v in hostile_values(150, SEED) {
        let values = BTreeMap::from([("SN", "EA1".to_string()), ("RUN", v.clone())]);
        let Ok(cmd) = profile.prepare(&values) else {
            refused += 1;
            continue;
        };
        let run = cmd.run(&s).await.expect("run");
        let hex: String = v.bytes().map(|b| format!("{b:02x}")).collect();
        assert_eq!(run.output_tail, format!("2:{hex}"), "{v:?}");
        ran += 1;
        assert!(started.elapsed() < Duration::from_secs(120), "bounded");
    }
    let canary = format!("{}/{HOSTILE_CANARY}", dir.path);
    let check = s.run(&["test", "-e", &canary]).await.expect("test -e");
    assert_eq!(check.status, Some(1), "{canary} was created");
    assert!(ran > 50 && refused > 0, "ran {ran}, refused {refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_command_reports_exit_code_and_output_tail() {
    let s = connect().await;
    let dir = RemoteDir::new(&s, "fail").await;
    write_remote(
        &s,
        &format!("{}/fail.sh", dir.path),
        "#!/bin/bash\necho \"starting scan of $1\"\necho 'HV supply not answering' >&2\nexit 3\n",
    )
    .await;
    let profile = CommandProfile::with_defaults("bash ./fail.sh {SN}", &dir.path).unwrap();
    let cmd = profile.prepare(&sn("EA0123")).unwrap();
    match tokio::time::timeout(Duration::from_secs(30), cmd.run(&s))
        .await
        .expect("within 30 s")
    {
        Err(Error::Command {
            status,
            stderr_tail,
            command,
            ..
        }) => {
            assert_eq!(status, "status 3");
            assert_eq!(command, "bash ./fail.sh EA0123");
            assert!(
                stderr_tail.contains("starting scan of EA0123")
                    && stderr_tail.contains("HV supply not answering"),
                "{stderr_tail}"
            );
        }
        other => panic!("a failing command: {other:?}"),
    }

    // A directory that does not exist is the same kind of error, and says so.
    let profile =
        CommandProfile::with_defaults("bash ./fail.sh {SN}", &format!("{}/missing", dir.path))
            .unwrap();
    let e = profile
        .prepare(&sn("EA0123"))
        .unwrap()
        .run(&s)
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("status 125") && text.contains("cannot enter the command directory"),
        "{text}"
    );
}

/// Runs a fixed `sh` script in `dir` with `args` as its positional parameters.
async fn remote_sh(s: &SshSession, dir: &str, script: &str, args: &[&str]) {
    let mut argv = vec!["sh", "-c", script, "sh", dir];
    argv.extend_from_slice(args);
    s.run_ok(&argv).await.expect("remote script");
}

/// Writes `text` (may be empty) to `<dir>/<rel>`, creating its directory.
const PUT: &str = r#"cd "$1" && mkdir -p "$(dirname "$2")" && printf '%s' "$3" > "$2""#;

/// The sync on its own, over hand-made layouts: the newest run of the serial is followed
/// (an older one is never synced, a newer one that appears later takes over), an empty
/// gain file waits for its number, a bad gain is one failure and a corrected one then
/// reports the point, a rewritten good file is fetched again but not reported twice, and a
/// gain file without a plot is a point (its plot, drawn later, comes as a late plot).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_follows_the_newest_run_and_reports_each_point_once() {
    let s = connect().await;
    let x = Transfer::open(&s).await.expect("SFTP");
    let dir = RemoteDir::new(&s, "runs").await;
    let local = tempfile::tempdir().expect("local dir");
    let profile = CommandProfile::with_defaults("true", &dir.path).unwrap();
    let sn = serial();
    let put = |rel: String, text: &'static str| {
        let s = &s;
        let dir = dir.path.clone();
        async move { remote_sh(s, &dir, PUT, &[&rel, text]).await }
    };
    let point = |run: &str, t: u32, file: &str| {
        format!("scan_output_{run}/{sn}/data_theta{t}_phi0/live_data_{file}")
    };
    for run in ["20240101_000000", "20240102_000000"] {
        put(point(run, 0, "charge.png"), "png").await;
    }
    put(point("20240101_000000", 0, "GAIN.txt"), "1e7\n").await;
    put(point("20240102_000000", 0, "GAIN.txt"), "2e7\n").await;

    // From the beginning of time: only the newer run, and its point once.
    let mut sync = CommandSync::new(&profile, sn.clone(), local.path(), SystemTime::UNIX_EPOCH);
    let round = sync.sync(&x).await.expect("sync");
    let [SyncEvent::Point(p)] = round.events.as_slice() else {
        panic!("one point: {:?}", round.events)
    };
    assert_eq!((p.run.as_deref(), p.gain), (Some("20240102_000000"), 2e7));
    assert_eq!(sync.run(), Some("20240102_000000"));
    assert!(
        round
            .warnings
            .iter()
            .any(|w| w.contains("scan_output_20240101_000000") && w.contains("older")),
        "{:?}",
        round.warnings
    );
    assert_eq!(round.downloaded.len(), 2, "{:?}", round.downloaded);

    // An empty gain file waits; a bad one fails once; fixed, the point is reported.
    let run = "20240102_000000";
    put(point(run, 15, "charge.png"), "png").await;
    put(point(run, 15, "GAIN.txt"), "").await;
    assert!(sync.sync(&x).await.expect("sync").events.is_empty());
    put(point(run, 15, "GAIN.txt"), "NaN\n").await;
    let round = sync.sync(&x).await.expect("sync");
    let [SyncEvent::Failed(f)] = round.events.as_slice() else {
        panic!("one failure: {:?}", round.events)
    };
    assert!(f.error.contains("not a number"), "{}", f.error);
    assert!(sync.sync(&x).await.expect("sync").events.is_empty());
    put(point(run, 15, "GAIN.txt"), "1.5e7\n").await;
    let round = sync.sync(&x).await.expect("sync");
    let [SyncEvent::Point(p)] = round.events.as_slice() else {
        panic!("the corrected point: {:?}", round.events)
    };
    assert_eq!((p.label.label().as_str(), p.gain), ("theta15_phi0", 1.5e7));

    // A rewritten good gain file is fetched again (the local copy stays current) but the
    // point is not reported twice.
    put(point(run, 15, "GAIN.txt"), "1.6e7\n").await;
    let round = sync.sync(&x).await.expect("sync");
    assert!(round.events.is_empty(), "{:?}", round.events);
    assert_eq!(round.downloaded.len(), 1);
    assert_eq!(
        std::fs::read_to_string(&round.downloaded[0]).unwrap(),
        "1.6e7\n"
    );

    // Issue 12: the gain file alone makes the point (the old HV script draws no plot per
    // voltage), with its error when the file gives one; a plot written later is handed
    // over as a late plot, not reported as a second point.
    put(point(run, 45, "GAIN.txt"), "1.2e7 \u{b1} 3e5\n").await;
    let round = sync.sync(&x).await.expect("sync");
    let [SyncEvent::Point(p)] = round.events.as_slice() else {
        panic!("the point without a plot: {:?}", round.events)
    };
    assert_eq!(
        (p.label.label().as_str(), p.gain, p.gain_err),
        ("theta45_phi0", 1.2e7, Some(3e5))
    );
    assert_eq!(p.charge_png, None);
    put(point(run, 45, "charge.png"), "png").await;
    let round = sync.sync(&x).await.expect("sync");
    assert!(round.events.is_empty(), "{:?}", round.events);
    let [late] = round.plots.as_slice() else {
        panic!("the late plot: {:?}", round.plots)
    };
    assert_eq!(late.label.label(), "theta45_phi0");
    assert_eq!(std::fs::read(&late.charge_png).unwrap(), b"png");

    // A newer run appears (the scan was restarted): it takes over, same label, new run.
    let newer = "20240103_000000";
    put(point(newer, 0, "charge.png"), "png").await;
    put(point(newer, 0, "GAIN.txt"), "3e7\n").await;
    let round = sync.sync(&x).await.expect("sync");
    let [SyncEvent::Point(p)] = round.events.as_slice() else {
        panic!("the newer run's point: {:?}", round.events)
    };
    assert_eq!((p.run.as_deref(), p.gain), (Some(newer), 3e7));
    assert_eq!(p.label.label(), "theta0_phi0");
    assert!(round.warnings.iter().any(|w| w.contains("newer run")));
    // The older run's new files are not synced any more.
    put(point(run, 30, "charge.png"), "png").await;
    put(point(run, 30, "GAIN.txt"), "4e7\n").await;
    let round = sync.sync(&x).await.expect("sync");
    assert!(
        round.events.is_empty() && round.downloaded.is_empty(),
        "{round:?}"
    );
    assert_eq!(sync.reported(), 4);
}

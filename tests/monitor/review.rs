//! Review races and crash safety (issue 10): two reviewers at once, a missing source, a
//! crash mid-review (in-process and with `kill -9` of a process mid-review), a job that
//! still writes, a watch whose result directory was moved away, command mode's shared
//! `scan_output_<stamp>` directory, and a double click on Start.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pmtwatch::control::Commands;
use pmtwatch::monitor::{Monitor, ProfileSpec, ReviewAction};
use pmtwatch::remote::backend::{Backend, JobSpec};
use pmtwatch::store::{NewRun, Review, ReviewStep, Role, RunState, ScanKind, SessionUser, Store};

use crate::command::lab_profile;
use crate::fixture::{Bench, PATTERN, open_dir};
use crate::restart::Server;

const BIN: &str = env!("CARGO_BIN_EXE_pmtwatch");

/// A finished (complete) run of `serial` in slot 1 whose data — `files` files in two point
/// directories — is at `<work>/runs/<id>-<SN>` (or `out` when given); its id and data dir.
fn finished_run(
    store: &Store,
    dir: &Path,
    spec: &ProfileSpec,
    serial: &str,
    out: Option<PathBuf>,
    files: usize,
) -> (i64, PathBuf) {
    let id = store
        .create_run(&NewRun {
            slot_id: 1,
            serial: serial.into(),
            kind: ScanKind::Surface,
            profile_name: "p".into(),
            profile: serde_json::to_string(spec).expect("spec"),
            points_total: 5,
            operator: "olga".into(),
        })
        .expect("run")
        .id;
    let out = out.unwrap_or_else(|| dir.join("work/runs").join(format!("{id}-{serial}")));
    // Writable for the SSH test user too (moving a directory rewrites its `..`).
    open_dir(&out);
    for (i, point) in ["theta0_phi0", "theta10_phi0"].iter().enumerate() {
        let p = out.join(point);
        open_dir(&p);
        for f in 0..files.div_ceil(2) {
            std::fs::write(p.join(format!("f{f}.json")), format!("{i} {f}")).expect("write");
        }
    }
    store
        .set_run_remote_out(id, &out.display().to_string())
        .expect("remote_out");
    store
        .set_run_state(id, RunState::Running, "")
        .expect("running");
    store
        .set_run_state(id, RunState::Complete, "5/5 points")
        .expect("complete");
    (id, out)
}

/// A signed-in session of a new operator `name`.
fn operator(store: &Store, name: &str) -> SessionUser {
    let u = store
        .add_user(name, Role::Operator, "operator-password")
        .expect("user");
    let s = store.create_session(u.id, 3600, "test").expect("session");
    store
        .session_user(&s.token, 3600)
        .expect("read")
        .expect("valid session")
}

/// Waits (bounded) until no run's review is half done.
async fn wait_no_requested(store: &Store) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = store.interrupted_reviews().expect("read");
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "reviews still half done: {:?}",
            left.iter()
                .map(|(r, _)| (r.id, r.review))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The run's data is exactly where the store says: at `review_dest` for a reviewed run
/// (and not at the source), at the source for an unreviewed one (and nothing at the
/// destination `dest`).
fn data_where_the_store_says(store: &Store, id: i64, src: &Path, dest: &Path) -> Review {
    let run = store.get_run(id).expect("read").expect("run");
    match run.review {
        Review::Archived | Review::Flagged => {
            assert_eq!(Path::new(&run.review_dest), dest, "run {id}");
            assert!(
                dest.join("theta0_phi0").is_dir(),
                "run {id}: data at {dest:?}"
            );
            assert!(!src.exists(), "run {id}: the source is gone");
        }
        Review::Unreviewed => {
            assert!(
                src.join("theta0_phi0").is_dir(),
                "run {id}: data at {src:?}"
            );
            assert!(!dest.exists(), "run {id}: nothing at {dest:?}");
            assert_eq!(run.review_dest, "");
        }
        other => panic!("run {id} is still {other}"),
    }
    run.review
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_reviewers_at_once_one_wins_and_the_loser_is_told_who_won() {
    let b = Bench::new("review-race").await;
    let spec = b.local_spec(PATTERN);
    let commands = Commands::new(
        b.store.clone(),
        b.monitor.clone(),
        Duration::from_secs(3600),
    );
    let olga = operator(&b.store, "olga");
    let otto = operator(&b.store, "otto");
    for round in 0..5 {
        let (id, out) = finished_run(&b.store, &b.dir, &spec, "KM7001", None, 4);
        let flag = ReviewAction::Flag {
            reason: "HV trip".into(),
        };
        // Both browsers' requests through the real command layer, at the same moment.
        let (first, second) = if round % 2 == 0 {
            (olga.clone(), otto.clone())
        } else {
            (otto.clone(), olga.clone())
        };
        let (a, f) = tokio::join!(
            commands.review(&first, id, ReviewAction::Archive),
            commands.review(&second, id, flag)
        );
        let (winner, loser) = match (&a, &f) {
            (Ok(_), Err(e)) => (&first.name, e.to_string()),
            (Err(e), Ok(_)) => (&second.name, e.to_string()),
            _ => panic!("round {round}: exactly one review must win: {a:?} / {f:?}"),
        };
        assert!(
            loser.contains("already") && loser.contains(winner.as_str()),
            "round {round}: the loser is told who won: {loser}"
        );
        let run = b.store.get_run(id).expect("read").expect("run");
        let area = if run.review == Review::Flagged {
            "flag"
        } else {
            "archive"
        };
        let dest = b.dir.join(area).join(format!("KM7001_run{id}"));
        data_where_the_store_says(&b.store, id, &out, &dest);
        assert_eq!(&run.reviewed_by, winner);
        let entries = b.store.recent_audit(200).expect("audit");
        let done = entries
            .iter()
            .filter(|e| {
                (e.action == "run_archive" || e.action == "run_flag") && e.details["run"] == id
            })
            .count();
        assert_eq!(done, 1, "round {round}: one review recorded");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_source_is_an_error_not_an_empty_archive() {
    let b = Bench::new("review-missing").await;
    let (id, out) = finished_run(&b.store, &b.dir, &b.local_spec(PATTERN), "KM7002", None, 2);
    std::fs::remove_dir_all(&out).expect("remove the data");
    let err = b
        .monitor
        .review(id, ReviewAction::Archive, "olga", false)
        .await
        .expect_err("nothing to archive is not an archive");
    assert!(err.to_string().contains("does not exist"), "{err}");
    let run = b.store.get_run(id).expect("read").expect("run");
    assert_eq!(run.review, Review::Unreviewed);
    assert_eq!(run.review_dest, "");
    assert!(
        b.store
            .recent_audit(20)
            .expect("audit")
            .iter()
            .any(|e| e.action == "run_review_failed" && e.details["run"] == id)
    );
}

/// Puts a run in `archive_requested` from `src` to `dest`, as a review does before it moves.
fn requested(store: &Store, id: i64, src: &Path, dest: &Path) {
    let step = ReviewStep {
        review: Review::ArchiveRequested,
        reason: "",
        by: "olga",
        src: &src.display().to_string(),
        dest: &dest.display().to_string(),
    };
    store
        .transition_review(id, Review::Unreviewed, step, None)
        .expect("store")
        .expect("was unreviewed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_cut_short_by_a_crash_is_finished_or_rolled_back_at_start() {
    let b = Bench::new("review-crash").await;
    let spec = b.local_spec(PATTERN);
    let archive = b.dir.join("archive");
    // 1: moved, store not updated. 2: not moved yet. 3: a copy across filesystems cut
    // short (the destination has part of the data; the source all of it).
    let (moved, src1) = finished_run(&b.store, &b.dir, &spec, "KM7003", None, 4);
    let dest1 = archive.join(format!("KM7003_run{moved}"));
    requested(&b.store, moved, &src1, &dest1);
    std::fs::rename(&src1, &dest1).expect("move");
    let (not_moved, src2) = finished_run(&b.store, &b.dir, &spec, "KM7004", None, 4);
    let dest2 = archive.join(format!("KM7004_run{not_moved}"));
    requested(&b.store, not_moved, &src2, &dest2);
    let (half, src3) = finished_run(&b.store, &b.dir, &spec, "KM7005", None, 4);
    let dest3 = archive.join(format!("KM7005_run{half}"));
    requested(&b.store, half, &src3, &dest3);
    open_dir(&dest3.join("theta0_phi0"));
    std::fs::write(dest3.join("theta0_phi0/f0.json"), "0 0").expect("part");

    // The server starts again on the same store.
    let _m = Monitor::start(b.store.clone(), &b.dir.join("data"), BIN.to_string())
        .await
        .expect("restart");
    wait_no_requested(&b.store).await;
    assert_eq!(
        data_where_the_store_says(&b.store, moved, &src1, &dest1),
        Review::Archived
    );
    assert_eq!(
        data_where_the_store_says(&b.store, not_moved, &src2, &dest2),
        Review::Unreviewed
    );
    assert_eq!(
        data_where_the_store_says(&b.store, half, &src3, &dest3),
        Review::Unreviewed
    );
    let audit = b.store.recent_audit(50).expect("audit");
    assert!(audit.iter().any(|e| e.action == "run_archive"
        && e.details["run"] == moved
        && e.details["recovered"] == true));
    for id in [not_moved, half] {
        assert!(
            audit
                .iter()
                .any(|e| e.action == "run_review_rolled_back" && e.details["run"] == id),
            "run {id}: the rollback is audit-logged"
        );
    }
}

/// Run by [`kill_9_between_the_move_and_the_store_update_leaves_the_data_where_the_store_says`]
/// as a child process that is killed with SIGKILL mid-review; never on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the child process of the kill -9 review test; started by that test"]
async fn review_child_process() {
    let data = PathBuf::from(std::env::var("PMTWATCH_REVIEW_DATA").expect("data dir"));
    let run: i64 = std::env::var("PMTWATCH_REVIEW_RUN")
        .expect("run")
        .parse()
        .expect("run id");
    let store = Store::open_dir(&data).expect("store");
    let m = Monitor::start(store, &data, BIN.to_string())
        .await
        .expect("monitor");
    println!("reviewing");
    let _ = m.review(run, ReviewAction::Archive, "olga", false).await;
    // Stay alive until killed (bounded).
    tokio::time::sleep(Duration::from_secs(60)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_between_the_move_and_the_store_update_leaves_the_data_where_the_store_says() {
    let b = Bench::new("review-kill9").await;
    let spec = b.local_spec(PATTERN);
    let data = b.dir.join("data");
    let mut outcomes = Vec::new();
    for round in 0..5u64 {
        // Many files: the verification after `mv` (an inventory of the destination) takes a
        // while, and the kill lands in it, between the move and the store update.
        let (id, src) = finished_run(&b.store, &b.dir, &spec, "KM7006", None, 400);
        let dest = b.dir.join("archive").join(format!("KM7006_run{id}"));
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", "review::review_child_process", "--ignored"])
            .args(["--nocapture", "--test-threads=1"])
            .env("PMTWATCH_REVIEW_DATA", &data)
            .env("PMTWATCH_REVIEW_RUN", id.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the child");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !dest.exists() {
            assert!(
                Instant::now() < deadline,
                "round {round}: the move never began"
            );
            assert!(child.try_wait().expect("wait").is_none(), "the child died");
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(Duration::from_millis(round));
        child.kill().expect("SIGKILL the child");
        let _ = child.wait();
        let before = b.store.get_run(id).expect("read").expect("run").review;
        // A real server starts on the data directory and resolves what the kill left.
        let server = Server::start(&data);
        wait_no_requested(&b.store).await;
        drop(server);
        let after = data_where_the_store_says(&b.store, id, &src, &dest);
        outcomes.push((before, after));
    }
    // Each kill landed after the move began; the store's word held every time.
    assert_eq!(outcomes.len(), 5, "{outcomes:?}");
    println!("kill -9 mid-review, (review at the kill, after restart): {outcomes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_job_still_writes_is_cancelled_before_its_data_moves() {
    let b = Bench::new("review-writing").await;
    let spec = b.local_spec(PATTERN);
    let (id, out) = finished_run(&b.store, &b.dir, &spec, "KM7007", None, 2);
    // The run was stopped without cancelling: its job goes on writing into the directory.
    let backend = Backend::new(spec.backend_config(BIN).expect("config")).expect("backend");
    let script = "while :; do mkdir -p \"$0/late\" && date > \"$0/late/f\"; sleep 0.05; done";
    let job = backend
        .start_process(&JobSpec {
            name: "late-writer".into(),
            argv: vec![
                "sh".into(),
                "-c".into(),
                script.into(),
                out.display().to_string(),
            ],
            dir: None,
        })
        .await
        .expect("start the writer");
    b.store
        .set_run_job(id, Some(&serde_json::to_string(&job).expect("job")))
        .expect("store the job");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !out.join("late/f").exists() {
        assert!(Instant::now() < deadline, "the writer never wrote");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let run = b
        .monitor
        .review(id, ReviewAction::Archive, "olga", false)
        .await
        .expect("archive");
    assert_eq!(run.review, Review::Archived);
    assert!(run.message.contains("cancelled"), "{}", run.message);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!out.exists(), "nothing recreated the moved directory");
    assert!(Path::new(&run.review_dest).join("late/f").is_file());
    let audit = b.store.recent_audit(20).expect("audit");
    let entry = audit
        .iter()
        .find(|e| e.action == "run_archive" && e.details["run"] == id)
        .expect("audit entry");
    assert!(
        entry.details["cancelled_job"]
            .as_str()
            .is_some_and(|t| t.contains("cancelled")),
        "{}",
        entry.details
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_never_recreates_a_result_directory_moved_away() {
    let b = Bench::new("review-watch").await;
    let scan = b.dir.join("scan");
    let out = b.dir.join("out");
    let mut sim = crate::fixture::simulate_into(&scan, "KM7008", PATTERN, None, 1.0);
    let mut watch = Command::new(BIN)
        .args(["process", "--watch"])
        .arg(&scan)
        .args(["--serial", "KM7008", "--json", "--no-plot", "--points", "5"])
        .args(["--settle", "0.3", "--out"])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the watch");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !out.join("theta0_phi0/result.json").exists() {
        assert!(Instant::now() < deadline, "the first point never came");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A review moves the result directory while the watch still runs.
    std::fs::rename(&out, b.dir.join("archived")).expect("move");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = watch.try_wait().expect("wait") {
            break st;
        }
        assert!(Instant::now() < deadline, "the watch did not stop");
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = sim.kill();
    let _ = sim.wait();
    assert!(!status.success(), "the watch says it could not write");
    assert!(!out.exists(), "the moved directory was recreated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_mode_archives_only_its_own_serial_of_a_shared_stamp() {
    let b = Bench::new("review-stamp").await;
    let spec = lab_profile(&b.dir, 0.3);
    let stamp = b.dir.join("lab/scan_output_20261205_101500");
    open_dir(&stamp);
    let (first, _) = finished_run(
        &b.store,
        &b.dir,
        &spec,
        "KM8001",
        Some(stamp.join("KM8001")),
        2,
    );
    let (second, _) = finished_run(
        &b.store,
        &b.dir,
        &spec,
        "KM8002",
        Some(stamp.join("KM8002")),
        2,
    );
    // Command-mode runs record the stamp directory as their data directory.
    for id in [first, second] {
        b.store
            .set_run_remote_out(id, &stamp.display().to_string())
            .expect("remote_out");
    }
    let run = b
        .monitor
        .review(first, ReviewAction::Archive, "olga", false)
        .await
        .expect("archive the first tube");
    let dest = b.dir.join(format!("archive/KM8001_run{first}"));
    assert_eq!(Path::new(&run.review_dest), dest);
    assert!(dest.join("theta0_phi0").is_dir(), "the first tube's data");
    assert!(!dest.join("KM8002").exists(), "not the other tube's");
    assert!(
        stamp.join("KM8002/theta0_phi0").is_dir(),
        "the other tube's data stays"
    );
    // The stamp now holds one serial only: the whole stamp goes with it.
    let run = b
        .monitor
        .review(second, ReviewAction::Archive, "olga", false)
        .await
        .expect("archive the second tube");
    let dest = b.dir.join(format!("archive/KM8002_run{second}"));
    assert_eq!(Path::new(&run.review_dest), dest);
    assert!(dest.join("KM8002/theta0_phi0").is_dir());
    assert!(!stamp.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_double_click_on_start_starts_one_run() {
    let b = Bench::new("double-start").await;
    let profile = b.profile("p", b.local_spec(PATTERN)).await;
    b.slot(1, "KM7009", profile).await;
    // The executor is stopped: both runs would wait in the queue.
    for round in 0..3 {
        let (x, y) = tokio::join!(
            b.monitor.start_run(1, "olga"),
            b.monitor.start_run(1, "olga")
        );
        let ok: Vec<i64> = [&x, &y]
            .iter()
            .filter_map(|r| r.as_ref().ok().map(|s| s.run_id))
            .collect();
        assert_eq!(ok.len(), 1, "round {round}: {x:?} / {y:?}");
        b.monitor
            .stop_run(ok[0], false, "olga")
            .await
            .expect("stop");
        b.wait_run(ok[0], Duration::from_secs(30), |v| v.run.state.is_final())
            .await;
        let active = b.store.active_runs().expect("read");
        assert!(active.is_empty(), "{active:?}");
    }
}

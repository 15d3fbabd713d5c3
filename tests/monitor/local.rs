//! Local profile: a simulated scan played out in real time fills the run point by point,
//! the weak spot is poor, flagging needs a reason and moves the data (verified) to the flag
//! area with an audit entry, History finds the flagged run, the next scan in a slot
//! archives an unreviewed run by itself, and two slots run at the same time without
//! touching each other's points.

use std::path::Path;
use std::time::Duration;

use pmtwatch::monitor::{CleanupRequest, ReviewAction};
use pmtwatch::store::{PointStatus, Review, RunFilter, RunState};

use crate::fixture::{Bench, PATTERN, POOR, finish_simulation, labels, pattern_labels};

const LONG: Duration = Duration::from_secs(240);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_scan_fills_in_and_flagging_moves_its_data() {
    let b = Bench::new("local").await;
    let profile = b.profile("bench pc", b.local_spec(PATTERN)).await;
    b.slot(1, "KM1001", profile).await;

    // The executor is stopped: the run waits in the queue.
    let started = b.monitor.start_run(1, "olga").await.expect("start");
    let id = started.run_id;
    assert_eq!(started.auto_archived, None);
    b.wait_run(id, LONG, |v| {
        v.run.state == RunState::Queued && v.run.message.contains("executor")
    })
    .await;
    b.monitor
        .set_executor(true, "olga")
        .await
        .expect("executor");
    let sim = b.simulate("KM1001", Some(POOR), 0.4);
    let v = b.wait_run(id, LONG, |v| v.run.state.is_final()).await;
    finish_simulation(sim);
    assert_eq!(v.run.state, RunState::Complete, "{}", v.run.message);
    assert_eq!(labels(&v), pattern_labels(PATTERN));
    for (label, p) in &v.points {
        let want = if label == POOR {
            PointStatus::Poor
        } else {
            PointStatus::Healthy
        };
        assert_eq!(p.status, want, "{label}: gain {:?}", p.gain);
        let local = b.monitor.run_dir(id).join(label);
        assert!(local.join("charge.png").is_file(), "{label}: local plot");
        assert!(local.join("result.json").is_file(), "{label}: local result");
    }
    let stored = b.store.points(id).expect("points");
    assert_eq!(stored.len(), 5, "each point stored once");
    // A manual sync finds nothing new (and duplicates nothing).
    assert_eq!(b.monitor.sync_run(id).await.expect("manual sync"), 0);
    assert_eq!(b.store.points(id).expect("points").len(), 5);

    // Flagging needs a reason; then the run's data moves to the flag area.
    let err = b
        .monitor
        .review(
            id,
            ReviewAction::Flag {
                reason: "  ".into(),
            },
            "olga",
            false,
        )
        .await;
    assert!(err.is_err(), "a flag without a reason is refused");
    let remote_out = v.run.remote_out.clone();
    assert!(Path::new(&remote_out).is_dir());
    let run = b
        .monitor
        .review(
            id,
            ReviewAction::Flag {
                reason: "weak spot at θ10 φ90".into(),
            },
            "olga",
            false,
        )
        .await
        .expect("flag");
    assert_eq!(run.review, Review::Flagged);
    let dest = Path::new(&run.review_dest);
    assert_eq!(
        dest,
        Path::new(&b.path("flag")).join(format!("KM1001_run{id}"))
    );
    assert!(dest.join(POOR).join("result.json").is_file());
    assert!(!Path::new(&remote_out).exists(), "the source is gone");
    let audit = b.store.recent_audit(50).expect("audit");
    let entry = audit
        .iter()
        .find(|e| e.action == "run_flag")
        .expect("a run_flag audit entry");
    assert_eq!(entry.actor, "olga");
    assert_eq!(entry.details["reason"], "weak spot at θ10 φ90");
    // A reviewed run cannot be reviewed again.
    assert!(
        b.monitor
            .review(id, ReviewAction::Archive, "olga", false)
            .await
            .is_err()
    );
    let flagged = b
        .monitor
        .history(RunFilter {
            review: Some(Review::Flagged),
            ..RunFilter::default()
        })
        .await
        .expect("history");
    assert_eq!(flagged.iter().map(|r| r.id).collect::<Vec<_>>(), vec![id]);

    // A run stopped before it had data is final and unreviewed: the next start archives it.
    // (Another tube, whose scan has not begun: nothing arrives until it is stopped.)
    b.slot(1, "KM1002", profile).await;
    let second = b.monitor.start_run(1, "olga").await.expect("second run");
    b.wait_run(second.run_id, LONG, |v| v.run.state == RunState::Running)
        .await;
    b.monitor
        .stop_run(second.run_id, true, "olga")
        .await
        .expect("stop");
    let v2 = b
        .wait_run(second.run_id, LONG, |v| v.run.state.is_final())
        .await;
    assert_eq!(v2.run.state, RunState::Cancelled);
    assert!(
        v2.run.message.contains("stopped by olga"),
        "{}",
        v2.run.message
    );
    let third = b.monitor.start_run(1, "olga").await.expect("third run");
    assert_eq!(third.auto_archived, Some(second.run_id));
    let archived = b.store.get_run(second.run_id).expect("read").expect("run");
    assert_eq!(archived.review, Review::Archived);
    assert!(
        b.store
            .recent_audit(50)
            .expect("audit")
            .iter()
            .any(|e| e.action == "run_archive" && e.details["automatic"] == true)
    );
    b.wait_run(third.run_id, LONG, |v| v.run.state == RunState::Running)
        .await;
    b.monitor
        .stop_run(third.run_id, true, "olga")
        .await
        .expect("stop the third run");
    b.wait_run(third.run_id, LONG, |v| v.run.state.is_final())
        .await;

    // Cleanup: reviewed runs only unless confirmed; a preview first; audit-logged.
    let ids = |items: &[pmtwatch::monitor::CleanupItem]| {
        let mut v: Vec<i64> = items.iter().map(|i| i.run_id).collect();
        v.sort();
        v
    };
    let reviewed = CleanupRequest::default();
    let preview = b.monitor.cleanup_preview(reviewed).await.expect("preview");
    assert_eq!(ids(&preview), vec![id, second.run_id]);
    assert!(
        preview
            .iter()
            .find(|i| i.run_id == id)
            .is_some_and(|i| i.files >= 10)
    );
    let everything = CleanupRequest {
        include_unreviewed: true,
        ..CleanupRequest::default()
    };
    assert_eq!(
        ids(&b
            .monitor
            .cleanup_preview(everything)
            .await
            .expect("preview")),
        vec![id, second.run_id, third.run_id]
    );
    let recent_kept = CleanupRequest {
        older_than_hours: Some(1.0),
        ..CleanupRequest::default()
    };
    assert!(
        b.monitor
            .cleanup_preview(recent_kept)
            .await
            .expect("preview")
            .is_empty()
    );
    let removed = b.monitor.cleanup(reviewed, "olga").await.expect("cleanup");
    assert_eq!(ids(&removed), vec![id, second.run_id]);
    assert!(!b.monitor.run_dir(id).exists());
    assert!(
        b.monitor.run_dir(third.run_id).exists(),
        "the unreviewed run is kept"
    );
    assert!(
        b.store
            .get_run(id)
            .expect("read")
            .expect("run")
            .local_removed
    );
    assert!(
        b.store
            .recent_audit(50)
            .expect("audit")
            .iter()
            .any(|e| e.action == "cleanup" && e.actor == "olga")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_slots_run_at_the_same_time_without_interfering() {
    let b = Bench::new("slots").await;
    let profile = b.profile("bench pc", b.local_spec(PATTERN)).await;
    b.slot(1, "KM2001", profile).await;
    b.slot(2, "KM2002", profile).await;
    b.monitor
        .set_executor(true, "olga")
        .await
        .expect("executor");
    let r1 = b.monitor.start_run(1, "olga").await.expect("slot 1").run_id;
    let r2 = b.monitor.start_run(2, "olga").await.expect("slot 2").run_id;
    // Only the second tube has the weak spot.
    let s1 = b.simulate("KM2001", None, 0.4);
    let s2 = b.simulate("KM2002", Some(POOR), 0.4);
    let v1 = b.wait_run(r1, LONG, |v| v.run.state.is_final()).await;
    let v2 = b.wait_run(r2, LONG, |v| v.run.state.is_final()).await;
    finish_simulation(s1);
    finish_simulation(s2);
    for v in [&v1, &v2] {
        assert_eq!(v.run.state, RunState::Complete, "{}", v.run.message);
        assert_eq!(labels(v), pattern_labels(PATTERN));
    }
    assert!(v1.points.values().all(|p| p.status == PointStatus::Healthy));
    assert_eq!(v2.points[POOR].status, PointStatus::Poor);
    assert_ne!(v1.run.remote_out, v2.run.remote_out);
    // Each run's results name its own tube.
    for (v, sn) in [(&v1, "KM2001"), (&v2, "KM2002")] {
        let doc =
            std::fs::read_to_string(b.monitor.run_dir(v.run.id).join(POOR).join("result.json"))
                .expect("result");
        assert!(doc.contains(sn), "run {} has {sn}'s result", v.run.id);
    }
}

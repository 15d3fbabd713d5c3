//! Mutating actions are checked on the server against the account's current role.

use std::time::Duration;

use pmtwatch::control::{CommandError, Commands};
use pmtwatch::monitor::{Monitor, ProfileSpec};
use pmtwatch::store::{Role, Store};

use super::util::TestResult;

async fn session(store: &Store, name: &str) -> pmtwatch::store::SessionUser {
    let s = store.clone();
    let n = name.to_string();
    store
        .run(move |_| {
            let u = s.user_by_name(&n)?.expect("user exists");
            let new = s.create_session(u.id, 3600, "test")?;
            Ok(s.session_user(&new.token, 3600)?.expect("valid session"))
        })
        .await
        .expect("session")
}

#[tokio::test]
async fn observer_cannot_start_the_executor_or_add_users() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open_dir(dir.path())?;
    store.add_user("olga", Role::Observer, "observer-password")?;
    store.add_user("otto", Role::Operator, "operator-password")?;
    let monitor = Monitor::start(store.clone(), dir.path(), "pmtwatch".into()).await?;
    let commands = Commands::new(store.clone(), monitor.clone(), Duration::from_secs(3600));
    let olga = session(&store, "olga").await;
    let otto = session(&store, "otto").await;

    let err = commands.set_executor(&olga, true).await;
    assert!(
        matches!(err, Err(CommandError::Forbidden { .. })),
        "{err:?}"
    );
    assert!(!monitor.snapshot().executor.running);
    let text = err.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        text.contains("Refused") && text.contains("observer"),
        "{text}"
    );

    let err = commands
        .create_user(&otto, "eve".into(), Role::Admin, "password-123".into())
        .await;
    assert!(
        matches!(err, Err(CommandError::Forbidden { .. })),
        "operators cannot add users"
    );

    commands.set_executor(&otto, true).await?;
    assert!(monitor.snapshot().executor.running);

    // A role change from the CLI applies to the next action, without a new login.
    store.set_role("otto", Role::Observer)?;
    assert!(commands.set_executor(&otto, false).await.is_err());

    // Observers may still change their own theme (a display preference).
    commands
        .set_theme(&olga, pmtwatch::store::Theme::Light)
        .await?;

    let audit = store.recent_audit(50)?;
    assert_eq!(audit.iter().filter(|e| e.action == "denied").count(), 3);
    assert!(
        audit
            .iter()
            .any(|e| e.action == "executor_start" && e.actor == "otto")
    );
    Ok(())
}

/// Issue 10, finding 1: *Test connection* of an unsaved draft by an operator ran the
/// typed `program` (`program --version`) of a local profile and wrote in its `work_dir`.
/// Now only an admin may test unsaved changes (after the same validation as on save); an
/// operator may test a profile only as an admin saved it.
#[tokio::test]
async fn operator_cannot_test_an_unsaved_draft_that_runs_a_program() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open_dir(dir.path())?;
    store.add_user("ada", Role::Admin, "admin-password-1")?;
    store.add_user("otto", Role::Operator, "operator-password")?;
    let monitor = Monitor::start(store.clone(), dir.path(), "pmtwatch".into()).await?;
    let commands = Commands::new(store.clone(), monitor.clone(), Duration::from_secs(3600));
    let (ada, otto) = (session(&store, "ada").await, session(&store, "otto").await);
    let marker = dir.path().join("marker");
    let program = dir.path().join("evil");
    std::fs::write(&program, format!("#!/bin/sh\ntouch {}\n", marker.display()))?;
    std::fs::set_permissions(
        &program,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )?;
    let p = |rel: &str| dir.path().join(rel).display().to_string();
    let draft = ProfileSpec {
        program: program.display().to_string(),
        work_dir: p("work"),
        scan_root: p("scan"),
        archive_dir: p("archive"),
        flag_dir: p("flag"),
        ..ProfileSpec::default()
    };
    let err = commands.test_profile(&otto, draft.clone()).await;
    let text = err.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(text.contains("only an admin"), "{text}");
    assert!(!marker.exists(), "the operator's draft ran its program");
    assert!(
        !dir.path().join("work").exists(),
        "the draft wrote its work_dir"
    );
    // A hostile draft is refused for an admin too, naming the field, before it runs.
    let mut hostile = draft.clone();
    hostile.program = format!("sh -c 'touch {}'", marker.display());
    let text = commands
        .test_profile(&ada, hostile)
        .await
        .err()
        .map(|e| e.to_string());
    assert!(
        text.as_deref().unwrap_or("").contains("program"),
        "{text:?}"
    );
    assert!(!marker.exists());
    // Saved by the admin, the operator may test it as saved (and it runs the program).
    commands
        .save_profile(&ada, None, "bench".into(), draft.clone())
        .await?;
    commands.test_profile(&otto, draft).await?;
    assert!(marker.exists(), "the saved profile's test runs its program");
    Ok(())
}

/// Regression (issue 10, finding 8): an audit write that failed let the action succeed
/// unrecorded. Now the action is refused when its audit entry cannot be written.
#[tokio::test]
async fn an_action_whose_audit_entry_cannot_be_written_is_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open_dir(dir.path())?;
    store.add_user("otto", Role::Operator, "operator-password")?;
    let monitor = Monitor::start(store.clone(), dir.path(), "pmtwatch".into()).await?;
    let commands = Commands::new(store.clone(), monitor.clone(), Duration::from_secs(3600));
    let otto = session(&store, "otto").await;

    // A second connection to the same database makes every audit insert fail.
    let db = rusqlite::Connection::open(dir.path().join(pmtwatch::store::DB_FILE))?;
    db.execute_batch(
        "CREATE TRIGGER audit_broken BEFORE INSERT ON audit_log \
         BEGIN SELECT RAISE(ABORT, 'audit log unavailable (test)'); END;",
    )?;

    let err = commands.set_executor(&otto, true).await;
    assert!(err.is_err(), "the start went through unaudited: {err:?}");
    assert!(
        !monitor.snapshot().executor.running,
        "the executor started although its audit entry was lost"
    );

    // With the audit log writable again, the same action succeeds and is recorded.
    db.execute_batch("DROP TRIGGER audit_broken;")?;
    commands.set_executor(&otto, true).await?;
    assert!(monitor.snapshot().executor.running);
    let audit = store.recent_audit(10)?;
    assert!(audit.iter().any(|e| e.action == "executor_start"));
    Ok(())
}

/// Issue 14: observers see alarms but the server refuses their acknowledge and shelve
/// (whatever the page shows); an operator's acknowledgement is kept with the comment.
#[tokio::test]
async fn observer_cannot_acknowledge_or_shelve_an_alarm() -> TestResult {
    use pmtwatch::model::{AlarmKind, Shelve};
    let dir = tempfile::tempdir()?;
    let store = Store::open_dir(dir.path())?;
    store.add_user("olga", Role::Observer, "observer-password")?;
    store.add_user("otto", Role::Operator, "operator-password")?;
    let raised = store
        .raise_alarm(
            &pmtwatch::store::NewAlarm {
                key: "disk_low:/data".into(),
                kind: AlarmKind::DiskLow,
                message: "low".into(),
                run_id: None,
                slot_id: None,
                subject: "/data".into(),
            },
            10,
        )?
        .expect("raised");
    let monitor = Monitor::start(store.clone(), dir.path(), "pmtwatch".into()).await?;
    let commands = Commands::new(store.clone(), monitor.clone(), Duration::from_secs(3600));
    let olga = session(&store, "olga").await;
    let otto = session(&store, "otto").await;

    let err = commands.ack_alarm(&olga, raised.id, "mine".into()).await;
    assert!(
        matches!(err, Err(CommandError::Forbidden { .. })),
        "{err:?}"
    );
    let err = commands
        .shelve_alarm(
            &olga,
            raised.id,
            Shelve::Until(pmtwatch::model::now() + 3600),
        )
        .await;
    assert!(
        matches!(err, Err(CommandError::Forbidden { .. })),
        "{err:?}"
    );
    let a = store.alarm(raised.id)?.expect("alarm");
    assert!(a.acked_at.is_none() && a.shelved_until.is_none(), "{a:?}");

    let a = commands.ack_alarm(&otto, raised.id, "seen".into()).await?;
    assert_eq!(a.acked_by.as_deref(), Some("otto"));
    assert_eq!(store.alarm(raised.id)?.expect("alarm").ack_comment, "seen");
    // Regression: a second acknowledgement was accepted (and logged) though the store kept
    // the first; now it is refused and names who was first.
    let again = commands.ack_alarm(&otto, raised.id, "again".into()).await;
    let text = again.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(text.contains("already acknowledged by otto"), "{text}");
    assert_eq!(store.alarm(raised.id)?.expect("alarm").ack_comment, "seen");
    Ok(())
}

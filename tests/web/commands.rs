//! Mutating actions are checked on the server against the account's current role.

use std::time::Duration;

use pmtwatch::control::{CommandError, Commands};
use pmtwatch::monitor::Monitor;
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

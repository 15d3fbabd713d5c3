//! Every action a browser can ask for goes through here. Each one re-reads the account from
//! the store (so a role change or deletion from the CLI applies at once), checks the role
//! on the server, writes the audit log and then changes shared state. Views call these and
//! show the error text; they never decide permissions themselves.

use serde_json::json;

use crate::store::{self, Role, SessionUser, Store, Theme, User};

use super::hub::{ExecutorStatus, Hub};

/// Why an action did not happen; the text is shown to the operator as is.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("Refused: {action} needs the {needed} role; you are signed in as {role}.")]
    Forbidden {
        action: &'static str,
        needed: &'static str,
        role: Role,
    },
    #[error(
        "Refused: your session has ended (signed out, expired, or the account changed); reload the page and sign in again."
    )]
    SessionEnded,
    #[error("{0}")]
    Store(#[from] store::Error),
}

/// The server's command handle, given to each LiveView as root context.
#[derive(Debug, Clone)]
pub struct Commands {
    store: Store,
    hub: Hub,
    /// The sessions' idle timeout in seconds (an action counts as activity).
    idle_secs: i64,
}

impl Commands {
    pub fn new(store: Store, hub: Hub, idle_timeout: std::time::Duration) -> Self {
        Self {
            store,
            hub,
            idle_secs: i64::try_from(idle_timeout.as_secs()).unwrap_or(i64::MAX),
        }
    }

    /// The account as it is now in the database, if the page's session is still valid.
    async fn fresh(&self, who: &SessionUser) -> Result<User, CommandError> {
        let (sid, idle) = (who.session_id, self.idle_secs);
        self.store
            .run(move |s| s.session_account(sid, idle))
            .await?
            .ok_or(CommandError::SessionEnded)
    }

    async fn audit(&self, actor: &str, action: &'static str, details: serde_json::Value) {
        let actor = actor.to_string();
        let r = self
            .store
            .run(move |s| s.audit(&actor, action, &details))
            .await;
        if let Err(e) = r {
            tracing::error!("audit log write failed for {action}: {e}");
        }
    }

    /// Refuses (and audit-logs the refusal) unless `allowed(role)`.
    async fn require(
        &self,
        who: &SessionUser,
        action: &'static str,
        needed: &'static str,
        allowed: fn(Role) -> bool,
    ) -> Result<User, CommandError> {
        let user = self.fresh(who).await?;
        if allowed(user.role) {
            return Ok(user);
        }
        self.audit(
            &user.name,
            "denied",
            json!({ "action": action, "role": user.role.as_str() }),
        )
        .await;
        Err(CommandError::Forbidden {
            action,
            needed,
            role: user.role,
        })
    }

    /// Saves the user's own theme. Allowed for every role, observers included: it is a
    /// display preference of their own account, not lab state.
    pub async fn set_theme(&self, who: &SessionUser, theme: Theme) -> Result<(), CommandError> {
        let user = self.fresh(who).await?;
        let id = user.id;
        self.store.run(move |s| s.set_theme(id, theme)).await?;
        Ok(())
    }

    /// Remembers which tab and step the user's page shows, so a reload or a server restart
    /// brings back the same screen. Any role: it is the session's own display state.
    pub async fn remember_view(&self, who: &SessionUser, view: String) -> Result<(), CommandError> {
        let sid = who.session_id;
        self.store
            .run(move |s| s.set_session_view(sid, &view))
            .await?;
        Ok(())
    }

    /// Starts (`true`) or stops the background executor: operator or admin only.
    pub async fn set_executor(&self, who: &SessionUser, run: bool) -> Result<(), CommandError> {
        let action = if run {
            "starting the executor"
        } else {
            "stopping the executor"
        };
        let user = self
            .require(who, action, "operator or admin", Role::can_operate)
            .await?;
        self.audit(
            &user.name,
            if run {
                "executor_start"
            } else {
                "executor_stop"
            },
            json!({}),
        )
        .await;
        self.hub.set_executor(ExecutorStatus {
            running: run,
            changed_by: Some(user.name),
            changed_at: Some(store::now()),
        });
        Ok(())
    }

    /// Every account (names and roles; visible to every role).
    pub async fn list_users(&self, who: &SessionUser) -> Result<Vec<User>, CommandError> {
        self.fresh(who).await?;
        Ok(self.store.run(|s| s.list_users()).await?)
    }

    /// Creates an account: admin only.
    pub async fn create_user(
        &self,
        who: &SessionUser,
        name: String,
        role: Role,
        password: String,
    ) -> Result<User, CommandError> {
        let admin = self
            .require(who, "creating users", "admin", Role::can_administer)
            .await?;
        let (n, r) = (name.clone(), role);
        let user = self
            .store
            .run(move |s| s.add_user(&n, r, &password))
            .await?;
        self.audit(
            &admin.name,
            "user_add",
            json!({ "user": name, "role": role.as_str(), "via": "web" }),
        )
        .await;
        Ok(user)
    }
}

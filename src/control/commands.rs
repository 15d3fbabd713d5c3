//! Every action a browser can ask for goes through here (what it may read is in
//! [`super::reads`]). Each one re-reads the account from
//! the store (so a role change or deletion from the CLI applies at once), checks the role
//! on the server, writes the audit log and then changes shared state. Views call these and
//! show the error text; they never decide permissions themselves.

mod alarms;

use serde_json::json;

use crate::model::{GpuChoice, Report, Role, Run, ScanKind, SessionUser, Theme, User};
use crate::monitor::{
    self, CleanupItem, CleanupRequest, Monitor, ProfileSpec, ReviewAction, Started,
};
use crate::store::{self, Store};

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
    #[error("{0}")]
    Monitor(#[from] monitor::Error),
}

/// The server's command handle, given to each LiveView as root context.
#[derive(Debug, Clone)]
pub struct Commands {
    store: Store,
    monitor: Monitor,
    /// The sessions' idle timeout in seconds (an action counts as activity).
    idle_secs: i64,
}

impl Commands {
    pub fn new(store: Store, monitor: Monitor, idle_timeout: std::time::Duration) -> Self {
        Self {
            store,
            monitor,
            idle_secs: i64::try_from(idle_timeout.as_secs()).unwrap_or(i64::MAX),
        }
    }

    /// The account as it is now in the database, if the page's session is still valid.
    async fn fresh(&self, who: &SessionUser) -> Result<User, CommandError> {
        super::account(&self.store, who, self.idle_secs).await
    }

    /// Writes an action's audit entry. Called *before* the action: when the entry cannot be
    /// written the action is refused, so nothing happens unrecorded. An action that then
    /// fails gets a second entry, `<action>_failed`, with the reason ([`Self::outcome`]).
    async fn audit(
        &self,
        actor: &str,
        action: &'static str,
        details: serde_json::Value,
    ) -> Result<(), CommandError> {
        let actor = actor.to_string();
        let r = self
            .store
            .run(move |s| s.audit(&actor, action, &details))
            .await;
        if let Err(e) = &r {
            tracing::error!("audit log write failed for {action}: {e}; the action is refused");
        }
        Ok(r?)
    }

    /// Passes an action's result through; a failure is audit-logged (best effort: the
    /// action did not happen, and its request is already in the log).
    async fn outcome<T, E: Into<CommandError>>(
        &self,
        actor: &str,
        action: &'static str,
        result: Result<T, E>,
    ) -> Result<T, CommandError> {
        let err = match result {
            Ok(v) => return Ok(v),
            Err(e) => e.into(),
        };
        let (actor, why) = (actor.to_string(), err.to_string());
        let r = self
            .store
            .run(move |s| {
                s.audit(
                    &actor,
                    "action_failed",
                    &json!({ "action": action, "error": why }),
                )
            })
            .await;
        if let Err(e) = r {
            tracing::error!("audit log write failed for a failed {action}: {e}");
        }
        Err(err)
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
        // Best effort: the action is refused whether or not this is written.
        let _ = self
            .audit(
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
        let audit_action = if run {
            "executor_start"
        } else {
            "executor_stop"
        };
        self.audit(&user.name, audit_action, json!({})).await?;
        let r = self.monitor.set_executor(run, &user.name).await;
        self.outcome(&user.name, audit_action, r).await
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
        self.audit(
            &admin.name,
            "user_add",
            json!({ "user": name, "role": role.as_str(), "via": "web" }),
        )
        .await?;
        let (n, r) = (name.clone(), role);
        let user = self.store.run(move |s| s.add_user(&n, r, &password)).await;
        self.outcome(&admin.name, "user_add", user).await
    }

    async fn operator(
        &self,
        who: &SessionUser,
        action: &'static str,
    ) -> Result<User, CommandError> {
        self.require(who, action, "operator or admin", Role::can_operate)
            .await
    }

    /// The account as it is now, if it may upload reference spectra (operator or admin);
    /// a refusal is audit-logged. The upload itself is an HTTP route (`web::references`).
    pub async fn reference_uploader(&self, who: &SessionUser) -> Result<User, CommandError> {
        self.operator(who, "uploading a reference spectrum").await
    }

    // ----- profiles (admin) -----

    /// Creates (`id` = `None`) or changes a compute profile: admin only.
    pub async fn save_profile(
        &self,
        who: &SessionUser,
        id: Option<i64>,
        name: String,
        spec: ProfileSpec,
    ) -> Result<i64, CommandError> {
        let admin = self
            .require(
                who,
                "editing compute profiles",
                "admin",
                Role::can_administer,
            )
            .await?;
        let kind = spec.kind;
        self.audit(
            &admin.name,
            "profile_save",
            json!({ "profile": id, "name": name, "kind": kind, "new": id.is_none() }),
        )
        .await?;
        let saved = self.monitor.save_profile(id, name.clone(), spec).await;
        self.outcome(&admin.name, "profile_save", saved).await
    }

    /// Deletes a compute profile: admin only.
    pub async fn delete_profile(&self, who: &SessionUser, id: i64) -> Result<(), CommandError> {
        let admin = self
            .require(
                who,
                "deleting compute profiles",
                "admin",
                Role::can_administer,
            )
            .await?;
        self.audit(&admin.name, "profile_delete", json!({ "profile": id }))
            .await?;
        let r = self.monitor.delete_profile(id).await;
        self.outcome(&admin.name, "profile_delete", r).await
    }

    /// The connection test of a profile as edited: an admin may test an unsaved draft (it
    /// is validated first, as on save); an operator only a profile exactly as an admin saved
    /// it, because the test runs the profile's commands, paths and ssh settings.
    pub async fn test_profile(
        &self,
        who: &SessionUser,
        spec: ProfileSpec,
    ) -> Result<Report, CommandError> {
        let user = self.operator(who, "testing a connection").await?;
        if !user.role.can_administer() {
            let saved = self
                .monitor
                .snapshot()
                .profiles
                .iter()
                .any(|p| p.spec == spec);
            if !saved {
                // Best effort: the test is refused whether or not this is written.
                let _ = self.audit(
                    &user.name,
                    "denied",
                    json!({ "action": "testing an unsaved profile", "role": user.role.as_str() }),
                )
                .await;
                return Err(CommandError::Monitor(monitor::Error::Refused(
                    "only an admin may test a profile with unsaved changes: save it first (admin), \
                     or test it as saved"
                        .into(),
                )));
            }
        }
        Ok(self.monitor.test_profile(spec).await?)
    }

    // ----- slots (operator) -----

    /// Adds a PMT slot.
    pub async fn add_slot(&self, who: &SessionUser) -> Result<i64, CommandError> {
        let user = self.operator(who, "adding a PMT slot").await?;
        self.audit(&user.name, "slot_add", json!({})).await?;
        let id = self.monitor.add_slot().await;
        self.outcome(&user.name, "slot_add", id).await
    }

    /// Removes a PMT slot (not while it runs).
    pub async fn remove_slot(&self, who: &SessionUser, slot: i64) -> Result<(), CommandError> {
        let user = self.operator(who, "removing a PMT slot").await?;
        self.audit(&user.name, "slot_remove", json!({ "slot": slot }))
            .await?;
        let r = self.monitor.remove_slot(slot).await;
        self.outcome(&user.name, "slot_remove", r).await
    }

    /// Sets a slot's serial number, profile and scan kind.
    pub async fn set_slot(
        &self,
        who: &SessionUser,
        slot: i64,
        serial: String,
        profile: Option<i64>,
        kind: ScanKind,
    ) -> Result<(), CommandError> {
        self.operator(who, "changing a PMT slot").await?;
        self.monitor.set_slot(slot, serial, profile, kind).await?;
        Ok(())
    }

    /// Sets a slot's GPU choice (automatic, none, one GPU of the host, a SLURM count).
    pub async fn set_slot_gpu(
        &self,
        who: &SessionUser,
        slot: i64,
        gpu: GpuChoice,
    ) -> Result<(), CommandError> {
        self.operator(who, "changing a PMT slot").await?;
        self.monitor.set_slot_gpu(slot, gpu).await?;
        Ok(())
    }

    /// Sets the nominal voltage of a slot's HV check (`None`: the profile's).
    pub async fn set_slot_hv_nominal(
        &self,
        who: &SessionUser,
        slot: i64,
        volts: Option<f64>,
    ) -> Result<(), CommandError> {
        self.operator(who, "changing a PMT slot").await?;
        self.monitor.set_slot_hv_nominal(slot, volts).await?;
        Ok(())
    }

    // ----- runs (operator) -----

    /// Starts live monitoring in a slot.
    pub async fn start_run(&self, who: &SessionUser, slot: i64) -> Result<Started, CommandError> {
        let user = self.operator(who, "starting a run").await?;
        // The run itself records who started it and when; its id is in the run's row.
        self.audit(&user.name, "run_start", json!({ "slot": slot }))
            .await?;
        let started = self.monitor.start_run(slot, &user.name).await;
        self.outcome(&user.name, "run_start", started).await
    }

    /// Stops following a run; `cancel` also cancels its job (the UI asks to confirm).
    pub async fn stop_run(
        &self,
        who: &SessionUser,
        run: i64,
        cancel: bool,
    ) -> Result<(), CommandError> {
        let user = self.operator(who, "stopping a run").await?;
        self.audit(
            &user.name,
            "run_stop",
            json!({ "run": run, "cancel_job": cancel }),
        )
        .await?;
        let r = self.monitor.stop_run(run, cancel, &user.name).await;
        self.outcome(&user.name, "run_stop", r).await
    }

    /// Reads a run's results once more ("Manual sync"); returns the new points.
    pub async fn sync_run(&self, who: &SessionUser, run: i64) -> Result<usize, CommandError> {
        let user = self.operator(who, "syncing a run").await?;
        self.audit(&user.name, "run_sync", json!({ "run": run }))
            .await?;
        let n = self.monitor.sync_run(run).await;
        self.outcome(&user.name, "run_sync", n).await
    }

    /// Flags (reason required) or archives a finished run.
    pub async fn review(
        &self,
        who: &SessionUser,
        run: i64,
        action: ReviewAction,
    ) -> Result<Run, CommandError> {
        let what = match action {
            ReviewAction::Archive => "archiving a run",
            ReviewAction::Flag { .. } => "flagging a run",
        };
        let user = self.operator(who, what).await?;
        Ok(self.monitor.review(run, action, &user.name, false).await?)
    }

    /// Removes local result copies (audit-logged by the monitor).
    pub async fn cleanup(
        &self,
        who: &SessionUser,
        req: CleanupRequest,
    ) -> Result<Vec<CleanupItem>, CommandError> {
        let user = self.operator(who, "cleaning up local data").await?;
        Ok(self.monitor.cleanup(req, &user.name).await?)
    }
}

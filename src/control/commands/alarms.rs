//! The alarm and logbook actions: acknowledge and shelve (operator or admin), the alarm
//! rules and targets and the test notification (admin), operator logbook entries. Each is
//! role-checked and audited like every other command; the audit entry of a configuration
//! change names what changed, never a password.

use serde_json::json;

use super::{CommandError, Commands};
use crate::model::{Alarm, AlarmConfig, LogEntry, Role, SessionUser, Shelve, Target, User};

/// The configuration as the audit log keeps it: passwords replaced.
fn redacted(cfg: &AlarmConfig) -> serde_json::Value {
    let mut c = cfg.clone();
    for t in &mut c.targets {
        if let Target::Email { password, .. } = t
            && !password.is_empty()
        {
            *password = "<redacted>".into();
        }
    }
    serde_json::to_value(&c).unwrap_or_else(|e| json!({ "error": e.to_string() }))
}

impl Commands {
    /// Acknowledges an alarm: operator or admin.
    pub async fn ack_alarm(
        &self,
        who: &SessionUser,
        id: i64,
        comment: String,
    ) -> Result<Alarm, CommandError> {
        let user = self.operator(who, "acknowledging alarms").await?;
        self.audit(
            &user.name,
            "alarm_ack",
            json!({ "alarm": id, "comment": comment }),
        )
        .await?;
        let r = self.monitor.ack_alarm(id, &user.name, &comment).await;
        self.outcome(&user.name, "alarm_ack", r).await
    }

    /// Shelves an alarm until a time or until its run ends: operator or admin.
    pub async fn shelve_alarm(
        &self,
        who: &SessionUser,
        id: i64,
        how: Shelve,
    ) -> Result<Alarm, CommandError> {
        let user = self.operator(who, "shelving alarms").await?;
        let until = match how {
            Shelve::Until(t) => json!(crate::model::rfc3339(t)),
            Shelve::RunEnds => json!("run ends"),
        };
        self.audit(
            &user.name,
            "alarm_shelve",
            json!({ "alarm": id, "until": until }),
        )
        .await?;
        let r = self.monitor.shelve_alarm(id, how, &user.name).await;
        self.outcome(&user.name, "alarm_shelve", r).await
    }

    /// Replaces the alarm rules and targets: admin only. A target's password given as
    /// empty keeps the saved one (the form never shows it).
    pub async fn set_alarm_config(
        &self,
        who: &SessionUser,
        mut cfg: AlarmConfig,
    ) -> Result<(), CommandError> {
        let admin = self
            .require(
                who,
                "changing alarm settings",
                "admin",
                Role::can_administer,
            )
            .await?;
        let old = self.monitor.alarm_config();
        for t in &mut cfg.targets {
            if let Target::Email { name, password, .. } = t
                && password.is_empty()
                && let Some(Target::Email { password: kept, .. }) =
                    old.targets.iter().find(|o| o.name() == name)
            {
                password.clone_from(kept);
            }
        }
        self.audit(&admin.name, "alarm_config", redacted(&cfg))
            .await?;
        let r = self.monitor.set_alarm_config(cfg).await;
        self.outcome(&admin.name, "alarm_config", r).await
    }

    /// Sends a test message to one target: admin only.
    pub async fn test_notification(
        &self,
        who: &SessionUser,
        target: String,
    ) -> Result<(), CommandError> {
        let admin = self
            .require(
                who,
                "sending a test notification",
                "admin",
                Role::can_administer,
            )
            .await?;
        self.audit(
            &admin.name,
            "notification_test",
            json!({ "target": target }),
        )
        .await?;
        let r = self.monitor.test_notification(&target, &admin.name).await;
        self.outcome(&admin.name, "notification_test", r).await
    }

    /// The account as it is now, if it may write in the logbook (operator or admin); a
    /// refusal is audit-logged. The HTTP upload route (`web::logbook`) asks before it reads
    /// an attached file, then writes through [`Self::add_log_entry`], which checks again.
    pub async fn logbook_writer(&self, who: &SessionUser) -> Result<User, CommandError> {
        self.operator(who, "writing in the logbook").await
    }

    /// Writes an operator's logbook entry (with an optional file): operator or admin.
    pub async fn add_log_entry(
        &self,
        who: &SessionUser,
        run: i64,
        text: String,
        attachment: Option<(String, Vec<u8>)>,
    ) -> Result<LogEntry, CommandError> {
        let user = self.operator(who, "writing in the logbook").await?;
        let file = attachment
            .as_ref()
            .map(|(n, b)| json!({ "name": n, "bytes": b.len() }));
        self.audit(
            &user.name,
            "logbook_entry",
            json!({ "run": run, "text": text, "attachment": file }),
        )
        .await?;
        let r = self
            .monitor
            .add_log_entry(run, &user.name, &text, attachment)
            .await;
        self.outcome(&user.name, "logbook_entry", r).await
    }
}

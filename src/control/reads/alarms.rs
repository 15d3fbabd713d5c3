//! Reading alarms, deliveries and the logbook: any signed-in role. The alarm settings:
//! admins only (recipients and webhook URLs — a Slack or Mattermost URL is itself the key
//! that lets anyone post to the channel — are not for every account), and even then
//! passwords never leave the server.

use super::Reads;
use crate::control::CommandError;
use crate::model::{Alarm, AlarmConfig, Delivery, LogEntry, SessionUser, Target};

impl Reads {
    /// A run's logbook in time order.
    pub async fn logbook(
        &self,
        who: &SessionUser,
        run: i64,
    ) -> Result<Vec<LogEntry>, CommandError> {
        self.fresh(who).await?;
        Ok(self.monitor.logbook(run).await?)
    }

    /// Logbook entries with every word of `text` (one run, or all runs), newest first.
    pub async fn search_logbook(
        &self,
        who: &SessionUser,
        text: String,
        run: Option<i64>,
    ) -> Result<Vec<LogEntry>, CommandError> {
        self.fresh(who).await?;
        Ok(self.monitor.search_logbook(text, run).await?)
    }

    /// The newest alarms, cleared ones included.
    pub async fn alarm_history(&self, who: &SessionUser) -> Result<Vec<Alarm>, CommandError> {
        self.fresh(who).await?;
        Ok(self.monitor.alarm_history(100).await?)
    }

    /// The newest notification deliveries (failed ones show their error).
    pub async fn deliveries(&self, who: &SessionUser) -> Result<Vec<Delivery>, CommandError> {
        self.fresh(who).await?;
        Ok(self.monitor.deliveries(50).await?)
    }

    /// The alarm settings with every password emptied (the form keeps a saved one when the
    /// field stays empty): admin only.
    pub async fn alarm_config(&self, who: &SessionUser) -> Result<AlarmConfig, CommandError> {
        let user = crate::control::account(&self.store, who, self.idle_secs).await?;
        if !user.role.can_administer() {
            return Err(CommandError::Forbidden {
                action: "reading the alarm settings",
                needed: "admin",
                role: user.role,
            });
        }
        let mut cfg = (*self.monitor.alarm_config()).clone();
        for t in &mut cfg.targets {
            if let Target::Email { password, .. } = t {
                password.clear();
            }
        }
        Ok(cfg)
    }
}

//! The read side: what a signed-in page may look at — History, a run with its points, the
//! comparison with the previous run, a point's result document, a cleanup's preview, a
//! job's log. Every role may read; each read checks that the page's session is still valid
//! (a signed-out or deleted account reads nothing). Actions that change anything are in
//! [`super::commands`].

mod alarms;

use crate::model::{Run, RunFilter, SessionUser};
use crate::monitor::{CleanupItem, CleanupRequest, Comparison, Monitor, RunDetail};
use crate::pipeline::point::PointResult;
use crate::store::Store;

use super::CommandError;

/// The server's read handle, given to each LiveView as root context beside
/// [`super::Commands`].
#[derive(Debug, Clone)]
pub struct Reads {
    store: Store,
    monitor: Monitor,
    /// The sessions' idle timeout in seconds.
    idle_secs: i64,
}

impl Reads {
    pub fn new(store: Store, monitor: Monitor, idle_timeout: std::time::Duration) -> Self {
        Self {
            store,
            monitor,
            idle_secs: i64::try_from(idle_timeout.as_secs()).unwrap_or(i64::MAX),
        }
    }

    /// Refuses unless the page's session is still valid.
    async fn fresh(&self, who: &SessionUser) -> Result<(), CommandError> {
        super::account(&self.store, who, self.idle_secs)
            .await
            .map(drop)
    }

    /// What a cleanup would remove.
    pub async fn cleanup_preview(
        &self,
        who: &SessionUser,
        req: CleanupRequest,
    ) -> Result<Vec<CleanupItem>, CommandError> {
        self.fresh(who).await?;
        Ok(self.monitor.cleanup_preview(req).await?)
    }

    /// The tail of a run's job output.
    pub async fn job_log(&self, who: &SessionUser, run: i64) -> Result<String, CommandError> {
        self.fresh(who).await?;
        Ok(self.monitor.job_log(run).await?)
    }

    /// Runs for the History tab.
    pub async fn history(
        &self,
        who: &SessionUser,
        filter: RunFilter,
    ) -> Result<Vec<Run>, CommandError> {
        self.fresh(who).await?;
        Ok(self.monitor.history(filter).await?)
    }

    /// A run with its points.
    pub async fn run_detail(
        &self,
        who: &SessionUser,
        run: i64,
    ) -> Result<Option<RunDetail>, CommandError> {
        self.fresh(who).await?;
        Ok(self.monitor.run_detail(run).await?)
    }

    /// Per-point gain differences against the previous run of the serial.
    pub async fn compare(
        &self,
        who: &SessionUser,
        run: i64,
    ) -> Result<Option<Comparison>, CommandError> {
        self.fresh(who).await?;
        Ok(self.monitor.compare(run).await?)
    }

    /// A point's result document (fit parameters, histogram).
    pub async fn point_result(
        &self,
        who: &SessionUser,
        run: i64,
        label: String,
    ) -> Result<Option<PointResult>, CommandError> {
        self.fresh(who).await?;
        Ok(self.monitor.point_result(run, &label).await?)
    }
}

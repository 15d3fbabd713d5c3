//! Live state shared by every connected browser. Views subscribe to these `watch`
//! channels and re-render on change; only [`super::commands`] writes to them. The
//! live-monitoring issue moves this next to the executor (`monitor/`) and adds the grid.

use tokio::sync::watch;

/// The background executor's state as the shell shows it (step 1 in the sidebar).
///
/// Until the executor itself exists (live-monitoring issue) this records the operator's
/// start/stop command, so that the role check, the audit entry and the push to every
/// browser are real today.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecutorStatus {
    pub running: bool,
    /// Who last started or stopped it, and when (Unix seconds).
    pub changed_by: Option<String>,
    pub changed_at: Option<i64>,
}

/// Cheap handle to the shared live state.
#[derive(Debug, Clone)]
pub struct Hub {
    executor: watch::Sender<ExecutorStatus>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    pub fn new() -> Self {
        Self {
            executor: watch::Sender::new(ExecutorStatus::default()),
        }
    }

    /// A receiver that sees every change of the executor status.
    pub fn executor(&self) -> watch::Receiver<ExecutorStatus> {
        self.executor.subscribe()
    }

    pub(crate) fn set_executor(&self, status: ExecutorStatus) {
        self.executor.send_replace(status);
    }
}

//! Live state shared by every connected browser: a read-only window on the monitor's
//! [`Board`]. Views subscribe to it and re-render on change; only the monitor (through
//! [`super::commands`]) changes what it shows. Also the System tab's picture (the
//! monitor's sampler) and the metrics text `/metrics` serves.

use std::sync::Arc;

use tokio::sync::watch;

use crate::model::SystemStatus;
pub use crate::monitor::ExecutorStatus;
use crate::monitor::{Board, Monitor};

/// Cheap handle to the shared live state.
#[derive(Debug, Clone)]
pub struct Hub {
    board: watch::Receiver<Arc<Board>>,
    system: watch::Receiver<Arc<SystemStatus>>,
    monitor: Monitor,
}

impl Hub {
    pub fn new(monitor: &Monitor) -> Self {
        Self {
            board: monitor.board(),
            system: monitor.system(),
            monitor: monitor.clone(),
        }
    }

    /// A receiver that sees every new System tab picture (every 2 s).
    pub fn system(&self) -> watch::Receiver<Arc<SystemStatus>> {
        self.system.clone()
    }

    /// The System tab's picture now.
    pub fn system_snapshot(&self) -> Arc<SystemStatus> {
        self.system.borrow().clone()
    }

    /// Every metric in Prometheus' text format; the caller checked who asks.
    pub async fn metrics_text(&self) -> Result<String, crate::monitor::Error> {
        self.monitor.metrics_text().await
    }

    /// A receiver that sees every change of the board.
    pub fn board(&self) -> watch::Receiver<Arc<Board>> {
        self.board.clone()
    }

    /// The board as it is now.
    pub fn snapshot(&self) -> Arc<Board> {
        self.board.borrow().clone()
    }

    /// The executor's state now.
    pub fn executor(&self) -> ExecutorStatus {
        self.board.borrow().executor.clone()
    }
}

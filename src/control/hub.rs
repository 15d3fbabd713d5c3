//! Live state shared by every connected browser: a read-only window on the monitor's
//! [`Board`]. Views subscribe to it and re-render on change; only the monitor (through
//! [`super::commands`]) changes what it shows.

use std::sync::Arc;

use tokio::sync::watch;

pub use crate::monitor::ExecutorStatus;
use crate::monitor::{Board, Monitor};

/// Cheap handle to the shared live state.
#[derive(Debug, Clone)]
pub struct Hub {
    board: watch::Receiver<Arc<Board>>,
}

impl Hub {
    pub fn new(monitor: &Monitor) -> Self {
        Self {
            board: monitor.board(),
        }
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

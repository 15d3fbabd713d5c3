//! Page-wide shared signals, set up once per connection by [`super::Root`] and read through
//! context by the components:
//!
//! - the live [`Board`]: one subscription per connection to the hub's watch channel; a
//!   component narrows it with `use_memo` so that a point arriving in one slot re-renders
//!   only what shows that slot;
//! - the System tab's picture (GPUs, hosts, disks, the cluster, the disk alarms the banner
//!   shows in every tab): one subscription per connection to the sampler's channel;
//! - the point whose review panel is open (one at a time on the page, so its element ids
//!   are unique), set by a grid cell or by a shared `/runs/{id}/points/{label}` link.

use std::sync::Arc;

use dioxus::prelude::*;

use crate::control::Hub;
use crate::model::SystemStatus;
use crate::monitor::Board;

/// The board as a signal (context type).
#[derive(Clone, Copy)]
struct LiveBoard(Signal<Arc<Board>>);

/// A point whose review panel is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenPoint {
    pub run: i64,
    pub label: String,
}

/// The open review (context type).
#[derive(Clone, Copy)]
struct ReviewTarget(Signal<Option<OpenPoint>>);

/// Provides the board signal and keeps it current: called once, by the root component.
pub fn provide_board(hub: &Hub) {
    let first = hub.snapshot();
    let mut board = use_context_provider(|| LiveBoard(Signal::new(first))).0;
    let hub = hub.clone();
    use_future(move || {
        let mut rx = hub.board();
        async move {
            loop {
                let now = rx.borrow_and_update().clone();
                if board.peek().version != now.version {
                    board.set(now);
                }
                if rx.changed().await.is_err() {
                    break;
                }
            }
        }
    });
}

/// The System tab's picture as a signal (context type).
#[derive(Clone, Copy)]
struct LiveSystem(Signal<Arc<SystemStatus>>);

/// Provides the System picture and keeps it current: called once, by the root component.
pub fn provide_system(hub: &Hub) {
    let first = hub.system_snapshot();
    let mut system = use_context_provider(|| LiveSystem(Signal::new(first))).0;
    let hub = hub.clone();
    use_future(move || {
        let mut rx = hub.system();
        async move {
            loop {
                let now = rx.borrow_and_update().clone();
                if !Arc::ptr_eq(&system.peek(), &now) {
                    system.set(now);
                }
                if rx.changed().await.is_err() {
                    break;
                }
            }
        }
    });
}

/// The System picture (re-renders the caller every time the sampler publishes).
pub fn use_system() -> Signal<Arc<SystemStatus>> {
    use_context::<LiveSystem>().0
}

/// The live board (re-renders the caller on every change it reads).
pub fn use_board() -> Signal<Arc<Board>> {
    use_context::<LiveBoard>().0
}

/// Provides the open-review signal, starting at the point of a shared link.
pub fn provide_review(open: Option<(i64, Option<String>)>) {
    use_context_provider(|| {
        let first = open.and_then(|(run, label)| label.map(|label| OpenPoint { run, label }));
        ReviewTarget(Signal::new(first))
    });
}

/// The open review: set it to open a point's panel, `None` to close it.
pub fn use_review_target() -> Signal<Option<OpenPoint>> {
    use_context::<ReviewTarget>().0
}

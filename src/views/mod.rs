//! The operator screen as Dioxus LiveView components, one per file. Views only render
//! shared state (the [`Hub`]'s watch channels, the signed-in user) and send commands
//! ([`Commands`]); they never touch the store or the remote layer, and nothing in a
//! component blocks (each LiveView connection runs on a shared worker thread).
//!
//! - [`Root`]: the whole shell — [`header::Header`], [`sidebar::Sidebar`] with the three
//!   workflow steps, and [`tabs::Tabs`] (Scan, HV check, History, System).
//! - [`executor::ExecutorPanel`]: step 1, start/stop (operator/admin; refused otherwise).
//! - [`users::UsersPanel`]: accounts (System tab); adding one is admin-only.
//! - [`placeholder::Placeholder`]: panels that later issues fill (grid, HV, NVML).

pub mod executor;
pub mod header;
pub mod placeholder;
pub mod sidebar;
pub mod tabs;
pub mod users;

use dioxus::prelude::*;

use crate::store::SessionUser;
use crate::web::{Commands, Hub};

/// What every component of one connection may use: given to the VirtualDom as root
/// context by the authenticated `/ws` handler.
#[derive(Clone)]
pub struct ShellContext {
    /// The signed-in user as of connecting (commands re-check the role on the server).
    pub user: SessionUser,
    pub commands: Commands,
    pub hub: Hub,
}

/// The shell: header, sidebar with the workflow steps, tabbed main area.
#[component]
pub fn Root() -> Element {
    let ctx = use_context::<ShellContext>();
    let theme = use_signal(|| ctx.user.theme);
    let step = use_signal(|| sidebar::Step::Executor);
    let tab = use_signal(|| tabs::Tab::Scan);
    rsx! {
        div { class: "app theme-{theme().as_str()}", id: "app",
            header::Header { theme }
            div { class: "layout",
                sidebar::Sidebar { step }
                main { class: "content",
                    tabs::Tabs { tab }
                }
            }
        }
    }
}

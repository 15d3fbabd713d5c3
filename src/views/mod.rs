//! The operator screen as Dioxus LiveView components, one per file. Views only render
//! shared state (the [`Hub`]'s watch channels, the signed-in user) and send commands
//! ([`Commands`], reads through [`Reads`]); they never touch the store or the remote layer, and nothing in a
//! component blocks (each LiveView connection runs on a shared worker thread).
//!
//! - [`Root`]: the whole shell — [`header::Header`], [`sidebar::Sidebar`] with the three
//!   workflow steps, and [`tabs::Tabs`] (Scan, HV check, History, System).
//! - [`executor::ExecutorPanel`]: step 1, start/stop and what each slot's run is doing.
//! - [`profiles::ProfilesPanel`] with [`profile_form::ProfileForm`] (model:
//!   [`profile_draft::Draft`]): step 2, compute profiles and their connection test.
//! - [`cleanup::CleanupPanel`]: step 3, removing local copies of results.
//! - [`slots::SlotsPanel`] with one [`slot_card::SlotCard`] per PMT slot: steps 4–5 in
//!   the Scan tab; [`grid::Grid`] (the live grid), [`spectrum_panel::SpectrumPanel`] (one point's spectrum)
//!   and [`run_actions::RunActions`] (flag/archive) are shared with History.
//! - [`hv_panel::HvPanel`]: the HV check tab (nominal HV, cells per voltage, the fit's
//!   plot and result line).
//! - [`history::HistoryPanel`]: past runs; [`run_panel::RunPanel`] opens one read-only
//!   (also for a shared link to a run no slot shows).
//! - [`alarm_banner::AlarmBanner`]: the alarm banner above every tab (acknowledge, shelve);
//!   [`alarm_settings::AlarmSettings`]: rules, targets, deliveries (System tab);
//!   [`logbook::LogbookPanel`] beside a run and [`logbook::LogbookSearch`] in History.
//! - [`users::UsersPanel`]: accounts (System tab); adding one is admin-only.
//! - [`system::SystemPanel`]: GPUs, hosts, disks, the cluster and their charts
//!   ([`chart::Chart`], inline SVG) in the System tab; [`disk_banner::DiskBanner`]: the
//!   "disk too full" banner above every tab.
//! - [`placeholder::Placeholder`]: panels that later issues fill (HV, NVML).
//! - [`live`]: the board and the open review as page-wide signals; [`format`]: pure
//!   helpers (UTC dates, sizes, words).

pub mod alarm_banner;
pub mod alarm_settings;
pub mod chart;
pub mod cleanup;
pub mod disk_banner;
pub mod executor;
pub mod figures_panel;
pub mod format;
pub mod grid;
pub mod header;
pub mod history;
pub mod hv_panel;
pub mod live;
pub mod logbook;
pub mod placeholder;
pub mod profile_draft;
pub mod profile_form;
pub mod profiles;
pub mod run_actions;
pub mod run_panel;
pub mod sidebar;
pub mod slot_card;
pub mod slots;
pub mod spectrum_panel;
pub mod system;
pub mod tabs;
pub mod users;

use dioxus::prelude::*;

use crate::control::{Commands, Hub, Reads};
use crate::model::SessionUser;

/// What every component of one connection may use: given to the VirtualDom as root
/// context by the authenticated `/ws` handler.
#[derive(Clone)]
pub struct ShellContext {
    /// The signed-in user as of connecting (commands re-check the role on the server).
    pub user: SessionUser,
    pub commands: Commands,
    /// What the page may read (History, a run's detail, a point's result …).
    pub reads: Reads,
    pub hub: Hub,
    /// A run (and point) to open at once: the page was loaded from a shared link
    /// (`/runs/{id}` or `/runs/{id}/points/{label}`).
    pub open: Option<(i64, Option<String>)>,
}

/// The view as the session stores it: `<tab>/<step>`.
fn view_key(tab: tabs::Tab, step: sidebar::Step) -> String {
    format!("{}/{}", tab.key(), step.key())
}

/// Reads a stored view; anything unknown falls back to the Scan tab and step 1.
fn parse_view(view: &str) -> (tabs::Tab, sidebar::Step) {
    let (t, s) = view.split_once('/').unwrap_or((view, ""));
    (
        tabs::Tab::from_key(t).unwrap_or(tabs::Tab::Scan),
        sidebar::Step::from_key(s).unwrap_or(sidebar::Step::Executor),
    )
}

/// The shell: header, sidebar with the workflow steps, tabbed main area.
#[component]
pub fn Root() -> Element {
    let ctx = use_context::<ShellContext>();
    let theme = use_signal(|| ctx.user.theme);
    // The session remembers its view (tab and step) on the server, so a reconnect or a
    // server restart shows the same screen again.
    let (first_tab, first_step) = parse_view(&ctx.user.view);
    // A shared link opens its run in the Scan tab (a slot's card, or read-only on top).
    let first_tab = if ctx.open.is_some() {
        tabs::Tab::Scan
    } else {
        first_tab
    };
    live::provide_board(&ctx.hub);
    live::provide_system(&ctx.hub);
    live::provide_review(ctx.open.clone());
    let step = use_signal(|| first_step);
    let tab = use_signal(|| first_tab);
    let mut shown = use_signal(|| view_key(first_tab, first_step));
    use_effect(move || {
        let now = view_key(tab(), step());
        if *shown.peek() == now {
            return;
        }
        shown.set(now.clone());
        let ctx = ctx.clone();
        spawn(async move {
            if let Err(e) = ctx.commands.remember_view(&ctx.user, now).await {
                tracing::debug!("remembering the view failed: {e}");
            }
        });
    });
    rsx! {
        div { class: "app theme-{theme().as_str()}", id: "app",
            header::Header { theme }
            div { class: "layout",
                sidebar::Sidebar { step }
                main { class: "content",
                    disk_banner::DiskBanner {}
                    alarm_banner::AlarmBanner {}
                    tabs::Tabs { tab }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_keys_round_trip_and_unknown_falls_back() {
        for t in tabs::Tab::ALL {
            for s in sidebar::Step::ALL {
                assert_eq!(parse_view(&view_key(t, s)), (t, s));
            }
        }
        assert_eq!(
            parse_view("nonsense"),
            (tabs::Tab::Scan, sidebar::Step::Executor)
        );
    }
}

//! The main area's tabs: Scan (the PMT slots with their live grids), HV check, History
//! (past runs), System (GPUs, hosts, disks, the cluster; accounts).

use dioxus::prelude::*;

use super::alarm_settings::AlarmSettings;
use super::history::HistoryPanel;
use super::hv_panel::HvPanel;
use super::logbook::LogbookSearch;
use super::slots::SlotsPanel;
use super::system::SystemPanel;
use super::users::UsersPanel;

/// The main area's tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Scan,
    Hv,
    History,
    System,
}

impl Tab {
    pub const ALL: [Tab; 4] = [Tab::Scan, Tab::Hv, Tab::History, Tab::System];

    /// The tab's key in the stored view.
    pub fn key(self) -> &'static str {
        match self {
            Tab::Scan => "scan",
            Tab::Hv => "hv",
            Tab::History => "history",
            Tab::System => "system",
        }
    }

    pub fn from_key(key: &str) -> Option<Tab> {
        Tab::ALL.into_iter().find(|t| t.key() == key)
    }

    fn label(self) -> &'static str {
        match self {
            Tab::Scan => "Scan",
            Tab::Hv => "HV check",
            Tab::History => "History",
            Tab::System => "System",
        }
    }

    fn id(self) -> &'static str {
        match self {
            Tab::Scan => "tab-scan",
            Tab::Hv => "tab-hv",
            Tab::History => "tab-history",
            Tab::System => "tab-system",
        }
    }
}

#[component]
pub fn Tabs(mut tab: Signal<Tab>) -> Element {
    rsx! {
        div { class: "tabs", role: "tablist",
            for t in Tab::ALL {
                button {
                    key: "{t.id()}",
                    id: "{t.id()}",
                    role: "tab",
                    class: if tab() == t { "tab active" } else { "tab" },
                    onclick: move |_| tab.set(t),
                    "{t.label()}"
                }
            }
        }
        section { class: "panel", id: "panel-{tab().id()}",
            match tab() {
                Tab::Scan => rsx! {
                    h2 { "Scan" }
                    SlotsPanel {}
                },
                Tab::Hv => rsx! {
                    h2 { "HV check" }
                    HvPanel {}
                },
                Tab::History => rsx! {
                    h2 { "History" }
                    HistoryPanel {}
                    LogbookSearch {}
                },
                Tab::System => rsx! {
                    h2 { "System" }
                    SystemPanel {}
                    UsersPanel {}
                    AlarmSettings {}
                },
            }
        }
    }
}

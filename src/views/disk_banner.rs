//! The disk alarm above every tab, in every browser: a data directory below 10 % free or
//! below what the next scan needs (the monitor's disk guard decides; this only shows it).

use dioxus::prelude::*;

use super::live::use_system;

#[component]
pub fn DiskBanner() -> Element {
    let system = use_system();
    let alarms = system.read().alarms.clone();
    if alarms.is_empty() {
        return rsx! {};
    }
    rsx! {
        div { class: "disk-banner", id: "disk-banner", role: "alert",
            strong { "Disk nearly full — new scans are refused. " }
            for a in alarms.iter() {
                p { key: "{a.path}", class: "disk-alarm", "{a.message}" }
            }
        }
    }
}

//! A clearly labelled stand-in for a panel that a later issue fills.

use dioxus::prelude::*;

#[component]
pub fn Placeholder(text: String) -> Element {
    rsx! {
        div { class: "placeholder",
            span { class: "placeholder-tag", "not yet available" }
            p { "{text}" }
        }
    }
}

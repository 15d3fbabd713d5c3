//! The sidebar: the operator's set-up steps in order — the background executor, the
//! compute profiles (remote configuration) and the cleanup of local data.

use dioxus::prelude::*;

use super::cleanup::CleanupPanel;
use super::executor::ExecutorPanel;
use super::profiles::ProfilesPanel;

/// The workflow steps of the sidebar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Executor,
    Remote,
    Cleanup,
}

impl Step {
    pub const ALL: [Step; 3] = [Step::Executor, Step::Remote, Step::Cleanup];

    /// The step's key in the stored view.
    pub fn key(self) -> &'static str {
        match self {
            Step::Executor => "executor",
            Step::Remote => "remote",
            Step::Cleanup => "cleanup",
        }
    }

    pub fn from_key(key: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|s| s.key() == key)
    }

    fn label(self) -> &'static str {
        match self {
            Step::Executor => "1 Background executor",
            Step::Remote => "2 Remote configuration",
            Step::Cleanup => "3 Local data cleanup",
        }
    }

    fn id(self) -> &'static str {
        match self {
            Step::Executor => "step-executor",
            Step::Remote => "step-remote",
            Step::Cleanup => "step-cleanup",
        }
    }
}

#[component]
pub fn Sidebar(mut step: Signal<Step>) -> Element {
    rsx! {
        nav { class: "sidebar",
            for s in Step::ALL {
                div { key: "{s.id()}", class: "step",
                    button {
                        id: "{s.id()}",
                        class: if step() == s { "step-title active" } else { "step-title" },
                        onclick: move |_| step.set(s),
                        "{s.label()}"
                    }
                    if step() == s {
                        div { class: "step-body",
                            match s {
                                Step::Executor => rsx! { ExecutorPanel {} },
                                Step::Remote => rsx! { ProfilesPanel {} },
                                Step::Cleanup => rsx! { CleanupPanel {} },
                            }
                        }
                    }
                }
            }
        }
    }
}

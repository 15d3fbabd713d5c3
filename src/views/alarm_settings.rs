//! Alarm rules and notification targets (System tab): the settings as TOML — the same
//! text as the config file's `[alarms]` table — which an admin edits and saves (the server
//! checks it, audits it and keeps a saved password when its field is left empty); a
//! "send test notification" button per target; the recent deliveries, failed ones with
//! their error; the alarm history.

use dioxus::prelude::*;

use super::ShellContext;
use super::format::fmt_utc;
use crate::model::AlarmConfig;

#[component]
pub fn AlarmSettings() -> Element {
    let ctx = use_context::<ShellContext>();
    let is_admin = ctx.user.role.can_administer();
    let mut refresh = use_signal(|| 0u32);
    let mut text = use_signal(String::new);
    let mut message = use_signal(|| None::<(bool, String)>);
    let load_ctx = ctx.clone();
    let config = use_resource(move || {
        let ctx = load_ctx.clone();
        let _ = refresh();
        async move {
            ctx.reads
                .alarm_config(&ctx.user)
                .await
                .map_err(|e| e.to_string())
        }
    });
    use_effect(move || {
        if let Some(Ok(cfg)) = &*config.read() {
            match toml::to_string(cfg) {
                Ok(t) => text.set(t),
                Err(e) => message.set(Some((false, format!("the settings cannot be shown: {e}")))),
            }
        }
    });
    let del_ctx = ctx.clone();
    let deliveries = use_resource(move || {
        let ctx = del_ctx.clone();
        let _ = refresh();
        async move {
            ctx.reads
                .deliveries(&ctx.user)
                .await
                .map_err(|e| e.to_string())
        }
    });
    let save_ctx = ctx.clone();
    let save = move |_| {
        let ctx = save_ctx.clone();
        async move {
            let parsed: Result<AlarmConfig, String> =
                toml::from_str(&text()).map_err(|e| format!("not valid TOML: {e}"));
            let r = match parsed {
                Ok(cfg) => ctx
                    .commands
                    .set_alarm_config(&ctx.user, cfg)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            match r {
                Ok(()) => {
                    message.set(Some((true, "Alarm settings saved.".into())));
                    refresh += 1;
                }
                Err(e) => message.set(Some((false, e))),
            }
        }
    };
    let targets: Vec<String> = match &*config.read() {
        Some(Ok(cfg)) => cfg.targets.iter().map(|t| t.name().to_string()).collect(),
        _ => Vec::new(),
    };
    rsx! {
        section { id: "alarm-settings", class: "alarm-settings",
            h3 { "Alarms and notifications" }
            if let Some(Err(e)) = &*config.read() {
                p { class: "refusal", "{e}" }
            }
            textarea { id: "alarm-config", rows: "16", cols: "80", readonly: !is_admin,
                value: "{text}", oninput: move |e| text.set(e.value()) }
            if is_admin {
                div { class: "row",
                    button { id: "alarm-config-save", class: "btn", onclick: save, "Save alarm settings" }
                    span { class: "muted small", "An e-mail target's password left empty keeps the saved one." }
                }
                div { class: "row",
                    for name in targets {
                        TestButton { key: "{name}", name: name.clone(), message, refresh }
                    }
                }
            } else {
                p { class: "muted small", "Only an admin can change alarm rules and targets." }
            }
            if let Some((ok, m)) = message() {
                p { id: "alarm-settings-message", class: if ok { "ok" } else { "refusal" }, "{m}" }
            }
            h4 { "Recent notifications" }
            match &*deliveries.read() {
                Some(Ok(list)) if !list.is_empty() => rsx! {
                    table { id: "deliveries",
                        thead { tr { th { "When" } th { "Target" } th { "Subject" } th { "Status" } th { "Attempts" } th { "Error" } } }
                        tbody {
                            for d in list.iter() {
                                tr { key: "{d.id}", class: "delivery-{d.status}",
                                    td { "{fmt_utc(d.at)}" } td { "{d.target}" } td { "{d.subject}" }
                                    td { "{d.status}" } td { "{d.attempts}" } td { "{d.error}" }
                                }
                            }
                        }
                    }
                },
                Some(Err(e)) => rsx! { p { class: "refusal", "{e}" } },
                _ => rsx! { p { class: "muted", "None sent yet." } },
            }
        }
    }
}

#[component]
fn TestButton(
    name: String,
    message: Signal<Option<(bool, String)>>,
    refresh: Signal<u32>,
) -> Element {
    let ctx = use_context::<ShellContext>();
    let n = name.clone();
    let test = move |_| {
        let ctx = ctx.clone();
        let n = n.clone();
        async move {
            match ctx.commands.test_notification(&ctx.user, n.clone()).await {
                Ok(()) => message.set(Some((true, format!("Test notification sent to {n}.")))),
                Err(e) => message.set(Some((false, e.to_string()))),
            }
            refresh += 1;
        }
    };
    rsx! {
        button { id: "alarm-test-{name}", class: "btn btn-ghost", onclick: test, "Send test notification to {name}" }
    }
}

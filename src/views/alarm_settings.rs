//! Alarm rules and notification targets (System tab): the settings as TOML — the same
//! text as the config file's `[alarms]` table — which an admin edits and saves (the server
//! checks it, audits it and keeps a saved password when its field is left empty); a
//! "send test notification" button per saved target; the recent deliveries, failed ones
//! with their error. Only an admin sees the settings (the server refuses them to other
//! roles: recipients and webhook URLs are not for every account); everyone sees the
//! deliveries.

use dioxus::prelude::*;

use super::ShellContext;
use super::format::fmt_utc;
use crate::model::AlarmConfig;

/// What an admin adds a target or a rule with, as a comment under the settings.
const EXAMPLES: &str = "\n# Add a target or a rule by appending a block like these (without the #):\n\
# [[targets]]\n\
# type = \"email\"\n\
# name = \"lab-mail\"\n\
# host = \"smtp.lab.example\"\n\
# port = 587\n\
# security = \"starttls\"\n\
# username = \"pmtwatch\"\n\
# password = \"\"\n\
# from = \"pmtwatch@lab.example\"\n\
# to = [\"shift@lab.example\"]\n\
#\n\
# [[rules]]\n\
# kinds = [\"poor_point\", \"stalled\"]\n\
# targets = [\"lab-mail\"]\n";

/// The settings as the text an admin edits. An empty list of rules or targets is left
/// out (`targets = []` would make the `[[targets]]` block an admin appends a duplicate
/// key, and the save fail); a missing list reads back as empty.
fn editable_toml(cfg: &AlarmConfig) -> Result<String, toml::ser::Error> {
    let text = toml::to_string(cfg)?;
    let mut out: String = text
        .lines()
        .filter(|l| !matches!(l.trim(), "rules = []" | "targets = []"))
        .map(|l| format!("{l}\n"))
        .collect();
    out.push_str(EXAMPLES);
    Ok(out)
}

#[component]
pub fn AlarmSettings() -> Element {
    let ctx = use_context::<ShellContext>();
    let is_admin = ctx.user.role.can_administer();
    // Two refreshes: re-reading the settings replaces the text being edited, so only a
    // save does that; a test notification only re-reads the deliveries.
    let mut refresh = use_signal(|| 0u32);
    let sent = use_signal(|| 0u32);
    let mut text = use_signal(String::new);
    let mut message = use_signal(|| None::<(bool, String)>);
    let load_ctx = ctx.clone();
    let config = use_resource(move || {
        let ctx = load_ctx.clone();
        let _ = refresh();
        async move {
            if !is_admin {
                return Ok(None);
            }
            ctx.reads
                .alarm_config(&ctx.user)
                .await
                .map(Some)
                .map_err(|e| e.to_string())
        }
    });
    use_effect(move || {
        if let Some(Ok(Some(cfg))) = &*config.read() {
            match editable_toml(cfg) {
                Ok(t) => text.set(t),
                Err(e) => message.set(Some((false, format!("the settings cannot be shown: {e}")))),
            }
        }
    });
    let del_ctx = ctx.clone();
    let deliveries = use_resource(move || {
        let ctx = del_ctx.clone();
        let _ = (refresh(), sent());
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
        Some(Ok(Some(cfg))) => cfg.targets.iter().map(|t| t.name().to_string()).collect(),
        _ => Vec::new(),
    };
    rsx! {
        section { id: "alarm-settings", class: "alarm-settings",
            h3 { "Alarms and notifications" }
            if let Some(Err(e)) = &*config.read() {
                p { class: "refusal", "{e}" }
            }
            if is_admin {
                textarea { id: "alarm-config", rows: "16", cols: "80",
                    value: "{text}", oninput: move |e| text.set(e.value()) }
                div { class: "row",
                    button { id: "alarm-config-save", class: "btn", onclick: save, "Save alarm settings" }
                    span { class: "muted small", "An e-mail target's password left empty keeps the saved one." }
                }
                div { class: "row",
                    for name in targets {
                        TestButton { key: "{name}", name: name.clone(), message, sent }
                    }
                }
            } else {
                p { id: "alarm-settings-admin-only", class: "muted small", "Only an admin can see and change alarm rules and targets." }
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
fn TestButton(name: String, message: Signal<Option<(bool, String)>>, sent: Signal<u32>) -> Element {
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
            sent += 1;
        }
    };
    rsx! {
        button { id: "alarm-test-{name}", class: "btn btn-ghost", onclick: test, "Send test notification to {name}" }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Target;

    /// Regression: the text of the default settings had `targets = []`, so appending a
    /// `[[targets]]` block (what the examples say) made the save fail as a duplicate key.
    #[test]
    fn a_target_block_appended_to_the_shown_settings_saves() {
        let plain = toml::to_string(&AlarmConfig::default()).expect("plain");
        assert!(plain.contains("targets = []"), "the trap is real:\n{plain}");
        let shown = editable_toml(&AlarmConfig::default()).expect("shown");
        assert_eq!(
            toml::from_str::<AlarmConfig>(&shown).expect("as shown"),
            AlarmConfig::default()
        );
        let edited = format!(
            "{shown}\n[[targets]]\ntype = \"email\"\nname = \"m\"\nhost = \"127.0.0.1\"\n\
             port = 2525\nsecurity = \"none\"\nfrom = \"a@b.c\"\nto = [\"d@e.f\"]\n"
        );
        let cfg: AlarmConfig = toml::from_str(&edited).expect("edited");
        assert!(matches!(
            &cfg.targets[..],
            [Target::Email { port: 2525, .. }]
        ));
        // With a target, the text shown is the same settings again.
        let again = editable_toml(&cfg).expect("shown again");
        assert_eq!(toml::from_str::<AlarmConfig>(&again).expect("again"), cfg);
    }
}

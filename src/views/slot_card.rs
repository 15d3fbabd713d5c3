//! One PMT slot in the Scan tab (steps 4 and 5): its serial number (checked as typed, saved
//! when valid), compute profile, scan kind and GPU (automatic: the least busy when the run
//! starts; none; one GPU the System tab knows on the profile's host; a count on SLURM);
//! the buttons that start, stop (after a
//! confirmation, optionally cancelling the job) and sync its run; the run's status line;
//! and the live grid of the run it shows. Every button is shown to every role: the server
//! decides, and its refusal is shown here as is.
//!
//! What the operator does in a card reaches the server in the order it was done: saves and
//! button presses go through one queue per card. (Each used to be its own task; on a slow
//! machine a "Run" pressed right after choosing a profile could overtake that save and
//! start — or be refused — with the slot's old settings.) The card keeps its own copy of
//! the chosen serial, profile and kind, so a press never reads settings the board has not
//! caught up with yet. The run's status line says which GPU it got (or "CPU", and why).

use dioxus::prelude::*;
use futures_util::StreamExt;

use super::ShellContext;
use super::grid::Grid;
use super::live::{use_board, use_system};
use super::logbook::LogbookPanel;
use crate::control::CommandError;
use crate::model::{BackendKind, Gpu, GpuChoice, ScanKind};
use crate::pipeline::serial::Serial;

/// What is wrong with a typed serial number; an empty one is allowed (not yet entered).
fn serial_problem(typed: &str) -> Option<String> {
    let t = typed.trim();
    if t.is_empty() {
        return None;
    }
    Serial::parse(t).err()
}

/// SLURM counts offered besides automatic and none (`--gres=gpu:N`).
const GRES_COUNTS: [u32; 4] = [1, 2, 4, 8];

/// The GPU select's options `(value, label)` for a profile of `kind` (`None`: no profile
/// chosen) whose host has `gpus`; `profile_gpus` is what a SLURM profile asks for when
/// automatic. The stored `choice` is always among them, also when its GPU is gone.
fn gpu_options(
    choice: GpuChoice,
    kind: Option<BackendKind>,
    profile_gpus: u32,
    gpus: &[Gpu],
) -> Vec<(String, String)> {
    let auto = match kind {
        Some(BackendKind::Slurm) if profile_gpus > 0 => {
            format!("automatic (gpu:{profile_gpus}, as the profile asks)")
        }
        Some(BackendKind::Slurm) => "automatic (the profile asks for no GPU)".to_string(),
        _ => "automatic (least busy)".to_string(),
    };
    let mut out = vec![
        (GpuChoice::Auto.as_text(), auto),
        (GpuChoice::Cpu.as_text(), "none (CPU)".to_string()),
    ];
    if kind == Some(BackendKind::Slurm) {
        for n in GRES_COUNTS {
            out.push((
                GpuChoice::Count(n).as_text(),
                format!("gpu:{n} (SLURM --gres)"),
            ));
        }
    } else {
        for g in gpus {
            let mut label = format!("GPU {} ({})", g.index, g.name.trim());
            if let Some(u) = g.utilisation_pct {
                label.push_str(&format!(" · {u:.0} %"));
            }
            if let (Some(used), Some(total)) = (g.memory_used_mib, g.memory_total_mib) {
                label.push_str(&format!(" · {used:.0}/{total:.0} MiB"));
            }
            out.push((GpuChoice::Index(g.index).as_text(), label));
        }
    }
    let value = choice.as_text();
    if !out.iter().any(|(v, _)| *v == value) {
        let label = match choice {
            GpuChoice::Index(i) => format!("GPU {i} (not seen on the host now)"),
            GpuChoice::Count(n) => format!("gpu:{n} (SLURM --gres)"),
            GpuChoice::Auto | GpuChoice::Cpu => value.clone(),
        };
        out.push((value, label));
    }
    out
}

/// A slot's settings as `set_slot` takes them.
type Settings = (String, Option<i64>, ScanKind);

/// What a button asks the server.
#[derive(Debug, Clone)]
enum Act {
    /// Start a run, first saving the settings when the typed serial is not saved yet.
    Start(Option<Settings>),
    Stop {
        run: i64,
        cancel: bool,
    },
    Sync(i64),
    Remove,
}

/// What the card's queue carries, in the order the operator did it.
#[derive(Debug, Clone)]
enum Msg {
    /// Save the slot's settings; only a refusal is shown.
    Save(Settings),
    /// Save the slot's GPU choice; only a refusal is shown.
    SaveGpu(GpuChoice),
    /// Press a button; its answer is shown.
    Act(Act),
}

/// Asks the server; the answer in words for the slot's message line.
async fn perform(ctx: &ShellContext, slot_id: i64, a: Act) -> Result<String, CommandError> {
    let (c, who) = (&ctx.commands, &ctx.user);
    match a {
        Act::Start(first) => {
            if let Some((serial, profile, kind)) = first {
                c.set_slot(who, slot_id, serial, profile, kind).await?;
            }
            let s = c.start_run(who, slot_id).await?;
            Ok(match s.auto_archived {
                Some(prev) => format!(
                    "Started run {}; previous run {prev} archived automatically.",
                    s.run_id
                ),
                None => format!("Started run {}.", s.run_id),
            })
        }
        Act::Stop { run, cancel } => {
            c.stop_run(who, run, cancel).await?;
            Ok(if cancel {
                format!("Stopping run {run} and cancelling its job.")
            } else {
                format!("Stopping run {run}; its job is left running.")
            })
        }
        Act::Sync(run) => Ok(match c.sync_run(who, run).await? {
            1 => "1 new point".to_string(),
            n => format!("{n} new points"),
        }),
        Act::Remove => {
            c.remove_slot(who, slot_id).await?;
            Ok("Removed.".into())
        }
    }
}

#[component]
pub fn SlotCard(slot_id: i64) -> Element {
    let ctx = use_context::<ShellContext>();
    let board = use_board();
    let slot = use_memo(move || {
        board
            .read()
            .slots
            .iter()
            .find(|s| s.slot.id == slot_id)
            .map(|s| s.slot.clone())
    });
    let run = use_memo(move || board.read().slot_run(slot_id).cloned());
    // The voltage of this tube's last HV check, offered to its next surface scan.
    let hv_offer = use_memo(move || {
        board
            .read()
            .slots
            .iter()
            .find(|s| s.slot.id == slot_id)
            .and_then(|s| s.hv_offer.clone())
    });
    let profiles = use_memo(move || {
        board
            .read()
            .profiles
            .iter()
            .map(|p| (p.id, p.name.clone()))
            .collect::<Vec<_>>()
    });
    let stored = use_memo(move || {
        slot.read()
            .as_ref()
            .map(|s| (s.serial.clone(), s.profile_id, s.kind))
            .unwrap_or((String::new(), None, ScanKind::Surface))
    });
    let stored_gpu = use_memo(move || slot.read().as_ref().map(|s| s.gpu).unwrap_or_default());
    let system = use_system();
    // The settings as chosen here; replaced when the stored ones change (here or elsewhere).
    let mut serial = use_signal(|| stored.peek().0.clone());
    let mut profile = use_signal(|| stored.peek().1);
    let mut kind = use_signal(|| stored.peek().2);
    let mut gpu = use_signal(|| *stored_gpu.peek());
    use_effect(move || {
        let (s, p, k) = stored();
        serial.set(s);
        profile.set(p);
        kind.set(k);
    });
    use_effect(move || gpu.set(stored_gpu()));
    // The chosen profile's kind, what it asks for on SLURM, and its host's GPUs.
    let gpu_choices = use_memo(move || {
        let chosen = profile();
        let b = board.read();
        let p = chosen.and_then(|id| b.profiles.iter().find(|p| p.id == id));
        let kind = p.map(|p| p.spec.kind);
        let asks = p.map_or(0, |p| p.spec.gpus);
        let sys = system.read();
        let gpus = match (chosen, kind) {
            (_, Some(BackendKind::Local)) => sys.gpus_for(None),
            (Some(id), Some(_)) => sys.gpus_for(Some(id)),
            _ => &[],
        };
        gpu_options(gpu(), kind, asks, gpus)
    });
    let mut message = use_signal(|| None::<(bool, String)>);
    let mut busy = use_signal(|| false);
    let mut stop_open = use_signal(|| false);
    let mut cancel_job = use_signal(|| true);

    // The settings to save: the typed serial when it is valid, else the stored one.
    let settings = move || -> Settings {
        let typed = serial.peek().trim().to_string();
        let serial = if serial_problem(&typed).is_none() {
            typed
        } else {
            stored.peek().0.clone()
        };
        (serial, *profile.peek(), *kind.peek())
    };
    let queue_ctx = ctx.clone();
    let queue = use_coroutine(move |mut rx: UnboundedReceiver<Msg>| {
        let ctx = queue_ctx.clone();
        async move {
            while let Some(m) = rx.next().await {
                match m {
                    Msg::Save((serial, profile, kind)) => {
                        let r = ctx
                            .commands
                            .set_slot(&ctx.user, slot_id, serial, profile, kind)
                            .await;
                        match r {
                            Ok(()) => message.set(None),
                            Err(e) => message.set(Some((false, e.to_string()))),
                        }
                    }
                    Msg::SaveGpu(choice) => {
                        let r = ctx.commands.set_slot_gpu(&ctx.user, slot_id, choice).await;
                        match r {
                            Ok(()) => message.set(None),
                            Err(e) => message.set(Some((false, e.to_string()))),
                        }
                    }
                    Msg::Act(a) => {
                        match perform(&ctx, slot_id, a).await {
                            Ok(m) => message.set(Some((true, m))),
                            Err(e) => message.set(Some((false, e.to_string()))),
                        }
                        busy.set(false);
                    }
                }
            }
        }
    });
    let save = move |s: Settings| queue.send(Msg::Save(s));
    let mut act = move |a: Act| {
        busy.set(true);
        message.set(None);
        queue.send(Msg::Act(a));
    };

    let Some(s) = slot() else {
        return rsx! {};
    };
    let current = run();
    let active = current.as_ref().is_some_and(|v| v.run.state.is_active());
    let run_id = current.as_ref().map(|v| v.run.id);
    let typed = serial();
    let problem = serial_problem(&typed);
    let (state_word, status) = match &current {
        None => ("none".to_string(), "no run yet".to_string()),
        Some(v) => {
            let word = v.run.state.as_str();
            let mut t = format!(
                "run {} · {word} · {}/{}",
                v.run.id,
                v.points.len(),
                v.pattern.len()
            );
            if !v.run.message.is_empty() {
                t.push_str(&format!(" · {}", v.run.message));
            }
            if let Some(hv) = v.run.hv {
                t.push_str(&format!(" · HV {hv:.0} V"));
            }
            if let Some(g) = &v.run.gpu {
                t.push_str(&format!(" · {}", g.label()));
            }
            (word.to_string(), t)
        }
    };
    let is_busy = busy();
    let offer = hv_offer().filter(|_| s.kind != ScanKind::Hv);
    let offer_volts = offer
        .as_ref()
        .and_then(|h| h.volts)
        .map(|v| format!("{v:.0}"))
        .unwrap_or_default();
    rsx! {
        article { id: "slot-{slot_id}", class: "slot-card",
            div { class: "row slot-head",
                h3 { "{s.name}" }
                span { class: "spacer" }
                button { id: "slot-{slot_id}-remove", class: "btn btn-ghost", disabled: is_busy, onclick: move |_| act(Act::Remove), "Remove slot" }
            }
            div { class: "slot-fields",
                label { class: "stack",
                    "PMT serial number"
                    input {
                        id: "slot-{slot_id}-serial",
                        value: "{typed}",
                        placeholder: "e.g. KM12345",
                        autocomplete: "off",
                        spellcheck: "false",
                        "aria-invalid": if problem.is_some() { "true" } else { "false" },
                        oninput: move |e| serial.set(e.value()),
                        onchange: move |e| {
                            let typed = e.value().trim().to_string();
                            serial.set(typed.clone());
                            if serial_problem(&typed).is_none() && typed != stored.peek().0 {
                                save(settings());
                            }
                        },
                    }
                    if let Some(p) = &problem {
                        span { id: "slot-{slot_id}-serial-error", class: "field-error", role: "alert", "{p}" }
                    } else if typed.trim().is_empty() {
                        span { class: "muted small", "enter the serial number of the PMT in this slot" }
                    }
                }
                label { class: "stack",
                    "Compute profile"
                    select {
                        id: "slot-{slot_id}-profile",
                        onchange: move |e| {
                            profile.set(e.value().parse::<i64>().ok());
                            save(settings());
                        },
                        option { value: "", selected: profile().is_none(), "— choose a profile —" }
                        for (pid, name) in profiles() {
                            option { key: "{pid}", value: "{pid}", selected: profile() == Some(pid), "{name}" }
                        }
                    }
                }
                label { class: "stack",
                    "Scan"
                    select {
                        id: "slot-{slot_id}-kind",
                        onchange: move |e| {
                            if let Ok(k) = e.value().parse::<ScanKind>() {
                                kind.set(k);
                                save(settings());
                            }
                        },
                        option { value: "surface", selected: kind() == ScanKind::Surface, "surface scan (θ/φ)" }
                        option { value: "hv", selected: kind() == ScanKind::Hv, "HV check" }
                        option { value: "dark", selected: kind() == ScanKind::Dark, "darkness check (no light)" }
                    }
                }
                label { class: "stack",
                    "GPU"
                    select {
                        id: "slot-{slot_id}-gpu",
                        onchange: move |e| {
                            if let Ok(choice) = GpuChoice::parse(&e.value()) {
                                gpu.set(choice);
                                queue.send(Msg::SaveGpu(choice));
                            }
                        },
                        for (value, label) in gpu_choices() {
                            option { key: "{value}", value: "{value}", selected: gpu().as_text() == value, "{label}" }
                        }
                    }
                }
            }
            div { class: "row slot-buttons",
                button {
                    id: "slot-{slot_id}-run",
                    class: "btn btn-primary",
                    disabled: is_busy || active,
                    onclick: move |_| {
                        // A serial typed but not yet committed is saved first.
                        let now = settings();
                        let unsaved = now != *stored.peek();
                        act(Act::Start(unsaved.then_some(now)));
                    },
                    "Run live monitoring"
                }
                button { id: "slot-{slot_id}-stop", class: "btn", disabled: is_busy || !active, onclick: move |_| stop_open.set(true), "Stop" }
                button {
                    id: "slot-{slot_id}-sync",
                    class: "btn",
                    disabled: is_busy || run_id.is_none(),
                    onclick: move |_| {
                        if let Some(r) = run_id {
                            act(Act::Sync(r));
                        }
                    },
                    "Manual sync"
                }
            }
            if let (true, true, Some(r)) = (stop_open(), active, run_id) {
                div { id: "slot-{slot_id}-stop-confirm", class: "confirm", role: "alertdialog",
                    p { "Stop following run {r}? Its points so far are kept; the run ends as cancelled." }
                    label { class: "check",
                        input {
                            id: "slot-{slot_id}-cancel-job",
                            r#type: "checkbox",
                            checked: cancel_job(),
                            onchange: move |e| cancel_job.set(e.checked()),
                        }
                        " also cancel the job on the cluster"
                    }
                    div { class: "row",
                        button {
                            id: "slot-{slot_id}-stop-yes",
                            class: "btn btn-warn",
                            onclick: move |_| {
                                stop_open.set(false);
                                act(Act::Stop { run: r, cancel: cancel_job() });
                            },
                            "Stop the run"
                        }
                        button { id: "slot-{slot_id}-stop-no", class: "btn btn-ghost", onclick: move |_| stop_open.set(false), "Keep it running" }
                    }
                }
            }
            if let Some(h) = offer {
                p {
                    id: "slot-{slot_id}-hv-offer",
                    class: "hv-offer",
                    "data-volts": "{offer_volts}",
                    "Operating HV from HV check run {h.run_id}: {h.summary}"
                }
            }
            p { id: "slot-{slot_id}-status", class: "slot-status", "data-state": "{state_word}", "{status}" }
            if let Some((ok, m)) = message() {
                p {
                    id: "slot-{slot_id}-message",
                    class: if ok { "ok" } else { "refusal" },
                    role: if ok { "status" } else { "alert" },
                    "{m}"
                }
            }
            for v in current {
                Grid { key: "{v.run.id}", view: v.clone() }
                details { class: "slot-logbook",
                    summary { "Logbook of run {v.run.id}" }
                    LogbookPanel { run_id: v.run.id }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_checked_as_typed_and_empty_is_not_an_error() {
        assert_eq!(serial_problem(""), None);
        assert_eq!(serial_problem("  "), None);
        assert_eq!(serial_problem("KM12345"), None);
        assert!(serial_problem("-rf").is_some());
        assert!(serial_problem("KM 1").is_some());
    }

    fn h100(index: u32) -> Gpu {
        Gpu {
            index,
            name: "NVIDIA H100".into(),
            uuid: format!("GPU-{index}"),
            utilisation_pct: Some(12.0),
            memory_used_mib: Some(1000.0),
            memory_total_mib: Some(81559.0),
            temperature_c: None,
            power_draw_w: None,
            power_limit_w: None,
            mig_mode: None,
        }
    }

    #[test]
    fn the_gpu_select_offers_the_hosts_gpus_or_slurm_counts() {
        let values = |o: Vec<(String, String)>| o.into_iter().map(|(v, _)| v).collect::<Vec<_>>();
        let local = gpu_options(
            GpuChoice::Auto,
            Some(BackendKind::Local),
            0,
            &[h100(0), h100(1)],
        );
        assert_eq!(local[0].1, "automatic (least busy)");
        assert_eq!(local[2].1, "GPU 0 (NVIDIA H100) · 12 % · 1000/81559 MiB");
        assert_eq!(values(local), ["auto", "none", "index:0", "index:1"]);
        let slurm = gpu_options(GpuChoice::Auto, Some(BackendKind::Slurm), 1, &[h100(0)]);
        assert_eq!(slurm[0].1, "automatic (gpu:1, as the profile asks)");
        assert_eq!(
            values(slurm),
            ["auto", "none", "count:1", "count:2", "count:4", "count:8"]
        );
        // A stored choice whose GPU is not seen now stays selectable (and says so).
        let gone = gpu_options(GpuChoice::Index(3), Some(BackendKind::Ssh), 0, &[]);
        assert_eq!(
            gone.last().map(|o| o.1.as_str()),
            Some("GPU 3 (not seen on the host now)")
        );
    }
}

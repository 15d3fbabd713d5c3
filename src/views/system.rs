//! The System tab's machines: GPUs (this machine's through NVML, each profile's host's
//! through `nvidia-smi`), hosts (load, memory, disks, the oldest unreviewed run), SLURM
//! clusters (partitions, this user's queue with pending reasons in words and start
//! estimates), and the last hour as charts. Renders the sampler's picture from the hub;
//! nothing here asks a machine anything.

use dioxus::prelude::*;

use super::chart::Chart;
use super::format::{fmt_bytes, fmt_secs};
use super::live::use_system;
use crate::model::{Gpu, HostStatus};

fn opt(v: Option<f64>, unit: &str, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}{unit}"))
        .unwrap_or_else(|| "—".into())
}

fn memory(g: &Gpu) -> String {
    match (g.memory_used_mib, g.memory_total_mib) {
        (Some(u), Some(t)) => format!("{u:.0} / {t:.0} MiB"),
        (None, Some(t)) => format!("— / {t:.0} MiB"),
        _ => "—".into(),
    }
}

fn power(g: &Gpu) -> String {
    match (g.power_draw_w, g.power_limit_w) {
        (Some(d), Some(l)) => format!("{d:.0} / {l:.0} W"),
        (Some(d), None) => format!("{d:.0} W"),
        _ => "—".into(),
    }
}

fn mig(g: &Gpu) -> &'static str {
    match g.mig_mode {
        Some(true) => "enabled",
        Some(false) => "disabled",
        None => "—",
    }
}

fn host_memory(h: &HostStatus) -> String {
    match (h.memory_used_bytes, h.memory_total_bytes) {
        (Some(u), Some(t)) => format!("{} / {}", fmt_bytes(u), fmt_bytes(t)),
        _ => "—".into(),
    }
}

fn load(h: &HostStatus) -> String {
    match (h.load, h.cpus) {
        (Some([a, b, c]), Some(n)) => format!("{a:.2} {b:.2} {c:.2} ({n} CPUs)"),
        (Some([a, b, c]), None) => format!("{a:.2} {b:.2} {c:.2}"),
        _ => "—".into(),
    }
}

#[component]
pub fn SystemPanel() -> Element {
    let system = use_system();
    let s = system.read().clone();
    let hosts: Vec<HostStatus> = std::iter::once(s.local.clone())
        .chain(s.hosts.iter().cloned())
        .collect();
    let waiting = s.sampled_at == 0;
    rsx! {
        div { class: "system", id: "system-panel",
            if waiting {
                p { class: "muted", "reading the machines…" }
            }
            h3 { "GPUs" }
            for (i, h) in hosts.iter().enumerate() {
                if let Some(note) = &h.gpu_note {
                    p {
                        key: "note-{i}",
                        class: "gpu-note muted",
                        id: if i == 0 { "gpu-note-local" } else { "gpu-note-{i}" },
                        "{h.name}: {note}"
                    }
                }
            }
            if hosts.iter().any(|h| !h.gpus.is_empty()) {
                table { id: "system-gpus", class: "system-table",
                    thead { tr {
                        th { "Host" } th { "GPU" } th { "UUID" } th { "Util." } th { "Memory" }
                        th { "Temp." } th { "Power" } th { "MIG" } th { "Processes" }
                    } }
                    tbody {
                        for h in hosts.iter() {
                            for g in h.gpus.iter() {
                                tr { key: "{h.name}-{g.index}",
                                    td { "{h.name}" }
                                    td { "{g.index}: {g.name}" }
                                    td { class: "mono", "{g.uuid}" }
                                    td { "{opt(g.utilisation_pct, \" %\", 0)}" }
                                    td { "{memory(g)}" }
                                    td { "{opt(g.temperature_c, \" °C\", 0)}" }
                                    td { "{power(g)}" }
                                    td { "{mig(g)}" }
                                    td {
                                        for p in h.gpu_processes.iter().filter(|p| p.gpu_uuid == g.uuid) {
                                            div { key: "{p.pid}",
                                                "{p.pid} {p.name} {opt(p.used_memory_mib, \" MiB\", 0)}"
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h3 { "Hosts" }
            if let Some(age) = s.oldest_unreviewed_age_s {
                p { id: "oldest-unreviewed", "Oldest unreviewed run: ended {fmt_secs(age)} ago." }
            }
            table { id: "system-hosts", class: "system-table",
                thead { tr { th { "Host" } th { "Load (1, 5, 15 min)" } th { "Memory" } th { "Disks (free of total)" } } }
                tbody {
                    for h in hosts.iter() {
                        tr { key: "{h.name}",
                            td { "{h.name}" }
                            if let Some(e) = &h.error {
                                td { colspan: "3", class: "refusal", "{e}" }
                            } else {
                                td { "{load(h)}" }
                                td { "{host_memory(h)}" }
                                td {
                                    for d in h.disks.iter() {
                                        div { key: "{d.role}-{d.path}",
                                            match (&d.space, &d.error) {
                                                (Some(sp), _) => rsx! {
                                                    "{d.role} {d.path}: {fmt_bytes(sp.free_bytes)} of {fmt_bytes(sp.total_bytes)} ({sp.free_fraction() * 100.0:.0} % free)"
                                                },
                                                (None, e) => rsx! {
                                                    "{d.role} {d.path}: {e.clone().unwrap_or_default()}"
                                                },
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            if !s.clusters.is_empty() {
                h3 { "Cluster" }
            }
            for (i, c) in s.clusters.iter().enumerate() {
                div { key: "cluster-{i}", class: "cluster", id: "cluster-{i}",
                    h4 { "{c.profile} ({c.host})" }
                    if let Some(e) = &c.error {
                        p { class: "refusal", "{e}" }
                    }
                    table { class: "system-table partitions", id: "partitions-{i}",
                        thead { tr {
                            th { "Partition" } th { "Available" } th { "State" } th { "Nodes" }
                            th { "CPUs alloc/idle/other/total" } th { "GPUs (GRES)" } th { "Time limit" }
                        } }
                        tbody {
                            for (j, p) in c.partitions.iter().enumerate() {
                                tr { key: "{j}",
                                    td { if p.default { "{p.name} (default)" } else { "{p.name}" } }
                                    td { "{p.availability}" }
                                    td { "{p.state}" }
                                    td { "{p.nodes} ({p.node_list})" }
                                    td {
                                        if let Some(cpu) = p.cpus {
                                            "{cpu.allocated}/{cpu.idle}/{cpu.other}/{cpu.total}"
                                        } else {
                                            "—"
                                        }
                                    }
                                    td { "{p.gres.clone().unwrap_or_else(|| \"—\".into())}" }
                                    td { "{p.time_limit}" }
                                }
                            }
                        }
                    }
                    table { class: "system-table queue", id: "queue-{i}",
                        thead { tr {
                            th { "Job" } th { "Name" } th { "Partition" } th { "State" }
                            th { "Why it waits" } th { "Start (estimate)" } th { "Time used" }
                        } }
                        tbody {
                            if c.queue.is_empty() {
                                tr { td { colspan: "7", class: "muted", "no jobs of this user" } }
                            }
                            for j in c.queue.iter() {
                                tr { key: "{j.id}", id: "job-{j.id}",
                                    td { "{j.id}" }
                                    td { "{j.name}" }
                                    td { "{j.partition}" }
                                    td { "{j.state}" }
                                    td { "{j.reason_words.clone().unwrap_or_default()}" }
                                    td { "{j.start_estimate.clone().unwrap_or_else(|| \"—\".into())}" }
                                    td { "{j.elapsed}" }
                                }
                            }
                        }
                    }
                }
            }
            if !s.charts.is_empty() {
                h3 { "The last hour" }
                div { class: "charts", id: "system-charts",
                    for c in s.charts.iter() {
                        Chart { key: "{c.key}", series: c.clone(), now: s.sampled_at }
                    }
                }
            }
        }
    }
}

//! The System tab's sampler: one task for the whole server (not one per browser) that
//! reads this machine every 2 s ([`local`]: NVML GPUs, load, memory, free space of the
//! data directory and local profiles' directories), each profile's host every 15 s over
//! its own connection ([`remote_host`]: `nvidia-smi`, load, memory, disks, SLURM
//! partitions and queue), keeps the last hour for the charts ([`history`]), judges the
//! disks ([`guard`]: the banner and the refusal to start a scan that cannot fit), and
//! publishes one [`SystemStatus`] through a watch channel every browser reads.
//!
//! Stops when asked ([`super::Monitor::stop_sampler`]) or when the monitor is gone (it
//! holds only a weak reference). Blocking reads go to `spawn_blocking`; the remote reads
//! run in their own task, so a slow host never delays this machine's 2 s picture.

pub mod guard;
pub(crate) mod history;
pub(crate) mod local;
pub(crate) mod remote_host;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::model::{BackendKind, ClusterStatus, DiskAlarm, HostStatus, SystemStatus};
use crate::remote::backend::Backend;

use super::profile::Profile;
use super::{Inner, Monitor};
use history::History;
use local::{Dir, LocalSampler};

/// How often the sampler looks, and where.
#[derive(Debug, Clone)]
pub struct SamplerConfig {
    /// This machine (and the published status): every 2 s.
    pub every: Duration,
    /// Each profile's host over SSH: every 15 s.
    pub remote_every: Duration,
    /// Whether profiles' hosts are read at all (tests of other things turn it off).
    pub remote: bool,
    /// Between two tries to load NVML when it is missing: 5 minutes.
    pub nvml_retry: Duration,
    /// Between two size estimates of the next scan (a directory walk): 1 minute.
    pub estimate_every: Duration,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            every: Duration::from_secs(2),
            remote_every: Duration::from_secs(15),
            remote: true,
            nvml_retry: Duration::from_secs(300),
            estimate_every: Duration::from_secs(60),
        }
    }
}

/// Longest one host's reading may take before it is shown as unreachable.
const HOST_TIMEOUT: Duration = Duration::from_secs(45);

type RemoteResult = Vec<(i64, HostStatus, Option<ClusterStatus>)>;

/// The sampler's loop; see the module documentation.
pub(super) async fn run(
    inner: Weak<Inner>,
    cfg: SamplerConfig,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut local = Some(LocalSampler::new(cfg.nvml_retry));
    let mut estimate = guard::Estimate::default();
    let mut estimated_at: Option<Instant> = None;
    let mut backends: HashMap<i64, (String, Arc<Backend>)> = HashMap::new();
    let mut remote: HashMap<i64, (HostStatus, Option<ClusterStatus>)> = HashMap::new();
    let mut remote_task: Option<tokio::task::JoinHandle<RemoteResult>> = None;
    let mut remote_at: Option<Instant> = None;
    let mut history = History::default();
    let mut tick = tokio::time::interval(cfg.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            r = stop.wait_for(|s| *s) => {
                let _ = r;
                if let Some(t) = remote_task.take() {
                    t.abort();
                }
                return;
            }
        }
        let Some(inner) = inner.upgrade() else {
            if let Some(t) = remote_task.take() {
                t.abort();
            }
            return;
        };
        let m = Monitor { inner };
        let board = m.snapshot();
        let now = crate::model::now();

        // This machine (blocking: NVML, statvfs, the estimate's directory walk).
        let mut dirs = vec![Dir {
            role: "data".into(),
            path: m.data_dir().to_path_buf(),
        }];
        for p in board.profiles.iter() {
            if p.spec.kind == BackendKind::Local {
                for (role, d) in remote_host::profile_dirs(p) {
                    dirs.push(Dir {
                        role,
                        path: PathBuf::from(d),
                    });
                }
            }
        }
        let estimate_due = estimated_at.is_none_or(|t| t.elapsed() >= cfg.estimate_every);
        let data_dir = m.data_dir().to_path_buf();
        let mut sampler = local
            .take()
            .unwrap_or_else(|| LocalSampler::new(cfg.nvml_retry));
        let read = tokio::task::spawn_blocking(move || {
            let host = sampler.sample(&dirs, now);
            let est = estimate_due.then(|| guard::next_scan_estimate(&data_dir));
            (sampler, host, est)
        })
        .await;
        let host = match read {
            Ok((sampler, host, est)) => {
                local = Some(sampler);
                if let Some(e) = est {
                    estimate = e;
                    estimated_at = Some(Instant::now());
                }
                host
            }
            Err(e) => {
                tracing::error!("reading this machine failed: {e}");
                HostStatus {
                    name: "this machine".into(),
                    error: Some(format!("reading this machine failed: {e}")),
                    sampled_at: now,
                    ..HostStatus::default()
                }
            }
        };

        // Profiles' hosts: collect a finished reading, start the next when due.
        if remote_task.as_ref().is_some_and(|t| t.is_finished())
            && let Some(t) = remote_task.take()
        {
            match t.await {
                Ok(results) => {
                    remote.clear();
                    for (id, h, c) in results {
                        remote.insert(id, (h, c));
                    }
                }
                Err(e) => tracing::warn!("reading the profiles' hosts failed: {e}"),
            }
        }
        let remote_profiles: Vec<Profile> = board
            .profiles
            .iter()
            .filter(|p| p.spec.kind != BackendKind::Local)
            .cloned()
            .collect();
        remote.retain(|id, _| remote_profiles.iter().any(|p| p.id == *id));
        if cfg.remote
            && remote_task.is_none()
            && !remote_profiles.is_empty()
            && remote_at.is_none_or(|t| t.elapsed() >= cfg.remote_every)
        {
            remote_at = Some(Instant::now());
            let mut jobs = Vec::new();
            for p in remote_profiles.iter() {
                let key = serde_json::to_string(&p.spec).unwrap_or_default();
                let backend = match backends.get(&p.id) {
                    Some((k, b)) if *k == key => Ok(Arc::clone(b)),
                    _ => p
                        .spec
                        .backend_config(m.program())
                        .and_then(Backend::new)
                        .map(Arc::new),
                };
                match backend {
                    Ok(b) => {
                        backends.insert(p.id, (key, Arc::clone(&b)));
                        jobs.push((p.clone(), Some(b), None));
                    }
                    Err(e) => jobs.push((p.clone(), None, Some(e.to_string()))),
                }
            }
            backends.retain(|id, _| remote_profiles.iter().any(|p| p.id == *id));
            remote_task = Some(tokio::spawn(read_profiles(jobs)));
        }

        // Disks: the banner's alarms, from this machine's data and local work directories.
        let mut alarms = Vec::new();
        for d in &host.disks {
            let watched = d.role == "data" || d.role.ends_with(" work");
            if let Some(space) = d.space.as_ref().filter(|_| watched)
                && let Some(message) = guard::judge(space, estimate)
            {
                alarms.push(DiskAlarm {
                    path: d.path.clone(),
                    message,
                });
            }
        }

        let oldest = m
            .inner
            .store
            .run(|s| s.oldest_unreviewed())
            .await
            .unwrap_or_else(|e| {
                tracing::debug!("oldest unreviewed run: {e}");
                None
            });
        let mut hosts = Vec::new();
        let mut clusters = Vec::new();
        for p in &remote_profiles {
            if let Some((h, c)) = remote.get(&p.id) {
                hosts.push(h.clone());
                if let Some(c) = c {
                    clusters.push(c.clone());
                }
            }
        }
        for h in std::iter::once(&host).chain(&hosts) {
            record_charts(&mut history, h, now);
        }
        let status = SystemStatus {
            sampled_at: now,
            local: host,
            hosts,
            clusters,
            alarms,
            oldest_unreviewed_age_s: oldest.map(|t| (now - t).max(0)),
            charts: history.charts(now),
        };
        m.inner.system.send_replace(Arc::new(status));
    }
}

/// Reads each profile's host in turn, each bounded by [`HOST_TIMEOUT`].
async fn read_profiles(jobs: Vec<(Profile, Option<Arc<Backend>>, Option<String>)>) -> RemoteResult {
    let mut out = Vec::new();
    for (p, backend, problem) in jobs {
        let now = crate::model::now();
        let failed = |why: String| {
            let host = HostStatus {
                name: p.name.clone(),
                profile_id: Some(p.id),
                error: Some(why.clone()),
                sampled_at: now,
                ..HostStatus::default()
            };
            let cluster = (p.spec.kind == BackendKind::Slurm).then(|| ClusterStatus {
                profile: p.name.clone(),
                host: p.spec.host.clone(),
                error: Some(why),
                ..ClusterStatus::default()
            });
            (host, cluster)
        };
        let (h, c) = match backend {
            Some(b) => {
                match tokio::time::timeout(HOST_TIMEOUT, remote_host::sample(&p, &b, now)).await {
                    Ok(r) => r,
                    Err(_) => failed(format!(
                        "{} did not answer within {} s",
                        b.host_label(),
                        HOST_TIMEOUT.as_secs()
                    )),
                }
            }
            None => failed(problem.unwrap_or_else(|| "the profile cannot be used".into())),
        };
        out.push((p.id, h, c));
    }
    out
}

/// One sample of a host's charts: each GPU's utilisation and memory, the load, each
/// disk's free share.
fn record_charts(history: &mut History, h: &HostStatus, now: i64) {
    for g in &h.gpus {
        let id = if g.uuid.is_empty() {
            format!("{}-{}", h.name, g.index)
        } else {
            g.uuid.clone()
        };
        if let Some(u) = g.utilisation_pct {
            history.record(
                &format!("gpu-util-{id}"),
                &format!("{} GPU {} utilisation", h.name, g.index),
                "%",
                Some(100.0),
                now,
                u,
            );
        }
        if let (Some(used), Some(total)) = (g.memory_used_mib, g.memory_total_mib)
            && total > 0.0
        {
            history.record(
                &format!("gpu-mem-{id}"),
                &format!("{} GPU {} memory", h.name, g.index),
                "%",
                Some(100.0),
                now,
                100.0 * used / total,
            );
        }
    }
    if let Some([one, _, _]) = h.load {
        history.record(
            &format!("load-{}", h.name),
            &format!("{} load", h.name),
            "",
            None,
            now,
            one,
        );
    }
    for d in &h.disks {
        if let Some(s) = &d.space {
            history.record(
                &format!("disk-{}-{}", h.name, d.path),
                &format!("{} free on {} ({})", h.name, d.path, d.role),
                "%",
                Some(100.0),
                now,
                100.0 * s.free_fraction(),
            );
        }
    }
}

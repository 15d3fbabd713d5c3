//! The System tab's live picture, as the monitor's sampler publishes it every 2 s: this
//! machine and each profile's host (GPUs, load, memory, disks), the SLURM clusters
//! (partitions, this user's queue), the disk alarms every tab shows, and the last hour
//! of each chart. Plain values, no I/O; `monitor::system` fills them, `views` show them.

use serde::{Deserialize, Serialize};

use super::system::{DiskSpace, Gpu, GpuProcess, Partition, QueuedJob};

/// What the tab says about GPUs on a machine without the NVIDIA driver.
pub const NO_LOCAL_GPU: &str = "no NVIDIA GPU / driver on this machine";
/// What it says about a profile's host without `nvidia-smi`.
pub const NO_NVIDIA_SMI: &str = "no nvidia-smi on host";

/// Everything the System tab shows, one snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SystemStatus {
    /// When this snapshot was taken (Unix seconds); 0 before the first sample.
    pub sampled_at: i64,
    /// This machine (the one pmtwatch serves from).
    pub local: HostStatus,
    /// Each profile whose work runs elsewhere (SSH, SLURM over SSH), in profile order.
    pub hosts: Vec<HostStatus>,
    /// Each SLURM profile's cluster.
    pub clusters: Vec<ClusterStatus>,
    /// Data directories that are nearly full; shown as a banner in every tab.
    pub alarms: Vec<DiskAlarm>,
    /// Age of the oldest finished run nobody reviewed yet (seconds), if any.
    pub oldest_unreviewed_age_s: Option<i64>,
    /// The last hour of the charts (GPU utilisation and memory, load, free disk).
    pub charts: Vec<ChartSeries>,
}

impl SystemStatus {
    /// The GPUs a run of `profile_id` may use: its host's, or this machine's for a local
    /// profile (`None`).
    pub fn gpus_for(&self, profile_id: Option<i64>) -> &[Gpu] {
        match profile_id {
            Some(id) => self
                .hosts
                .iter()
                .find(|h| h.profile_id == Some(id))
                .map(|h| h.gpus.as_slice())
                .unwrap_or(&[]),
            None => &self.local.gpus,
        }
    }
}

/// The GPU a new job should use by default: the least busy — lowest utilisation, then
/// least memory in use; a value a GPU does not report counts as busiest. `None` without
/// GPUs. What "automatic" in a slot's GPU choice means at run start
/// ([`super::gpu::resolve`]).
pub fn least_busy(gpus: &[Gpu]) -> Option<&Gpu> {
    let key = |v: Option<f64>| v.filter(|x| x.is_finite()).unwrap_or(f64::INFINITY);
    gpus.iter().min_by(|a, b| {
        key(a.utilisation_pct)
            .total_cmp(&key(b.utilisation_pct))
            .then(key(a.memory_used_mib).total_cmp(&key(b.memory_used_mib)))
            .then(a.index.cmp(&b.index))
    })
}

/// One machine: this one, or a profile's host.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostStatus {
    /// `this machine`, or `<profile> (user@host:port)`.
    pub name: String,
    /// The profile this host belongs to (`None` for this machine).
    pub profile_id: Option<i64>,
    /// Why the host could not be read (unreachable, refused); the rest is then empty.
    pub error: Option<String>,
    pub gpus: Vec<Gpu>,
    pub gpu_processes: Vec<GpuProcess>,
    /// Why there are no GPUs ([`NO_LOCAL_GPU`], [`NO_NVIDIA_SMI`], an error).
    pub gpu_note: Option<String>,
    /// 1, 5 and 15 minute load averages.
    pub load: Option<[f64; 3]>,
    pub cpus: Option<u32>,
    pub memory_used_bytes: Option<u64>,
    pub memory_total_bytes: Option<u64>,
    pub disks: Vec<DiskLine>,
    /// When this host was last read (Unix seconds).
    pub sampled_at: i64,
}

/// One directory's filesystem on a host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiskLine {
    /// `data`, `work`, `archive`, `flag`, …
    pub role: String,
    pub path: String,
    pub space: Option<DiskSpace>,
    /// Why it could not be measured.
    pub error: Option<String>,
}

/// A SLURM profile's cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub profile: String,
    pub host: String,
    pub partitions: Vec<Partition>,
    /// This user's jobs, with pending reasons in words and start estimates.
    pub queue: Vec<QueuedJob>,
    pub error: Option<String>,
}

/// A data directory too full for the next scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskAlarm {
    pub path: String,
    /// What is wrong and what to do, in one sentence.
    pub message: String,
}

/// One chart's values over the last hour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChartSeries {
    /// Stable key (element ids): `gpu-util-<uuid>`, `load-<host>`, …
    pub key: String,
    pub title: String,
    pub unit: String,
    /// The value axis' top (100 for percentages); `None`: the largest value.
    pub max: Option<f64>,
    /// `(Unix seconds, value)`, oldest first.
    pub points: Vec<(i64, f64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpu(index: u32, util: Option<f64>, mem: Option<f64>) -> Gpu {
        Gpu {
            index,
            name: "GPU".into(),
            uuid: format!("GPU-{index}"),
            utilisation_pct: util,
            memory_used_mib: mem,
            memory_total_mib: Some(80_000.0),
            temperature_c: None,
            power_draw_w: None,
            power_limit_w: None,
            mig_mode: None,
        }
    }

    #[test]
    fn the_least_busy_gpu_is_chosen_by_utilisation_then_memory() {
        assert!(least_busy(&[]).is_none());
        let gpus = [
            gpu(0, Some(90.0), Some(10.0)),
            gpu(1, Some(5.0), Some(3000.0)),
            gpu(2, Some(5.0), Some(200.0)),
            gpu(3, None, Some(0.0)),
        ];
        assert_eq!(least_busy(&gpus).map(|g| g.index), Some(2));
        // MIG-enabled GPUs report no utilisation: memory decides among them.
        let mig = [gpu(0, None, Some(500.0)), gpu(1, None, Some(100.0))];
        assert_eq!(least_busy(&mig).map(|g| g.index), Some(1));
    }
}

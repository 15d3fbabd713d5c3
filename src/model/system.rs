//! What the System tab shows about the machines scans run on: GPUs and the processes using
//! them, a SLURM cluster's partitions and this user's queue. Plain values, no I/O: the
//! remote layer fills them (`remote::sysinfo` parses `nvidia-smi`, `sinfo` and `squeue`
//! output; the local NVML sampler will fill the same [`Gpu`]), the views show them. They
//! live here so that `views` can name them without reaching into `remote`.
//!
//! A value a driver or the cluster does not report (`[N/A]`, `[Not Supported]`, a pending
//! job without a start estimate) is `None`, never a made-up zero.

use serde::{Deserialize, Serialize};

/// One GPU as `nvidia-smi --query-gpu` (or NVML) reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gpu {
    /// The driver's index (`CUDA_VISIBLE_DEVICES` order unless remapped).
    pub index: u32,
    pub name: String,
    /// `GPU-…`; empty when the query did not ask for it.
    pub uuid: String,
    /// GPU utilisation in percent; `None` on MIG-enabled GPUs and where not supported.
    pub utilisation_pct: Option<f64>,
    pub memory_used_mib: Option<f64>,
    pub memory_total_mib: Option<f64>,
    pub temperature_c: Option<f64>,
    pub power_draw_w: Option<f64>,
    pub power_limit_w: Option<f64>,
    /// MIG mode (`Enabled` → true); `None` where the GPU has no MIG (`[N/A]`).
    pub mig_mode: Option<bool>,
}

/// One compute process on a GPU (`nvidia-smi --query-compute-apps`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuProcess {
    /// The GPU it runs on, as in [`Gpu::uuid`].
    pub gpu_uuid: String,
    pub pid: u32,
    /// The process name as the driver reports it (often a path).
    pub name: String,
    /// `None` where the driver cannot tell (Windows WDDM, some MIG setups).
    pub used_memory_mib: Option<f64>,
}

/// CPUs of a partition (`sinfo %C`): allocated / idle / other / total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuCounts {
    pub allocated: u32,
    pub idle: u32,
    /// Down, drained or otherwise unusable.
    pub other: u32,
    pub total: u32,
}

/// One line of `sinfo`: the nodes of one partition that share one state. A partition whose
/// nodes are in several states (some idle, some drained) gives several of these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Partition {
    /// Without SLURM's `*` default marker.
    pub name: String,
    /// The cluster's default partition (`debug*`).
    pub default: bool,
    /// `up`, `down`, `drain` or `inact`.
    pub availability: String,
    /// SLURM's own notation: `infinite`, `1:00:00`, `7-00:00:00`.
    pub time_limit: String,
    pub nodes: u32,
    /// SLURM's short node state: `idle`, `mix`, `alloc`, `drain`, `drng@`, `fail*`, …
    pub state: String,
    /// `None` when the output did not carry `%C`.
    pub cpus: Option<CpuCounts>,
    /// Generic resources (`gpu:a100:4`); `None` for `(null)` or when not asked.
    pub gres: Option<String>,
    /// `vm`, `c[002,004-010]`.
    pub node_list: String,
}

/// One job of `squeue` (or `squeue --start`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedJob {
    /// `123`, or `123_4` for an array task.
    pub id: String,
    pub partition: String,
    pub name: String,
    pub user: String,
    /// SLURM's long state: `PENDING`, `RUNNING`, …
    pub state: String,
    /// Time used so far (`0:00`, `1-02:03:04`).
    pub elapsed: String,
    pub nodes: Option<u32>,
    /// SLURM's reason code (`Resources`, `JobHeldUser`, `ReqNodeNotAvail, …`); `None` for
    /// `None` (a running job).
    pub reason: Option<String>,
    /// The reason in plain words ("waiting for resources").
    pub reason_words: Option<String>,
    /// Start time (actual for a running job, estimated for a pending one); `None` where
    /// SLURM has no estimate (`N/A`).
    pub start_estimate: Option<String>,
}

/// The space of the filesystem that holds one directory (`statvfs`), as the System tab's
/// host status and the disk alarm both read it: one measurement, two readers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskSpace {
    /// The directory asked about (not the mount point).
    pub path: String,
    /// Bytes an unprivileged user may still write (`f_bavail`, not `f_bfree`: the root
    /// reserve is not ours to fill).
    pub free_bytes: u64,
    pub total_bytes: u64,
}

impl DiskSpace {
    /// Free space as a fraction of the filesystem, 0 … 1 (0 for an empty filesystem).
    pub fn free_fraction(&self) -> f64 {
        if self.total_bytes == 0 {
            0.0
        } else {
            self.free_bytes as f64 / self.total_bytes as f64
        }
    }
}

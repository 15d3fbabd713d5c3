//! This machine, read by the sampler every 2 s: its GPUs through NVML, its load and
//! memory (`sysinfo`), the free space of the data directory and of local profiles'
//! directories. Blocking (NVML calls, `statvfs`): the sampler calls [`LocalSampler::sample`]
//! from `spawn_blocking`.
//!
//! NVML is loaded at run time (`Nvml::init` opens `libnvidia-ml.so.1`), so pmtwatch builds
//! and runs without the NVIDIA driver. When it cannot be loaded the status says
//! [`NO_LOCAL_GPU`], the server logs it once (not every 2 s), and loading is tried again
//! every [`LocalSampler::retry`] (a driver installed later is picked up without a restart).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use nvml_wrapper::Nvml;
use nvml_wrapper::enum_wrappers::device::TemperatureSensor;
use nvml_wrapper::enums::device::UsedGpuMemory;

use crate::model::{DiskLine, Gpu, GpuProcess, HostStatus, NO_LOCAL_GPU};
use crate::monitor::disk::disk_space;

const MIB: f64 = 1024.0 * 1024.0;

/// A directory to measure, with its role (`data`, `<profile> work`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dir {
    pub role: String,
    pub path: PathBuf,
}

/// This machine's sampler state: the NVML handle (when loaded) and the memory reader.
pub(crate) struct LocalSampler {
    nvml: Option<Nvml>,
    /// When loading NVML may be tried again (`None`: now).
    next_try: Option<Instant>,
    /// Whether the "no GPU" line was logged since NVML last worked.
    logged: bool,
    /// How long to wait between two tries to load NVML.
    pub retry: Duration,
    system: sysinfo::System,
}

impl LocalSampler {
    pub fn new(retry: Duration) -> LocalSampler {
        LocalSampler {
            nvml: None,
            next_try: None,
            logged: false,
            retry,
            system: sysinfo::System::new(),
        }
    }

    /// Loads NVML when it is not loaded and a try is due; logs a failure once.
    fn nvml(&mut self, now: Instant) -> Result<&Nvml, String> {
        if self.nvml.is_none() && self.next_try.is_none_or(|t| now >= t) {
            match Nvml::init() {
                Ok(nvml) => {
                    tracing::info!("NVML loaded: this machine's GPUs are shown in the System tab");
                    self.logged = false;
                    self.nvml = Some(nvml);
                }
                Err(e) => {
                    if !self.logged {
                        tracing::info!(
                            "{NO_LOCAL_GPU} (NVML: {e}); the System tab says so, and pmtwatch \
                             tries again every {} s",
                            self.retry.as_secs()
                        );
                        self.logged = true;
                    }
                    self.next_try = Some(now + self.retry);
                }
            }
        }
        self.nvml.as_ref().ok_or_else(|| NO_LOCAL_GPU.to_string())
    }

    /// Reads this machine now. `dirs`: the directories whose free space to show.
    pub fn sample(&mut self, dirs: &[Dir], now_unix: i64) -> HostStatus {
        let mut host = HostStatus {
            name: "this machine".into(),
            sampled_at: now_unix,
            ..HostStatus::default()
        };
        match self.nvml(Instant::now()) {
            Ok(nvml) => match read_gpus(nvml) {
                Ok((gpus, processes)) => {
                    if gpus.is_empty() {
                        host.gpu_note = Some("the NVIDIA driver reports no GPU".into());
                    }
                    host.gpus = gpus;
                    host.gpu_processes = processes;
                }
                Err(e) => {
                    // The driver went away (unloaded, GPU fell off the bus): load again later.
                    tracing::warn!("NVML stopped answering ({e}); trying again later");
                    self.nvml = None;
                    self.next_try = Some(Instant::now() + self.retry);
                    host.gpu_note = Some(format!("NVML stopped answering: {e}"));
                }
            },
            Err(note) => host.gpu_note = Some(note),
        }
        let load = sysinfo::System::load_average();
        host.load = Some([load.one, load.five, load.fifteen]);
        host.cpus = std::thread::available_parallelism()
            .ok()
            .and_then(|n| u32::try_from(n.get()).ok());
        self.system.refresh_memory();
        let total = self.system.total_memory();
        if total > 0 {
            host.memory_total_bytes = Some(total);
            host.memory_used_bytes = Some(total.saturating_sub(self.system.available_memory()));
        }
        host.disks = dirs.iter().map(measure).collect();
        host
    }
}

/// One local directory's free space as a [`DiskLine`].
pub(crate) fn measure(dir: &Dir) -> DiskLine {
    let (space, error) = match disk_space(&dir.path) {
        Ok(s) => (Some(s), None),
        Err(e) => (None, Some(e.to_string())),
    };
    DiskLine {
        role: dir.role.clone(),
        path: dir.path.display().to_string(),
        space,
        error,
    }
}

/// Every GPU NVML sees, with its compute processes. A value a GPU does not report
/// (utilisation on a MIG-enabled GPU, power on some boards) is `None`; only losing the
/// device count is an error.
fn read_gpus(nvml: &Nvml) -> Result<(Vec<Gpu>, Vec<GpuProcess>), nvml_wrapper::error::NvmlError> {
    let count = nvml.device_count()?;
    let mut gpus = Vec::new();
    let mut processes = Vec::new();
    for i in 0..count {
        let device = match nvml.device_by_index(i) {
            Ok(d) => d,
            Err(e) => {
                gpus.push(Gpu {
                    index: i,
                    name: format!("(unreadable: {e})"),
                    uuid: String::new(),
                    utilisation_pct: None,
                    memory_used_mib: None,
                    memory_total_mib: None,
                    temperature_c: None,
                    power_draw_w: None,
                    power_limit_w: None,
                    mig_mode: None,
                });
                continue;
            }
        };
        let memory = device.memory_info().ok();
        let uuid = device.uuid().unwrap_or_default();
        gpus.push(Gpu {
            index: device.index().unwrap_or(i),
            name: device.name().unwrap_or_else(|_| "NVIDIA GPU".into()),
            uuid: uuid.clone(),
            utilisation_pct: device.utilization_rates().ok().map(|u| f64::from(u.gpu)),
            memory_used_mib: memory.as_ref().map(|m| m.used as f64 / MIB),
            memory_total_mib: memory.as_ref().map(|m| m.total as f64 / MIB),
            temperature_c: device
                .temperature(TemperatureSensor::Gpu)
                .ok()
                .map(f64::from),
            // NVML reports milliwatts.
            power_draw_w: device.power_usage().ok().map(|mw| f64::from(mw) / 1000.0),
            power_limit_w: device
                .enforced_power_limit()
                .ok()
                .map(|mw| f64::from(mw) / 1000.0),
            // NVML_DEVICE_MIG_ENABLE is 1; a GPU without MIG answers "not supported".
            mig_mode: device.mig_mode().ok().map(|m| m.current == 1),
        });
        for p in device.running_compute_processes().unwrap_or_default() {
            processes.push(GpuProcess {
                gpu_uuid: uuid.clone(),
                pid: p.pid,
                name: nvml
                    .sys_process_name(p.pid, 256)
                    .unwrap_or_else(|_| format!("pid {}", p.pid)),
                used_memory_mib: match p.used_gpu_memory {
                    UsedGpuMemory::Used(bytes) => Some(bytes as f64 / MIB),
                    UsedGpuMemory::Unavailable => None,
                },
            });
        }
    }
    Ok((gpus, processes))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use tracing::Subscriber;
    use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

    use super::*;

    /// Counts the events whose message mentions the no-GPU text.
    struct Count(Arc<AtomicUsize>, Arc<Mutex<Vec<String>>>);

    impl<S: Subscriber> Layer<S> for Count {
        fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
            struct Msg(String);
            impl tracing::field::Visit for Msg {
                fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                    if f.name() == "message" {
                        self.0 = format!("{v:?}");
                    }
                }
            }
            let mut m = Msg(String::new());
            event.record(&mut m);
            if m.0.contains(NO_LOCAL_GPU) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
            if let Ok(mut all) = self.1.lock() {
                all.push(m.0);
            }
        }
    }

    /// CI has no GPU (and this test insists on that: on a machine with the driver it
    /// says so instead of passing vacuously): every sample says so, and the server logs
    /// it once, however many samples and retries there are.
    #[test]
    fn without_the_driver_the_status_says_so_and_it_is_logged_once() {
        if Nvml::init().is_ok() {
            panic!(
                "this machine has a working NVIDIA driver: the no-GPU path cannot be tested \
                 here (run it where CI runs, without a GPU)"
            );
        }
        let count = Arc::new(AtomicUsize::new(0));
        let all = Arc::new(Mutex::new(Vec::new()));
        let subscriber =
            tracing_subscriber::registry().with(Count(Arc::clone(&count), Arc::clone(&all)));
        let dir = tempfile::tempdir().expect("tempdir");
        let dirs = [Dir {
            role: "data".into(),
            path: dir.path().to_path_buf(),
        }];
        tracing::subscriber::with_default(subscriber, || {
            // A zero retry interval: every sample tries NVML again, and still logs once.
            let mut s = LocalSampler::new(Duration::ZERO);
            for _ in 0..5 {
                let host = s.sample(&dirs, 1);
                assert_eq!(host.gpu_note.as_deref(), Some(NO_LOCAL_GPU));
                assert!(host.gpus.is_empty());
                assert!(host.load.is_some(), "{host:?}");
                assert!(host.memory_total_bytes.unwrap_or(0) > 0, "{host:?}");
                assert_eq!(host.disks.len(), 1);
                assert!(host.disks[0].space.is_some(), "{host:?}");
            }
        });
        assert_eq!(
            count.load(Ordering::SeqCst),
            1,
            "logged: {:?}",
            all.lock().map(|a| a.clone()).unwrap_or_default()
        );
    }
}

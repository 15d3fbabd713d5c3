//! Prometheus metrics for `/metrics`: runs by state, points processed, processing time,
//! point → grid latency, SSH reconnects, SLURM polls, and the sampler's GPU, host and disk
//! gauges — so a lab's Grafana can watch the bench. Counters and histograms are updated
//! where the fact happens (`engine::record`); the gauges and the process-wide counters of
//! the remote layer are read at scrape time, so a scrape always shows the latest sample.

use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::model::SystemStatus;

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// pmtwatch's metric families, registered once per monitor.
pub struct Metrics {
    registry: Registry,
    runs: IntGaugeVec,
    points: IntCounterVec,
    processing: Histogram,
    latency: Histogram,
    ssh_reconnects: IntCounter,
    slurm_polls: IntCounter,
    gpu_utilization: GaugeVec,
    gpu_memory_used: GaugeVec,
    gpu_memory_total: GaugeVec,
    gpu_temperature: GaugeVec,
    gpu_power: GaugeVec,
    host_load: GaugeVec,
    host_memory_used: GaugeVec,
    disk_free: GaugeVec,
    disk_size: GaugeVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn gauges(r: &Registry, name: &str, help: &str, labels: &[&str]) -> prometheus::Result<GaugeVec> {
    let g = GaugeVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

impl Metrics {
    pub fn new() -> prometheus::Result<Metrics> {
        let r = Registry::new();
        let runs = IntGaugeVec::new(
            Opts::new("pmtwatch_runs", "Runs in the store, by state."),
            &["state"],
        )?;
        r.register(Box::new(runs.clone()))?;
        let points = IntCounterVec::new(
            Opts::new(
                "pmtwatch_points_processed_total",
                "Scan points recorded since the server started, by verdict.",
            ),
            &["status"],
        )?;
        r.register(Box::new(points.clone()))?;
        let processing = Histogram::with_opts(
            HistogramOpts::new(
                "pmtwatch_point_processing_seconds",
                "Time to process one scan point (read, features, fit).",
            )
            .buckets(vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0]),
        )?;
        r.register(Box::new(processing.clone()))?;
        let latency = Histogram::with_opts(
            HistogramOpts::new(
                "pmtwatch_point_to_grid_seconds",
                "From a point's result file being written to the point showing in the grid.",
            )
            .buckets(vec![0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0]),
        )?;
        r.register(Box::new(latency.clone()))?;
        let ssh_reconnects = IntCounter::new(
            "pmtwatch_ssh_reconnects_total",
            "Lost SSH master connections replaced since the server started.",
        )?;
        r.register(Box::new(ssh_reconnects.clone()))?;
        let slurm_polls = IntCounter::new(
            "pmtwatch_slurm_polls_total",
            "SLURM job state polls since the server started.",
        )?;
        r.register(Box::new(slurm_polls.clone()))?;
        let gpu = ["host", "gpu", "uuid", "name"];
        Ok(Metrics {
            gpu_utilization: gauges(
                &r,
                "pmtwatch_gpu_utilization_ratio",
                "GPU utilisation, 0 to 1.",
                &gpu,
            )?,
            gpu_memory_used: gauges(
                &r,
                "pmtwatch_gpu_memory_used_bytes",
                "GPU memory in use.",
                &gpu,
            )?,
            gpu_memory_total: gauges(
                &r,
                "pmtwatch_gpu_memory_size_bytes",
                "GPU memory installed.",
                &gpu,
            )?,
            gpu_temperature: gauges(
                &r,
                "pmtwatch_gpu_temperature_celsius",
                "GPU temperature.",
                &gpu,
            )?,
            gpu_power: gauges(&r, "pmtwatch_gpu_power_watts", "GPU power draw.", &gpu)?,
            host_load: gauges(
                &r,
                "pmtwatch_host_load1",
                "One-minute load average of a host.",
                &["host"],
            )?,
            host_memory_used: gauges(
                &r,
                "pmtwatch_host_memory_used_bytes",
                "Memory in use on a host (total minus available).",
                &["host"],
            )?,
            disk_free: gauges(
                &r,
                "pmtwatch_disk_free_bytes",
                "Free space (for unprivileged users) of a watched directory's filesystem.",
                &["host", "role", "path"],
            )?,
            disk_size: gauges(
                &r,
                "pmtwatch_disk_size_bytes",
                "Size of a watched directory's filesystem.",
                &["host", "role", "path"],
            )?,
            registry: r,
            runs,
            points,
            processing,
            latency,
            ssh_reconnects,
            slurm_polls,
        })
    }

    /// One point stored: its verdict, processing time and result → grid latency (seconds).
    pub fn point_recorded(&self, status: &str, processing_s: Option<f64>, latency_s: Option<f64>) {
        self.points.with_label_values(&[status]).inc();
        if let Some(s) = processing_s.filter(|s| s.is_finite() && *s >= 0.0) {
            self.processing.observe(s);
        }
        if let Some(s) = latency_s.filter(|s| s.is_finite() && *s >= 0.0) {
            self.latency.observe(s);
        }
    }

    /// The text exposition format of every metric, with the gauges set from `runs` (count
    /// by state) and `system` (the sampler's latest picture).
    pub fn render(
        &self,
        runs: &[(String, i64)],
        system: &SystemStatus,
    ) -> prometheus::Result<String> {
        self.runs.reset();
        // Every state is exported, 0 included, so a dashboard's series never vanish.
        for state in crate::model::RunState::ALL {
            self.runs.with_label_values(&[state.as_str()]).set(0);
        }
        for (state, n) in runs {
            self.runs.with_label_values(&[state.as_str()]).set(*n);
        }
        catch_up(
            &self.ssh_reconnects,
            crate::remote::backend::ssh_reconnects(),
        );
        catch_up(&self.slurm_polls, crate::remote::jobs::polls());
        for g in [
            &self.gpu_utilization,
            &self.gpu_memory_used,
            &self.gpu_memory_total,
            &self.gpu_temperature,
            &self.gpu_power,
            &self.host_load,
            &self.host_memory_used,
            &self.disk_free,
            &self.disk_size,
        ] {
            g.reset();
        }
        const MIB: f64 = 1024.0 * 1024.0;
        for host in std::iter::once(&system.local).chain(&system.hosts) {
            let h = host.name.as_str();
            for gpu in &host.gpus {
                let index = gpu.index.to_string();
                let labels = [h, index.as_str(), gpu.uuid.as_str(), gpu.name.as_str()];
                let set = |g: &GaugeVec, v: Option<f64>| {
                    if let Some(v) = v {
                        g.with_label_values(&labels).set(v);
                    }
                };
                set(
                    &self.gpu_utilization,
                    gpu.utilisation_pct.map(|p| p / 100.0),
                );
                set(&self.gpu_memory_used, gpu.memory_used_mib.map(|m| m * MIB));
                set(
                    &self.gpu_memory_total,
                    gpu.memory_total_mib.map(|m| m * MIB),
                );
                set(&self.gpu_temperature, gpu.temperature_c);
                set(&self.gpu_power, gpu.power_draw_w);
            }
            if let Some([one, _, _]) = host.load {
                self.host_load.with_label_values(&[h]).set(one);
            }
            if let Some(used) = host.memory_used_bytes {
                self.host_memory_used
                    .with_label_values(&[h])
                    .set(used as f64);
            }
            for d in &host.disks {
                if let Some(s) = &d.space {
                    let labels = [h, d.role.as_str(), d.path.as_str()];
                    self.disk_free
                        .with_label_values(&labels)
                        .set(s.free_bytes as f64);
                    self.disk_size
                        .with_label_values(&labels)
                        .set(s.total_bytes as f64);
                }
            }
        }
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

/// Brings a counter up to a process-wide total kept elsewhere.
fn catch_up(counter: &IntCounter, total: u64) {
    let now = counter.get();
    if total > now {
        counter.inc_by(total - now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Gpu, HostStatus};

    #[test]
    fn the_text_names_every_family_and_the_gpu_gauges() {
        let m = Metrics::new().expect("metrics");
        m.point_recorded("healthy", Some(0.3), Some(0.2));
        let system = SystemStatus {
            local: HostStatus {
                name: "this machine".into(),
                gpus: vec![Gpu {
                    index: 0,
                    name: "NVIDIA H100".into(),
                    uuid: "GPU-1".into(),
                    utilisation_pct: Some(50.0),
                    memory_used_mib: Some(1.0),
                    memory_total_mib: Some(2.0),
                    temperature_c: Some(40.0),
                    power_draw_w: None,
                    power_limit_w: None,
                    mig_mode: None,
                }],
                ..HostStatus::default()
            },
            ..SystemStatus::default()
        };
        let text = m
            .render(&[("complete".into(), 2)], &system)
            .expect("renders");
        for want in [
            "pmtwatch_runs{state=\"complete\"} 2",
            "pmtwatch_points_processed_total{status=\"healthy\"} 1",
            "pmtwatch_point_processing_seconds_count 1",
            "pmtwatch_point_to_grid_seconds_count 1",
            "pmtwatch_ssh_reconnects_total",
            "pmtwatch_slurm_polls_total",
            "pmtwatch_gpu_utilization_ratio{gpu=\"0\",host=\"this machine\",name=\"NVIDIA H100\",uuid=\"GPU-1\"} 0.5",
            "pmtwatch_gpu_memory_used_bytes{",
        ] {
            assert!(text.contains(want), "{want} missing from\n{text}");
        }
        assert!(
            !text.contains("pmtwatch_gpu_power_watts{"),
            "no power reported: no sample"
        );
    }
}

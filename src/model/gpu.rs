//! A run's GPU: what a slot asks for ([`GpuChoice`]: automatic, none, one GPU of the
//! profile's host, or a SLURM count), what that became when the run started ([`RunGpu`],
//! stored on the run and shown on it), and the step between them ([`resolve`]): automatic
//! is the least busy GPU of the System sampler's latest picture ([`least_busy`]), or the
//! CPU, said in words, when no GPU is known. Plain values, no I/O: the monitor resolves,
//! `remote` passes the result to the job (`CUDA_VISIBLE_DEVICES`, `--gres`, `{GPU}`).

use serde::{Deserialize, Serialize};

use super::backend::Kind;
use super::system::Gpu;
use super::system_status::least_busy;

/// Most GPUs one SLURM job may ask for (`--gres=gpu:N`); far above any node.
pub const MAX_GRES_GPUS: u32 = 64;

/// What a slot asks for; stored as text in `slots.gpu` ([`GpuChoice::as_text`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum GpuChoice {
    /// The least busy GPU of the host when the run starts (SLURM: the profile's count).
    #[default]
    Auto,
    /// No GPU: the job runs on the CPU and sees no GPU.
    Cpu,
    /// One GPU of the host, by its driver index (local and SSH profiles).
    Index(u32),
    /// This many GPUs from the scheduler, `--gres=gpu:N` (SLURM profiles).
    Count(u32),
}

impl GpuChoice {
    /// `auto`, `none`, `index:N`, `count:N`: the stored text and the select's value.
    pub fn as_text(self) -> String {
        match self {
            GpuChoice::Auto => "auto".into(),
            GpuChoice::Cpu => "none".into(),
            GpuChoice::Index(i) => format!("index:{i}"),
            GpuChoice::Count(n) => format!("count:{n}"),
        }
    }

    /// Reads [`GpuChoice::as_text`]'s form; the error says what is accepted.
    pub fn parse(text: &str) -> Result<GpuChoice, String> {
        let bad = || {
            format!(
                "GPU choice {text:?}: use auto, none, index:N (a GPU of the host) or count:N \
                 (SLURM, 1–{MAX_GRES_GPUS})"
            )
        };
        match text.trim() {
            "auto" => Ok(GpuChoice::Auto),
            "none" => Ok(GpuChoice::Cpu),
            t => {
                let (what, n) = t.split_once(':').ok_or_else(bad)?;
                // Digits only: `+1`, ` 1` and `-0` are not what anyone chose.
                if n.is_empty() || n.len() > 6 || !n.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                let n: u32 = n.parse().map_err(|_| bad())?;
                match what {
                    "index" => Ok(GpuChoice::Index(n)),
                    "count" if (1..=MAX_GRES_GPUS).contains(&n) => Ok(GpuChoice::Count(n)),
                    _ => Err(bad()),
                }
            }
        }
    }
}

/// What a run's GPU resolved to when it started; stored on the run (JSON in `runs.gpu`)
/// and shown on its status line and in `/api/runs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum RunGpu {
    /// No GPU. `why` in words ("chosen in the slot", "no GPU known on this machine");
    /// `hidden`: the job is told to see none (`CUDA_VISIBLE_DEVICES=-1`) — only when the
    /// operator chose "none", not when automatic simply knew of no GPU (a host whose
    /// driver the sampler cannot read may still have GPUs its jobs used before).
    Cpu { why: String, hidden: bool },
    /// One GPU of the host, as the sampler last saw it.
    Device {
        index: u32,
        uuid: String,
        name: String,
    },
    /// `--gres=gpu:N`: the scheduler picks the GPUs (and sets `CUDA_VISIBLE_DEVICES`).
    Gres { count: u32 },
}

/// A GPU UUID as the driver prints it (`GPU-3c1b…`, `MIG-…`): used for
/// `CUDA_VISIBLE_DEVICES` only when it looks like one, since a remote host's
/// `nvidia-smi` output is not ours to trust.
fn plausible_uuid(uuid: &str) -> bool {
    (uuid.starts_with("GPU-") || uuid.starts_with("MIG-"))
        && (5..=96).contains(&uuid.len())
        && uuid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

impl RunGpu {
    /// How the run's status line says it: `GPU 1 (NVIDIA H100 80GB HBM3)`,
    /// `CPU (no GPU known on this machine)`, `gpu:1 (SLURM --gres)`.
    pub fn label(&self) -> String {
        match self {
            RunGpu::Device { index, name, .. } if name.trim().is_empty() => format!("GPU {index}"),
            RunGpu::Device { index, name, .. } => format!("GPU {index} ({})", name.trim()),
            RunGpu::Cpu { why, .. } => format!("CPU ({why})"),
            RunGpu::Gres { count } => format!("gpu:{count} (SLURM --gres)"),
        }
    }

    /// The value of `CUDA_VISIBLE_DEVICES` for a job on this machine or an SSH host: the
    /// GPU's UUID (CUDA numbers devices fastest-first unless told otherwise, `nvidia-smi`
    /// by PCI bus, so an index could name another GPU; a UUID cannot), its index where the
    /// UUID is unknown (with [`RunGpu::job_env`]'s `CUDA_DEVICE_ORDER=PCI_BUS_ID`), `-1`
    /// (no device) for a chosen CPU run; `None`: leave the job's environment alone.
    pub fn cuda_visible_devices(&self) -> Option<String> {
        match self {
            RunGpu::Device { uuid, .. } if plausible_uuid(uuid) => Some(uuid.clone()),
            RunGpu::Device { index, .. } => Some(index.to_string()),
            RunGpu::Cpu { hidden: true, .. } => Some("-1".into()),
            RunGpu::Cpu { hidden: false, .. } | RunGpu::Gres { .. } => None,
        }
    }

    /// The environment a local or SSH job gets: `CUDA_DEVICE_ORDER=PCI_BUS_ID` (so an index,
    /// ours or `{GPU}` in a lab's script, means what `nvidia-smi` shows) and
    /// `CUDA_VISIBLE_DEVICES`; empty when the job's environment is left alone.
    pub fn job_env(&self) -> Vec<(String, String)> {
        match self.cuda_visible_devices() {
            Some(v) => vec![
                ("CUDA_DEVICE_ORDER".into(), "PCI_BUS_ID".into()),
                ("CUDA_VISIBLE_DEVICES".into(), v),
            ],
            None => Vec::new(),
        }
    }

    /// `gpu:N` for `sbatch --gres=` (SLURM profiles); `None`: no GPU asked for.
    pub fn gres(&self) -> Option<String> {
        match self {
            RunGpu::Gres { count } => Some(format!("gpu:{count}")),
            _ => None,
        }
    }

    /// The value of `{GPU}` in a command template: the GPU's index (`nvidia-smi`'s
    /// numbering), the number of GPUs of a SLURM job (`--gres=gpu:{GPU}`), and for a run
    /// without a GPU `-1` (CUDA's "no device"), or `0` on a SLURM profile.
    pub fn placeholder(&self, kind: Kind) -> String {
        match (self, kind) {
            (RunGpu::Device { index, .. }, _) => index.to_string(),
            (RunGpu::Gres { count }, _) => count.to_string(),
            (RunGpu::Cpu { .. }, Kind::Slurm) => "0".into(),
            (RunGpu::Cpu { .. }, _) => "-1".into(),
        }
    }
}

/// What a slot's choice means for a run starting now on a profile of `kind` whose host is
/// `host` (`this machine`, `user@host`), knowing the host's `gpus` from the latest sample;
/// `profile_gpus` is what a SLURM profile asks for when the choice is automatic. The error
/// says what to choose instead.
pub fn resolve(
    choice: GpuChoice,
    kind: Kind,
    profile_gpus: u32,
    gpus: &[Gpu],
    host: &str,
) -> Result<RunGpu, String> {
    let chosen_cpu = || RunGpu::Cpu {
        why: "chosen in the slot".into(),
        hidden: true,
    };
    if kind == Kind::Slurm {
        return match choice {
            GpuChoice::Cpu => Ok(chosen_cpu()),
            GpuChoice::Auto if profile_gpus == 0 => Ok(RunGpu::Cpu {
                why: "the profile asks for no GPU".into(),
                hidden: false,
            }),
            GpuChoice::Auto => Ok(RunGpu::Gres {
                count: profile_gpus.min(MAX_GRES_GPUS),
            }),
            GpuChoice::Count(n) if (1..=MAX_GRES_GPUS).contains(&n) => {
                Ok(RunGpu::Gres { count: n })
            }
            GpuChoice::Count(n) => Err(format!(
                "GPU count {n}: a SLURM job asks for 1–{MAX_GRES_GPUS} GPUs"
            )),
            GpuChoice::Index(i) => Err(format!(
                "GPU {i}: on a SLURM cluster the scheduler picks the GPUs; choose a count \
                 (gpu:1), automatic or none"
            )),
        };
    }
    match choice {
        GpuChoice::Cpu => Ok(chosen_cpu()),
        GpuChoice::Auto => Ok(match least_busy(gpus) {
            Some(g) => device(g),
            None => RunGpu::Cpu {
                why: format!("no GPU known on {host}"),
                hidden: false,
            },
        }),
        GpuChoice::Index(i) => match gpus.iter().find(|g| g.index == i) {
            Some(g) => Ok(device(g)),
            None if gpus.is_empty() => Err(format!(
                "GPU {i} is not known on {host}: the System tab shows no GPU there (yet); \
                 choose automatic or none, or wait for the next sample"
            )),
            None => {
                let known: Vec<String> = gpus.iter().map(|g| g.index.to_string()).collect();
                Err(format!(
                    "GPU {i} is not known on {host} (it has GPU {}): choose one of those, \
                     automatic or none",
                    known.join(", ")
                ))
            }
        },
        GpuChoice::Count(n) => Err(format!(
            "gpu:{n} is a SLURM request; on {host} choose one GPU, automatic or none"
        )),
    }
}

fn device(g: &Gpu) -> RunGpu {
    RunGpu::Device {
        index: g.index,
        uuid: g.uuid.clone(),
        name: g.name.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpu(index: u32, util: Option<f64>, mem: Option<f64>) -> Gpu {
        Gpu {
            index,
            name: format!("NVIDIA H100 #{index}"),
            uuid: format!("GPU-0000000{index}-aaaa-bbbb-cccc-dddddddddddd"),
            utilisation_pct: util,
            memory_used_mib: mem,
            memory_total_mib: Some(80_000.0),
            temperature_c: None,
            power_draw_w: None,
            power_limit_w: None,
            mig_mode: None,
        }
    }

    fn busy_host() -> Vec<Gpu> {
        vec![
            gpu(0, Some(95.0), Some(70_000.0)),
            gpu(1, Some(3.0), Some(9_000.0)),
            gpu(2, Some(3.0), Some(1_000.0)),
        ]
    }

    #[test]
    fn choices_round_trip_through_their_text() {
        for c in [
            GpuChoice::Auto,
            GpuChoice::Cpu,
            GpuChoice::Index(0),
            GpuChoice::Index(7),
            GpuChoice::Count(2),
        ] {
            assert_eq!(GpuChoice::parse(&c.as_text()), Ok(c));
        }
        for bad in [
            "",
            "gpu",
            "index:",
            "index:-1",
            "index:+1",
            "count:0",
            "count:65",
            "index:1;id",
            "x:1",
        ] {
            assert!(GpuChoice::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn automatic_is_the_least_busy_gpu_by_utilisation_then_memory() {
        let r = resolve(
            GpuChoice::Auto,
            Kind::Local,
            0,
            &busy_host(),
            "this machine",
        );
        let Ok(RunGpu::Device {
            index, ref uuid, ..
        }) = r
        else {
            panic!("{r:?}");
        };
        assert_eq!(index, 2);
        let gpu = r.as_ref().expect("resolved");
        assert_eq!(gpu.cuda_visible_devices().as_deref(), Some(uuid.as_str()));
        assert_eq!(gpu.label(), "GPU 2 (NVIDIA H100 #2)");
        assert_eq!(gpu.placeholder(Kind::Ssh), "2");
        assert_eq!(gpu.gres(), None);
    }

    #[test]
    fn automatic_without_a_known_gpu_is_the_cpu_in_words_and_leaves_the_job_alone() {
        let r = resolve(GpuChoice::Auto, Kind::Ssh, 0, &[], "lab@gpu1:22").expect("resolved");
        assert_eq!(r.label(), "CPU (no GPU known on lab@gpu1:22)");
        assert!(r.job_env().is_empty());
        assert_eq!(r.placeholder(Kind::Ssh), "-1");
    }

    #[test]
    fn none_hides_every_gpu() {
        let r = resolve(GpuChoice::Cpu, Kind::Local, 0, &busy_host(), "this machine")
            .expect("resolved");
        assert_eq!(r.label(), "CPU (chosen in the slot)");
        assert_eq!(
            r.job_env(),
            [
                ("CUDA_DEVICE_ORDER".to_string(), "PCI_BUS_ID".to_string()),
                ("CUDA_VISIBLE_DEVICES".to_string(), "-1".to_string())
            ]
        );
    }

    #[test]
    fn an_explicit_gpu_must_be_known_on_the_host() {
        let r = resolve(
            GpuChoice::Index(1),
            Kind::Ssh,
            0,
            &busy_host(),
            "lab@gpu1:22",
        );
        assert!(matches!(r, Ok(RunGpu::Device { index: 1, .. })), "{r:?}");
        let e = resolve(
            GpuChoice::Index(5),
            Kind::Ssh,
            0,
            &busy_host(),
            "lab@gpu1:22",
        )
        .expect_err("not on the host");
        assert!(
            e.contains("GPU 5 is not known on lab@gpu1:22 (it has GPU 0, 1, 2)"),
            "{e}"
        );
        let e = resolve(GpuChoice::Index(0), Kind::Local, 0, &[], "this machine")
            .expect_err("no GPU known");
        assert!(e.contains("GPU 0 is not known on this machine"), "{e}");
        let e = resolve(
            GpuChoice::Count(1),
            Kind::Local,
            0,
            &busy_host(),
            "this machine",
        )
        .expect_err("a count is for SLURM");
        assert!(e.contains("SLURM"), "{e}");
    }

    #[test]
    fn slurm_asks_the_scheduler_for_a_count() {
        let r = resolve(GpuChoice::Auto, Kind::Slurm, 1, &[], "c").expect("resolved");
        assert_eq!(r.gres().as_deref(), Some("gpu:1"));
        assert!(
            r.job_env().is_empty(),
            "SLURM sets CUDA_VISIBLE_DEVICES itself"
        );
        assert_eq!(r.placeholder(Kind::Slurm), "1");
        let r = resolve(GpuChoice::Auto, Kind::Slurm, 0, &busy_host(), "c").expect("resolved");
        assert_eq!(
            r.gres(),
            None,
            "automatic asks for a GPU only when the profile does"
        );
        assert_eq!(r.placeholder(Kind::Slurm), "0");
        let r = resolve(GpuChoice::Count(2), Kind::Slurm, 0, &[], "c").expect("resolved");
        assert_eq!(r.gres().as_deref(), Some("gpu:2"));
        assert_eq!(r.label(), "gpu:2 (SLURM --gres)");
        assert!(resolve(GpuChoice::Index(0), Kind::Slurm, 0, &busy_host(), "c").is_err());
        let r = resolve(GpuChoice::Cpu, Kind::Slurm, 2, &[], "c").expect("resolved");
        assert_eq!(r.gres(), None);
    }

    #[test]
    fn an_implausible_uuid_from_a_host_falls_back_to_the_index() {
        let mut g = gpu(3, Some(0.0), Some(0.0));
        g.uuid = "GPU-1;touch /tmp/x".into();
        let r = resolve(GpuChoice::Auto, Kind::Ssh, 0, &[g], "h").expect("resolved");
        assert_eq!(r.cuda_visible_devices().as_deref(), Some("3"));
    }

    #[test]
    fn the_stored_form_is_tagged_json() {
        let r = RunGpu::Device {
            index: 1,
            uuid: "GPU-1".into(),
            name: "NVIDIA H100".into(),
        };
        let text = serde_json::to_string(&r).expect("encode");
        assert_eq!(
            text,
            r#"{"kind":"device","index":1,"uuid":"GPU-1","name":"NVIDIA H100"}"#
        );
        assert_eq!(serde_json::from_str::<RunGpu>(&text).expect("decode"), r);
    }
}

//! A profile's host, read over the profile's own connection (`remote::backend`: the SSH
//! master it already keeps, or this machine for a local SLURM client): its GPUs
//! (`nvidia-smi`), load, memory, the free space of the profile's work/archive/flag
//! directories, and for SLURM profiles the partitions (`sinfo`) and this user's queue
//! (`squeue`, `squeue --start`). Every value reaches the host as an argv word (the
//! directories as positional parameters of a fixed script), never spliced into shell text.

use std::time::Duration;

use crate::model::{BackendKind, ClusterStatus, DiskLine, DiskSpace, HostStatus, NO_NVIDIA_SMI};
use crate::monitor::profile::Profile;
use crate::remote::backend::{Backend, Handle};
use crate::remote::exec::Exec;
use crate::remote::sysinfo::{
    GPU_PROCESS_QUERY_FIELDS, GPU_QUERY_FIELDS, SINFO_FORMAT, SQUEUE_FORMAT, parse_gpu_processes,
    parse_gpus, parse_partitions, parse_queue,
};

/// Longest one command of a host's reading may take.
const LIMIT: Duration = Duration::from_secs(20);

/// Load, CPUs, memory and the filesystem of each directory given as an argument (the
/// nearest existing ancestor of one that does not exist yet). One line each, tagged.
const HOST_SCRIPT: &str = r#"echo "load $(cat /proc/loadavg 2>/dev/null)"
echo "cpus $(nproc 2>/dev/null)"
grep -E '^(MemTotal|MemAvailable):' /proc/meminfo 2>/dev/null
for d in "$@"; do
  p=$d
  while [ ! -e "$p" ] && [ "$p" != / ] && [ "$p" != . ]; do p=$(dirname -- "$p"); done
  echo "disk $(df -P -k -- "$p" 2>/dev/null | tail -n 1)"
done"#;

/// `nvidia-smi` with the arguments given, or [`NO_NVIDIA_SMI_MARK`] on stdout when the host
/// has none (a missing program is reported differently by a local spawn and an SSH
/// channel — the latter turns status 127 into an error — so the script says it in words).
const NVIDIA_SMI: &str = r#"command -v nvidia-smi >/dev/null 2>&1 || { echo pmtwatch-no-nvidia-smi; exit 0; }
exec nvidia-smi "$@""#;
const NO_NVIDIA_SMI_MARK: &str = "pmtwatch-no-nvidia-smi";

/// This user's queue, then the start estimates of its pending jobs, separated by a line
/// `--start--`. `$1`: the format.
const QUEUE_SCRIPT: &str = r#"u=$(id -un) || exit 1
squeue -h -u "$u" -o "$1" || exit $?
echo --start--
squeue -h --start -u "$u" -o "$1" 2>/dev/null || true"#;

/// The directories of a profile worth watching, with their roles.
pub(crate) fn profile_dirs(profile: &Profile) -> Vec<(String, String)> {
    let s = &profile.spec;
    [
        ("work", &s.work_dir),
        ("archive", &s.archive_dir),
        ("flag", &s.flag_dir),
    ]
    .into_iter()
    .filter(|(_, d)| !d.trim().is_empty())
    .map(|(role, d)| (format!("{} {role}", profile.name), d.trim().to_string()))
    .collect()
}

/// Reads a profile's host (and its cluster, for SLURM). `backend` is the sampler's
/// long-lived one for this profile, so its SSH master is reused between readings.
pub(crate) async fn sample(
    profile: &Profile,
    backend: &Backend,
    now_unix: i64,
) -> (HostStatus, Option<ClusterStatus>) {
    let mut host = HostStatus {
        name: format!("{} ({})", profile.name, backend.host_label()),
        profile_id: Some(profile.id),
        sampled_at: now_unix,
        ..HostStatus::default()
    };
    let slurm = profile.spec.kind == BackendKind::Slurm;
    let handle = match backend.handle().await {
        Ok(h) => h,
        Err(e) => {
            host.error = Some(e.to_string());
            let cluster = slurm.then(|| ClusterStatus {
                profile: profile.name.clone(),
                host: backend.host_label(),
                error: Some(e.to_string()),
                ..ClusterStatus::default()
            });
            return (host, cluster);
        }
    };
    read_gpus(&handle, &mut host).await;
    let dirs = profile_dirs(profile);
    read_host(&handle, &dirs, &mut host).await;
    let cluster = if slurm {
        Some(read_cluster(&handle, profile, backend.host_label()).await)
    } else {
        None
    };
    (host, cluster)
}

/// `nvidia-smi QUERY --format=csv,noheader,nounits` on the host, through the wrapper that
/// marks a host without nvidia-smi.
async fn nvidia_smi(h: &Handle, query: &str) -> crate::remote::Result<crate::remote::ssh::Output> {
    h.run_for(
        &[
            "sh",
            "-c",
            NVIDIA_SMI,
            "sh",
            query,
            "--format=csv,noheader,nounits",
        ],
        LIMIT,
    )
    .await
}

async fn read_gpus(h: &Handle, host: &mut HostStatus) {
    match nvidia_smi(h, &format!("--query-gpu={GPU_QUERY_FIELDS}")).await {
        Ok(out) if out.status == Some(127) || out.stdout.trim() == NO_NVIDIA_SMI_MARK => {
            host.gpu_note = Some(NO_NVIDIA_SMI.into())
        }
        Ok(out) if out.success() => match parse_gpus(&out.stdout) {
            Ok(gpus) => {
                if gpus.is_empty() {
                    host.gpu_note = Some("nvidia-smi reports no GPU".into());
                }
                host.gpus = gpus;
            }
            Err(e) => host.gpu_note = Some(e.to_string()),
        },
        Ok(out) => {
            host.gpu_note = Some(format!(
                "nvidia-smi failed: {}",
                crate::remote::ssh::tail(&out.stderr, 2)
            ))
        }
        Err(e) => host.gpu_note = Some(e.to_string()),
    }
    if host.gpus.is_empty() {
        return;
    }
    if let Ok(out) = nvidia_smi(
        h,
        &format!("--query-compute-apps={GPU_PROCESS_QUERY_FIELDS}"),
    )
    .await
        && out.success()
    {
        host.gpu_processes = parse_gpu_processes(&out.stdout).unwrap_or_default();
    }
}

async fn read_host(h: &Handle, dirs: &[(String, String)], host: &mut HostStatus) {
    let mut argv: Vec<&str> = vec!["sh", "-c", HOST_SCRIPT, "sh"];
    argv.extend(dirs.iter().map(|(_, d)| d.as_str()));
    match h.run_for(&argv, LIMIT).await {
        Ok(out) => parse_host(&out.stdout, dirs, host),
        Err(e) => host.error = Some(e.to_string()),
    }
}

/// Reads [`HOST_SCRIPT`]'s output into `host`.
pub(crate) fn parse_host(text: &str, dirs: &[(String, String)], host: &mut HostStatus) {
    let mut disks = dirs.iter();
    let mut mem_total = None;
    let mut mem_avail = None;
    for line in text.lines() {
        let (tag, rest) = line.split_once(' ').unwrap_or((line, ""));
        match tag {
            "load" => {
                let v: Vec<f64> = rest
                    .split_whitespace()
                    .take(3)
                    .filter_map(|x| x.parse().ok())
                    .collect();
                if let [a, b, c] = v[..] {
                    host.load = Some([a, b, c]);
                }
            }
            "cpus" => host.cpus = rest.trim().parse().ok(),
            "MemTotal:" => mem_total = kib(rest),
            "MemAvailable:" => mem_avail = kib(rest),
            "disk" => {
                let Some((role, path)) = disks.next() else {
                    continue;
                };
                // `Filesystem 1024-blocks Used Available Capacity Mounted-on`.
                let cells: Vec<&str> = rest.split_whitespace().collect();
                let num = |i: usize| cells.get(i).and_then(|c| c.parse::<u64>().ok());
                let space = match (num(1), num(3)) {
                    (Some(total), Some(free)) => Some(DiskSpace {
                        path: path.clone(),
                        free_bytes: free.saturating_mul(1024),
                        total_bytes: total.saturating_mul(1024),
                    }),
                    _ => None,
                };
                host.disks.push(DiskLine {
                    role: role.clone(),
                    path: path.clone(),
                    error: space
                        .is_none()
                        .then(|| "df could not measure it (no such directory?)".to_string()),
                    space,
                });
            }
            _ => {}
        }
    }
    if let (Some(t), Some(a)) = (mem_total, mem_avail) {
        host.memory_total_bytes = Some(t);
        host.memory_used_bytes = Some(t.saturating_sub(a));
    }
}

/// `  16318208 kB` → bytes.
fn kib(text: &str) -> Option<u64> {
    text.split_whitespace()
        .next()?
        .parse::<u64>()
        .ok()
        .map(|k| k.saturating_mul(1024))
}

async fn read_cluster(h: &Handle, profile: &Profile, host: String) -> ClusterStatus {
    let mut c = ClusterStatus {
        profile: profile.name.clone(),
        host,
        ..ClusterStatus::default()
    };
    let mut problems = Vec::new();
    match h.run_ok(&["sinfo", "-h", "-o", SINFO_FORMAT]).await {
        Ok(text) => match parse_partitions(&text) {
            Ok(p) => c.partitions = p,
            Err(e) => problems.push(e.to_string()),
        },
        Err(e) => problems.push(e.to_string()),
    }
    match h
        .run_ok(&["sh", "-c", QUEUE_SCRIPT, "sh", SQUEUE_FORMAT])
        .await
    {
        Ok(text) => match parse_queue_with_start(&text) {
            Ok(q) => c.queue = q,
            Err(e) => problems.push(e),
        },
        Err(e) => problems.push(e.to_string()),
    }
    if !problems.is_empty() {
        c.error = Some(problems.join("; "));
    }
    c
}

/// [`QUEUE_SCRIPT`]'s output: the queue, with each pending job's estimated start from
/// the `--start` part where SLURM has one.
pub(crate) fn parse_queue_with_start(text: &str) -> Result<Vec<crate::model::QueuedJob>, String> {
    let (queue, start) = text.split_once("--start--").unwrap_or((text, ""));
    let mut jobs = parse_queue(queue).map_err(|e| e.to_string())?;
    // A job that started meanwhile may be missing from the second part: that is fine.
    let starts = parse_queue(start).unwrap_or_default();
    for j in &mut jobs {
        if j.state == "PENDING"
            && let Some(s) = starts.iter().find(|s| s.id == j.id)
        {
            j.start_estimate = s.start_estimate.clone();
        }
    }
    Ok(jobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_script_output_is_read_in_argument_order() {
        let dirs = vec![
            ("p work".to_string(), "work".to_string()),
            ("p archive".to_string(), "/nope/archive".to_string()),
        ];
        let out = "load 0.52 0.40 0.31 2/345 6789\ncpus 8\nMemTotal:       16318208 kB\n\
                   MemAvailable:    8159104 kB\n\
                   disk /dev/sda1 102400 51200 40960 56% /\ndisk \n";
        let mut host = HostStatus::default();
        parse_host(out, &dirs, &mut host);
        assert_eq!(host.load, Some([0.52, 0.40, 0.31]));
        assert_eq!(host.cpus, Some(8));
        assert_eq!(host.memory_total_bytes, Some(16318208 * 1024));
        assert_eq!(host.memory_used_bytes, Some((16318208 - 8159104) * 1024));
        assert_eq!(host.disks.len(), 2);
        let s = host.disks[0].space.as_ref().expect("measured");
        assert_eq!((s.free_bytes, s.total_bytes), (40960 * 1024, 102400 * 1024));
        assert!(host.disks[1].space.is_none() && host.disks[1].error.is_some());
    }

    #[test]
    fn start_estimates_are_merged_into_pending_jobs() {
        let text = "12|debug|pmtops|PENDING|0:00|1|N/A|JobHeldUser|held job\n\
                    13|debug|pmtops|RUNNING|0:05|1|2026-12-05T19:00:00|None|run\n\
                    --start--\n\
                    12|debug|pmtops|PENDING|0:00|1|2026-12-05T20:00:00|JobHeldUser|held job\n";
        let q = parse_queue_with_start(text).expect("parses");
        assert_eq!(q.len(), 2);
        assert_eq!(q[0].start_estimate.as_deref(), Some("2026-12-05T20:00:00"));
        assert!(
            q[0].reason_words
                .as_deref()
                .is_some_and(|w| w.contains("held"))
        );
        assert_eq!(q[1].start_estimate.as_deref(), Some("2026-12-05T19:00:00"));
    }
}

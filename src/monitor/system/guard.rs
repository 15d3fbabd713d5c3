//! The disk guard: whether a data directory can take the next scan. One rule, two users:
//! the sampler turns it into the banner every tab of every browser shows, and
//! `Monitor::start_run` refuses a scan that would not fit, saying why.
//!
//! The rule: keep [`MIN_FREE_FRACTION`] of the filesystem free, but never more than
//! [`MAX_RESERVE_BYTES`] (a tenth of a 2 TB data disk is far more than any scan needs, and
//! refusing a scan with 25 GiB free helps no one), and keep at least as much free as the
//! largest of the last [`RECENT_RUNS`] runs took here (a scan of the same PMT on the same
//! profile writes about the same amount). Blocking (a directory walk and
//! `statvfs`): call from `spawn_blocking`.

use std::path::Path;

use crate::model::DiskSpace;
use crate::monitor::disk::disk_space;

/// The share of a data directory's filesystem that is kept free.
pub const MIN_FREE_FRACTION: f64 = 0.10;
/// The most that is kept free for the fraction rule: the same 5 GiB at which the
/// disk alarm fires by default (`AlarmConfig::disk_min_free_bytes`).
pub const MAX_RESERVE_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// How many of the newest runs the size estimate looks at.
pub const RECENT_RUNS: usize = 5;
/// At most this many files are looked at per run (a bound on the walk).
const MAX_FILES_PER_RUN: usize = 100_000;

/// What the next scan is expected to take: the largest of the newest runs' local copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Estimate {
    pub bytes: u64,
    /// How many runs it is based on (0: no run yet, no estimate).
    pub runs: usize,
}

/// The estimate from `<data>/runs/<id>/` of the newest [`RECENT_RUNS`] runs.
pub fn next_scan_estimate(data_dir: &Path) -> Estimate {
    let Ok(entries) = std::fs::read_dir(data_dir.join("runs")) else {
        return Estimate::default();
    };
    let mut ids: Vec<(i64, std::path::PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let id = e.file_name().to_str()?.parse::<i64>().ok()?;
            Some((id, e.path()))
        })
        .collect();
    ids.sort_by_key(|(id, _)| std::cmp::Reverse(*id));
    let sizes: Vec<u64> = ids
        .iter()
        .take(RECENT_RUNS)
        .map(|(_, p)| dir_size(p))
        .collect();
    Estimate {
        bytes: sizes.iter().copied().max().unwrap_or(0),
        runs: sizes.len(),
    }
}

/// Bytes of the regular files under `dir` (symbolic links not followed; bounded walk).
fn dir_size(dir: &Path) -> u64 {
    let mut total = 0u64;
    let mut files = 0usize;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                todo.push(e.path());
            } else if meta.is_file() {
                total = total.saturating_add(meta.len());
                files += 1;
                if files >= MAX_FILES_PER_RUN {
                    return total;
                }
            }
        }
    }
    total
}

/// `1.5 GiB`, `320 MiB`, `12 KiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else if v >= 100.0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// What the fraction rule keeps free on a filesystem of `total` bytes.
pub fn reserve_bytes(total: u64) -> u64 {
    ((total as f64 * MIN_FREE_FRACTION) as u64).min(MAX_RESERVE_BYTES)
}

/// Why `space` cannot take the next scan, in one sentence that says what to do; `None`
/// when it can.
pub fn judge(space: &DiskSpace, estimate: Estimate) -> Option<String> {
    let fraction = space.free_fraction();
    let reserve = reserve_bytes(space.total_bytes);
    let low = space.free_bytes < reserve;
    let short = estimate.runs > 0 && space.free_bytes < estimate.bytes;
    if !low && !short {
        return None;
    }
    let mut why = format!(
        "{} has {} free ({:.1} % of {})",
        space.path,
        human(space.free_bytes),
        fraction * 100.0,
        human(space.total_bytes)
    );
    if short {
        why.push_str(&format!(
            "; the next scan needs about {} (the largest of the last {} run{})",
            human(estimate.bytes),
            estimate.runs,
            if estimate.runs == 1 { "" } else { "s" }
        ));
    }
    if low {
        why.push_str(&format!(
            "; pmtwatch keeps {} free ({:.0} % of the disk, at most {})",
            human(reserve),
            MIN_FREE_FRACTION * 100.0,
            human(MAX_RESERVE_BYTES)
        ));
    }
    why.push_str(" — free space (step 3, local data cleanup) or move the data directory");
    Some(why)
}

/// Whether a new scan fits in `data_dir` and in each of `more` (a local profile's work
/// directory): the reason it does not, naming the directory. A directory that cannot be
/// measured does not block a scan (the measurement error is shown in the System tab).
pub fn check(data_dir: &Path, more: &[&Path]) -> Result<(), String> {
    let estimate = next_scan_estimate(data_dir);
    for dir in std::iter::once(data_dir).chain(more.iter().copied()) {
        if let Ok(space) = disk_space(dir)
            && let Some(why) = judge(&space, estimate)
        {
            return Err(why);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space(free: u64, total: u64) -> DiskSpace {
        DiskSpace {
            path: "/data".into(),
            free_bytes: free,
            total_bytes: total,
        }
    }

    #[test]
    fn below_ten_percent_or_below_the_last_runs_size_is_refused_with_the_numbers() {
        let none = Estimate::default();
        assert_eq!(judge(&space(50, 100), none), None);
        let low = judge(&space(5, 100), none).expect("below 10 %");
        assert!(low.contains("/data has 5 B free (5.0 % of 100 B)"), "{low}");
        assert!(
            low.contains("keeps 10 B free (10 % of the disk, at most 5.0 GiB)"),
            "{low}"
        );
        let big = Estimate { bytes: 60, runs: 3 };
        let short = judge(&space(50, 100), big).expect("the last runs were bigger");
        assert!(
            short.contains("needs about 60 B (the largest of the last 3 runs)"),
            "{short}"
        );
        assert!(!short.contains("keeps"), "{short}");
        assert_eq!(judge(&space(70, 100), big), None);
    }

    #[test]
    fn a_large_disk_keeps_at_most_the_cap_free() {
        const GIB: u64 = 1024 * 1024 * 1024;
        let none = Estimate::default();
        // 25 GiB free of 252 GiB is under 10 %, and plenty for a scan.
        assert_eq!(judge(&space(25 * GIB, 252 * GIB), none), None);
        let low = judge(&space(4 * GIB, 252 * GIB), none).expect("under the cap");
        assert!(low.contains("keeps 5.0 GiB free"), "{low}");
        assert_eq!(reserve_bytes(20 * GIB), 2 * GIB);
    }

    #[test]
    fn the_estimate_is_the_largest_of_the_newest_runs() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(next_scan_estimate(dir.path()), Estimate::default());
        for (id, size) in [
            (1, 5000usize),
            (2, 100),
            (3, 300),
            (4, 200),
            (5, 100),
            (6, 100),
        ] {
            let p = dir
                .path()
                .join("runs")
                .join(id.to_string())
                .join("theta0_phi0");
            std::fs::create_dir_all(&p).expect("mkdir");
            std::fs::write(p.join("result.json"), vec![b'x'; size]).expect("write");
        }
        // Run 1 (5000 bytes) is not among the newest five.
        assert_eq!(
            next_scan_estimate(dir.path()),
            Estimate {
                bytes: 300,
                runs: 5
            }
        );
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(300 * 1024 * 1024), "300 MiB");
    }
}

//! What `pmtwatch hv-fit` is given, sorted into one source per voltage: processed points
//! (`result.json`), raw waveform files (the bench's `wavesave_HV_CHECK/wave<ch>save_HV_<V>.txt`
//! or a point directory per voltage) and charge spectra (histogram CSVs, ROOT, NPY …);
//! each voltage read from the result or from the names (`HV_1500`, `HV1500`, `hv1500`,
//! `1500V`, `data_HV_1500`). Kept apart from the fit so the rules can be tested alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use anyhow::Context;

use crate::pipeline::point::PointResult;
use crate::pipeline::readers;

/// How deep a directory given to `hv-fit` is searched (the bench layout needs 4:
/// `WaveDumpSaves/wavedump_output_<stamp>/<SN>/wavesave_HV_CHECK/<file>`).
const MAX_DEPTH: usize = 6;

/// One voltage's input.
#[derive(Debug, Clone)]
pub enum Source {
    /// An already processed point.
    Result(Box<PointResult>, PathBuf),
    /// The waveform files of one voltage (one per channel).
    Waveforms(Vec<PathBuf>),
    /// A point directory holding one voltage's waveform files.
    PointDir(PathBuf),
    /// A charge spectrum (values or a histogram) of one voltage.
    Spectrum(PathBuf),
}

impl Source {
    /// The path to name in messages.
    pub fn path(&self) -> PathBuf {
        match self {
            Source::Result(_, p) | Source::PointDir(p) | Source::Spectrum(p) => p.clone(),
            Source::Waveforms(f) => f
                .first()
                .and_then(|p| p.parent())
                .map(Path::to_path_buf)
                .unwrap_or_default(),
        }
    }

    /// Rank when a voltage has several kinds of source: results win over raw data.
    fn rank(&self) -> u8 {
        match self {
            Source::Result(..) => 0,
            Source::Waveforms(_) | Source::PointDir(_) => 1,
            Source::Spectrum(_) => 2,
        }
    }
}

static HV_WORD: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"(?i)(?:^|[^a-z0-9])hv[_-]?(\d{2,5}(?:\.\d+)?)(?:v)?(?:$|[^0-9])")
        .expect("static regex")
});
static VOLT_WORD: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"(?i)(?:^|[^a-z0-9.])(\d{2,5}(?:\.\d+)?)v(?:$|[^a-z0-9])")
        .expect("static regex")
});

/// The voltage a file or directory name states: `HV_1500`, `HV1500`, `hv1500V`,
/// `data_HV_1500`, `wave0save_HV_1500.txt`, `PMT_NB0015_HV1400.csv`, `1500V`.
pub fn volts_from_name(name: &str) -> Option<f64> {
    let stem = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let caps = HV_WORD
        .captures(stem)
        .or_else(|| VOLT_WORD.captures(stem))?;
    let v: f64 = caps.get(1)?.as_str().parse().ok()?;
    (v.is_finite() && v > 0.0).then_some(v)
}

/// The voltage of `path`: its own name first, then its parent directories' (three up).
pub fn volts_of_path(path: &Path) -> Option<f64> {
    path.ancestors()
        .take(4)
        .filter_map(|p| p.file_name())
        .find_map(|n| volts_from_name(&n.to_string_lossy()))
}

/// Files that are outputs or bookkeeping, never an input of the fit.
fn is_output(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with('.')
        || lower.ends_with("_gain.txt")
        || lower.contains("_hv_at_")
        || [
            ".png", ".json", ".log", ".toml", ".md", ".sbatch", ".slurm", ".sh",
        ]
        .iter()
        .any(|e| lower.ends_with(e))
}

fn is_waveform(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    (lower.ends_with(".txt") || lower.ends_with(".dat"))
        && readers::channel_from_file_name(name).is_some()
}

/// Sorts `inputs` (files and directories) into one source per voltage. `serial` keeps
/// only paths (or results) of that tube. Given files without a voltage are an error;
/// in directories they are skipped.
pub fn gather(inputs: &[PathBuf], serial: Option<&str>) -> anyhow::Result<BTreeMap<i64, Source>> {
    let mut found: Vec<(f64, Source)> = Vec::new();
    let mut waves: BTreeMap<(PathBuf, i64), Vec<PathBuf>> = BTreeMap::new();
    for input in inputs {
        let meta = std::fs::metadata(input)
            .with_context(|| format!("{}: cannot read this input", input.display()))?;
        if meta.is_dir() {
            walk(input, 0, &mut found, &mut waves)?;
        } else {
            let before = found.len() + waves.values().map(Vec::len).sum::<usize>();
            classify(input, &mut found, &mut waves)?;
            let after = found.len() + waves.values().map(Vec::len).sum::<usize>();
            anyhow::ensure!(
                after > before,
                "{}: no voltage in its name or its directory's (name it like HV_1500, \
                 HV1500 or 1500V), and not a result.json",
                input.display()
            );
        }
    }
    for ((_, key), files) in waves {
        found.push((key as f64 / 1000.0, Source::Waveforms(files)));
    }
    if let Some(sn) = serial {
        found.retain(|(_, s)| match s {
            Source::Result(r, p) => {
                r.serial.as_deref() == Some(sn) || p.to_string_lossy().contains(sn)
            }
            other => other.path().to_string_lossy().contains(sn),
        });
    }
    let mut out: BTreeMap<i64, Source> = BTreeMap::new();
    for (v, s) in found {
        let key = (v * 1000.0).round() as i64;
        match out.get(&key) {
            Some(prev) if prev.rank() < s.rank() => {}
            Some(prev) if prev.rank() == s.rank() => anyhow::bail!(
                "two inputs for {v} V: {} and {} — give one tube's files (or --serial SN)",
                prev.path().display(),
                s.path().display()
            ),
            _ => {
                out.insert(key, s);
            }
        }
    }
    anyhow::ensure!(
        !out.is_empty(),
        "no HV points found in {}: expected result.json files, waveform files or spectra \
         with the voltage in their names (HV_1500, HV1500, 1500V)",
        inputs
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(out)
}

fn walk(
    dir: &Path,
    depth: usize,
    found: &mut Vec<(f64, Source)>,
    waves: &mut BTreeMap<(PathBuf, i64), Vec<PathBuf>>,
) -> anyhow::Result<()> {
    let rd = std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    let mut entries: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if depth + 1 < MAX_DEPTH {
                walk(&p, depth + 1, found, waves)?;
            }
        } else {
            classify(&p, found, waves)?;
        }
    }
    Ok(())
}

fn classify(
    path: &Path,
    found: &mut Vec<(f64, Source)>,
    waves: &mut BTreeMap<(PathBuf, i64), Vec<PathBuf>>,
) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name == "result.json" {
        let text =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let r: PointResult = serde_json::from_slice(&text)
            .with_context(|| format!("{}: not a pmtwatch result document", path.display()))?;
        let v = r.hv.or_else(|| path.parent().and_then(volts_of_path));
        if let Some(v) = v {
            found.push((v, Source::Result(Box::new(r), path.to_path_buf())));
        }
        return Ok(());
    }
    if is_output(&name) {
        return Ok(());
    }
    let Some(v) = volts_of_path(path) else {
        return Ok(());
    };
    let key = (v * 1000.0).round() as i64;
    if is_waveform(&name) {
        // A voltage's channel files sit in one directory; a point directory named by
        // its voltage holds only that voltage's files, which this groups the same way.
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        waves
            .entry((dir, key))
            .or_default()
            .push(path.to_path_buf());
    } else {
        found.push((v, Source::Spectrum(path.to_path_buf())));
    }
    Ok(())
}

/// A serial number read from the layout: the directory above `wavesave_HV_CHECK`, or a
/// spectrum's name before its voltage (`PMT_NB0015_HV1400.csv` → `PMT_NB0015`).
pub fn serial_from_paths(paths: &[PathBuf]) -> Option<String> {
    for p in paths {
        let comps: Vec<String> = p
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if let Some(i) = comps
            .iter()
            .position(|c| c.eq_ignore_ascii_case("wavesave_HV_CHECK"))
            && i > 0
        {
            return Some(comps[i - 1].clone());
        }
        let stem = p.file_stem()?.to_string_lossy().into_owned();
        let lower = stem.to_ascii_lowercase();
        if let Some(i) = lower.rfind("_hv") {
            let sn = stem[..i].trim_end_matches(['_', '-']);
            if crate::pipeline::serial::Serial::parse(sn).is_ok() {
                return Some(sn.to_string());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voltages_from_names() {
        for (name, v) in [
            ("HV_1500", Some(1500.0)),
            ("HV1500", Some(1500.0)),
            ("hv1500", Some(1500.0)),
            ("hv1500V", Some(1500.0)),
            ("1500V", Some(1500.0)),
            ("run_1500V_a", Some(1500.0)),
            ("data_HV_1500", Some(1500.0)),
            ("wave0save_HV_1500.txt", Some(1500.0)),
            ("wavesave_hv1612.5", Some(1612.5)),
            ("PMT_NB0015_HV1400.csv", Some(1400.0)),
            ("wavesave_HV_CHECK", None),
            ("wave2save_theta30_phi90.txt", None),
            ("NB0015_GAIN", None),
            ("PMT_V2", None),
        ] {
            assert_eq!(volts_from_name(name), v, "{name}");
        }
        assert_eq!(
            volts_of_path(Path::new("/x/HV_output_1/EA1/data_HV_1450/EA1_GAIN.txt")),
            Some(1450.0)
        );
    }

    #[test]
    fn serials_from_layouts() {
        let p = PathBuf::from("W/wavedump_output_1/EA0007/wavesave_HV_CHECK/wave2save_HV_1500.txt");
        assert_eq!(serial_from_paths(&[p]).as_deref(), Some("EA0007"));
        let p = PathBuf::from("d/PMT_NB0015_HV1400.csv");
        assert_eq!(serial_from_paths(&[p]).as_deref(), Some("PMT_NB0015"));
    }
}

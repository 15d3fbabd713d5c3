//! The R12860 bench's scan layout: which directory a point lives in, what its files are
//! called, how θ/φ or HV are read back from the names, and when a point is complete.
//!
//! The bench writes `<scan-dir>/<SN>/wavesave_<label>/wave<ch>save_<label>.txt` with label
//! `theta<T>_phi<P>` (surface scan) or `hv<V>` (HV check); ch0 = trigger, ch1 = SiPM
//! pick-off, ch2 = PMT. The simulator writes exactly this, and `process --watch` follows
//! it, so both sides share the names defined here.
//!
//! The bench's own HV check puts every voltage into one directory,
//! `<SN>/wavesave_HV_CHECK/wave<ch>save_HV_<V>.txt` ([`HV_CHECK_DIR`]): there each voltage
//! is a point of its own, made of the files whose names carry its voltage
//! ([`find_point_dirs`] lists one entry per voltage, [`channel_files`] keeps only that
//! voltage's files), so it is followed and processed exactly like a point directory.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use super::serial::Serial;

/// Prefix of a point directory's name.
pub const POINT_DIR_PREFIX: &str = "wavesave_";

/// The directory the bench writes a whole HV check into (under the serial's), every
/// voltage's files side by side: `wave<ch>save_HV_<V>.txt`.
pub const HV_CHECK_DIR: &str = "wavesave_HV_CHECK";

/// Whether `dir` is the bench's shared HV-check directory ([`HV_CHECK_DIR`]).
pub fn is_hv_check_dir(dir: &Path) -> bool {
    dir.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.eq_ignore_ascii_case(HV_CHECK_DIR))
}

/// The voltage a waveform file of the bench's HV check is named for:
/// `wave2save_HV_1500.txt` → 1500 (also `HV1500`, `hv_1500V`). `None` for other names.
pub fn hv_of_file_name(name: &str) -> Option<f64> {
    let stem = name
        .strip_suffix(".txt")
        .or_else(|| name.strip_suffix(".dat"))
        .unwrap_or(name);
    let lower = stem.to_ascii_lowercase();
    let at = lower.rfind("hv")?;
    let rest = &stem[at + 2..];
    let rest = rest.strip_prefix('_').unwrap_or(rest);
    let rest = rest.strip_suffix(['V', 'v']).unwrap_or(rest);
    parse_num(rest)
}

/// What kind of points a scan consists of. The bench writes a tube's surface points and
/// its HV check under the same `<SN>/` directory, so a watch that follows one of them must
/// know which points are its own (else a surface scan would also process, and count, the
/// HV check's voltages and stop early).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PointKind {
    /// Positions on the photocathode (`wavesave_theta<θ>_phi<φ>`).
    Surface,
    /// High voltages (`wavesave_HV_CHECK/…_HV_<V>.txt` or `wavesave_hv<V>`).
    Hv,
    /// A darkness check: dark runs (no light, random or self trigger), `wavesave_dark<n>`.
    Dark,
}

impl PointKind {
    /// The word used in the configuration and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            PointKind::Surface => "surface",
            PointKind::Hv => "hv",
            PointKind::Dark => "dark",
        }
    }
}

impl std::fmt::Display for PointKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for PointKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "surface" => Ok(PointKind::Surface),
            "hv" => Ok(PointKind::Hv),
            "dark" => Ok(PointKind::Dark),
            other => Err(format!(
                "unknown scan kind {other:?}: expected `surface`, `hv` or `dark`"
            )),
        }
    }
}

/// One scan point: a position on the photocathode or a high voltage.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum PointLabel {
    /// Surface scan: polar angle θ and azimuth φ in degrees.
    Surface { theta: f64, phi: f64 },
    /// HV check: the supply voltage in volts.
    Hv { volts: f64 },
    /// Darkness check: the `n`-th dark run (1, 2, …) of the tube, at its operating voltage.
    Dark { n: u32 },
}

/// Formats a number the way the bench names directories: integers without decimals
/// (`30`, not `30.0`), anything else with the shortest exact decimal form (`22.5`).
fn fmt_num(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Parses a number of a label; only finite values name a point.
fn parse_num(s: &str) -> Option<f64> {
    // Rust's f64 parser accepts "inf"/"nan"/"+5": only plain decimals are names here.
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return None;
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

impl PointLabel {
    /// The label as it appears in names: `theta30_phi90`, `hv1500`.
    pub fn label(&self) -> String {
        match *self {
            PointLabel::Surface { theta, phi } => {
                format!("theta{}_phi{}", fmt_num(theta), fmt_num(phi))
            }
            PointLabel::Hv { volts } => format!("hv{}", fmt_num(volts)),
            PointLabel::Dark { n } => format!("dark{n}"),
        }
    }

    /// Which kind of scan this point belongs to.
    pub fn kind(&self) -> PointKind {
        match self {
            PointLabel::Surface { .. } => PointKind::Surface,
            PointLabel::Hv { .. } => PointKind::Hv,
            PointLabel::Dark { .. } => PointKind::Dark,
        }
    }

    /// Parses a point-directory name (`wavesave_theta30_phi90`) or a bare label
    /// (`theta30_phi90`, `hv1500`, `dark1`). `None` for anything else.
    pub fn parse(name: &str) -> Option<PointLabel> {
        let label = name.strip_prefix(POINT_DIR_PREFIX).unwrap_or(name);
        if let Some(rest) = label.strip_prefix("theta") {
            let (t, p) = rest.split_once("_phi")?;
            return Some(PointLabel::Surface {
                theta: parse_num(t)?,
                phi: parse_num(p)?,
            });
        }
        if let Some(v) = label.strip_prefix("hv") {
            // Some benches write the unit: `hv1500V`.
            let v = v.strip_suffix(['V', 'v']).unwrap_or(v);
            return Some(PointLabel::Hv {
                volts: parse_num(v)?,
            });
        }
        if let Some(n) = label.strip_prefix("dark") {
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            return n
                .parse::<u32>()
                .ok()
                .filter(|&n| n >= 1)
                .map(|n| PointLabel::Dark { n });
        }
        None
    }

    /// θ in degrees for a surface point.
    pub fn theta(&self) -> Option<f64> {
        match *self {
            PointLabel::Surface { theta, .. } => Some(theta),
            PointLabel::Hv { .. } | PointLabel::Dark { .. } => None,
        }
    }

    /// φ in degrees for a surface point.
    pub fn phi(&self) -> Option<f64> {
        match *self {
            PointLabel::Surface { phi, .. } => Some(phi),
            PointLabel::Hv { .. } | PointLabel::Dark { .. } => None,
        }
    }

    /// The voltage of an HV point.
    pub fn hv(&self) -> Option<f64> {
        match *self {
            PointLabel::Hv { volts } => Some(volts),
            PointLabel::Surface { .. } | PointLabel::Dark { .. } => None,
        }
    }

    /// A total order for listings: surface points by (θ, φ), then HV points by voltage,
    /// then dark runs by number.
    pub fn cmp_key(&self, other: &PointLabel) -> Ordering {
        let rank = |p: &PointLabel| match p {
            PointLabel::Surface { .. } => 0,
            PointLabel::Hv { .. } => 1,
            PointLabel::Dark { .. } => 2,
        };
        match (self, other) {
            (
                PointLabel::Surface { theta: t1, phi: p1 },
                PointLabel::Surface { theta: t2, phi: p2 },
            ) => t1.total_cmp(t2).then(p1.total_cmp(p2)),
            (PointLabel::Hv { volts: a }, PointLabel::Hv { volts: b }) => a.total_cmp(b),
            (PointLabel::Dark { n: a }, PointLabel::Dark { n: b }) => a.cmp(b),
            (a, b) => rank(a).cmp(&rank(b)),
        }
    }
}

impl fmt::Display for PointLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

impl TryFrom<String> for PointLabel {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, Self::Error> {
        PointLabel::parse(&s)
            .ok_or_else(|| format!("{s:?} is not a point label (theta<T>_phi<P> or hv<V>)"))
    }
}

impl From<PointLabel> for String {
    fn from(p: PointLabel) -> String {
        p.label()
    }
}

impl std::str::FromStr for PointLabel {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        PointLabel::try_from(s.to_string())
    }
}

/// Polar angles of the standard surface scan's rings, in degrees.
const RINGS: [f64; 5] = [15.0, 30.0, 45.0, 60.0, 75.0];

/// The surface scan's points in the order the bench measures them.
///
/// `n = 21` is the standard scan: the pole (θ=0, φ=0), then θ ∈ {15,30,45,60,75} ×
/// φ ∈ {0,90,180,270}, ring by ring. Fewer points take the standard scan's first `n` (the
/// pole and the inner rings, as a shortened bench run would); more points keep the five
/// rings and spread `⌈(n−1)/5⌉` azimuths evenly on each, cut to `n`.
pub fn standard_surface_points(n: usize) -> Vec<PointLabel> {
    let per_ring = if n <= 21 {
        4
    } else {
        (n - 1).div_ceil(RINGS.len())
    };
    let mut out = vec![PointLabel::Surface {
        theta: 0.0,
        phi: 0.0,
    }];
    for &theta in &RINGS {
        for k in 0..per_ring {
            // Round to 1/1000 degree so names stay short (`phi51.429`, not 16 digits).
            let phi = (360.0 * k as f64 / per_ring as f64 * 1000.0).round() / 1000.0;
            out.push(PointLabel::Surface { theta, phi });
        }
    }
    out.truncate(n);
    out
}

/// An HV check: `n` voltages `step` volts apart, centred on `nominal` (5 by default on
/// the bench: nominal − 2·step … nominal + 2·step), lowest first.
pub fn hv_points(nominal: f64, n: usize, step: f64) -> Vec<PointLabel> {
    let mid = (n as f64 - 1.0) / 2.0;
    (0..n)
        .map(|i| PointLabel::Hv {
            volts: nominal + (i as f64 - mid) * step,
        })
        .collect()
}

/// A darkness check: dark runs `dark1 … dark<n>`, taken one after the other (the dark
/// rate of a tube settles over hours after it is put under voltage in the dark).
pub fn dark_points(n: usize) -> Vec<PointLabel> {
    (1..=n as u32).map(|n| PointLabel::Dark { n }).collect()
}

/// Name of a point's directory: `wavesave_<label>`.
pub fn point_dir_name(label: &PointLabel) -> String {
    format!("{POINT_DIR_PREFIX}{}", label.label())
}

/// Name of one channel's file in a point directory: `wave<ch>save_<label>.txt`.
pub fn channel_file_name(ch: u32, label: &PointLabel) -> String {
    format!("wave{ch}save_{}.txt", label.label())
}

/// The directory holding a scan's point directories: `<scan_dir>/<SN>` when a serial is
/// given and that directory exists, else `scan_dir` itself (a scan copied without the
/// serial level).
pub fn points_root(scan_dir: &Path, serial: Option<&Serial>) -> PathBuf {
    if let Some(sn) = serial {
        let d = scan_dir.join(sn.as_str());
        if d.is_dir() {
            return d;
        }
    }
    scan_dir.to_path_buf()
}

/// The point directories of a scan, sorted by label (see [`PointLabel::cmp_key`]).
///
/// Only directories named `wavesave_<label>` count: names starting with `.` (a writer's
/// temporary directory) and result directories (named by the bare label) are skipped. A
/// scan directory that does not exist yet has no points (the bench may not have started).
pub fn find_point_dirs(
    scan_dir: &Path,
    serial: Option<&Serial>,
) -> Result<Vec<(PointLabel, PathBuf)>> {
    let root = points_root(scan_dir, serial);
    let entries = match std::fs::read_dir(&root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(&root, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(&root, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') || !name.starts_with(POINT_DIR_PREFIX) {
            continue;
        }
        if name.eq_ignore_ascii_case(HV_CHECK_DIR) {
            let path = entry.path();
            if path.is_dir() {
                for volts in hv_check_voltages(&path)? {
                    out.push((PointLabel::Hv { volts }, path.clone()));
                }
            }
            continue;
        }
        let Some(label) = PointLabel::parse(name) else {
            continue;
        };
        // file_type does not follow symlinks; a linked point directory is still a point.
        let path = entry.path();
        if path.is_dir() {
            out.push((label, path));
        }
    }
    out.sort_by(|a, b| a.0.cmp_key(&b.0).then_with(|| a.1.cmp(&b.1)));
    Ok(out)
}

/// The voltages present in the bench's HV-check directory (from the file names), lowest
/// first, each once. A directory that vanished has none.
fn hv_check_voltages(dir: &Path) -> Result<Vec<f64>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut volts: Vec<f64> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') || crate::pipeline::readers::channel_from_file_name(name).is_none()
        {
            continue;
        }
        if let Some(v) = hv_of_file_name(name)
            && !volts.contains(&v)
        {
            volts.push(v);
        }
    }
    volts.sort_by(f64::total_cmp);
    Ok(volts)
}

/// The waveform files present in a point directory, by channel, with their sizes in bytes.
/// Hidden files (a writer's temporary names) are skipped. Where a channel has several
/// files, the one named by the bench's pattern for `label` wins. In the bench's shared
/// HV-check directory only the files named for the label's voltage count.
pub fn channel_files(dir: &Path, label: &PointLabel) -> Result<BTreeMap<u32, (PathBuf, u64)>> {
    let shared = is_hv_check_dir(dir).then(|| label.hv()).flatten();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut out: BTreeMap<u32, (PathBuf, u64)> = BTreeMap::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') || !(name.ends_with(".txt") || name.ends_with(".dat")) {
            continue;
        }
        let Some(ch) = crate::pipeline::readers::channel_from_file_name(name) else {
            continue;
        };
        if let Some(v) = shared
            && hv_of_file_name(name) != Some(v)
        {
            continue;
        }
        let path = entry.path();
        let meta = match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => m,
            // Vanished between listing and stat (a writer renaming): not there yet.
            _ => continue,
        };
        let preferred = name == channel_file_name(ch, label);
        if preferred || !out.contains_key(&ch) {
            out.insert(ch, (path, meta.len()));
        }
    }
    Ok(out)
}

/// The waveform files of one point, in channel order: every waveform file of a point
/// directory, or in the bench's HV-check directory the label's voltage's files.
pub fn point_input_files(dir: &Path, label: &PointLabel) -> Result<Vec<PathBuf>> {
    if !is_hv_check_dir(dir) {
        return crate::pipeline::point::point_files(dir);
    }
    let files: Vec<PathBuf> = channel_files(dir, label)?
        .into_values()
        .map(|(p, _)| p)
        .collect();
    if files.is_empty() {
        return Err(Error::Input(format!(
            "{}: no waveform files for {label} (wave<ch>save_HV_<V>.txt)",
            dir.display()
        )));
    }
    Ok(files)
}

/// True when every channel in `channels` has its file in the point directory.
pub fn point_complete(dir: &Path, label: &PointLabel, channels: &[u32]) -> Result<bool> {
    Ok(point_sizes(dir, label, channels)?.is_some())
}

/// The sizes of the expected channels' files, in `channels` order, or `None` while any is
/// missing. A watcher compares successive answers to see that writing has finished.
pub fn point_sizes(dir: &Path, label: &PointLabel, channels: &[u32]) -> Result<Option<Vec<u64>>> {
    let files = channel_files(dir, label)?;
    Ok(channels
        .iter()
        .map(|ch| files.get(ch).map(|(_, size)| *size))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dark_runs_are_points_of_their_own_kind() {
        let d = PointLabel::parse("wavesave_dark2").expect("a dark run");
        assert_eq!(d, PointLabel::Dark { n: 2 });
        assert_eq!(d.label(), "dark2");
        assert_eq!(d.kind(), PointKind::Dark);
        assert_eq!((d.theta(), d.hv()), (None, None));
        for bad in ["dark", "dark0", "dark-1", "dark1x", "darkness"] {
            assert_eq!(PointLabel::parse(bad), None, "{bad}");
        }
        assert_eq!(dark_points(3).last(), Some(&PointLabel::Dark { n: 3 }));
        let hv = PointLabel::Hv { volts: 1500.0 };
        assert_eq!(d.cmp_key(&hv), Ordering::Greater);
        assert_eq!("dark".parse::<PointKind>(), Ok(PointKind::Dark));
    }

    #[test]
    fn labels_round_trip() {
        let s = PointLabel::Surface {
            theta: 30.0,
            phi: 90.0,
        };
        assert_eq!(s.label(), "theta30_phi90");
        assert_eq!(PointLabel::parse("theta30_phi90"), Some(s));
        assert_eq!(PointLabel::parse("wavesave_theta30_phi90"), Some(s));
        let h = PointLabel::Hv { volts: 1500.0 };
        assert_eq!(h.label(), "hv1500");
        assert_eq!(PointLabel::parse("wavesave_hv1500"), Some(h));
        assert_eq!(PointLabel::parse("hv1500V"), Some(h));
        let f = PointLabel::Surface {
            theta: 22.5,
            phi: 0.0,
        };
        assert_eq!(f.label(), "theta22.5_phi0");
        assert_eq!(PointLabel::parse(&f.label()), Some(f));
        for bad in [
            "",
            "theta",
            "theta30",
            "theta30_phi",
            "thetanan_phi0",
            "hv",
            "hvinf",
            "x30",
            "theta+3_phi1",
        ] {
            assert_eq!(PointLabel::parse(bad), None, "{bad:?}");
        }
        let json = serde_json::to_string(&s).expect("ser");
        assert_eq!(json, "\"theta30_phi90\"");
        assert_eq!(serde_json::from_str::<PointLabel>(&json).expect("de"), s);
    }

    #[test]
    fn standard_scan_has_21_distinct_points() {
        let pts = standard_surface_points(21);
        assert_eq!(pts.len(), 21);
        assert_eq!(pts[0].label(), "theta0_phi0");
        assert_eq!(pts[1].label(), "theta15_phi0");
        assert_eq!(pts[20].label(), "theta75_phi270");
        let mut names: Vec<_> = pts.iter().map(PointLabel::label).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 21);
        assert_eq!(standard_surface_points(3).len(), 3);
        assert_eq!(standard_surface_points(0).len(), 0);
        let many = standard_surface_points(41);
        assert_eq!(many.len(), 41);
        let mut names: Vec<_> = many.iter().map(PointLabel::label).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 41);
    }

    #[test]
    fn hv_points_centre_on_nominal() {
        let pts: Vec<_> = hv_points(1500.0, 5, 50.0)
            .iter()
            .map(PointLabel::label)
            .collect();
        assert_eq!(pts, ["hv1400", "hv1450", "hv1500", "hv1550", "hv1600"]);
    }

    #[test]
    fn names_follow_the_bench() {
        let s = PointLabel::Surface {
            theta: 0.0,
            phi: 0.0,
        };
        assert_eq!(point_dir_name(&s), "wavesave_theta0_phi0");
        assert_eq!(channel_file_name(2, &s), "wave2save_theta0_phi0.txt");
    }

    /// The bench's HV check: one directory, each voltage a point of its own files.
    #[test]
    fn the_bench_hv_check_directory_is_one_point_per_voltage() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let sn = Serial::parse("EA0002").expect("serial");
        let dir = tmp.path().join("EA0002").join(HV_CHECK_DIR);
        std::fs::create_dir_all(&dir).expect("mkdir");
        for v in [1450, 1500] {
            for ch in [0, 2] {
                std::fs::write(dir.join(format!("wave{ch}save_HV_{v}.txt")), b"12").expect("write");
            }
        }
        std::fs::write(dir.join("wave2save_HV_1550.txt"), b"1").expect("write");
        std::fs::write(dir.join(".wave0save_HV_1600.txt.part"), b"1").expect("write");
        std::fs::write(dir.join("notes.txt"), b"1").expect("write");
        let found = find_point_dirs(tmp.path(), Some(&sn)).expect("find");
        let labels: Vec<_> = found.iter().map(|(l, _)| l.label()).collect();
        assert_eq!(labels, ["hv1450", "hv1500", "hv1550"]);
        assert!(found.iter().all(|(_, d)| is_hv_check_dir(d)));
        let l1500 = PointLabel::Hv { volts: 1500.0 };
        let files = channel_files(&dir, &l1500).expect("files");
        assert_eq!(files.len(), 2);
        assert!(
            files
                .values()
                .all(|(p, _)| p.to_string_lossy().ends_with("_HV_1500.txt"))
        );
        assert!(point_complete(&dir, &l1500, &[0, 2]).expect("check"));
        let l1550 = PointLabel::Hv { volts: 1550.0 };
        assert!(!point_complete(&dir, &l1550, &[0, 2]).expect("check"));
        assert_eq!(point_input_files(&dir, &l1500).expect("inputs").len(), 2);
        assert!(point_input_files(&dir, &PointLabel::Hv { volts: 9.0 }).is_err());
        assert_eq!(hv_of_file_name("wave2save_HV_1512.5.txt"), Some(1512.5));
        assert_eq!(hv_of_file_name("wave2save_hv1500V.dat"), Some(1500.0));
        assert_eq!(hv_of_file_name("wave2save_theta0_phi0.txt"), None);
    }

    #[test]
    fn finds_points_and_completeness() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let sn = Serial::parse("EA0001").expect("serial");
        let root = tmp.path().join("EA0001");
        let a = PointLabel::Surface {
            theta: 15.0,
            phi: 90.0,
        };
        let b = PointLabel::Surface {
            theta: 0.0,
            phi: 0.0,
        };
        for l in [a, b] {
            std::fs::create_dir_all(root.join(point_dir_name(&l))).expect("mkdir");
        }
        std::fs::create_dir_all(root.join(".wavesave_hv1500.tmp")).expect("mkdir");
        std::fs::create_dir_all(root.join("theta0_phi0")).expect("mkdir");
        std::fs::write(root.join("wavesave_hv1400"), b"not a dir").expect("write");

        let found = find_point_dirs(tmp.path(), Some(&sn)).expect("find");
        let labels: Vec<_> = found.iter().map(|(l, _)| l.label()).collect();
        assert_eq!(labels, ["theta0_phi0", "theta15_phi90"]);
        // Without the serial level the same directory is searched directly.
        assert_eq!(find_point_dirs(&root, None).expect("find").len(), 2);
        assert!(
            find_point_dirs(&tmp.path().join("missing"), None)
                .expect("find")
                .is_empty()
        );

        let dir = root.join(point_dir_name(&b));
        assert!(!point_complete(&dir, &b, &[0, 1, 2]).expect("check"));
        for ch in [0, 1] {
            std::fs::write(dir.join(channel_file_name(ch, &b)), b"12").expect("write");
        }
        std::fs::write(dir.join(".wave2save_theta0_phi0.txt.part"), b"1").expect("write");
        assert!(!point_complete(&dir, &b, &[0, 1, 2]).expect("check"));
        assert!(point_complete(&dir, &b, &[0, 1]).expect("check"));
        std::fs::write(dir.join(channel_file_name(2, &b)), b"123").expect("write");
        assert_eq!(
            point_sizes(&dir, &b, &[0, 1, 2]).expect("sizes"),
            Some(vec![2, 2, 3])
        );
    }
}

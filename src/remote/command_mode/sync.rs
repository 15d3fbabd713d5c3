//! Command mode's result sync: each [`CommandSync::sync`] lists the files written since its
//! watermark, downloads the ones the profile names (atomically, mirroring the remote
//! layout under a local directory) and reports each point once its gain file is local
//! (with its charge plot when the script draws one), θ/φ or HV read from the path and the
//! gain (and its error, when written) from the file.
//!
//! Decisions, and why:
//! - **The old layout.** The lab's job writes `scan_output_<stamp>/<SN>/data_theta<T>_phi<P>/`
//!   `live_data_…_charge.png` and `…_GAIN.txt`. Below `scan_output_<stamp>/`, the next
//!   component is the serial number: another serial's files are another PMT's and are not
//!   synced (one warning per name, so a layout without the serial level is visible rather
//!   than silently empty). The point pattern is searched in the rest of the path. Files
//!   outside any `scan_output_*` directory are synced too, as a run without a stamp. The
//!   old HV check writes the same way under `HV_output_<stamp>/<SN>/data_HV_<V>/`
//!   ([`HV_RUN_DIR_PREFIX`]); the default point pattern reads `HV_<V>` there.
//! - **A newer stamp is a newer run, and the sync follows the newest one.** Stamps are
//!   compared in natural order (digit runs as numbers, so `date +%Y%m%d_%H%M%S` stamps and
//!   epoch seconds both sort by time). When a newer run of the serial appears (the scan was
//!   restarted), its points are reported from then on and the older run's files are no
//!   longer synced: the grid shows one scan per PMT, the latest. Every event carries its
//!   run, so a caller sees the switch (and can clear the old points).
//! - **Exactly once.** A point is `(run, label)`. It is reported when its gain file is
//!   local, however many syncs that takes (the gain file may arrive rounds after the
//!   plot), and never again; a file that changes later is downloaded again (the local copy
//!   stays the newest complete one) without a second report.
//! - **The gain file makes the point; the plot is optional.** Some old scripts (the HV
//!   check's) draw no per-point plot: waiting for one would never show their gains. A
//!   point is reported with the plot when it is local by then; a plot that arrives after
//!   its point (or is rewritten) is handed over in [`SyncRound::plots`].
//! - **A gain file holds the gain, or the gain and its error.** `1.033e+07`, or
//!   `1.033e+07 ± 2.1e+05` (also `+-`, `+/-`): an error given is used (the HV fit weighs
//!   by it); two bare numbers are refused (an absolute or a relative error?).
//! - **A bad gain file is the point's problem, not the sync's.** A gain that is not a
//!   positive finite number gives one [`SyncEvent::Failed`] for the point (again only if
//!   the file is rewritten and still bad; a rewritten good file then reports the point). An
//!   empty gain file counts as not yet written: `echo 1e7 > f` creates the file before it
//!   writes the number, and a listing may fall in between.
//! - **The watermark never skips a file.** Listing uses exact mtimes
//!   ([`Transfer::list_newer`]) but looks [`LOOKBACK`] further back than the newest file
//!   seen, because filesystem timestamps come from a coarse clock and a file moved into
//!   place keeps its old mtime; versions already fetched (same mtime and size) are skipped.
//!   A file whose download failed holds the watermark back so that the next sync retries it.
//!
//! Why this file is over 600 lines: one sync round is one rule — the watermark, which file
//! names are a point, the gain file's grammar and the download limits decide together which
//! file counts, and splitting them would spread that rule over files. Its tests are in
//! `sync/tests.rs`.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use regex::Regex;

use super::CommandProfile;
use crate::pipeline::scan::PointLabel;
use crate::pipeline::serial::Serial;
use crate::remote::error::{Error, Result};
use crate::remote::quote::preview;
use crate::remote::transfer::{Transfer, glob_match};

/// How much further back than the watermark each listing looks (see the module docs).
pub const LOOKBACK: Duration = Duration::from_secs(2);
/// The directory prefix of the old setup's runs: `scan_output_<stamp>`.
pub const RUN_DIR_PREFIX: &str = "scan_output_";
/// The directory prefix of the old setup's HV checks: `HV_output_<stamp>`.
pub const HV_RUN_DIR_PREFIX: &str = "HV_output_";
/// A gain file holds one number; anything larger is not one.
const MAX_GAIN_BYTES: u64 = 4096;
/// Downloads in flight at once on the one SFTP channel.
const CONCURRENCY: usize = 8;
/// Warnings kept per round: a directory full of unexpected files must not grow memory.
const MAX_WARNINGS: usize = 100;

/// One point whose gain file is local.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandPoint {
    /// The run's stamp (`scan_output_<stamp>`); `None` outside that layout.
    pub run: Option<String>,
    pub label: PointLabel,
    /// The local copy of the charge plot, when the script wrote one before the point was
    /// reported (a later one comes in [`SyncRound::plots`]).
    pub charge_png: Option<PathBuf>,
    /// The local copy of the gain file.
    pub gain_file: PathBuf,
    /// The gain read from it.
    pub gain: f64,
    /// Its error, when the file gives one (`1.033e+07 ± 2.1e+05`).
    pub gain_err: Option<f64>,
}

/// A charge plot that arrived (or changed) after its point was reported.
#[derive(Debug, Clone, PartialEq)]
pub struct LatePlot {
    pub run: Option<String>,
    pub label: PointLabel,
    /// The local copy of the plot.
    pub charge_png: PathBuf,
}

/// A gain file's content: the gain and, when written, its error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GainText {
    pub gain: f64,
    pub error: Option<f64>,
}

/// A point whose files are local but whose gain file could not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct PointFailure {
    pub run: Option<String>,
    pub label: PointLabel,
    /// The local copy of the gain file.
    pub file: PathBuf,
    /// What is wrong with it.
    pub error: String,
}

/// What a sync found.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncEvent {
    Point(CommandPoint),
    Failed(PointFailure),
}

impl SyncEvent {
    pub fn run(&self) -> Option<&str> {
        match self {
            SyncEvent::Point(p) => p.run.as_deref(),
            SyncEvent::Failed(f) => f.run.as_deref(),
        }
    }

    pub fn label(&self) -> &PointLabel {
        match self {
            SyncEvent::Point(p) => &p.label,
            SyncEvent::Failed(f) => &f.label,
        }
    }
}

/// One sync's outcome.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncRound {
    /// Points completed (or failed) in this round, by run, then θ/φ or HV.
    pub events: Vec<SyncEvent>,
    /// Charge plots of points reported in an earlier round (drawn after the gain, or
    /// rewritten), by run, then θ/φ or HV.
    pub plots: Vec<LatePlot>,
    /// Local paths of the files downloaded in this round.
    pub downloaded: Vec<PathBuf>,
    /// Files skipped or not downloaded, and why (at most 100); a failed
    /// download is retried by the next sync.
    pub warnings: Vec<String>,
}

impl SyncRound {
    fn warn(&mut self, msg: String) {
        tracing::warn!("command sync: {msg}");
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(msg);
        }
    }
}

/// A run's identity: its stamp, `None` for files outside `scan_output_*`. Ordered oldest
/// first: no stamp, then stamps in natural order.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Run(Option<String>);

impl Ord for Run {
    fn cmp(&self, other: &Self) -> Ordering {
        match (&self.0, &other.0) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(a), Some(b)) => natural_cmp(a, b),
        }
    }
}

impl PartialOrd for Run {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Run {
    fn describe(&self) -> String {
        self.0.as_ref().map_or_else(
            || "(files outside scan_output_*)".into(),
            |s| format!("{RUN_DIR_PREFIX}{s}"),
        )
    }
}

/// What is known of one point.
#[derive(Debug)]
struct PointState {
    label: PointLabel,
    charge: Option<PathBuf>,
    gain: Option<PathBuf>,
    reported: Reported,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reported {
    No,
    Failed,
    Done,
}

/// Follows the result files of one serial number's command-mode runs; see the module
/// documentation. Holds its watermark and what it has reported, so call
/// [`sync`](Self::sync) on the same value again and again.
#[derive(Debug)]
pub struct CommandSync {
    remote_root: PathBuf,
    serial: Serial,
    local_dir: PathBuf,
    sync_patterns: Vec<String>,
    charge_pattern: String,
    gain_pattern: String,
    point: Regex,
    watermark: SystemTime,
    /// Versions (mtime, size) of the files already downloaded, by relative path.
    fetched: HashMap<PathBuf, (SystemTime, u64)>,
    points: BTreeMap<(Run, String), PointState>,
    newest: Option<Run>,
    /// The newest run's directory name (`scan_output_<stamp>` or `HV_output_<stamp>`).
    newest_dir: Option<String>,
    /// Warnings given once (per foreign serial, older run, unlabelled file).
    warned: BTreeSet<String>,
}

impl CommandSync {
    /// A sync of `serial`'s results under the profile's `remote_dir`, into `local_dir`
    /// (the remote layout below `remote_dir` is mirrored there), seeing files modified
    /// after `since` (less [`LOOKBACK`]): usually [`RunningCommand::started`](super::RunningCommand::started);
    /// `UNIX_EPOCH` to pick up every run already there (the newest is followed).
    pub fn new(
        profile: &CommandProfile,
        serial: Serial,
        local_dir: impl Into<PathBuf>,
        since: SystemTime,
    ) -> CommandSync {
        let spec = profile.spec();
        CommandSync {
            remote_root: PathBuf::from(&spec.remote_dir),
            serial,
            local_dir: local_dir.into(),
            sync_patterns: spec.sync_patterns.clone(),
            charge_pattern: spec.charge_pattern.clone(),
            gain_pattern: spec.gain_pattern.clone(),
            point: profile.point_pattern().clone(),
            watermark: since,
            fetched: HashMap::new(),
            points: BTreeMap::new(),
            newest: None,
            newest_dir: None,
            warned: BTreeSet::new(),
        }
    }

    /// Files modified after this (less [`LOOKBACK`]) are listed by the next sync.
    pub fn watermark(&self) -> SystemTime {
        self.watermark
    }

    /// The stamp of the run being followed (`None` before any file, or outside the
    /// `scan_output_*` layout).
    pub fn run(&self) -> Option<&str> {
        self.newest.as_ref().and_then(|r| r.0.as_deref())
    }

    /// The directory of the run being followed below `remote_dir` (`scan_output_<stamp>`
    /// or `HV_output_<stamp>`); `None` as for [`run`](Self::run).
    pub fn run_dir(&self) -> Option<&str> {
        self.newest_dir.as_deref()
    }

    /// Points reported so far (not counting failures), over all runs.
    pub fn reported(&self) -> usize {
        self.points
            .values()
            .filter(|p| p.reported == Reported::Done)
            .count()
    }

    /// Lists, downloads and reports what is new; see the module documentation. Only a
    /// failed listing is an error (nothing changed then; call again); failed downloads are
    /// warnings and are retried by the next call.
    pub async fn sync(&mut self, transfer: &Transfer) -> Result<SyncRound> {
        let since = self
            .watermark
            .checked_sub(LOOKBACK)
            .unwrap_or(UNIX_EPOCH)
            .max(UNIX_EPOCH);
        let listed = transfer.list_newer(&self.remote_root, since, None).await?;
        let mut round = SyncRound::default();

        // What to fetch: synced names, new versions, this serial, newest run.
        let mut wanted = Vec::new();
        let mut max_listed = self.watermark;
        for file in &listed {
            max_listed = max_listed.max(file.mtime);
            let Ok(rel) = file.path.strip_prefix(&self.remote_root) else {
                continue;
            };
            let Some(name) = rel.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if !self.sync_patterns.iter().any(|p| glob_match(p, name)) {
                continue;
            }
            if self.fetched.get(rel) == Some(&(file.mtime, file.size)) {
                continue;
            }
            let Some(rel_str) = plain_relative(rel) else {
                self.warn_once(
                    &mut round,
                    format!(
                        "{}: not a plain UTF-8 relative path; skipped",
                        rel.display()
                    ),
                );
                continue;
            };
            let located = locate(rel_str);
            if let Some(sn) = located.serial
                && sn != self.serial.as_str()
            {
                self.warn_once(
                    &mut round,
                    format!(
                        "{}: {sn:?} is not serial {} (scan_output_<stamp>/<SN>/…); not synced",
                        located.run.describe(),
                        self.serial
                    ),
                );
                continue;
            }
            wanted.push((
                file,
                rel.to_path_buf(),
                located.run,
                located.inner.to_string(),
            ));
        }
        if let Some(top) = wanted.iter().map(|w| &w.2).max().cloned()
            && self.newest.as_ref().is_none_or(|n| top > *n)
        {
            if let Some(old) = &self.newest {
                round.warn(format!(
                    "a newer run {} of {} appeared; following it instead of {}",
                    top.describe(),
                    self.serial,
                    old.describe()
                ));
            }
            self.newest = Some(top);
        }
        // The followed run's directory, as named (its prefix says scan or HV check).
        if let Some(n) = self.newest.as_ref().filter(|n| n.0.is_some())
            && let Some(w) = wanted.iter().find(|w| w.2 == *n)
        {
            self.newest_dir =
                w.1.components()
                    .next()
                    .and_then(|c| c.as_os_str().to_str())
                    .map(str::to_string);
        }
        let mut fetch = Vec::new();
        for (file, rel, run, inner) in wanted {
            if self.newest.as_ref().is_some_and(|n| run < *n) {
                let newest = self.newest.as_ref().map(Run::describe).unwrap_or_default();
                self.warn_once(
                    &mut round,
                    format!(
                        "{} is older than {newest}; its files are not synced",
                        run.describe()
                    ),
                );
                continue;
            }
            fetch.push((file, rel, run, inner));
        }

        // Download, each file atomically, into the mirrored layout.
        let mut pairs = Vec::with_capacity(fetch.len());
        for (file, rel, ..) in &fetch {
            let local = self.local_dir.join(rel);
            if let Some(dir) = local.parent() {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|source| Error::Io {
                        path: dir.to_path_buf(),
                        source,
                    })?;
            }
            pairs.push((file.path.clone(), local));
        }
        let results = transfer.download_many(&pairs, CONCURRENCY).await;
        let mut oldest_failed: Option<SystemTime> = None;
        let mut touched: BTreeSet<(Run, String)> = BTreeSet::new();
        let mut gain_touched: BTreeSet<(Run, String)> = BTreeSet::new();
        let mut charge_touched: BTreeSet<(Run, String)> = BTreeSet::new();
        for ((file, rel, run, inner), ((_, local), result)) in
            fetch.into_iter().zip(pairs.into_iter().zip(results))
        {
            if let Err(e) = result {
                round.warn(format!(
                    "{}: download failed, retried by the next sync: {e}",
                    file.path.display()
                ));
                oldest_failed = Some(oldest_failed.map_or(file.mtime, |t| t.min(file.mtime)));
                continue;
            }
            self.fetched.insert(rel, (file.mtime, file.size));
            round.downloaded.push(local.clone());
            let name = local.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let is_charge = glob_match(&self.charge_pattern, name);
            let is_gain = glob_match(&self.gain_pattern, name);
            if !is_charge && !is_gain {
                continue; // Another synced file (a log, a JSON): mirrored, not a point's.
            }
            let label = match point_label(&self.point, &inner) {
                Ok(label) => label,
                Err(why) => {
                    self.warn_once(&mut round, format!("{}: {why}", file.path.display()));
                    continue;
                }
            };
            let key = (run.clone(), label.label());
            let state = self.points.entry(key.clone()).or_insert(PointState {
                label,
                charge: None,
                gain: None,
                reported: Reported::No,
            });
            if is_charge {
                state.charge = Some(local);
                charge_touched.insert(key.clone());
            } else {
                state.gain = Some(local);
                gain_touched.insert(key.clone());
            }
            touched.insert(key);
        }
        self.watermark = match oldest_failed {
            Some(t) => max_listed.min(t.checked_sub(Duration::from_nanos(1)).unwrap_or(t)),
            None => max_listed,
        };

        // Report the points whose gain arrived; hand over plots of points reported before.
        for key in touched {
            let Some(state) = self.points.get_mut(&key) else {
                continue;
            };
            if state.reported == Reported::Done {
                if let Some(charge) = &state.charge
                    && charge_touched.contains(&key)
                {
                    round.plots.push(LatePlot {
                        run: key.0.0.clone(),
                        label: state.label,
                        charge_png: charge.clone(),
                    });
                }
                continue;
            }
            let Some(gain_file) = &state.gain else {
                continue;
            };
            if state.reported == Reported::Done
                || (state.reported == Reported::Failed && !gain_touched.contains(&key))
            {
                continue;
            }
            let run = key.0.0.clone();
            match read_gain(gain_file).await {
                Ok(None) => {} // Not written yet; its next version is listed again.
                Ok(Some(g)) => {
                    state.reported = Reported::Done;
                    round.events.push(SyncEvent::Point(CommandPoint {
                        run,
                        label: state.label,
                        charge_png: state.charge.clone(),
                        gain_file: gain_file.clone(),
                        gain: g.gain,
                        gain_err: g.error,
                    }));
                }
                Err(error) => {
                    state.reported = Reported::Failed;
                    round.events.push(SyncEvent::Failed(PointFailure {
                        run,
                        label: state.label,
                        file: gain_file.clone(),
                        error,
                    }));
                }
            }
        }
        round.events.sort_by(|a, b| {
            Run(a.run().map(str::to_string))
                .cmp(&Run(b.run().map(str::to_string)))
                .then_with(|| a.label().cmp_key(b.label()))
        });
        round.plots.sort_by(|a, b| {
            Run(a.run.clone())
                .cmp(&Run(b.run.clone()))
                .then_with(|| a.label.cmp_key(&b.label))
        });
        Ok(round)
    }

    fn warn_once(&mut self, round: &mut SyncRound, msg: String) {
        if self.warned.insert(msg.clone()) {
            round.warn(msg);
        }
    }
}

/// `rel` as a `/`-separated string, if it is valid UTF-8 made of plain components only
/// (no `..`, no root): it names a local path below the sync's directory.
fn plain_relative(rel: &Path) -> Option<&str> {
    let plain = rel.components().all(|c| matches!(c, Component::Normal(_)));
    (plain && rel.components().next().is_some())
        .then(|| rel.to_str())
        .flatten()
}

/// Where a file sits in the old layout.
#[derive(Debug, PartialEq, Eq)]
struct Located<'a> {
    run: Run,
    /// The serial-number component, in the `scan_output_<stamp>/<SN>/…` layout.
    serial: Option<&'a str>,
    /// The path the point pattern is searched in.
    inner: &'a str,
}

/// Splits `scan_output_<stamp>/<SN>/<rest>` (or anything else, as a run without stamp).
fn locate(rel: &str) -> Located<'_> {
    let mut parts = rel.splitn(3, '/');
    let first = parts.next().unwrap_or("");
    if let Some(stamp) = first
        .strip_prefix(RUN_DIR_PREFIX)
        .or_else(|| first.strip_prefix(HV_RUN_DIR_PREFIX))
    {
        match (parts.next(), parts.next()) {
            (Some(sn), Some(rest)) => {
                return Located {
                    run: Run(Some(stamp.to_string())),
                    serial: Some(sn),
                    inner: rest,
                };
            }
            (Some(rest), None) => {
                return Located {
                    run: Run(Some(stamp.to_string())),
                    serial: None,
                    inner: rest,
                };
            }
            _ => {}
        }
    }
    Located {
        run: Run(None),
        serial: None,
        inner: rel,
    }
}

/// The point a path names, read with the profile's point pattern: the first match's
/// `theta` and `phi` groups (a surface point) or its `hv` group (a voltage).
pub(crate) fn point_label(re: &Regex, path: &str) -> std::result::Result<PointLabel, String> {
    let Some(caps) = re.captures(path) else {
        return Err("no point (θ/φ or HV) in its path: the point_pattern does not match it".into());
    };
    let number = |group: &str| -> std::result::Result<Option<f64>, String> {
        let Some(m) = caps.name(group) else {
            return Ok(None);
        };
        parse_label_number(m.as_str())
            .map(Some)
            .ok_or_else(|| format!("its {group} {:?} is not a finite number", m.as_str()))
    };
    match (number("theta")?, number("phi")?, number("hv")?) {
        (Some(theta), Some(phi), _) => Ok(PointLabel::Surface { theta, phi }),
        (_, _, Some(volts)) => Ok(PointLabel::Hv { volts }),
        _ => {
            Err("the point_pattern matched, but without both theta and phi, or hv, to read".into())
        }
    }
}

/// A plain decimal (`30`, `-22.5`), as the bench writes numbers in names; Rust's parser
/// alone would also take `inf`, `NaN` and `+5`.
fn parse_label_number(s: &str) -> Option<f64> {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-');
    plain
        .then(|| s.parse::<f64>().ok())
        .flatten()
        .filter(|v| v.is_finite())
}

/// Reads a local gain file: `Ok(None)` while it is empty, the gain, or why it is not one.
async fn read_gain(path: &Path) -> std::result::Result<Option<GainText>, String> {
    let len = tokio::fs::metadata(path)
        .await
        .map_err(|e| format!("cannot read the local copy: {e}"))?
        .len();
    if len > MAX_GAIN_BYTES {
        return Err(format!("it has {len} bytes; {GAIN_GRAMMAR}"));
    }
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| format!("cannot read the local copy: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|_| format!("it is not text; {GAIN_GRAMMAR}"))?;
    parse_gain(&text)
}

/// What a gain file may hold, as the error messages say it.
const GAIN_GRAMMAR: &str = "a gain file holds one number such as 1.033e+07, or the gain and its error such as 1.033e+07 ± 2.1e+05";

/// The separators between a gain and its error, longest first.
const ERROR_SEPARATORS: [&str; 3] = ["+/-", "+-", "\u{b1}"];

/// Parses a gain file's text: one number such as `1.033e+07`, or the gain and its error
/// (`1.033e+07 ± 2.1e+05`, `+-` or `+/-` for `±`), surrounded by any whitespace.
/// `Ok(None)` for an empty (or blank) file: not written yet. A gain must be a positive
/// finite number, an error a positive finite one; everything else is an error that says
/// what the file held.
pub fn parse_gain(text: &str) -> std::result::Result<Option<GainText>, String> {
    let text = text.trim_start_matches('\u{feff}').trim();
    if text.is_empty() {
        return Ok(None);
    }
    let split = ERROR_SEPARATORS
        .iter()
        .filter_map(|sep| text.find(sep).map(|i| (i, sep.len())))
        .min_by_key(|&(i, _)| i);
    let (gain_text, error_text) = match split {
        Some((i, len)) => (&text[..i], Some(&text[i + len..])),
        None => (text, None),
    };
    let gain = one_number(gain_text, "gain")?;
    let error = match error_text {
        Some(e) => {
            let e = one_number(e, "error")?;
            if e <= 0.0 {
                return Err(format!(
                    "the error {} is not positive; {GAIN_GRAMMAR}",
                    preview(&e.to_string())
                ));
            }
            Some(e)
        }
        None => None,
    };
    if gain <= 0.0 {
        let shown = preview(gain_text.trim());
        return Err(format!(
            "the gain {shown} is not positive (did the fit fail?)"
        ));
    }
    Ok(Some(GainText { gain, error }))
}

/// One finite number (`what` names it in the messages): the whole of `text` but for
/// surrounding whitespace.
fn one_number(text: &str, what: &str) -> std::result::Result<f64, String> {
    let mut words = text.split_whitespace();
    let Some(word) = words.next() else {
        return Err(format!("the {what} is missing; {GAIN_GRAMMAR}"));
    };
    let count = 1 + words.count();
    let shown = preview(word);
    if count > 1 {
        return Err(format!(
            "it holds {count} words (starting with {shown}) where the {what} should be; {GAIN_GRAMMAR}"
        ));
    }
    let numeric = word
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    let value = numeric
        .then(|| word.parse::<f64>().ok())
        .flatten()
        .ok_or_else(|| format!("{shown} is not a number; {GAIN_GRAMMAR}"))?;
    if !value.is_finite() {
        return Err(format!("{shown} is not a finite number"));
    }
    Ok(value)
}

/// Natural order of run stamps: digit runs compare as numbers (`run9` < `run10`), other
/// bytes as bytes; equal-looking stamps (`01` and `1`) fall back to byte order, so the
/// order is total.
pub(crate) fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let nx = x.iter().take_while(|b| b.is_ascii_digit()).count();
                let ny = y.iter().take_while(|b| b.is_ascii_digit()).count();
                let strip = |s: &[u8]| -> usize { s.iter().take_while(|&&b| b == b'0').count() };
                let (dx, dy) = (&x[strip(&x[..nx])..nx], &y[strip(&y[..ny])..ny]);
                let ord = dx.len().cmp(&dy.len()).then_with(|| dx.cmp(dy));
                if ord != Ordering::Equal {
                    return ord;
                }
                x = &x[nx..];
                y = &y[ny..];
            }
            (Some(c), Some(d)) => {
                if c != d {
                    return c.cmp(d);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

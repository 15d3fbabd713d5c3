//! A command-mode profile as written (TOML, the profile database, the profile form): the
//! lab's command template, where it runs, which files to sync and how a point is read from
//! their paths. Plain data; `remote::command_mode::CommandProfile` is the validated, compiled
//! form that runs it.

use serde::{Deserialize, Serialize};

/// Files synced unless the profile says otherwise: the old setup's charge plot and gain
/// per point, and its HV check's result (`<SN>_HV_at_gain_1.00e+07.txt`, one voltage) and
/// plot (`<SN>_gain_vs_hv_loglog.png`), shown beside pmtwatch's own fit when present.
pub const DEFAULT_SYNC_PATTERNS: [&str; 4] = [
    "*_charge.png",
    "*_GAIN.txt",
    "*_HV_at_gain_*.txt",
    "*_gain_vs_hv_loglog.png",
];
/// A point's charge plot (one of the synced files).
pub const DEFAULT_CHARGE_PATTERN: &str = "*_charge.png";
/// A point's gain file: one number such as `1.033e+07` (one of the synced files).
pub const DEFAULT_GAIN_PATTERN: &str = "*_GAIN.txt";

/// The default point pattern. It is searched (unanchored, leftmost match first) in a file's
/// path below `scan_output_<stamp>/<SN>/` (or below `remote_dir` for other layouts), so the
/// directory wins over the file name. It reads:
/// - `theta<T>_phi<P>` (the old setup's `data_theta30_phi90/`), and
/// - `hv<V>` / `HV<V>` / `HV_<V>` with an optional unit (`hv1500/`, `HV1500V_GAIN.txt`,
///   the old HV check's `data_HV_1500/`),
///
/// each at the start of the path or after `/` or `_`, and followed by `/`, `_`, `.` or the
/// end, so `data_theta30_phi90` matches and `mytheta3` does not. Numbers may be negative or
/// decimal (`theta22.5_phi-90`). Keywords are case-insensitive.
pub const DEFAULT_POINT_PATTERN: &str = r"(?i)(?:^|[/_])(?:theta(?P<theta>-?[0-9]+(?:\.[0-9]+)?)_phi(?P<phi>-?[0-9]+(?:\.[0-9]+)?)|hv_?(?P<hv>-?[0-9]+(?:\.[0-9]+)?)v?)(?:[/_.]|$)";

/// A command-mode profile as written in a configuration (TOML, the profile database).
/// `remote::command_mode::CommandProfile` is its validated form (deserialising a profile validates it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandSpec {
    /// The command line with placeholders (`remote::template`): `sbatch ./RUN.slurm {SN}`.
    pub template: String,
    /// Where the command runs and where its results appear (relative: from the remote home).
    pub remote_dir: String,
    /// File-name patterns (`*` any run, `?` one character) of the files to sync.
    #[serde(default = "default_sync_patterns")]
    pub sync_patterns: Vec<String>,
    /// Which synced file is a point's charge plot; must be one of `sync_patterns`.
    #[serde(default = "default_charge_pattern")]
    pub charge_pattern: String,
    /// Which synced file holds a point's gain; must be one of `sync_patterns`.
    #[serde(default = "default_gain_pattern")]
    pub gain_pattern: String,
    /// A regular expression (Rust `regex` syntax) with named groups `theta` and `phi`, or
    /// `hv`, that reads the point from a file's path; see [`DEFAULT_POINT_PATTERN`].
    #[serde(default = "default_point_pattern")]
    pub point_pattern: String,
}

fn default_sync_patterns() -> Vec<String> {
    DEFAULT_SYNC_PATTERNS.map(str::to_string).to_vec()
}
fn default_charge_pattern() -> String {
    DEFAULT_CHARGE_PATTERN.into()
}
fn default_gain_pattern() -> String {
    DEFAULT_GAIN_PATTERN.into()
}
fn default_point_pattern() -> String {
    DEFAULT_POINT_PATTERN.into()
}

impl CommandSpec {
    /// A spec with the old setup's defaults for everything but the template and directory.
    pub fn new(template: &str, remote_dir: &str) -> CommandSpec {
        CommandSpec {
            template: template.into(),
            remote_dir: remote_dir.into(),
            sync_patterns: default_sync_patterns(),
            charge_pattern: default_charge_pattern(),
            gain_pattern: default_gain_pattern(),
            point_pattern: default_point_pattern(),
        }
    }
}

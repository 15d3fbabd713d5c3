//! Compute profiles: where a scan is processed (this machine, an SSH host, a SLURM
//! cluster), how (pipeline mode: pmtwatch itself; command mode: the lab's own script), with
//! which analysis settings and scan pattern, and where reviewed runs go (archive and flag
//! areas). Stored as JSON in the `profiles` table; validated field by field so the form can
//! show each problem next to its field while the operator types.
//!
//! Why this file is over 600 lines: a profile's fields, their defaults and their checks
//! (shown by the profile form next to each field) are one table that is easier to read
//! whole; a quarter of the file is its unit tests.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::ScanKind;
use crate::pipeline::config::AnalysisConfig;
use crate::pipeline::scan::{PointKind, PointLabel, dark_points, hv_points};
use crate::remote::backend::{BackendConfig, Kind};
use crate::remote::command_mode::{CommandProfile, CommandSpec};
use crate::remote::inputs;
use crate::remote::quote::preview;
use crate::remote::slurm::SbatchOptions;
use crate::remote::ssh::SshTarget;

/// Pipeline mode runs `pmtwatch process --watch` where the profile points; command mode runs
/// a command template and syncs the files it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Pipeline,
    Command,
}

/// A compute profile as the operator edits it. Every path is on the side where the work
/// runs (this machine for `local`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProfileSpec {
    /// The PMT type scanned with this profile (selects the reference spectrum overlay).
    pub pmt_type: String,
    pub kind: Kind,
    pub mode: Mode,
    /// `[user@]host` for `ssh`, and for `slurm` when the cluster is reached over SSH
    /// (empty: `sbatch` runs on this machine).
    pub host: String,
    pub port: Option<u16>,
    /// Private key file (empty: agent / ~/.ssh/config).
    pub identity: String,
    /// known_hosts file (empty: the user's own).
    pub known_hosts: String,
    /// Jump hosts on the way to `host`, as `ssh -J` takes them: `[user@]host[:port]`,
    /// comma-separated, in order (empty: none, or what the ssh config says).
    pub jump: String,
    /// The ssh_config file to use instead of `~/.ssh/config` (empty: the user's own);
    /// it also configures the jump hosts (their keys, ports, users).
    pub ssh_config: String,
    /// The SHA-256 (hex) of the `ssh_config` content an admin allowed to hold directives
    /// that run commands (`ProxyCommand`, `Match exec`, …); empty: they are refused.
    pub ssh_config_allowed: String,
    /// Working directory: run result directories, job files, batch scripts.
    pub work_dir: String,
    /// Where the bench's digitizer writes scans (`<scan_root>/<SN>/wavesave_<label>/`).
    pub scan_root: String,
    /// The pmtwatch program there (`pmtwatch` on the PATH; for `local`, empty means this
    /// very binary).
    pub program: String,
    /// Where archived and flagged runs are moved.
    pub archive_dir: String,
    pub flag_dir: String,
    /// SLURM options.
    pub partition: String,
    pub time_limit: String,
    pub mem: String,
    pub account: String,
    /// GPUs a SLURM job asks for (`--gres=gpu:N`) when the slot's GPU choice is automatic;
    /// 0: none. (Local and SSH runs get the host's least busy GPU instead.)
    pub gpus: u32,
    /// Seconds between looks at a SLURM job and its result directory.
    pub poll_secs: f64,
    /// Seconds a point's files must keep their size before processing.
    pub settle_secs: f64,
    /// Command mode: the lab's command and how to read its output.
    pub command: Option<CommandSpec>,
    /// The analysis settings (pipeline mode).
    pub analysis: AnalysisConfig,
    /// The surface scan's θ/φ points, in the order the bench measures them.
    pub pattern: Vec<[f64; 2]>,
    /// HV check: nominal voltage, step and number of voltages.
    pub hv_nominal: f64,
    pub hv_step: f64,
    pub hv_points: usize,
    /// Darkness check: dark runs one after the other (`dark1 … dark<n>`), at `hv_nominal`.
    pub dark_points: usize,
    /// Extra environment for commands run on this machine (e.g. `SLURM_CONF` for a local
    /// SLURM client).
    pub local_env: Vec<(String, String)>,
}

impl Default for ProfileSpec {
    fn default() -> Self {
        ProfileSpec {
            pmt_type: "R12860".into(),
            kind: Kind::Local,
            mode: Mode::Pipeline,
            host: String::new(),
            port: None,
            identity: String::new(),
            known_hosts: String::new(),
            jump: String::new(),
            ssh_config: String::new(),
            ssh_config_allowed: String::new(),
            work_dir: String::new(),
            scan_root: String::new(),
            program: String::new(),
            archive_dir: String::new(),
            flag_dir: String::new(),
            partition: String::new(),
            time_limit: String::new(),
            mem: String::new(),
            account: String::new(),
            gpus: 0,
            poll_secs: 1.0,
            settle_secs: 2.0,
            command: None,
            analysis: AnalysisConfig::default(),
            pattern: r12860_pattern(),
            hv_nominal: 1500.0,
            hv_step: 50.0,
            hv_points: 5,
            dark_points: 3,
            local_env: Vec::new(),
        }
    }
}

/// The R12860 pre-calibration pattern: the centre (θ 0, φ 0) alone, then θ = 10 … 50 in
/// steps of 10 with φ = 0, 90, 180, 270 — 21 points.
pub fn r12860_pattern() -> Vec<[f64; 2]> {
    let mut v = vec![[0.0, 0.0]];
    for theta in [10.0, 20.0, 30.0, 40.0, 50.0] {
        for phi in [0.0, 90.0, 180.0, 270.0] {
            v.push([theta, phi]);
        }
    }
    v
}

/// Parses a pattern typed as `θ/φ` pairs separated by spaces, commas or new lines
/// (`0/0 10/0 10/90 …`).
pub fn parse_pattern(text: &str) -> Result<Vec<[f64; 2]>, String> {
    let mut out = Vec::new();
    for word in text
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|w| !w.is_empty())
    {
        let (t, p) = word
            .split_once('/')
            .ok_or_else(|| format!("{word:?}: write each point as θ/φ, e.g. 10/90"))?;
        let num = |s: &str| {
            s.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| format!("{word:?}: {s:?} is not a number"))
        };
        let (t, p) = (num(t)?, num(p)?);
        if !(0.0..=180.0).contains(&t) || !(0.0..360.0).contains(&p) {
            return Err(format!("{word:?}: θ must be 0–180° and φ 0–<360°"));
        }
        if out.contains(&[t, p]) {
            return Err(format!("{word:?}: this point is listed twice"));
        }
        out.push([t, p]);
    }
    if out.is_empty() {
        return Err("the pattern needs at least one θ/φ point".into());
    }
    if out.len() > 1000 {
        return Err("at most 1000 points".into());
    }
    Ok(out)
}

/// A pattern as the operator types it.
pub fn format_pattern(pattern: &[[f64; 2]]) -> String {
    pattern
        .iter()
        .map(|[t, p]| format!("{t}/{p}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One problem with a profile, with the field it belongs to (the form shows it there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Profile names: 1–64 printable characters.
pub fn check_name(name: &str) -> Result<(), String> {
    let n = name.trim();
    if n.is_empty() || n.len() > 64 || n.chars().any(char::is_control) {
        return Err("a profile name is 1–64 printable characters".into());
    }
    Ok(())
}

fn check_path(field: &'static str, v: &str, required: bool, out: &mut Vec<FieldError>) {
    let msg = if v.is_empty() {
        required.then(|| "required: an absolute path".to_string())
    } else {
        inputs::check_path(v, true).err()
    };
    if let Some(message) = msg {
        out.push(FieldError { field, message });
    }
}

/// Names a local command may get from `local_env`: the SLURM client's settings and the
/// locale. Anything else (`LD_PRELOAD`, `PATH`, `BASH_ENV`, …) could make `sbatch` run
/// other code.
fn local_env_name_ok(name: &str) -> bool {
    let plain = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    plain
        && ([
            "SLURM_",
            "SBATCH_",
            "SQUEUE_",
            "SACCT_",
            "SCANCEL_",
            "SCONTROL_",
            "LC_",
        ]
        .iter()
        .any(|p| name.starts_with(p))
            || matches!(name, "LANG" | "TZ"))
}

impl ProfileSpec {
    /// Every problem with the profile; empty when it can be used.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut out = Vec::new();
        let mut err =
            |field: &'static str, message: String| out.push(FieldError { field, message });
        match self.kind {
            Kind::Ssh if self.host.trim().is_empty() => {
                err("host", "an SSH profile needs a host: [user@]host".into())
            }
            Kind::Local if !self.host.trim().is_empty() => {
                err("host", "a local profile takes no host".into())
            }
            _ => {}
        }
        if !(0.05..=3600.0).contains(&self.poll_secs) {
            err("poll_secs", "between 0.05 and 3600 seconds".into());
        }
        if self.gpus > crate::model::MAX_GRES_GPUS {
            err(
                "gpus",
                format!(
                    "at most {} GPUs per job (0: none)",
                    crate::model::MAX_GRES_GPUS
                ),
            );
        }
        if !(0.0..=3600.0).contains(&self.settle_secs) {
            err("settle_secs", "between 0 and 3600 seconds".into());
        }
        if let Err(e) = self.analysis.validate() {
            err("analysis", e.to_string());
        }
        if self.pattern.is_empty() {
            err("pattern", "at least one θ/φ point".into());
        }
        let hv_ok = self.hv_nominal.is_finite()
            && self.hv_nominal > 0.0
            && self.hv_step.is_finite()
            && self.hv_step > 0.0
            && (1..=50).contains(&self.hv_points)
            && self.hv_nominal - self.hv_step * (self.hv_points as f64 - 1.0) / 2.0 > 0.0;
        if !hv_ok {
            err(
                "hv",
                "nominal and step must be positive volts, 1–50 voltages, all above 0 V".into(),
            );
        }
        if !(1..=50).contains(&self.dark_points) {
            err("hv", "a darkness check has 1–50 dark runs".into());
        }
        match (self.mode, &self.command) {
            (Mode::Command, None) => err("command", "command mode needs a command template".into()),
            (Mode::Command, Some(spec)) => {
                if self.kind == Kind::Local || self.host.trim().is_empty() {
                    err(
                        "mode",
                        "command mode runs over SSH: give the profile a host".into(),
                    );
                }
                if let Err(e) = CommandProfile::new(spec.clone()) {
                    err("command", e.to_string());
                }
            }
            _ => {}
        }
        let pipeline = self.mode == Mode::Pipeline;
        for (field, v, required) in [
            ("work_dir", &self.work_dir, pipeline),
            ("scan_root", &self.scan_root, pipeline),
            ("archive_dir", &self.archive_dir, true),
            ("flag_dir", &self.flag_dir, true),
        ] {
            if required && v.is_empty() {
                err(field, "required: an absolute path".into());
            }
        }
        out.extend(self.use_problems());
        out
    }

    /// The problems of every field that reaches `ssh`, `sh`, `sbatch` or a path: checked
    /// by [`validate`](Self::validate) when the profile is saved and again by
    /// [`backend_config`](Self::backend_config) each time it is used.
    pub fn use_problems(&self) -> Vec<FieldError> {
        let mut out = Vec::new();
        let mut err =
            |field: &'static str, message: String| out.push(FieldError { field, message });
        let host = self.host.trim();
        if !host.is_empty()
            && let Err(e) = SshTarget::parse(host)
        {
            err("host", e.to_string());
        }
        if self.port == Some(0) {
            err("port", "a port is 1–65535".into());
        }
        if host.is_empty() && !self.jump.trim().is_empty() {
            err(
                "jump",
                "jump hosts lead to a host: give the profile one".into(),
            );
        }
        if !self.jump.trim().is_empty() {
            for hop in self.jump.split(',').map(str::trim) {
                if hop.is_empty() {
                    err("jump", "an empty hop between commas".into());
                } else if let Err(why) = inputs::parse_hop(hop) {
                    err("jump", format!("{}: {why}", preview(hop)));
                }
            }
        }
        for (field, v) in [
            ("identity", &self.identity),
            ("known_hosts", &self.known_hosts),
        ] {
            if !v.is_empty()
                && let Err(why) = inputs::check_path(v, true)
            {
                err(field, why);
            }
        }
        let cfg = self.ssh_config.trim();
        if !cfg.is_empty()
            && let Err(why) = inputs::check_path(cfg, true)
        {
            err(
                "ssh_config",
                format!("an absolute path on this machine (empty: ~/.ssh/config): {why}"),
            );
        }
        let allowed = self.ssh_config_allowed.trim();
        if !allowed.is_empty()
            && (allowed.len() != 64 || !allowed.chars().all(|c| c.is_ascii_hexdigit()))
        {
            err(
                "ssh_config_allowed",
                "the SHA-256 of the allowed ssh_config, 64 hex digits (empty: none)".into(),
            );
        }
        if !self.program.is_empty()
            && let Err(why) = inputs::check_program(&self.program)
        {
            err("program", why);
        }
        let slurm = [
            ("partition", &self.partition),
            ("time_limit", &self.time_limit),
            ("mem", &self.mem),
            ("account", &self.account),
        ];
        for (field, v) in slurm {
            let v = v.trim();
            if !v.is_empty()
                && let Err(e) = crate::remote::slurm::check_option(field, v)
            {
                err(field, e.to_string());
            }
        }
        for (name, value) in &self.local_env {
            if !local_env_name_ok(name) {
                err(
                    "local_env",
                    format!(
                        "{}: only SLURM_*, SBATCH_*, S{{QUEUE,ACCT,CANCEL,CONTROL}}_*, LC_*,                          LANG and TZ may be set for local commands",
                        preview(name)
                    ),
                );
            } else if let Err(why) = crate::remote::quote::check(value) {
                err("local_env", format!("{name}: {why}"));
            }
        }
        let mut paths = Vec::new();
        check_path("work_dir", &self.work_dir, false, &mut paths);
        check_path("scan_root", &self.scan_root, false, &mut paths);
        check_path("archive_dir", &self.archive_dir, false, &mut paths);
        check_path("flag_dir", &self.flag_dir, false, &mut paths);
        out.extend(paths);
        out
    }

    /// The archive (or, `flagged`, the flag) area, checked again at the point of use.
    pub fn review_area(&self, flagged: bool) -> Result<String, crate::remote::Error> {
        let (field, v) = if flagged {
            ("flag_dir", &self.flag_dir)
        } else {
            ("archive_dir", &self.archive_dir)
        };
        inputs::check_path(v, true).map_err(|why| inputs::refusal(field, v, why))?;
        Ok(v.clone())
    }

    /// The points of a run of `kind` under this profile, in scan order.
    pub fn points(&self, kind: ScanKind) -> Vec<PointLabel> {
        match kind {
            ScanKind::Surface => self
                .pattern
                .iter()
                .map(|&[theta, phi]| PointLabel::Surface { theta, phi })
                .collect(),
            ScanKind::Hv => hv_points(self.hv_nominal, self.hv_points, self.hv_step),
            ScanKind::Dark => dark_points(self.dark_points),
        }
    }

    /// The analysis settings a run of `kind` is processed with. An HV check measures the
    /// gain at voltages chosen to give other gains: the surface scan's gain band would call
    /// its low and high voltages poor (and raise alarms), so it is lifted there; the fit's
    /// χ²/ndf check still applies. A darkness check has no light, so no gain: its points
    /// are judged by their dark rate alone (see `pipeline::point`).
    pub fn analysis_for(&self, kind: ScanKind) -> AnalysisConfig {
        let mut a = self.analysis.clone();
        // The watch follows only this run's points (an HV check and a surface scan of a
        // tube share its directory).
        a.scan.kind = Some(match kind {
            ScanKind::Surface => PointKind::Surface,
            ScanKind::Hv => PointKind::Hv,
            ScanKind::Dark => PointKind::Dark,
        });
        if kind == ScanKind::Hv {
            a.health.gain_min = 0.0;
            a.health.gain_max = f64::MAX;
        }
        a
    }

    /// The voltages of a run of `kind`: an HV check's list, or a surface scan's nominal
    /// voltage (a command template's `{HV}`).
    pub fn run_voltages(&self, kind: ScanKind) -> Vec<f64> {
        match kind {
            ScanKind::Surface => vec![self.hv_nominal],
            ScanKind::Hv => self
                .points(kind)
                .iter()
                .filter_map(|p| match p {
                    PointLabel::Hv { volts } => Some(*volts),
                    PointLabel::Surface { .. } | PointLabel::Dark { .. } => None,
                })
                .collect(),
            ScanKind::Dark => vec![self.hv_nominal],
        }
    }

    /// The SSH target, when the profile has a host.
    pub fn ssh_target(&self) -> Result<Option<SshTarget>, crate::remote::Error> {
        let host = self.host.trim();
        if host.is_empty() {
            return Ok(None);
        }
        let mut t = SshTarget::parse(host)?;
        t.port = self.port;
        if !self.identity.is_empty() {
            t.identity = Some(PathBuf::from(&self.identity));
        }
        if !self.known_hosts.is_empty() {
            t.known_hosts = Some(PathBuf::from(&self.known_hosts));
        }
        t.jump_hosts = self.jump_hosts();
        if !self.ssh_config.trim().is_empty() {
            t.config_file = Some(PathBuf::from(self.ssh_config.trim()));
        }
        let allowed = self.ssh_config_allowed.trim();
        t.config_allowed = (!allowed.is_empty()).then(|| allowed.to_string());
        Ok(Some(t))
    }

    /// The jump hosts, in order.
    pub fn jump_hosts(&self) -> Vec<String> {
        self.jump
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(String::from)
            .collect()
    }

    /// The backend settings; `this_program` is used for a local profile without a program.
    pub fn backend_config(
        &self,
        this_program: &str,
    ) -> Result<BackendConfig, crate::remote::Error> {
        // Every use re-checks what reaches a process or a path: a profile stored before a
        // rule existed, or a draft never saved, gets no further than a saved one would.
        if let Some(e) = self.use_problems().into_iter().next() {
            return Err(crate::remote::Error::Invalid {
                what: format!("profile field {}", e.field),
                why: e.message,
            });
        }
        let opt = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        let program = match (self.kind, self.program.trim()) {
            (Kind::Local, "") => this_program.to_string(),
            (_, "") => "pmtwatch".to_string(),
            (_, p) => p.to_string(),
        };
        Ok(BackendConfig {
            kind: self.kind,
            ssh: self.ssh_target()?,
            work_dir: self.work_dir.clone(),
            program,
            sbatch: SbatchOptions {
                partition: opt(&self.partition),
                time: opt(&self.time_limit),
                mem: opt(&self.mem),
                account: opt(&self.account),
                ..SbatchOptions::default()
            },
            poll: Duration::from_secs_f64(self.poll_secs.clamp(0.05, 3600.0)),
            local_env: self.local_env.clone(),
            job_env: Vec::new(),
        })
    }
}

/// A stored profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub id: i64,
    pub name: String,
    pub spec: ProfileSpec,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_pattern_is_the_r12860_layout() {
        let p = r12860_pattern();
        assert_eq!(p.len(), 21);
        assert_eq!(p[0], [0.0, 0.0]);
        assert_eq!(parse_pattern(&format_pattern(&p)), Ok(p));
        assert!(parse_pattern("10/90 10/90").is_err());
        assert!(parse_pattern("10-90").is_err());
        assert!(parse_pattern("").is_err());
        assert!(parse_pattern("200/0").is_err());
    }

    #[test]
    fn validation_names_each_field() {
        let spec = ProfileSpec {
            kind: Kind::Ssh,
            work_dir: "relative".into(),
            ..ProfileSpec::default()
        };
        let fields: Vec<&str> = spec.validate().iter().map(|e| e.field).collect();
        for f in ["host", "work_dir", "scan_root", "archive_dir", "flag_dir"] {
            assert!(fields.contains(&f), "{f} in {fields:?}");
        }
        let ok = ProfileSpec {
            work_dir: "/w".into(),
            scan_root: "/s".into(),
            archive_dir: "/a".into(),
            flag_dir: "/f".into(),
            ..ProfileSpec::default()
        };
        assert_eq!(ok.validate(), vec![]);
        let hostile = ProfileSpec {
            kind: Kind::Ssh,
            host: "-oProxyCommand=sh".into(),
            ..ok
        };
        assert!(hostile.validate().iter().any(|e| e.field == "host"));
    }

    #[test]
    fn jump_hosts_and_ssh_config_reach_the_target_and_are_checked() {
        let ok = ProfileSpec {
            kind: Kind::Ssh,
            host: "pmtops@cluster".into(),
            jump: " gate.lab.org , ops@inner:2222 ".into(),
            ssh_config: "/etc/pmtwatch/ssh_config".into(),
            work_dir: "/w".into(),
            scan_root: "/s".into(),
            archive_dir: "/a".into(),
            flag_dir: "/f".into(),
            ..ProfileSpec::default()
        };
        assert_eq!(ok.validate(), vec![]);
        let t = ok.ssh_target().expect("target").expect("a host");
        assert_eq!(t.jump_hosts, ["gate.lab.org", "ops@inner:2222"]);
        assert_eq!(
            t.config_file.as_deref(),
            Some(std::path::Path::new("/etc/pmtwatch/ssh_config"))
        );
        for (jump, config) in [
            ("-oProxyCommand=sh", ""),
            ("gate lab", ""),
            ("gate,,inner", ""),
            ("ssh://gate", ""),
            ("", "relative/ssh_config"),
        ] {
            let bad = ProfileSpec {
                jump: jump.into(),
                ssh_config: config.into(),
                ..ok.clone()
            };
            let fields: Vec<&str> = bad.validate().iter().map(|e| e.field).collect();
            let want = if jump.is_empty() {
                "ssh_config"
            } else {
                "jump"
            };
            assert!(fields.contains(&want), "{jump:?} {config:?}: {fields:?}");
        }
        let no_host = ProfileSpec {
            kind: Kind::Local,
            host: String::new(),
            ..ok
        };
        assert!(no_host.validate().iter().any(|e| e.field == "jump"));
    }

    fn ssh_ok() -> ProfileSpec {
        ProfileSpec {
            kind: Kind::Ssh,
            host: "pmtops@cluster".into(),
            work_dir: "/w".into(),
            scan_root: "/s".into(),
            archive_dir: "/a".into(),
            flag_dir: "/f".into(),
            ..ProfileSpec::default()
        }
    }

    /// Issue 10, finding 1: `bad_hop` let `$( )`, backticks, `;`, `|` and `${IFS}` through
    /// to `ssh -J`, which older clients run inside a `ProxyCommand`.
    #[test]
    fn jump_host_with_command_substitution_is_refused() {
        for hop in [
            "gate$(touch /tmp/x)",
            "`touch /tmp/x`",
            "gate;touch",
            "gate|id",
            "gate${IFS}x",
            "ops@gate:22$(id)",
            "%h",
            "gаte", // Cyrillic а
        ] {
            let spec = ProfileSpec {
                jump: hop.into(),
                ..ssh_ok()
            };
            assert!(
                spec.validate().iter().any(|e| e.field == "jump"),
                "{hop:?} accepted"
            );
            let e = spec
                .backend_config("pmtwatch")
                .expect_err("refused at use too");
            assert!(e.to_string().contains("jump"), "{e}");
        }
    }

    /// Issue 10, finding 1: path fields were checked only on save (and only for '..' and
    /// control characters); `%` tokens, spaces and options reached `ssh` when a stored or
    /// draft profile was used.
    #[test]
    fn path_fields_are_checked_at_every_use_not_only_on_save() {
        type Case = (&'static str, fn(&mut ProfileSpec));
        let cases: [Case; 7] = [
            ("identity", |s| s.identity = "/keys/%d/id".into()),
            ("known_hosts", |s| s.known_hosts = "/k h".into()),
            ("ssh_config", |s| {
                s.ssh_config = "/etc/ssh_config$(id)".into()
            }),
            ("program", |s| s.program = "sh -c id".into()),
            ("work_dir", |s| s.work_dir = "/w/~root".into()),
            ("archive_dir", |s| s.archive_dir = "/a/../etc".into()),
            ("local_env", |s| {
                s.local_env = vec![("LD_PRELOAD".into(), "/tmp/evil.so".into())]
            }),
        ];
        for (field, set) in cases {
            let mut spec = ssh_ok();
            set(&mut spec);
            assert!(
                spec.validate().iter().any(|e| e.field == field),
                "{field}: {:?}",
                spec.validate()
            );
            let e = spec.backend_config("pmtwatch").expect_err("refused at use");
            assert!(e.to_string().contains(field), "{field}: {e}");
        }
        assert!(ssh_ok().backend_config("pmtwatch").is_ok());
    }

    /// Issue 10, finding 7: HV lists for an HV check, the nominal voltage otherwise.
    #[test]
    fn run_voltages_are_the_hv_list_or_the_nominal() {
        let s = ProfileSpec::default();
        assert_eq!(s.run_voltages(ScanKind::Surface), vec![1500.0]);
        assert_eq!(
            s.run_voltages(ScanKind::Hv),
            vec![1400.0, 1450.0, 1500.0, 1550.0, 1600.0]
        );
    }

    /// Issue 12: an HV check's voltages give other gains by design; the surface band must
    /// not call them poor. The band is lifted for HV runs only, and stays valid.
    #[test]
    fn an_hv_check_is_not_judged_by_the_surface_gain_band() {
        let s = ProfileSpec::default();
        let surface = s.analysis_for(ScanKind::Surface);
        assert_eq!(surface.health, s.analysis.health);
        assert_eq!(surface.scan.kind, Some(PointKind::Surface));
        let hv = s.analysis_for(ScanKind::Hv);
        assert_eq!(hv.scan.kind, Some(PointKind::Hv));
        assert!(hv.health.contains(5e6) && hv.health.contains(3e7));
        assert_eq!(hv.health.max_chi2_ndf, s.analysis.health.max_chi2_ndf);
        assert!(hv.validate().is_ok());
        let text = toml::to_string(&hv).expect("written");
        let back: AnalysisConfig = toml::from_str(&text).expect("read back");
        assert_eq!(back.health, hv.health);
        assert_eq!(back.scan.kind, Some(PointKind::Hv), "{text}");
    }
}

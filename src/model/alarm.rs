//! Alarms, notifications and the run logbook as plain types: what an alarm is about and
//! its acknowledgement/shelving ([`Alarm`]), one logbook line ([`LogEntry`]), a
//! notification's delivery ([`Delivery`]) and the admin's configuration of rules and
//! targets ([`AlarmConfig`]). The monitor evaluates and notifies, the store keeps them,
//! the views show them; none of that is here.

use std::collections::BTreeMap;

use super::text_enum;

text_enum! {
    /// What an alarm is about.
    AlarmKind {
        /// No new point for longer than the run's usual pace allows.
        Stalled = "stalled",
        PoorPoint = "poor_point",
        FailedPoint = "failed_point",
        RunFailed = "run_failed",
        ClusterUnreachable = "cluster_unreachable",
        JobPending = "job_pending",
        DiskLow = "disk_low",
        /// A notification could not be delivered after its retries.
        DeliveryFailed = "delivery_failed",
    }
}

text_enum! {
    /// How loud an alarm is.
    Severity {
        Warning = "warning",
        Alarm = "alarm",
    }
}

impl AlarmKind {
    /// The severity an alarm of this kind has.
    pub fn severity(self) -> Severity {
        match self {
            AlarmKind::PoorPoint | AlarmKind::JobPending | AlarmKind::DeliveryFailed => {
                Severity::Warning
            }
            _ => Severity::Alarm,
        }
    }

    /// A short name for the banner and the subject of a message.
    pub fn title(self) -> &'static str {
        match self {
            AlarmKind::Stalled => "Scan stalled",
            AlarmKind::PoorPoint => "Poor point",
            AlarmKind::FailedPoint => "Failed point",
            AlarmKind::RunFailed => "Run failed",
            AlarmKind::ClusterUnreachable => "Cluster unreachable",
            AlarmKind::JobPending => "Job pending",
            AlarmKind::DiskLow => "Disk space low",
            AlarmKind::DeliveryFailed => "Notification not delivered",
        }
    }
}

/// One alarm as stored: raised once per holding condition (its `key`), cleared when the
/// condition ends; acknowledged and shelved by people.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Alarm {
    pub id: i64,
    /// The condition it stands for (`stalled:run=3`, `disk_low:/data`): one active alarm per
    /// key at a time.
    pub key: String,
    pub kind: AlarmKind,
    pub severity: Severity,
    /// What happened and what to do.
    pub message: String,
    pub run_id: Option<i64>,
    pub slot_id: Option<i64>,
    /// The point, host or directory it is about (empty when the run is enough).
    pub subject: String,
    pub raised_at: i64,
    pub cleared_at: Option<i64>,
    pub acked_by: Option<String>,
    pub acked_at: Option<i64>,
    pub ack_comment: String,
    /// Shelved (not counted, not notified) until this time …
    pub shelved_until: Option<i64>,
    /// … or until this run ends.
    pub shelved_run: Option<i64>,
    pub shelved_by: Option<String>,
}

impl Alarm {
    /// Still holding (not cleared).
    pub fn is_active(&self) -> bool {
        self.cleared_at.is_none()
    }

    pub fn is_acked(&self) -> bool {
        self.acked_at.is_some()
    }

    /// Shelved at `now`; `run_active` says whether the shelving run is still active.
    pub fn is_shelved(&self, now: i64, run_active: impl Fn(i64) -> bool) -> bool {
        self.shelved_until.is_some_and(|t| t > now) || self.shelved_run.is_some_and(run_active)
    }
}

/// How an alarm is shelved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shelve {
    /// Until this time (Unix seconds).
    Until(i64),
    /// Until the alarm's run ends.
    RunEnds,
}

/// One logbook line of a run: automatic (`author` = `monitor`) or an operator's.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LogEntry {
    pub id: i64,
    pub run_id: i64,
    pub at: i64,
    /// `monitor` for automatic entries, else the operator's account name.
    pub author: String,
    /// `true` for entries the monitor wrote.
    pub automatic: bool,
    pub text: String,
    /// The attached file's name (kept under the run's `logbook/` directory), if any.
    pub attachment: Option<String>,
}

/// Kinds of attached files a browser shows as a picture (served inline, thumbnailed). SVG
/// is not among them: opened on its own it runs scripts in pmtwatch's origin.
const IMAGE_EXTENSIONS: [&str; 5] = ["png", "jpg", "jpeg", "gif", "webp"];

impl LogEntry {
    /// Where the attached file is served (`GET`), if there is one.
    pub fn attachment_url(&self) -> Option<String> {
        self.attachment
            .as_ref()
            .map(|_| format!("/runs/{}/logbook/{}/attachment", self.run_id, self.id))
    }
}

/// The name a person gave an attached file: the stored name without the `<time>-` (or
/// `<time>.<n>-`) the monitor puts in front so that names never collide.
pub fn attachment_title(stored: &str) -> &str {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match stored.split_once('-') {
        Some((head, name))
            if !name.is_empty()
                && match head.split_once('.') {
                    Some((time, n)) => digits(time) && digits(n),
                    None => digits(head),
                } =>
        {
            name
        }
        _ => stored,
    }
}

/// Whether an attached file is a picture, by its name's extension.
pub fn attachment_is_image(name: &str) -> bool {
    name.rsplit_once('.')
        .is_some_and(|(_, ext)| IMAGE_EXTENSIONS.iter().any(|i| i.eq_ignore_ascii_case(ext)))
}

/// The state of one notification's delivery to one target.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Delivery {
    pub id: i64,
    pub at: i64,
    pub target: String,
    pub subject: String,
    /// `sent`, `retrying` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub error: String,
}

/// Which alarms a rule sends and to whom.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The kinds it covers; empty: every kind.
    #[serde(default)]
    pub kinds: Vec<AlarmKind>,
    /// The names of the targets it notifies.
    #[serde(default)]
    pub targets: Vec<String>,
}

/// How messages reach people.
#[derive(Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Target {
    /// E-mail over SMTP.
    Email {
        name: String,
        host: String,
        #[serde(default = "default_smtp_port")]
        port: u16,
        /// `starttls` (default), `tls` (implicit, port 465) or `none` (a relay on this machine).
        #[serde(default = "default_security")]
        security: String,
        #[serde(default)]
        username: String,
        /// Never shown in logs, `Debug` or the UI.
        #[serde(default)]
        password: String,
        from: String,
        to: Vec<String>,
    },
    /// An HTTP(S) POST with a JSON body.
    Webhook {
        name: String,
        url: String,
        /// `slack` (`{"text": …}`, also Mattermost) or `generic` (the alarm's fields).
        #[serde(default = "default_format")]
        format: String,
    },
}

fn default_smtp_port() -> u16 {
    587
}
fn default_security() -> String {
    "starttls".into()
}
fn default_format() -> String {
    "slack".into()
}

impl Target {
    pub fn name(&self) -> &str {
        match self {
            Target::Email { name, .. } | Target::Webhook { name, .. } => name,
        }
    }
}

/// The password is replaced, so no log line or debug dump can show it.
impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Email {
                name,
                host,
                port,
                security,
                username,
                password,
                from,
                to,
            } => f
                .debug_struct("Email")
                .field("name", name)
                .field("host", host)
                .field("port", port)
                .field("security", security)
                .field("username", username)
                .field(
                    "password",
                    &if password.is_empty() {
                        ""
                    } else {
                        "<redacted>"
                    },
                )
                .field("from", from)
                .field("to", to)
                .finish(),
            Target::Webhook { name, url, format } => f
                .debug_struct("Webhook")
                .field("name", name)
                .field("url", url)
                .field("format", format)
                .finish(),
        }
    }
}

/// The stalled-scan rule of one profile (or the default).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StallRule {
    /// Stalled after this many median point intervals without a point.
    pub factor: f64,
    /// … but never sooner than this (seconds).
    pub floor_secs: i64,
}

impl Default for StallRule {
    fn default() -> Self {
        Self {
            factor: 5.0,
            floor_secs: 600,
        }
    }
}

/// The admin's alarm configuration: thresholds, rules and targets. Saved in the store from
/// the UI; `serve --config` gives the starting one (`[alarms]`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlarmConfig {
    /// The default stalled-scan rule.
    pub stall: StallRule,
    /// Stalled-scan rules by profile name.
    pub stall_by_profile: BTreeMap<String, StallRule>,
    /// Cluster unreachable for longer than this raises an alarm (seconds).
    pub unreachable_grace_secs: i64,
    /// A job pending for longer than this raises a warning (seconds).
    pub pending_limit_secs: i64,
    /// A data or work directory with less free space than this raises an alarm (bytes) …
    pub disk_min_free_bytes: u64,
    /// … and clears once it has this much more again (hysteresis).
    pub disk_clear_margin_bytes: u64,
    /// A condition must be gone this long before its alarm clears (no flapping).
    pub clear_after_secs: i64,
    /// How often the monitor evaluates (seconds).
    pub eval_secs: f64,
    /// At most one message per alarm per this many minutes.
    pub rate_limit_minutes: i64,
    /// Messages raised within this many seconds of each other go out as one digest.
    pub digest_secs: f64,
    /// Attempts per message (with backoff doubling from `retry_secs`).
    pub retry_attempts: u32,
    pub retry_secs: f64,
    /// A logbook entry every this many points (0: none).
    pub log_every_points: i64,
    /// The address people open pmtwatch at (`https://pmt.lab.example`): messages link the run.
    pub public_url: String,
    pub rules: Vec<Rule>,
    pub targets: Vec<Target>,
}

impl Default for AlarmConfig {
    fn default() -> Self {
        Self {
            stall: StallRule::default(),
            stall_by_profile: BTreeMap::new(),
            unreachable_grace_secs: 300,
            pending_limit_secs: 3600,
            disk_min_free_bytes: 5 * 1024 * 1024 * 1024,
            disk_clear_margin_bytes: 512 * 1024 * 1024,
            clear_after_secs: 30,
            eval_secs: 5.0,
            rate_limit_minutes: 30,
            digest_secs: 2.0,
            retry_attempts: 4,
            retry_secs: 2.0,
            log_every_points: 10,
            public_url: String::new(),
            rules: Vec::new(),
            targets: Vec::new(),
        }
    }
}

impl AlarmConfig {
    /// The stalled-scan rule for a profile.
    pub fn stall_for(&self, profile: &str) -> StallRule {
        self.stall_by_profile
            .get(profile)
            .copied()
            .unwrap_or(self.stall)
    }

    /// What is wrong with it, if anything (shown to the admin; nothing is saved then).
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let mut names = std::collections::BTreeSet::new();
        for t in &self.targets {
            if t.name().trim().is_empty() {
                p.push("a target has no name".to_string());
            } else if !names.insert(t.name().to_string()) {
                p.push(format!("two targets are named {:?}", t.name()));
            }
            match t {
                Target::Email {
                    name,
                    host,
                    security,
                    from,
                    to,
                    ..
                } => {
                    if host.trim().is_empty() {
                        p.push(format!("target {name}: the SMTP host is empty"));
                    }
                    if !["starttls", "tls", "none"].contains(&security.as_str()) {
                        p.push(format!(
                            "target {name}: security {security:?} is not starttls, tls or none"
                        ));
                    }
                    if !from.contains('@') || to.is_empty() || to.iter().any(|a| !a.contains('@')) {
                        p.push(format!(
                            "target {name}: give a from address and at least one to address"
                        ));
                    }
                }
                Target::Webhook {
                    name, url, format, ..
                } => {
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        p.push(format!("target {name}: the URL must start with http(s)://"));
                    }
                    if !["slack", "generic"].contains(&format.as_str()) {
                        p.push(format!(
                            "target {name}: format {format:?} is not slack or generic"
                        ));
                    }
                }
            }
        }
        for (i, r) in self.rules.iter().enumerate() {
            for t in &r.targets {
                if !names.contains(t) {
                    p.push(format!("rule {}: there is no target named {t:?}", i + 1));
                }
            }
        }
        let positive = [
            ("stall.floor_secs", self.stall.floor_secs),
            ("unreachable_grace_secs", self.unreachable_grace_secs),
            ("pending_limit_secs", self.pending_limit_secs),
        ];
        for (k, v) in positive {
            if v < 0 {
                p.push(format!("{k} must not be negative"));
            }
        }
        let positive = |f: f64| f.is_finite() && f > 0.0;
        if !positive(self.stall.factor)
            || self.stall_by_profile.values().any(|s| !positive(s.factor))
        {
            p.push("a stall factor must be positive".into());
        }
        if !self.eval_secs.is_finite() || self.eval_secs < 0.1 {
            p.push("eval_secs must be at least 0.1".into());
        }
        p
    }

    /// The targets a raised alarm of `kind` goes to (each once).
    pub fn targets_for(&self, kind: AlarmKind) -> Vec<&Target> {
        let mut names: Vec<&str> = Vec::new();
        for r in &self.rules {
            if r.kinds.is_empty() || r.kinds.contains(&kind) {
                for t in &r.targets {
                    if !names.contains(&t.as_str()) {
                        names.push(t);
                    }
                }
            }
        }
        self.targets
            .iter()
            .filter(|t| names.contains(&t.name()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_titles_and_pictures() {
        assert_eq!(attachment_title("1760000000-scope.png"), "scope.png");
        assert_eq!(attachment_title("1760000000.2-scope.png"), "scope.png");
        assert_eq!(attachment_title("1760000000-2-a.txt"), "2-a.txt");
        assert_eq!(attachment_title("notes-v2.txt"), "notes-v2.txt");
        assert!(attachment_is_image("a.PNG") && attachment_is_image("b.jpeg"));
        assert!(!attachment_is_image("c.svg") && !attachment_is_image("png"));
    }

    fn email() -> Target {
        Target::Email {
            name: "lab".into(),
            host: "smtp.example".into(),
            port: 587,
            security: "starttls".into(),
            username: "bench".into(),
            password: "hunter2-secret".into(),
            from: "pmtwatch@example".into(),
            to: vec!["olga@example".into()],
        }
    }

    #[test]
    fn the_smtp_password_never_shows_in_debug() {
        let t = email();
        let shown = format!(
            "{t:?} {:?}",
            AlarmConfig {
                targets: vec![t.clone()],
                ..AlarmConfig::default()
            }
        );
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(shown.contains("smtp.example"));
    }

    #[test]
    fn rules_pick_targets_and_bad_configs_are_named() {
        let mut c = AlarmConfig {
            targets: vec![
                email(),
                Target::Webhook {
                    name: "chat".into(),
                    url: "http://127.0.0.1:9/x".into(),
                    format: "slack".into(),
                },
            ],
            rules: vec![
                Rule {
                    kinds: vec![AlarmKind::Stalled],
                    targets: vec!["lab".into()],
                },
                Rule {
                    kinds: vec![],
                    targets: vec!["chat".into()],
                },
            ],
            ..AlarmConfig::default()
        };
        assert!(c.problems().is_empty(), "{:?}", c.problems());
        let names = |k| {
            c.targets_for(k)
                .iter()
                .map(|t| t.name().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(AlarmKind::Stalled), ["lab", "chat"]);
        assert_eq!(names(AlarmKind::PoorPoint), ["chat"]);
        c.rules[0].targets.push("nobody".into());
        assert!(c.problems().iter().any(|p| p.contains("nobody")));
        let toml_text = "stall = { factor = 3.0, floor_secs = 20 }\nunreachable_grace_secs = 60\n\
                         [[targets]]\ntype = \"webhook\"\nname = \"w\"\nurl = \"http://127.0.0.1/x\"\n";
        let parsed: AlarmConfig = toml::from_str(toml_text).expect("toml");
        assert_eq!(parsed.stall.factor, 3.0);
        assert_eq!(parsed.unreachable_grace_secs, 60);
        assert_eq!(parsed.targets.len(), 1);
    }
}

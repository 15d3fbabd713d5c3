//! Alarms, notifications and the run logbook, evaluated in the monitor (never in a
//! browser). One task per monitor looks at the board and the watched disks every
//! `eval_secs` (and at once when a point or a state arrives), asks the pure rules
//! ([`eval`]) what holds, raises and clears alarms through the store (one active alarm per
//! condition, history kept), publishes them on the board and hands raised ones to the
//! notifier ([`notify`]: e-mail via [`mail`], webhooks via [`webhook`]).
//!
//! Restart safety: alarms, acknowledgements and shelving live in the store; a restarted
//! monitor loads the active alarms, and a condition that still holds finds its alarm
//! active, so nothing already raised (acknowledged or not) is raised or sent again.

pub mod eval;
mod mail;
pub mod notify;
mod webhook;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, watch};

use super::{Inner, Monitor, Result, refused};
use crate::model::{Alarm, AlarmConfig, AlarmKind, LogEntry, Review, Shelve};
use crate::store::{self, NewAlarm, PointStatus};
use eval::{DiskFact, Facts, RunFacts, Tracker};
use notify::Outgoing;

/// The settings key of the saved alarm configuration.
const CONFIG_KEY: &str = "alarms";

/// The largest logbook attachment accepted (bytes): 10 MiB.
pub const MAX_ATTACHMENT: usize = 10 * 1024 * 1024;

/// The monitor's alarm machinery.
pub(crate) struct AlarmState {
    config: watch::Sender<Arc<AlarmConfig>>,
    /// Wakes the evaluation early (a point or a state arrived).
    poke: Notify,
    tracker: Mutex<Tracker>,
    outgoing: mpsc::UnboundedSender<Outgoing>,
}

/// The monitor without keeping it alive: background tasks end once it is gone.
#[derive(Clone)]
pub(crate) struct WeakMonitor(Weak<Inner>);

impl WeakMonitor {
    pub(crate) fn upgrade(&self) -> Option<Monitor> {
        self.0.upgrade().map(|inner| Monitor { inner })
    }
}

impl AlarmState {
    /// The state and the receiving end of the notifier's queue.
    pub(crate) fn new(config: AlarmConfig) -> (AlarmState, mpsc::UnboundedReceiver<Outgoing>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            AlarmState {
                config: watch::Sender::new(Arc::new(config)),
                poke: Notify::new(),
                tracker: Mutex::new(Tracker::default()),
                outgoing: tx,
            },
            rx,
        )
    }
}

/// The saved configuration, or the default.
pub(crate) fn load_config(store: &store::Store) -> store::Result<AlarmConfig> {
    Ok(match store.setting(CONFIG_KEY)? {
        Some(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
            tracing::error!("the saved alarm configuration cannot be read ({e}); using defaults");
            AlarmConfig::default()
        }),
        None => AlarmConfig::default(),
    })
}

/// Starts the evaluation and notifier tasks (both end when the monitor is dropped).
pub(crate) fn spawn(m: &Monitor, rx: mpsc::UnboundedReceiver<Outgoing>) {
    let weak = WeakMonitor(Arc::downgrade(&m.inner));
    tokio::spawn(notify::run(weak.clone(), rx));
    tokio::spawn(async move {
        loop {
            let Some(m) = weak.upgrade() else { return };
            if let Err(e) = evaluate_once(&m).await {
                tracing::warn!("alarm evaluation failed: {e}");
            }
            let wait = Duration::from_secs_f64(m.alarm_config().eval_secs.clamp(0.1, 3600.0));
            let mut config = m.inner.alarms.config.subscribe();
            let poke = async { m.inner.alarms.poke.notified().await };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = poke => {}
                _ = config.changed() => {}
            }
        }
    });
}

/// The facts of a run the board shows.
fn run_facts(v: &super::RunView) -> RunFacts {
    let r = &v.run;
    RunFacts {
        run_id: r.id,
        slot_id: r.slot_id,
        serial: r.serial.clone(),
        profile: r.profile_name.clone(),
        state: r.state,
        reviewed: r.review != Review::Unreviewed,
        message: r.message.clone(),
        started_at: r.started_at,
        point_times: v.points.values().map(|p| p.at).collect(),
        points_done: v.points.len(),
        points_total: usize::try_from(r.points_total).unwrap_or(0),
        bad_points: v
            .points
            .values()
            .filter(|p| {
                matches!(
                    p.status,
                    PointStatus::Poor | PointStatus::Failed | PointStatus::FitFailed
                )
            })
            .map(|p| (p.label.clone(), p.status, p.message.clone()))
            .collect(),
        job_pending: v.job_status.trim_start().starts_with("PENDING"),
        job_status: v.job_status.clone(),
    }
}

/// The directories whose free space is watched: the data directory and every local
/// profile's work directory.
fn watched_dirs(m: &Monitor) -> Vec<PathBuf> {
    let mut dirs = vec![m.data_dir().to_path_buf()];
    for p in m.snapshot().profiles.iter() {
        if p.spec.kind == crate::remote::backend::Kind::Local && !p.spec.work_dir.is_empty() {
            let d = PathBuf::from(&p.spec.work_dir);
            if !dirs.contains(&d) {
                dirs.push(d);
            }
        }
    }
    dirs
}

/// One evaluation: facts → conditions → raise/clear → store → board → notifier.
pub(crate) async fn evaluate_once(m: &Monitor) -> Result<()> {
    let cfg = m.alarm_config();
    let dirs = watched_dirs(m);
    let disks = tokio::task::spawn_blocking(move || {
        dirs.iter()
            .filter_map(|d| match super::disk::disk_space(d) {
                Ok(s) => Some(DiskFact {
                    path: d.display().to_string(),
                    free_bytes: s.free_bytes,
                }),
                Err(e) => {
                    tracing::debug!("{e}");
                    None
                }
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| refused(format!("the disk measurement did not run: {e}")))?;
    let board = m.snapshot();
    let facts = Facts {
        runs: board.runs.values().map(|v| run_facts(v)).collect(),
        disks,
    };
    // The evaluator owns every kind but delivery failures (the notifier clears those).
    let active: BTreeSet<String> = board
        .alarms
        .iter()
        .filter(|a| a.kind != AlarmKind::DeliveryFailed)
        .map(|a| a.key.clone())
        .collect();
    let now = store::now();
    let conditions = eval::evaluate(&facts, &cfg, &active, now);
    let changes = {
        let mut t = m
            .inner
            .alarms
            .tracker
            .lock()
            .map_err(|_| refused("the alarm tracker is unusable; restart pmtwatch"))?;
        t.step(conditions, &active, now, cfg.clear_after_secs)
    };
    for c in changes.raise {
        let alarm = NewAlarm {
            key: c.key,
            kind: c.kind,
            message: c.message,
            run_id: c.run_id,
            slot_id: c.slot_id,
            subject: c.subject,
        };
        raise_direct(m, alarm).await?;
    }
    for key in changes.clear {
        clear_key(m, &key).await?;
    }
    Ok(())
}

/// Raises an alarm (unless its key is active), logs it, shows it and queues its
/// notification (delivery failures are not notified: they are about the notifier).
pub(crate) async fn raise_direct(m: &Monitor, alarm: NewAlarm) -> Result<()> {
    let raised = m.db(move |s| s.raise_alarm(&alarm, store::now())).await?;
    let Some(a) = raised else { return Ok(()) };
    tracing::warn!(kind = %a.kind, run = ?a.run_id, "alarm raised: {}", a.message);
    if let Some(run) = a.run_id {
        m.log_auto(
            run,
            format!("Alarm raised: {} — {}", a.kind.title(), a.message),
        )
        .await;
    }
    publish_alarms(m).await?;
    if a.kind != AlarmKind::DeliveryFailed
        && m.inner.alarms.outgoing.send(Outgoing { alarm: a }).is_err()
    {
        tracing::error!("the notifier has stopped; the alarm is shown but not sent");
    }
    Ok(())
}

/// Clears the active alarm with `key` (if any), logs it and shows it.
pub(crate) async fn clear_key(m: &Monitor, key: &str) -> Result<()> {
    let k = key.to_string();
    let cleared = m.db(move |s| s.clear_alarm(&k, store::now())).await?;
    if let Some(a) = cleared {
        tracing::info!(kind = %a.kind, run = ?a.run_id, "alarm cleared");
        if let Some(run) = a.run_id {
            m.log_auto(run, format!("Alarm cleared: {}", a.kind.title()))
                .await;
        }
        publish_alarms(m).await?;
    }
    Ok(())
}

/// Re-reads the active alarms and publishes them.
pub(crate) async fn publish_alarms(m: &Monitor) -> Result<()> {
    let alarms = m.db(|s| s.active_alarms()).await?;
    m.publish(|b| b.alarms = Arc::new(alarms));
    Ok(())
}

impl Monitor {
    /// The alarm configuration in force.
    pub fn alarm_config(&self) -> Arc<AlarmConfig> {
        self.inner.alarms.config.borrow().clone()
    }

    /// Validates, saves and applies a new alarm configuration.
    pub async fn set_alarm_config(&self, cfg: AlarmConfig) -> Result<()> {
        let problems = cfg.problems();
        if !problems.is_empty() {
            return Err(refused(format!(
                "the alarm settings were not saved: {}",
                problems.join("; ")
            )));
        }
        let json = serde_json::to_string(&cfg)
            .map_err(|e| refused(format!("the alarm settings cannot be encoded: {e}")))?;
        self.db(move |s| s.set_setting(CONFIG_KEY, &json)).await?;
        self.inner.alarms.config.send_replace(Arc::new(cfg));
        Ok(())
    }

    /// Evaluates now instead of at the next tick (a point or a state arrived).
    pub(crate) fn poke_alarms(&self) {
        self.inner.alarms.poke.notify_one();
    }

    /// Acknowledges an active alarm (the first acknowledgement stays).
    pub async fn ack_alarm(&self, id: i64, by: &str, comment: &str) -> Result<Alarm> {
        // A second acknowledgement would keep the first in the store but log (and audit) a
        // new one: refuse it, saying who was first.
        let before = self
            .db(move |s| s.alarm(id))
            .await?
            .ok_or_else(|| refused(format!("there is no alarm {id}")))?;
        if let Some(who) = &before.acked_by {
            return Err(refused(format!(
                "this alarm was already acknowledged by {who} at {}",
                store::rfc3339(before.acked_at.unwrap_or(before.raised_at))
            )));
        }
        let (b, c) = (by.to_string(), comment.trim().to_string());
        let a = self
            .db(move |s| s.ack_alarm(id, &b, &c, store::now()))
            .await?
            .ok_or_else(|| refused(format!("there is no alarm {id}")))?;
        if let Some(run) = a.run_id {
            let note = if a.ack_comment.is_empty() {
                String::new()
            } else {
                format!(": {}", a.ack_comment)
            };
            self.log_auto(
                run,
                format!("Alarm acknowledged by {by}: {}{note}", a.kind.title()),
            )
            .await;
        }
        publish_alarms(self).await?;
        Ok(a)
    }

    /// Shelves an alarm until a time or until its run ends.
    pub async fn shelve_alarm(&self, id: i64, how: Shelve, by: &str) -> Result<Alarm> {
        let current = self
            .db(move |s| s.alarm(id))
            .await?
            .ok_or_else(|| refused(format!("there is no alarm {id}")))?;
        if how == Shelve::RunEnds && current.run_id.is_none() {
            return Err(refused(
                "this alarm is not about a run: shelve it until a time instead",
            ));
        }
        let b = by.to_string();
        let a = self
            .db(move |s| s.shelve_alarm(id, how, &b))
            .await?
            .ok_or_else(|| refused(format!("there is no alarm {id}")))?;
        if let Some(run) = a.run_id {
            let until = match how {
                Shelve::Until(t) => format!("until {}", store::rfc3339(t)),
                Shelve::RunEnds => "until the run ends".to_string(),
            };
            self.log_auto(
                run,
                format!("Alarm shelved by {by} {until}: {}", a.kind.title()),
            )
            .await;
        }
        publish_alarms(self).await?;
        Ok(a)
    }

    /// The newest alarms, cleared ones included.
    pub async fn alarm_history(&self, limit: u32) -> Result<Vec<Alarm>> {
        self.db(move |s| s.alarm_history(limit)).await
    }

    /// The newest notification deliveries.
    pub async fn deliveries(&self, limit: u32) -> Result<Vec<crate::model::Delivery>> {
        self.db(move |s| s.deliveries(limit)).await
    }

    /// Sends a test message to the target named `name` now (with the retries); the error
    /// is the last attempt's.
    pub async fn test_notification(&self, name: &str, by: &str) -> Result<()> {
        let cfg = self.alarm_config();
        let target = cfg
            .targets
            .iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| refused(format!("there is no notification target named {name:?}")))?
            .clone();
        let msg = notify::Message {
            subject: "[pmtwatch] test notification".into(),
            body: format!(
                "This is a test notification from pmtwatch, sent by {by} at {}.\n",
                store::rfc3339(store::now())
            ),
            alarms: Vec::new(),
        };
        notify::deliver(self, &target, &msg)
            .await
            .map_err(|e| refused(format!("the test notification was not delivered: {e}")))
    }

    /// Writes an automatic logbook entry (best effort: a failure is logged, the action that
    /// caused it goes on).
    pub(crate) async fn log_auto(&self, run_id: i64, text: String) {
        let r = self
            .db(move |s| s.add_log(run_id, store::now(), "monitor", true, &text, None))
            .await;
        if let Err(e) = r {
            tracing::warn!(run = run_id, "logbook entry not written: {e}");
        }
    }

    /// An operator's logbook entry, with an optional attached file (kept under the run's
    /// `logbook/` directory, written atomically).
    pub async fn add_log_entry(
        &self,
        run_id: i64,
        by: &str,
        text: &str,
        attachment: Option<(String, Vec<u8>)>,
    ) -> Result<LogEntry> {
        let text = text.trim().to_string();
        if text.is_empty() && attachment.is_none() {
            return Err(refused("write something (or attach a file) first"));
        }
        if self.db(move |s| s.get_run(run_id)).await?.is_none() {
            return Err(refused(format!("there is no run {run_id}")));
        }
        let mut stored_name = None;
        if let Some((name, bytes)) = attachment {
            if bytes.len() > MAX_ATTACHMENT {
                return Err(refused(format!(
                    "the attachment is {} bytes; the limit is {MAX_ATTACHMENT}",
                    bytes.len()
                )));
            }
            let clean = attachment_name(&name)?;
            let dir = self.run_dir(run_id).join("logbook");
            let stem = store::now().to_string();
            let file = tokio::task::spawn_blocking(move || write_new(&dir, &stem, &clean, &bytes))
                .await
                .map_err(|e| refused(format!("the attachment was not saved: {e}")))?
                .map_err(|source| super::Error::Io {
                    what: "saving the logbook attachment".into(),
                    source,
                })?;
            stored_name = Some(file);
        }
        let (b, t) = (by.to_string(), text.clone());
        let name = stored_name.clone();
        // One time for the stored entry and the one returned.
        let at = store::now();
        let id = self
            .db(move |s| s.add_log(run_id, at, &b, false, &t, name.as_deref()))
            .await?;
        Ok(LogEntry {
            id,
            run_id,
            at,
            author: by.to_string(),
            automatic: false,
            text,
            attachment: stored_name,
        })
    }

    /// A run's logbook in time order.
    pub async fn logbook(&self, run_id: i64) -> Result<Vec<LogEntry>> {
        self.db(move |s| s.logbook(run_id)).await
    }

    /// Logbook entries containing every word of `text` (one run or all), newest first.
    pub async fn search_logbook(&self, text: String, run_id: Option<i64>) -> Result<Vec<LogEntry>> {
        self.db(move |s| s.search_logbook(&text, run_id, 200)).await
    }
}

/// An attachment's file name as one plain path component of safe characters.
fn attachment_name(name: &str) -> Result<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("").trim();
    let clean: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let clean = clean.trim_start_matches('.').to_string();
    if clean.is_empty() || clean.len() > 120 {
        return Err(refused(format!(
            "the attachment's name {name:?} is not usable: give it a plain file name"
        )));
    }
    Ok(clean)
}

/// Writes `bytes` as a new file `<stem>-<name>` in `dir` (`<stem>.2-<name>`, … when that
/// name is taken: two files of the same name in the same second never replace each other)
/// through a temporary file and a rename that never overwrites; the name it got.
fn write_new(
    dir: &std::path::Path,
    stem: &str,
    name: &str,
    bytes: &[u8],
) -> std::io::Result<String> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    for n in 1..=100 {
        let file = if n == 1 {
            format!("{stem}-{name}")
        } else {
            format!("{stem}.{n}-{name}")
        };
        match tmp.persist_noclobber(dir.join(&file)) {
            Ok(_) => return Ok(file),
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => tmp = e.file,
            Err(e) => return Err(e.error),
        }
    }
    Err(std::io::Error::other(format!(
        "100 files named {name} were attached in the same second"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_names_are_one_plain_component() {
        assert_eq!(
            attachment_name("../../etc/pass wd.png").ok().as_deref(),
            Some("pass_wd.png")
        );
        assert!(attachment_name("..").is_err());
        assert!(attachment_name("").is_err());
    }

    #[test]
    fn attachments_of_the_same_name_in_the_same_second_are_both_kept() {
        let dir = tempfile::tempdir().expect("temp dir");
        let a = write_new(dir.path(), "17", "x.png", b"first").expect("first");
        let b = write_new(dir.path(), "17", "x.png", b"second").expect("second");
        assert_eq!((a.as_str(), b.as_str()), ("17-x.png", "17.2-x.png"));
        assert_eq!(std::fs::read(dir.path().join(a)).expect("a"), b"first");
        assert_eq!(std::fs::read(dir.path().join(b)).expect("b"), b"second");
    }
}

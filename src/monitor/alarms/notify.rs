//! Notifications: raised alarms go to the targets their rules name, at most one message
//! per alarm and target per `rate_limit_minutes`; alarms raised within `digest_secs` of each
//! other go to a target as one digest. Each message is retried with doubling backoff; every
//! attempt is in the deliveries table, and a message that could not be delivered raises a
//! `delivery_failed` alarm (cleared by the target's next successful delivery), so nothing
//! is dropped silently.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::mpsc;

use super::{mail, webhook};
use crate::model::{Alarm, AlarmConfig, AlarmKind, Target, rfc3339};
use crate::monitor::Monitor;
use crate::store::NewAlarm;

/// One raised alarm waiting to be sent.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub alarm: Alarm,
}

/// A message as it goes out.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub subject: String,
    pub body: String,
    /// The alarms it tells of (the generic webhook's `alarms`).
    pub alarms: Vec<serde_json::Value>,
}

fn link(cfg: &AlarmConfig, a: &Alarm) -> String {
    match (cfg.public_url.trim_end_matches('/'), a.run_id) {
        ("", _) | (_, None) => String::new(),
        (base, Some(run)) => format!("\nOpen: {base}/runs/{run}"),
    }
}

fn alarm_json(a: &Alarm) -> serde_json::Value {
    json!({
        "id": a.id, "kind": a.kind.as_str(), "severity": a.severity.as_str(),
        "title": a.kind.title(), "message": a.message, "run": a.run_id, "slot": a.slot_id,
        "subject": a.subject, "raised": rfc3339(a.raised_at),
    })
}

/// The message for one alarm, or a digest for several.
pub fn compose(cfg: &AlarmConfig, alarms: &[Alarm]) -> Message {
    let line = |a: &Alarm| {
        let run = a.run_id.map(|r| format!(" — run {r}")).unwrap_or_default();
        format!(
            "{} [{}]{run}: {}",
            a.kind.title(),
            a.severity.as_str().to_uppercase(),
            a.message
        )
    };
    match alarms {
        [a] => Message {
            subject: format!(
                "[pmtwatch] {}: {}{}",
                a.severity.as_str().to_uppercase(),
                a.kind.title(),
                a.run_id.map(|r| format!(" (run {r})")).unwrap_or_default()
            ),
            body: format!(
                "{}\n\nRaised at {}.{}\nAcknowledge or shelve it in pmtwatch's alarm banner.\n",
                line(a),
                rfc3339(a.raised_at),
                link(cfg, a)
            ),
            alarms: vec![alarm_json(a)],
        },
        many => Message {
            subject: format!("[pmtwatch] {} alarms (digest)", many.len()),
            body: format!(
                "{} alarms were raised together:\n\n{}\n\nAcknowledge or shelve them in \
                 pmtwatch's alarm banner.\n",
                many.len(),
                many.iter()
                    .map(|a| format!("- {}{}", line(a), link(cfg, a)))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
            alarms: many.iter().map(alarm_json).collect(),
        },
    }
}

/// Sends one message to one target, once.
pub(super) async fn send_once(target: &Target, msg: &Message) -> Result<(), String> {
    match target {
        Target::Email { .. } => mail::send(target, &msg.subject, &msg.body).await,
        Target::Webhook { url, format, .. } => {
            let text = format!("*{}*\n{}", msg.subject, msg.body.trim_end());
            let body = if format == "generic" {
                json!({ "text": text, "subject": msg.subject, "body": msg.body,
                        "alarms": msg.alarms, "source": "pmtwatch" })
            } else {
                json!({ "text": text })
            };
            webhook::post(url, &body).await
        }
    }
}

/// Sends with retries, recording every attempt; `Err` with the last error after the last.
pub(super) async fn deliver(m: &Monitor, target: &Target, msg: &Message) -> Result<(), String> {
    let cfg = m.alarm_config();
    let attempts = cfg.retry_attempts.max(1);
    let (name, subject) = (target.name().to_string(), msg.subject.clone());
    let (n2, s2) = (name.clone(), subject.clone());
    let id = m
        .db(move |s| s.record_delivery(None, &n2, &s2, "sending", 0, "", crate::store::now()))
        .await
        .ok();
    let mut wait = Duration::from_secs_f64(cfg.retry_secs.max(0.0));
    let mut last = String::new();
    for attempt in 1..=attempts {
        match send_once(target, msg).await {
            Ok(()) => {
                record(m, id, &name, &subject, "sent", attempt, "").await;
                let key = format!("delivery_failed:{name}");
                if let Err(e) = super::clear_key(m, &key).await {
                    tracing::warn!("clearing {key} failed: {e}");
                }
                return Ok(());
            }
            Err(e) => {
                tracing::warn!(target = %name, attempt, "notification not delivered: {e}");
                last = e;
                let status = if attempt < attempts {
                    "retrying"
                } else {
                    "failed"
                };
                record(m, id, &name, &subject, status, attempt, &last).await;
                if attempt < attempts {
                    tokio::time::sleep(wait).await;
                    wait = wait.saturating_mul(2);
                }
            }
        }
    }
    let alarm = NewAlarm {
        key: format!("delivery_failed:{name}"),
        kind: AlarmKind::DeliveryFailed,
        message: format!(
            "\"{subject}\" could not be sent to {name} after {attempts} attempts: {last}. \
             Check the target (System → Alarms, send a test notification)."
        ),
        run_id: None,
        slot_id: None,
        subject: name.clone(),
    };
    if let Err(e) = super::raise_direct(m, alarm).await {
        tracing::error!("the delivery failure of {name} could not be recorded: {e}");
    }
    Err(last)
}

async fn record(
    m: &Monitor,
    id: Option<i64>,
    target: &str,
    subject: &str,
    status: &'static str,
    attempts: u32,
    error: &str,
) {
    let (t, s, e) = (target.to_string(), subject.to_string(), error.to_string());
    let r = m
        .db(move |st| {
            st.record_delivery(
                id,
                &t,
                &s,
                status,
                i64::from(attempts),
                &e,
                crate::store::now(),
            )
        })
        .await;
    if let Err(e) = r {
        tracing::error!("recording a delivery failed: {e}");
    }
}

/// The notifier task: batches what arrives within the digest time, applies the rate
/// limit per alarm key and target, sends each target's batch (one message or a digest)
/// in its own task. Ends when the monitor is gone.
pub(super) async fn run(weak: super::WeakMonitor, mut rx: mpsc::UnboundedReceiver<Outgoing>) {
    let mut last_sent: HashMap<(String, String), Instant> = HashMap::new();
    while let Some(first) = rx.recv().await {
        let Some(m) = weak.upgrade() else { return };
        let cfg = m.alarm_config();
        let mut batch = vec![first];
        tokio::time::sleep(Duration::from_secs_f64(cfg.digest_secs.clamp(0.0, 600.0))).await;
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        let limit =
            Duration::from_secs(u64::try_from(cfg.rate_limit_minutes.max(0)).unwrap_or(0) * 60);
        for target in &cfg.targets {
            let mut alarms = Vec::new();
            for o in &batch {
                if !cfg
                    .targets_for(o.alarm.kind)
                    .iter()
                    .any(|t| t.name() == target.name())
                {
                    continue;
                }
                let k = (o.alarm.key.clone(), target.name().to_string());
                if last_sent.get(&k).is_some_and(|t| t.elapsed() < limit) {
                    tracing::info!(target = %target.name(), key = %o.alarm.key, "rate-limited");
                    continue;
                }
                last_sent.insert(k, Instant::now());
                alarms.push(o.alarm.clone());
            }
            if alarms.is_empty() {
                continue;
            }
            let msg = compose(&cfg, &alarms);
            let (m2, t2) = (m.clone(), target.clone());
            tokio::spawn(async move {
                let _ = deliver(&m2, &t2, &msg).await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Severity;

    fn alarm(id: i64, kind: AlarmKind) -> Alarm {
        Alarm {
            id,
            key: format!("k{id}"),
            kind,
            severity: kind.severity(),
            message: format!("message {id}"),
            run_id: Some(3),
            slot_id: Some(1),
            subject: String::new(),
            raised_at: 0,
            cleared_at: None,
            acked_by: None,
            acked_at: None,
            ack_comment: String::new(),
            shelved_until: None,
            shelved_run: None,
            shelved_by: None,
        }
    }

    #[test]
    fn one_alarm_is_a_message_several_are_a_digest() {
        let cfg = AlarmConfig {
            public_url: "https://pmt.example/".into(),
            ..AlarmConfig::default()
        };
        let one = compose(&cfg, &[alarm(1, AlarmKind::Stalled)]);
        assert_eq!(one.subject, "[pmtwatch] ALARM: Scan stalled (run 3)");
        assert!(one.body.contains("message 1"));
        assert!(one.body.contains("https://pmt.example/runs/3"));
        assert_eq!(AlarmKind::PoorPoint.severity(), Severity::Warning);
        let two = compose(
            &cfg,
            &[alarm(1, AlarmKind::Stalled), alarm(2, AlarmKind::PoorPoint)],
        );
        assert_eq!(two.subject, "[pmtwatch] 2 alarms (digest)");
        assert!(two.body.contains("message 1") && two.body.contains("message 2"));
        assert_eq!(two.alarms.len(), 2);
    }
}

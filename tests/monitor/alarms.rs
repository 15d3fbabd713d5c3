//! Alarms against the real backends (issue 14's acceptance): a bench that stops writing
//! after 5 of 21 points raises *stalled* and clears it when points resume, the weak spot
//! raises *poor point*; cancelling the SLURM job (a real `scancel`) raises *run failed*; a cluster that stops
//! answering raises *cluster unreachable* only after the grace period. Each alarm and its
//! clearing is in the run's logbook, which search finds. Notifications: a real SMTP
//! server (exim4, `scripts/test-smtp.sh`) receives the e-mail — read back from its mailbox
//! — and a webhook receiver on 127.0.0.1 the JSON; an SMTP server that refuses, or none at
//! all, gives a visible delivery failure after retries.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pmtwatch::model::{Alarm, AlarmConfig, AlarmKind, Rule, Severity, Target};
use pmtwatch::remote::backend::{JobId, Kind};
use pmtwatch::store::RunState;

use crate::fixture::{Bench, PATTERN, POOR, finish_simulation, remote_spec, simulate_into};

const LONG: Duration = Duration::from_secs(240);

/// 21 points: the five of [`PATTERN`] and 16 more.
fn pattern21() -> (String, String) {
    let rest: Vec<String> = [20, 30, 40, 50]
        .iter()
        .flat_map(|t| [0, 90, 180, 270].map(|p| format!("{t}/{p}")))
        .collect();
    let rest = rest.join(" ");
    (format!("{PATTERN} {rest}"), rest)
}

/// Fast evaluation for tests; everything else as given.
fn test_config() -> AlarmConfig {
    AlarmConfig {
        eval_secs: 0.2,
        clear_after_secs: 0,
        digest_secs: 0.3,
        retry_secs: 0.2,
        retry_attempts: 2,
        disk_min_free_bytes: 0,
        log_every_points: 5,
        ..AlarmConfig::default()
    }
}

/// Waits (bounded) for an active alarm matching `pred`.
async fn wait_alarm(
    b: &Bench,
    what: &str,
    limit: Duration,
    pred: impl Fn(&Alarm) -> bool,
) -> Alarm {
    let deadline = Instant::now() + limit;
    loop {
        let board = b.monitor.snapshot();
        if let Some(a) = board.alarms.iter().find(|a| pred(a)) {
            return a.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no {what} alarm within {limit:?}; active: {:?}",
            board.alarms
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits (bounded) until no active alarm matches `pred`.
async fn wait_no_alarm(b: &Bench, what: &str, limit: Duration, pred: impl Fn(&Alarm) -> bool) {
    let deadline = Instant::now() + limit;
    loop {
        let board = b.monitor.snapshot();
        if !board.alarms.iter().any(&pred) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the {what} alarm did not clear within {limit:?}: {:?}",
            board.alarms
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_scan_raises_and_clears_and_the_weak_spot_is_a_poor_point() {
    let b = Bench::new("alarm-stall").await;
    let mut cfg = test_config();
    cfg.stall.factor = 5.0;
    cfg.stall.floor_secs = 4;
    b.monitor.set_alarm_config(cfg).await.expect("alarm config");
    let (all, rest) = pattern21();
    let id = b.start_in_slot("KM7001", b.local_spec(&all)).await;

    // The bench writes 5 of the 21 points (the weak spot among them), then stops.
    finish_simulation(b.simulate("KM7001", Some(POOR), 0.3));
    let v = b.wait_run(id, LONG, |v| v.points.len() == 5).await;
    let last_point = v.points.values().map(|p| p.at).max().expect("points");
    let poor = wait_alarm(&b, "poor point", LONG, |a| {
        a.kind == AlarmKind::PoorPoint && a.run_id == Some(id)
    })
    .await;
    assert_eq!(poor.subject, POOR);
    let stalled = wait_alarm(&b, "stalled", LONG, |a| {
        a.kind == AlarmKind::Stalled && a.run_id == Some(id) && a.raised_at >= last_point
    })
    .await;
    assert!(stalled.message.contains("5 of 21"), "{}", stalled.message);
    assert_eq!(stalled.slot_id, Some(1));
    let v = b.monitor.run_detail(id).await.expect("read").expect("run");
    assert_eq!(v.run.state, RunState::Running, "stalled is not a failure");
    // One alarm while the condition holds.
    let history = b.monitor.alarm_history(100).await.expect("history");
    let raised = |k: AlarmKind| {
        history
            .iter()
            .filter(|a| a.kind == k && a.run_id == Some(id) && a.cleared_at.is_none())
            .count()
    };
    assert_eq!(raised(AlarmKind::Stalled), 1);
    assert_eq!(raised(AlarmKind::PoorPoint), 1);

    // The bench writes again: the run completes and the stalled alarm clears (kept in the
    // history); the poor point stays until the run is reviewed.
    let sim = simulate_into(&b.dir.join("scan"), "KM7001", &rest, None, 0.2);
    let v = b.wait_run(id, LONG, |v| v.run.state.is_final()).await;
    finish_simulation(sim);
    assert_eq!(v.run.state, RunState::Complete, "{}", v.run.message);
    wait_no_alarm(&b, "stalled", LONG, |a| a.id == stalled.id).await;
    let history = b.monitor.alarm_history(100).await.expect("history");
    let old = history.iter().find(|a| a.id == stalled.id).expect("kept");
    assert!(old.cleared_at.is_some());
    assert!(b.monitor.snapshot().alarms.iter().any(|a| a.id == poor.id));

    // The logbook tells the story, in time order, and search finds it.
    let log = b.monitor.logbook(id).await.expect("logbook");
    let texts: Vec<&str> = log.iter().map(|e| e.text.as_str()).collect();
    for want in [
        "Run created by olga",
        "5 of 21 points done",
        "Alarm raised: Poor point",
        "Alarm raised: Scan stalled",
        "Alarm cleared: Scan stalled",
        "Run complete",
    ] {
        assert!(
            texts.iter().any(|t| t.starts_with(want)),
            "{want:?} missing in {texts:#?}"
        );
    }
    assert!(
        log.windows(2)
            .all(|w| (w[0].at, w[0].id) <= (w[1].at, w[1].id))
    );
    let found = b
        .monitor
        .search_logbook("stalled".into(), Some(id))
        .await
        .expect("search");
    assert!(found.iter().any(|e| e.text.contains("Scan stalled")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_the_slurm_job_behind_the_monitors_back_raises_run_failed() {
    let _slurm = crate::common::slurm_shared().await;
    let b = Bench::new("alarm-kill").await;
    b.monitor
        .set_alarm_config(test_config())
        .await
        .expect("alarm config");
    let (all, _) = pattern21();
    let spec = remote_spec(&b.dir, &all, Kind::Slurm);
    let id = b.start_in_slot("KM7002", spec).await;
    let sim = b.simulate("KM7002", None, 0.3);
    let v = b
        .wait_run(id, LONG, |v| !v.points.is_empty() && v.run.job.is_some())
        .await;
    finish_simulation(sim);
    let job: JobId = serde_json::from_str(v.run.job.as_deref().expect("job")).expect("job id");
    let JobId::Slurm { id: job } = job else {
        panic!("not a SLURM job: {job:?}")
    };
    // The job dies on the cluster (an admin's scancel, a node failure): the real scancel,
    // run as the cluster user over SSH, not through pmtwatch.
    let c = crate::common::cluster();
    let out = std::process::Command::new("ssh")
        .args([
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
        ])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", c.known_hosts.display()))
        .arg("-i")
        .arg(&c.key)
        .args(["-p", &c.port.to_string()])
        .arg(format!("{}@{}", c.user, c.host))
        .arg(format!("scancel {job}"))
        .output()
        .expect("ssh");
    assert!(
        out.status.success(),
        "scancel {job}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = b.wait_run(id, LONG, |v| v.run.state.is_final()).await;
    assert_eq!(v.run.state, RunState::Failed, "{}", v.run.message);
    let a = wait_alarm(&b, "run failed", LONG, |a| {
        a.kind == AlarmKind::RunFailed && a.run_id == Some(id)
    })
    .await;
    assert!(a.message.contains("failed"), "{}", a.message);
    assert_eq!(a.severity, Severity::Alarm);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_cluster_raises_only_after_the_grace_period() {
    let b = Bench::new("alarm-unreach").await;
    let mut cfg = test_config();
    cfg.unreachable_grace_secs = 6;
    // The run goes `running` for a moment at each retry: that blink must neither restart
    // the grace period nor clear the alarm.
    cfg.clear_after_secs = 30;
    b.monitor.set_alarm_config(cfg).await.expect("alarm config");
    // The test cluster's own sshd is shared by every test and stays up: this profile's host
    // is a loopback port where nothing listens, which is what a stopped sshd looks like.
    let mut spec = remote_spec(&b.dir, PATTERN, Kind::Ssh);
    spec.port = Some(unused_port());
    let id = b.start_in_slot("KM7003", spec).await;
    b.wait_run(id, LONG, |v| v.run.state == RunState::ClusterUnreachable)
        .await;
    let a = wait_alarm(&b, "cluster unreachable", LONG, |a| {
        a.kind == AlarmKind::ClusterUnreachable && a.run_id == Some(id)
    })
    .await;
    let log = b.monitor.logbook(id).await.expect("logbook");
    let first = log
        .iter()
        .find(|e| e.text.starts_with("Run cluster_unreachable"))
        .expect("the state change is in the logbook");
    assert!(
        a.raised_at >= first.at + 6,
        "raised at {} but unreachable only since {}",
        a.raised_at,
        first.at
    );
    b.monitor.stop_run(id, false, "olga").await.expect("stop");
    b.wait_run(id, LONG, |v| v.run.state.is_final()).await;
}

/// A loopback port nobody listens on (bound, then released).
fn unused_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

// ----- notifications -----

/// A webhook receiver on 127.0.0.1: every JSON body posted to it.
pub(crate) struct Receiver {
    pub addr: SocketAddr,
    pub bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Receiver {
    pub(crate) async fn start() -> Receiver {
        use axum::routing::post;
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let b2 = bodies.clone();
        let app = axum::Router::new().route(
            "/hook/{name}",
            post(move |body: axum::Json<serde_json::Value>| {
                let b = b2.clone();
                async move {
                    b.lock().expect("lock").push(body.0);
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { addr, bodies }
    }

    pub(crate) fn url(&self, name: &str) -> String {
        format!("http://{}/hook/{name}", self.addr)
    }

    pub(crate) fn count(&self) -> usize {
        self.bodies.lock().expect("lock").len()
    }

    /// Waits (bounded) for `n` bodies.
    pub(crate) async fn wait(&self, n: usize) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + LONG;
        loop {
            let v = self.bodies.lock().expect("lock").clone();
            if v.len() >= n {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "the webhook got {} of {n} bodies",
                v.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The test SMTP server's port and mailbox (`scripts/test-smtp.sh start`); fails saying
/// how to start it.
pub(crate) fn smtp() -> (u16, PathBuf) {
    let port = std::env::var("PMT_SMTP_PORT").unwrap_or_else(|_| "2525".into());
    let mailbox = std::env::var("PMT_SMTP_MAILBOX")
        .unwrap_or_else(|_| "/tmp/pmtwatch-smtp/mail/mailbox".into());
    let port: u16 = port.parse().expect("PMT_SMTP_PORT is a port");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        "no SMTP server on 127.0.0.1:{port}: start one with `sudo scripts/test-smtp.sh start` \
         (installs exim4-daemon-light) and export what it prints"
    );
    (port, PathBuf::from(mailbox))
}

fn email_target(name: &str, port: u16, to: &str) -> Target {
    Target::Email {
        name: name.into(),
        host: "127.0.0.1".into(),
        port,
        security: "none".into(),
        username: String::new(),
        password: String::new(),
        from: "pmtwatch@pmtwatch.test".into(),
        to: vec![to.into()],
    }
}

/// Waits (bounded) until the mailbox holds a message containing `needle`; the message.
async fn wait_mail(mailbox: &std::path::Path, needle: &str) -> String {
    let deadline = Instant::now() + LONG;
    loop {
        let text = std::fs::read_to_string(mailbox).unwrap_or_default();
        if let Some(m) = text.split("\nFrom ").find(|m| m.contains(needle)) {
            return m.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no mail with {needle:?} in {}",
            mailbox.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poor_point_is_mailed_and_posted_and_a_refusing_server_is_a_visible_failure() {
    let (port, mailbox) = smtp();
    let hooks = Receiver::start().await;
    let b = Bench::new("alarm-notify").await;
    let serial = format!("KM7{:03}", std::process::id() % 1000);
    let to = format!("olga-{}@pmtwatch.test", std::process::id());
    let mut cfg = test_config();
    cfg.targets = vec![
        email_target("lab-mail", port, &to),
        Target::Webhook {
            name: "chat".into(),
            url: hooks.url("slack"),
            format: "slack".into(),
        },
        Target::Webhook {
            name: "generic".into(),
            url: hooks.url("generic"),
            format: "generic".into(),
        },
        // Refuses the recipient (550 relay not permitted).
        email_target("refused", port, "someone@elsewhere.test"),
        // Nobody listens.
        email_target("down", unused_port(), &to),
    ];
    cfg.rules = vec![Rule {
        kinds: vec![AlarmKind::PoorPoint],
        targets: ["lab-mail", "chat", "generic", "refused", "down"]
            .map(String::from)
            .to_vec(),
    }];
    b.monitor.set_alarm_config(cfg).await.expect("alarm config");
    let id = b.start_in_slot(&serial, b.local_spec(PATTERN)).await;
    let sim = b.simulate(&serial, Some(POOR), 0.2);
    let v = b.wait_run(id, LONG, |v| v.run.state.is_final()).await;
    finish_simulation(sim);
    assert_eq!(v.run.state, RunState::Complete, "{}", v.run.message);

    // The e-mail, read back from the real mailbox: recipient, subject, body.
    let mail = wait_mail(&mailbox, &to).await;
    assert!(mail.contains(&format!("To: {to}")), "{mail}");
    assert!(
        mail.contains(&format!(
            "Subject: [pmtwatch] WARNING: Poor point (run {id})"
        )),
        "{mail}"
    );
    assert!(mail.contains("From: pmtwatch@pmtwatch.test"), "{mail}");
    assert!(mail.contains(POOR) && mail.contains(&serial), "{mail}");

    // The webhooks: Slack/Mattermost's {"text"} and the generic form with the alarm.
    let bodies = hooks.wait(2).await;
    let slack = bodies
        .iter()
        .find(|b| b.get("alarms").is_none())
        .expect("slack body");
    let text = slack["text"].as_str().expect("text");
    assert!(text.contains("Poor point") && text.contains(POOR), "{text}");
    let generic = bodies
        .iter()
        .find(|b| b.get("alarms").is_some())
        .expect("generic body");
    assert_eq!(generic["alarms"][0]["kind"], "poor_point");
    assert_eq!(generic["alarms"][0]["run"], id);
    assert_eq!(generic["alarms"][0]["subject"], POOR);

    // The refusing server and the missing one: retried, then a visible failure (an alarm in
    // the banner, the deliveries table with the error and the attempts).
    for name in ["refused", "down"] {
        let a = wait_alarm(&b, "delivery failed", LONG, |a| {
            a.kind == AlarmKind::DeliveryFailed && a.subject == name
        })
        .await;
        assert!(a.message.contains("after 2 attempts"), "{}", a.message);
    }
    let deliveries = b.monitor.deliveries(50).await.expect("deliveries");
    let d = |name: &str| {
        deliveries
            .iter()
            .find(|d| d.target == name)
            .expect(name)
            .clone()
    };
    assert_eq!(d("refused").status, "failed");
    assert_eq!(d("refused").attempts, 2);
    assert!(
        d("refused").error.contains("relay not permitted"),
        "{:?}",
        d("refused")
    );
    assert_eq!(d("down").status, "failed");
    assert_eq!(d("lab-mail").status, "sent");
    assert_eq!(d("chat").status, "sent");

    // Rate limit: the same alarm is not sent twice; a test notification goes out at once.
    b.monitor
        .test_notification("chat", "olga")
        .await
        .expect("test notification");
    let bodies = hooks.wait(3).await;
    assert!(bodies.iter().any(|b| {
        b["text"]
            .as_str()
            .is_some_and(|t| t.contains("test notification"))
    }));
    let err = b.monitor.test_notification("down", "olga").await;
    assert!(
        err.is_err(),
        "a test to a server that is down fails visibly"
    );
    assert_eq!(hooks.count(), 3, "no second message for the same alarm");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledgement_and_the_logbook_survive_a_restart_of_the_monitor() {
    let hooks = Receiver::start().await;
    let dir = Bench::scratch("alarm-restart");
    let data = dir.join("data");
    let start = || async {
        let store = pmtwatch::store::Store::open_dir(&data).expect("store");
        pmtwatch::monitor::Monitor::start(store, &data, env!("CARGO_BIN_EXE_pmtwatch").into())
            .await
            .expect("monitor")
    };
    let mut cfg = test_config();
    cfg.targets = vec![Target::Webhook {
        name: "generic".into(),
        url: hooks.url("generic"),
        format: "generic".into(),
    }];
    cfg.rules = vec![Rule {
        kinds: vec![],
        targets: vec!["generic".into()],
    }];
    let m = start().await;
    m.set_alarm_config(cfg).await.expect("alarm config");
    let profile = m
        .save_profile(None, "p".into(), crate::fixture::spec_in(&dir, PATTERN))
        .await
        .expect("profile");
    m.set_slot(
        1,
        "KM7005".into(),
        Some(profile),
        pmtwatch::store::ScanKind::Surface,
    )
    .await
    .expect("slot");
    m.set_executor(true, "olga").await.expect("executor");
    let id = m.start_run(1, "olga").await.expect("start").run_id;
    finish_simulation(simulate_into(
        &dir.join("scan"),
        "KM7005",
        PATTERN,
        Some(POOR),
        0.2,
    ));
    let deadline = Instant::now() + LONG;
    let poor = loop {
        let board = m.snapshot();
        let done = board.runs.get(&id).is_some_and(|v| v.run.state.is_final());
        if let Some(a) = board.alarms.iter().find(|a| a.kind == AlarmKind::PoorPoint)
            && done
        {
            break a.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no poor point alarm: {:?}",
            board.alarms
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    hooks.wait(1).await;
    m.ack_alarm(poor.id, "olga", "seen it").await.expect("ack");
    m.add_log_entry(
        id,
        "olga",
        "Replaced the light guide before the rerun",
        None,
    )
    .await
    .expect("entry");
    drop(m);
    // The first monitor's tasks end with it (they hold it weakly); give them a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let m = start().await;
    let deadline = Instant::now() + LONG;
    while m.snapshot().alarms.is_empty() {
        assert!(
            Instant::now() < deadline,
            "the restarted monitor shows no alarm"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Ten evaluations of the restarted monitor (absence can only be shown by waiting).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let a = m
        .snapshot()
        .alarms
        .iter()
        .find(|a| a.kind == AlarmKind::PoorPoint)
        .cloned()
        .expect("still active");
    assert_eq!(a.id, poor.id, "the same alarm, not raised again");
    assert_eq!(a.acked_by.as_deref(), Some("olga"));
    assert_eq!(a.ack_comment, "seen it");
    assert_eq!(hooks.count(), 1, "no second notification after the restart");
    let log = m.logbook(id).await.expect("logbook");
    assert!(log.iter().any(|e| !e.automatic
        && e.author == "olga"
        && e.text == "Replaced the light guide before the rerun"));
    let found = m
        .search_logbook("guide".into(), None)
        .await
        .expect("search");
    assert!(
        found.iter().any(|e| e.text.contains("light guide")),
        "{found:?}"
    );
    drop(m);
    let _ = std::fs::remove_dir_all(&dir);
}

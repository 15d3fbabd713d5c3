//! Streaming remote commands and reconnecting, against the real OpenSSH server on
//! 127.0.0.1 (started by `scripts/test-cluster.sh`, which `scripts/test` runs): lines
//! arrive as they are printed (not when the command ends), stdout and stderr apart, the
//! exit status last; cancelling or dropping a stream kills the remote process; and
//! `connect_with_retry` backs off on a closed port but never retries a host-key error.

use crate::common;

use common::cluster;

use std::time::{Duration, Instant};

use pmtwatch::remote::Error;
use pmtwatch::remote::ssh::{Line, MAX_LINE_BYTES, SshSession, connect_with_retry};

/// Everything a stream yields, with arrival times; fails if it takes over 30 s.
async fn collect(stream: &mut pmtwatch::remote::ssh::LineStream) -> Vec<(Instant, Line)> {
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.next()).await {
            Ok(Some(line)) => got.push((Instant::now(), line)),
            Ok(None) => return got,
            Err(_) => panic!("the stream did not end within 30 s: {got:?}"),
        }
    }
}

/// Pids of the remote user's processes whose command line contains `marker` (the pattern
/// is written so that it does not match pgrep's own command line or its shell's).
async fn remote_pids(s: &SshSession, user: &str, marker: &str) -> String {
    let (head, rest) = marker.split_at(1);
    let pattern = format!("[{head}]{rest}");
    let out = s
        .run(&["pgrep", "-u", user, "-f", &pattern])
        .await
        .expect("pgrep");
    assert!(matches!(out.status, Some(0 | 1)), "pgrep: {out:?}");
    out.stdout.trim().to_string()
}

/// Waits (up to 10 s) until no process matches `marker`; panics otherwise.
async fn gone(s: &SshSession, user: &str, marker: &str) {
    let t = Instant::now();
    loop {
        let pids = remote_pids(s, user, marker).await;
        if pids.is_empty() {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "remote `{marker}` still running 10 s after cancel: pids {pids}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_arrive_as_they_are_printed_then_the_exit_status() {
    let c = cluster();
    let s = SshSession::connect(c.target()).await.expect("connect");
    let mut stream = s
        .stream(&["sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.3; done"])
        .await
        .expect("stream");
    let got = collect(&mut stream).await;
    let lines: Vec<&Line> = got.iter().map(|(_, l)| l).collect();
    assert_eq!(
        lines,
        [
            &Line::Stdout("1".into()),
            &Line::Stdout("2".into()),
            &Line::Stdout("3".into()),
            &Line::Exit(Some(0))
        ]
    );
    // The command runs ~0.9 s; line 1 must not wait for its end.
    let (first, exit) = (got[0].0, got[3].0);
    assert!(
        exit.duration_since(first) >= Duration::from_millis(600),
        "line 1 arrived only {:?} before the exit: not streamed",
        exit.duration_since(first)
    );
    assert!(got[1].0.duration_since(first) >= Duration::from_millis(200));
    s.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stderr_is_separate_and_odd_output_is_tamed() {
    let c = cluster();
    let s = SshSession::connect(c.target()).await.expect("connect");
    let mut stream = s
        .stream(&[
            "sh",
            "-c",
            "echo out; echo err >&2; printf 'a\\377b\\nno newline'; exit 3",
        ])
        .await
        .expect("stream");
    let got: Vec<Line> = collect(&mut stream)
        .await
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    let out: Vec<&Line> = got
        .iter()
        .filter(|l| matches!(l, Line::Stdout(_)))
        .collect();
    let err: Vec<&Line> = got
        .iter()
        .filter(|l| matches!(l, Line::Stderr(_)))
        .collect();
    assert_eq!(
        out,
        [
            &Line::Stdout("out".into()),
            &Line::Stdout("a\u{fffd}b".into()),
            &Line::Stdout("no newline".into())
        ]
    );
    assert_eq!(err, [&Line::Stderr("err".into())]);
    assert_eq!(got.last(), Some(&Line::Exit(Some(3))));

    // A line far beyond the cap is cut (and says so), and the next line is intact.
    let n = (MAX_LINE_BYTES + 5000).to_string();
    let mut stream = s
        .stream(&[
            "sh",
            "-c",
            "head -c \"$1\" /dev/zero | tr '\\0' x; echo; echo next",
            "sh",
            &n,
        ])
        .await
        .expect("stream");
    let got: Vec<Line> = collect(&mut stream)
        .await
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    assert_eq!(
        got.len(),
        3,
        "{:?}",
        got.iter()
            .map(|l| format!("{l:?}").len())
            .collect::<Vec<_>>()
    );
    match &got[0] {
        Line::Stdout(l) => {
            assert!(l.len() < MAX_LINE_BYTES + 100);
            assert!(
                l.ends_with("[line cut: 5000 more bytes]"),
                "{}",
                &l[l.len() - 60..]
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(got[1], Line::Stdout("next".into()));
    assert_eq!(got[2], Line::Exit(Some(0)));

    // A command that cannot start is an exit status, as over ssh.
    let mut stream = s
        .stream(&["pmtwatch-no-such-command-anywhere"])
        .await
        .expect("stream");
    let got: Vec<Line> = collect(&mut stream)
        .await
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    assert_eq!(got.last(), Some(&Line::Exit(Some(127))), "{got:?}");
    assert!(s.stream(&[]).await.is_err(), "an empty command is refused");
    s.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_or_drop_kills_the_remote_process() {
    let c = cluster();
    let s = SshSession::connect(c.target()).await.expect("connect");
    for how in ["cancel", "drop"] {
        // A marker unique to this run (GNU sleep takes fractional seconds), so that other
        // tests' sleeps are never mistaken for ours.
        let marker = format!("sleep 30.{}{}", std::process::id(), how.len());
        let secs = marker.trim_start_matches("sleep ");
        let mut stream = s
            .stream(&[
                "sh",
                "-c",
                "echo started; sleep \"$1\"; echo never",
                "sh",
                secs,
            ])
            .await
            .expect("stream");
        let first = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("first line within 10 s");
        assert_eq!(first, Some(Line::Stdout("started".into())));
        // It really runs remotely before the cancel (so the check below means something).
        let t = Instant::now();
        while remote_pids(&s, &c.user, &marker).await.is_empty() {
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "`{marker}` never started"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if how == "cancel" {
            stream.cancel().await;
        } else {
            drop(stream);
        }
        gone(&s, &c.user, &marker).await;
    }
    assert!(s.is_alive().await, "the master survives a cancelled stream");
    s.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_backs_off_gives_up_with_the_last_error_and_connects_when_it_can() {
    let c = cluster();
    // Nothing listens on the server's port + 1 in the test set-up.
    let mut closed = c.target();
    closed.port = Some(c.port + 1);
    let t = Instant::now();
    let err = connect_with_retry(closed, 3, Duration::from_millis(200))
        .await
        .expect_err("nothing listens");
    let took = t.elapsed();
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");
    // Waits of 200 ms then 400 ms between the three attempts.
    assert!(took >= Duration::from_millis(600), "no backoff: {took:?}");
    assert!(took < Duration::from_secs(20), "{took:?}");

    let s = connect_with_retry(c.target(), 3, Duration::from_millis(200))
        .await
        .expect("connects");
    assert!(s.is_alive().await);
    s.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_key_and_auth_errors_are_never_retried() {
    let c = cluster();
    let dir = tempfile::tempdir().expect("tempdir");
    let kh = dir.path().join("known_hosts");
    std::fs::write(&kh, "").expect("write");
    let mut t = c.target();
    t.known_hosts = Some(kh);
    let start = Instant::now();
    let err = connect_with_retry(t, 5, Duration::from_secs(5))
        .await
        .expect_err("unknown host key");
    assert!(matches!(err, Error::HostKeyUnknown { .. }), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "retried: {:?}",
        start.elapsed()
    );

    let key = common::fresh_key(dir.path(), "stranger");
    let mut t = c.target();
    t.identity = Some(key);
    let start = Instant::now();
    let err = connect_with_retry(t, 5, Duration::from_secs(5))
        .await
        .expect_err("wrong key");
    assert!(matches!(err, Error::AuthFailed { .. }), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "retried: {:?}",
        start.elapsed()
    );
}

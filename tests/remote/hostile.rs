//! Injection test for command templates, against a real local `sh`: 1,000 deterministic
//! hostile values (from `pmtwatch::remote::template::hostile_values`, shared with the SSH
//! version of this test) are rendered into templates and run with `sh -c`.
//!
//! For each value:
//! - as `{SN}` it must be refused unless it is a valid serial number;
//! - as another placeholder it must be refused for a documented reason, or reach the program
//!   as exactly one argument, byte for byte (checked with `printf '%s\n'`);
//! - values that try to create a canary file (`$(touch …)`, `; touch …`, backquotes,
//!   redirections) must never create it.
//!
//! The runs are spread over a few scoped threads so the ~3,000 `sh` processes finish in a
//! few seconds. The last test repeats the 1,000 values over SSH against the test cluster.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use pmtwatch::pipeline::serial::Serial;
use pmtwatch::remote::Error;
use pmtwatch::remote::template::{HOSTILE_CANARY, Template, hostile_values};

const SEED: u64 = 0x706d_7477; // "pmtw"
const COUNT: usize = 1_000;
const THREADS: usize = 8;

fn sh(line: &str, dir: &Path) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(line)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run sh (install a POSIX shell as /bin/sh): {e}"))
}

fn one(name: &'static str, value: &str) -> BTreeMap<&'static str, String> {
    BTreeMap::from([(name, value.to_string())])
}

/// The refusal rule for non-serial values, written out independently of the library: a
/// value is refused iff it has a control character other than tab, is empty, or would start
/// a word with '-' without being a negative number. Anything else must be rendered, so the
/// test also catches over-refusal.
fn must_refuse(value: &str, starts_word: bool) -> bool {
    let control = value.chars().any(|c| c.is_control() && c != '\t');
    let option = starts_word
        && value.starts_with('-')
        && !(value[1..].starts_with(|c: char| c.is_ascii_digit() || c == '.')
            && value.parse::<f64>().is_ok());
    control || value.is_empty() || option
}

fn printable(value: &str) -> String {
    let s = format!("{value:?}");
    if s.chars().count() > 80 {
        let head: String = s.chars().take(80).collect();
        format!("{head}… ({} bytes)", value.len())
    } else {
        s
    }
}

#[test]
fn hostile_serials_are_refused_unless_valid() {
    let t = Template::parse("sbatch ./RUN_PMT_SCAN_DATA_MONITOR.slurm {SN}").unwrap();
    let mut accepted = 0;
    for (i, v) in hostile_values(COUNT, SEED).iter().enumerate() {
        match (Serial::parse(v), t.render(&one("SN", v))) {
            (Ok(_), Ok(line)) => {
                // A valid serial has nothing to quote: it reaches the script unchanged.
                assert_eq!(
                    line,
                    format!("sbatch ./RUN_PMT_SCAN_DATA_MONITOR.slurm {v}")
                );
                accepted += 1;
            }
            (Err(_), Err(Error::Invalid { what, .. })) => {
                assert!(what.contains("{SN}"), "#{i}: {what}");
            }
            (serial, rendered) => panic!(
                "#{i} {}: serial rule says {serial:?}, render says {rendered:?}",
                printable(v)
            ),
        }
    }
    // The generator mixes in valid serials; without them the test would prove nothing
    // about acceptance.
    assert!(accepted >= 20, "only {accepted} valid serials generated");
}

#[test]
fn hostile_values_reach_sh_as_exactly_one_argument() {
    let started = Instant::now();
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    let whole = Template::parse("printf %s\\\\n {RUN}").unwrap();
    let part = Template::parse("printf %s\\\\n --out={RUN}/data").unwrap();
    let canary = Template::parse("true {RUN}").unwrap();
    // The templates themselves render as intended (shlex double-quotes the backslash).
    assert_eq!(
        whole.render(&one("RUN", "a")).unwrap(),
        r#"printf "%s\\n" a"#
    );

    let values = hostile_values(COUNT, SEED);
    let chunk = values.len().div_ceil(THREADS);
    let executed: usize = std::thread::scope(|s| {
        let workers: Vec<_> = values
            .chunks(chunk)
            .enumerate()
            .map(|(k, vals)| {
                let (whole, part, canary) = (&whole, &part, &canary);
                s.spawn(move || {
                    let mut executed = 0;
                    for (j, v) in vals.iter().enumerate() {
                        let i = k * chunk + j;
                        let cases = [
                            (whole, must_refuse(v, true), format!("{v}\n")),
                            (part, must_refuse(v, false), format!("--out={v}/data\n")),
                        ];
                        for (t, refuse, expected) in cases {
                            match t.render(&one("RUN", v)) {
                                Err(Error::Invalid { what, .. }) if refuse => {
                                    assert!(what.contains("{RUN}"), "#{i}: {what}");
                                }
                                Ok(line) if !refuse => {
                                    let out = sh(&line, dir);
                                    assert!(
                                        out.status.success() && out.stdout == expected.as_bytes(),
                                        "#{i} {} via `{}`: got {:?} / {}, stderr {}",
                                        printable(v),
                                        t.text(),
                                        printable(&String::from_utf8_lossy(&out.stdout)),
                                        out.status,
                                        String::from_utf8_lossy(&out.stderr)
                                    );
                                    executed += 1;
                                }
                                other => panic!(
                                    "#{i} {} via `{}`: expected {}, got {other:?}",
                                    printable(v),
                                    t.text(),
                                    if refuse {
                                        "a refusal"
                                    } else {
                                        "a command line"
                                    }
                                ),
                            }
                        }
                        if let Ok(line) = canary.render(&one("RUN", v)) {
                            let out = sh(&line, dir);
                            assert!(out.status.success(), "#{i} {}", printable(v));
                            executed += 1;
                        }
                    }
                    executed
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .sum()
    });

    let canary_path = dir.join(HOSTILE_CANARY);
    assert!(
        !canary_path.exists(),
        "a hostile value created {} — shell injection",
        canary_path.display()
    );
    // About 40% of the values carry a control character and are refused; the rest run in
    // up to three templates each. Far fewer runs would mean the test had stopped proving
    // anything about quoting.
    assert!(executed >= COUNT, "only {executed} commands executed");
    let elapsed = started.elapsed();
    eprintln!("{executed} sh runs in {elapsed:.1?}");
    assert!(
        elapsed < Duration::from_secs(120),
        "took {elapsed:?}; something is very slow"
    );
}

/// The canary check itself works: the same payloads, pasted unquoted into a command line,
/// do create the file. Without this a broken canary path would make the test above pass
/// vacuously.
#[test]
fn canary_detects_unquoted_injection() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    let canary_path = dir.join(HOSTILE_CANARY);
    for payload in [
        format!("$(touch {HOSTILE_CANARY})"),
        format!("; touch {HOSTILE_CANARY}"),
        format!("`touch {HOSTILE_CANARY}`"),
        format!("> {HOSTILE_CANARY}"),
    ] {
        assert!(hostile_values(COUNT, SEED).contains(&payload), "{payload}");
        let _ = std::fs::remove_file(&canary_path);
        sh(&format!("true {payload}"), dir);
        assert!(
            canary_path.exists(),
            "unquoted {payload:?} did not create the canary"
        );
    }
}

/// The same 1,000 values over SSH, against the test cluster's real sshd: every rendered
/// command line runs in a remote shell (`sh -c`, one argv word quoted by the client) in a
/// scratch directory; each accepted value must come back byte for byte as one argument,
/// and the canary must never appear on the remote side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_values_over_ssh_never_run_remotely() {
    let c = common::cluster();
    let session = pmtwatch::remote::ssh::SshSession::connect(c.target())
        .await
        .expect("connect to the test cluster");
    let dir = format!("/tmp/pmtwatch-hostile-{}", std::process::id());
    session
        .run_ok(&["mkdir", "-p", "--", &dir])
        .await
        .expect("scratch dir");
    let printf = Template::parse("printf '%s\\n' {RUN}").unwrap();
    let quoted_dir = pmtwatch::remote::quote::quote(&dir).unwrap();
    let (mut ran, mut refused) = (0, 0);
    let started = Instant::now();
    for v in hostile_values(COUNT, SEED) {
        match printf.render(&one("RUN", &v)) {
            Ok(line) => {
                let script = format!("cd {quoted_dir} && {line}");
                let out = session.run(&["sh", "-c", &script]).await.expect("run");
                assert!(out.success(), "{}: {out:?}", printable(&v));
                assert_eq!(
                    out.stdout,
                    format!("{v}\n"),
                    "{} did not arrive as one word",
                    printable(&v)
                );
                ran += 1;
            }
            Err(Error::Invalid { .. }) => refused += 1,
            Err(e) => panic!("{}: unexpected error {e}", printable(&v)),
        }
        assert!(started.elapsed() < Duration::from_secs(300), "bounded run");
    }
    let canary = format!("{dir}/{HOSTILE_CANARY}");
    let check = session
        .run(&["test", "-e", &canary])
        .await
        .expect("test -e");
    assert_eq!(
        check.status,
        Some(1),
        "the canary {canary} was created on the remote side"
    );
    assert!(ran > 500 && refused > 0, "ran {ran}, refused {refused}");
    session
        .run_ok(&["rm", "-rf", "--", &dir])
        .await
        .expect("clean up");
    session.close().await.expect("close");
}

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

// ----- profile and slot fields (issue 10: "Close the open doors") -----

use pmtwatch::control::Commands;
use pmtwatch::monitor::{Mode, Monitor, ProfileSpec};
use pmtwatch::remote::backend::{Backend, BackendConfig, Kind};
use pmtwatch::remote::command_mode::CommandSpec;
use pmtwatch::remote::ssh::{SshSession, SshTarget};
use pmtwatch::store::{Role, SessionUser, Store};

/// Where the hostile payloads of these tests try to write: never created, locally or on
/// the test cluster's host (the same machine, checked both ways).
fn marker_dir() -> String {
    format!("/tmp/pmtwatch-hostile-fields-{}", std::process::id())
}

fn marker() -> String {
    format!("{}/{HOSTILE_CANARY}", marker_dir())
}

/// A valid SSH profile to the test cluster, in pipeline or command mode.
fn base_spec(mode: Mode) -> ProfileSpec {
    let c = common::cluster();
    let dir = marker_dir();
    let mut spec = ProfileSpec {
        kind: Kind::Ssh,
        mode,
        host: format!("{}@{}", c.user, c.host),
        port: Some(c.port),
        identity: c.key.display().to_string(),
        known_hosts: c.known_hosts.display().to_string(),
        work_dir: format!("{dir}/work"),
        scan_root: format!("{dir}/scan"),
        archive_dir: format!("{dir}/archive"),
        flag_dir: format!("{dir}/flag"),
        ..ProfileSpec::default()
    };
    if mode == Mode::Command {
        spec.command = Some(CommandSpec::new(
            "bash ./run.sh {SN}",
            &format!("{dir}/lab"),
        ));
    }
    spec
}

/// What an accepted value of a field may look like: the independent rule of what can
/// reach `ssh`, `sh` or a path without meaning anything but itself.
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    /// Hosts, hops, paths, programs, SLURM words: ASCII letters, digits and `/._-+@:[]`
    /// (`,` between hops), not an option, no `..` component.
    Word,
    /// Text that is quoted or checked elsewhere (templates, patterns, environment values):
    /// no control characters.
    Text,
}

/// Every profile field that reaches a process, a path or a remote shell: its name as
/// refusals give it, how a value goes in, and its shape.
type Setter = fn(&mut ProfileSpec, &str);
fn fields() -> Vec<(&'static str, Mode, Shape, Setter)> {
    fn cmd(s: &mut ProfileSpec) -> &mut CommandSpec {
        s.command
            .get_or_insert_with(|| CommandSpec::new("true", "d"))
    }
    use Mode::{Command, Pipeline};
    use Shape::{Text, Word};
    let list: [(&'static str, Mode, Shape, Setter); 20] = [
        ("host", Pipeline, Word, |s, v| s.host = v.into()),
        ("jump", Pipeline, Word, |s, v| s.jump = v.into()),
        ("identity", Pipeline, Word, |s, v| s.identity = v.into()),
        ("known_hosts", Pipeline, Word, |s, v| {
            s.known_hosts = v.into()
        }),
        ("ssh_config", Pipeline, Word, |s, v| s.ssh_config = v.into()),
        ("program", Pipeline, Word, |s, v| s.program = v.into()),
        ("work_dir", Pipeline, Word, |s, v| s.work_dir = v.into()),
        ("scan_root", Pipeline, Word, |s, v| s.scan_root = v.into()),
        ("archive_dir", Pipeline, Word, |s, v| {
            s.archive_dir = v.into()
        }),
        ("flag_dir", Pipeline, Word, |s, v| s.flag_dir = v.into()),
        ("partition", Pipeline, Word, |s, v| s.partition = v.into()),
        ("time_limit", Pipeline, Word, |s, v| s.time_limit = v.into()),
        ("mem", Pipeline, Word, |s, v| s.mem = v.into()),
        ("account", Pipeline, Word, |s, v| s.account = v.into()),
        ("command", Command, Text, |s, v| {
            cmd(s).template = format!("bash ./run.sh {v}")
        }),
        ("command", Command, Word, |s, v| {
            cmd(s).remote_dir = v.into()
        }),
        ("command", Command, Text, |s, v| {
            cmd(s).sync_patterns = vec![v.into()]
        }),
        ("command", Command, Text, |s, v| {
            cmd(s).point_pattern = v.into()
        }),
        ("local_env", Pipeline, Word, |s, v| {
            s.local_env = vec![(v.into(), "x".into())]
        }),
        ("local_env", Pipeline, Text, |s, v| {
            s.local_env = vec![("SLURM_CONF".into(), v.into())]
        }),
    ];
    list.to_vec()
}

/// The shared hostile values plus what targets ssh itself: `-o` options, `%` tokens,
/// lookalike characters, and payloads that would create the absolute [`marker`].
fn field_values() -> Vec<String> {
    let m = marker();
    let mut v = hostile_values(COUNT, SEED);
    v.extend([
        "-oProxyCommand=touch /tmp/x".to_string(),
        format!("-oProxyCommand=touch {m}"),
        format!("gate$(touch {m})"),
        format!("gate`touch {m}`"),
        format!("gate;touch {m}"),
        format!("gate|touch {m}"),
        format!("gate${{IFS}}touch${{IFS}}{m}"),
        format!("ops@gate:22$(touch {m})"),
        "%d".into(),
        "%h:%p".into(),
        "/keys/%u/id".into(),
        "gаte".into(),          // Cyrillic а
        "／etc／passwd".into(), // full-width solidus
        "/tmp/../etc".into(),
        "/tmp/a b".into(),
        "/tmp/a,b".into(),
        "LD_PRELOAD".into(),
        "PATH".into(),
        "BASH_ENV".into(),
    ]);
    v
}

fn inert(shape: Shape, field: &str, v: &str) -> bool {
    let v = v.trim();
    match shape {
        Shape::Text => !v.chars().any(|c| c.is_control() && c != '\t'),
        Shape::Word => {
            let extra = if field == "jump" { "," } else { "" };
            !v.starts_with('-')
                && !v.split(['/', ',']).any(|c| c == "..")
                && v.chars().all(|c| {
                    c.is_ascii_alphanumeric() || "/._-+@:[]".contains(c) || extra.contains(c)
                })
        }
    }
}

/// Every profile field, 1,000+ hostile values each (and each also inside a plausible
/// value: `/tmp/<v>`, `ops@<v>`): the profile check refuses it naming the field, or
/// accepts only a value that cannot mean anything to a shell or `ssh`; and the check at
/// use (`backend_config`) agrees with the one on save. No panics.
#[test]
fn every_profile_field_refuses_hostile_values_naming_the_field() {
    let values = field_values();
    let mut report = Vec::new();
    for (field, mode, shape, set) in fields() {
        let base = base_spec(mode);
        assert_eq!(base.validate(), vec![], "the base profile is valid");
        let (mut accepted, mut refused) = (0, 0);
        for (i, v) in values.iter().enumerate() {
            for value in [v.clone(), format!("/tmp/{v}"), format!("ops@{v}")] {
                let mut spec = base.clone();
                set(&mut spec, &value);
                let problems = spec.validate();
                if problems.is_empty() {
                    assert!(
                        inert(shape, field, &value),
                        "#{i} {field}: accepted {}",
                        printable(&value)
                    );
                    assert!(
                        spec.backend_config("pmtwatch").is_ok(),
                        "#{i} {field}: accepted on save, refused at use: {}",
                        printable(&value)
                    );
                    accepted += 1;
                } else {
                    assert!(
                        problems.iter().any(|e| e.field == field),
                        "#{i} {field} {}: refused under other names: {problems:?}",
                        printable(&value)
                    );
                    if let Err(e) = spec.backend_config("pmtwatch") {
                        assert!(e.to_string().contains(field), "#{i} {field}: {e}");
                    }
                    refused += 1;
                }
            }
        }
        report.push(format!("{field}: {refused} refused, {accepted} accepted"));
        if shape == Shape::Word {
            assert!(refused > values.len(), "{field}: only {refused} refused");
        } else {
            assert!(refused > COUNT / 4, "{field}: only {refused} refused");
        }
    }
    eprintln!("{}", report.join("\n"));
}

/// The slot's serial number: refused (naming it) unless it is a plain serial.
#[test]
fn every_hostile_serial_is_refused_by_the_slot_naming_it() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let scratch = tempfile::tempdir().unwrap();
        let store = Store::open_dir(scratch.path()).unwrap();
        let monitor = Monitor::start(store, scratch.path(), "pmtwatch".into())
            .await
            .unwrap();
        let mut refused = 0;
        for v in field_values() {
            let serial_ok = Serial::parse(v.trim()).is_ok();
            match monitor
                .set_slot(1, v.clone(), None, pmtwatch::store::ScanKind::Surface)
                .await
            {
                Ok(()) => assert!(serial_ok || v.trim().is_empty(), "{}", printable(&v)),
                Err(e) => {
                    assert!(e.to_string().contains("serial number"), "{e}");
                    refused += 1;
                }
            }
        }
        assert!(refused > COUNT / 2, "{refused}");
    });
}

async fn session(store: &Store, name: &str) -> SessionUser {
    let s = store.clone();
    let n = name.to_string();
    store
        .run(move |_| {
            let u = s.user_by_name(&n)?.expect("user exists");
            let new = s.create_session(u.id, 3600, "test")?;
            Ok(s.session_user(&new.token, 3600)?.expect("valid session"))
        })
        .await
        .expect("session")
}

/// Through the server's command layer: every hostile value of every field is refused by
/// *save profile* and by an admin's *test connection* of the draft, each naming the
/// field, before anything runs; an operator cannot test an unsaved draft at all. The
/// marker is never created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_profiles_are_refused_by_save_and_test_through_the_commands() {
    let scratch = tempfile::tempdir().unwrap();
    let store = Store::open_dir(scratch.path()).unwrap();
    store
        .add_user("ada", Role::Admin, "admin-password-1")
        .unwrap();
    store
        .add_user("otto", Role::Operator, "operator-password")
        .unwrap();
    let monitor = Monitor::start(store.clone(), scratch.path(), "pmtwatch".into())
        .await
        .unwrap();
    let commands = Commands::new(store.clone(), monitor, Duration::from_secs(3600));
    let (ada, otto) = (session(&store, "ada").await, session(&store, "otto").await);
    let values = field_values();
    let (mut saves, mut tests) = (0, 0);
    for (field, mode, _, set) in fields() {
        let base = base_spec(mode);
        for v in &values {
            let mut spec = base.clone();
            set(&mut spec, v);
            if spec.validate().is_empty() {
                continue; // inert (checked above); saving it would run nothing either
            }
            let saved = commands
                .save_profile(&ada, None, "hostile".into(), spec.clone())
                .await;
            let e = saved.expect_err("a hostile profile was saved");
            assert!(e.to_string().contains(field), "{field}: {e}");
            saves += 1;
            let tested = commands.test_profile(&ada, spec.clone()).await;
            let e = tested.expect_err("a hostile draft was tested");
            assert!(e.to_string().contains(field), "{field}: {e}");
            tests += 1;
        }
        // An operator's unsaved draft is refused whatever it holds.
        let mut spec = base.clone();
        set(&mut spec, &format!("$(touch {})", marker()));
        let e = commands
            .test_profile(&otto, spec)
            .await
            .expect_err("operator draft");
        assert!(e.to_string().contains("admin"), "{e}");
    }
    assert!(
        !Path::new(&marker()).exists(),
        "a hostile profile value created {}",
        marker()
    );
    eprintln!("{saves} saves and {tests} connection tests refused");
    assert!(saves > 10 * COUNT, "{saves}");
}

/// The expensive part, through the real `ssh` to the test sshd: a few representative
/// values per SSH field, put straight into the remote layer (as a stored or unsaved
/// profile would be, bypassing the profile check), are refused by the check at the point
/// of use — `SshSession::connect` and the connection test — naming the field, and nothing
/// runs: the marker appears neither here nor on the cluster's host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_ssh_settings_are_refused_at_use_and_run_nothing() {
    let c = common::cluster();
    std::fs::create_dir_all(marker_dir()).unwrap();
    let m = marker();
    let config = format!("{}/ssh_config", marker_dir());
    std::fs::write(&config, format!("Host *\n  ProxyCommand touch {m}\n")).unwrap();
    let subset = [
        format!("gate$(touch {m})"),
        format!("`touch {m}`"),
        format!("gate;touch {m}"),
        format!("-oProxyCommand=touch {m}"),
        "/keys/%d/id".to_string(),
        "gаte".to_string(),
        "x".repeat(10_000),
    ];
    type Put = fn(&mut SshTarget, &str);
    let cases: [(&str, Put); 5] = [
        ("jump", |t, v| t.jump_hosts = vec![v.into()]),
        ("identity", |t, v| t.identity = Some(v.into())),
        ("known_hosts", |t, v| t.known_hosts = Some(v.into())),
        ("ssh_config", |t, v| t.config_file = Some(v.into())),
        ("host", |t, v| t.host = v.into()),
    ];
    let mut refused = 0;
    for (field, put) in cases {
        let values = subset
            .iter()
            .cloned()
            .chain((field == "ssh_config").then(|| config.clone()));
        for v in values {
            let mut t = c.target();
            put(&mut t, &v);
            let e = SshSession::connect(t.clone())
                .await
                .expect_err("a hostile setting connected");
            assert!(
                e.to_string().contains(field),
                "{field} {}: {e}",
                printable(&v)
            );
            let backend =
                Backend::new(BackendConfig::new(Kind::Ssh, Some(t), "/tmp")).expect("backend");
            let r = backend.test().await;
            assert!(!r.ok, "{r:?}");
            assert_eq!(r.checks[0].item, "settings", "{r:?}");
            assert!(r.checks[0].detail.contains(field), "{r:?}");
            refused += 1;
        }
    }
    // work_dir and program are checked when the backend is made.
    for v in &subset {
        for field in ["work_dir", "program"] {
            let mut cfg = BackendConfig::new(Kind::Ssh, Some(c.target()), "/tmp");
            if field == "work_dir" {
                cfg.work_dir = v.clone();
            } else {
                cfg.program = v.clone();
            }
            let e = Backend::new(cfg).expect_err("a hostile backend");
            assert!(e.to_string().contains(field), "{field}: {e}");
            refused += 1;
        }
    }
    let session = SshSession::connect(c.target()).await.expect("connect");
    let remote = session.run(&["test", "-e", &m]).await.expect("test -e");
    assert_eq!(remote.status, Some(1), "{m} exists on the cluster's host");
    session.close().await.expect("close");
    assert!(!Path::new(&m).exists(), "{m} was created here");
    eprintln!("{refused} hostile settings refused at use");
    let _ = std::fs::remove_dir_all(marker_dir());
}

/// Issue 10, finding 1: a profile's own ssh_config was read by `ssh` as it was, so one
/// with `ProxyCommand touch X` created X at *Test connection*. Now it is refused before
/// `ssh` (or `ssh -G`) ever runs, naming the field — unless an admin allowed exactly that
/// content (its SHA-256), which this test also uses to prove the marker would be seen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_config_with_proxy_command_is_refused_before_ssh_runs() {
    let c = common::cluster();
    let scratch = tempfile::tempdir().unwrap();
    let m = scratch.path().join("marker");
    for (i, text) in [
        format!("Host *\n  ProxyCommand touch {}\n", m.display()),
        format!("host x\nmatch all\n\tproxycommand=touch {}\n", m.display()),
        format!("Match exec \"touch {}\"\n", m.display()),
        format!("\"KnownHostsCommand\" /bin/sh -c 'touch {}'\n", m.display()),
        format!(
            "LocalCommand touch {}\nPermitLocalCommand yes\n",
            m.display()
        ),
        format!("Include {}\n", m.display()),
    ]
    .iter()
    .enumerate()
    {
        let config = scratch.path().join(format!("ssh_config{i}"));
        std::fs::write(&config, text).unwrap();
        let mut t = c.target();
        t.config_file = Some(config.clone());
        let e = SshSession::connect(t.clone()).await.expect_err("refused");
        assert!(
            matches!(e, Error::Invalid { .. }) && e.to_string().contains("ssh_config"),
            "{text}: {e}"
        );
        assert!(!m.exists(), "{text} ran");
    }
    // Allowed by an admin (the SHA-256 of exactly this content): ssh reads it and runs
    // the ProxyCommand, so the marker check above is not blind.
    let config = scratch.path().join("ssh_config0");
    let bytes = std::fs::read(&config).unwrap();
    let mut t = c.target();
    t.config_file = Some(config);
    t.config_allowed = Some(pmtwatch::remote::inputs::sha256_hex(&bytes));
    assert!(SshSession::connect(t).await.is_err(), "touch is no proxy");
    assert!(m.exists(), "the allowed ProxyCommand did not run");
}

/// A symlink as the archive (or flag) area, or as the run's name inside it, is refused by
/// the move, not followed: the data stays where it was and nothing appears where the link
/// points.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlinks_in_archive_and_flag_dirs_are_not_followed() {
    let c = common::cluster();
    let s = SshSession::connect(c.target()).await.expect("connect");
    let base = format!("/tmp/pmtwatch-hostile-links-{}", std::process::id());
    let sh = |script: String| {
        let s = &s;
        async move { s.run_ok(&["sh", "-c", &script]).await.expect(&script) }
    };
    sh(format!(
        "rm -rf {base} && mkdir -p {base}/run/p {base}/elsewhere {base}/area && \
         echo 1 > {base}/run/p/result.json && ln -s {base}/elsewhere {base}/archive && \
         ln -s {base}/elsewhere {base}/area/SN1"
    ))
    .await;
    let run = format!("{base}/run");
    let e = pmtwatch::remote::moves::move_dir(&s, &run, &format!("{base}/archive"), "SN1")
        .await
        .expect_err("a symlinked archive dir");
    assert!(e.to_string().contains("symbolic link"), "{e}");
    let e = pmtwatch::remote::moves::move_dir(&s, &run, &format!("{base}/area"), "SN1")
        .await
        .expect_err("a symlink named like the run");
    assert!(e.to_string().contains("exists"), "{e}");
    let left = sh(format!(
        "ls -A {base}/elsewhere; test -f {run}/p/result.json && echo kept"
    ))
    .await;
    assert_eq!(left.trim(), "kept", "data followed a link");
    sh(format!("rm -rf {base}")).await;
    s.close().await.expect("close");
}

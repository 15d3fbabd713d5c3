//! Unit tests of command-mode profiles: validation, (de)serialisation, rendering into argv
//! words, job-id parsing. The sync's parsing is tested in `sync/tests.rs`; the whole mode
//! against a real sshd and SLURM in `tests/remote/command_mode.rs`.

use super::*;
use proptest::prelude::*;

fn values(pairs: &[(&'static str, &str)]) -> BTreeMap<&'static str, String> {
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

fn refused(spec: CommandSpec) -> String {
    match CommandProfile::new(spec) {
        Err(Error::Invalid { what, why }) => format!("{what}: {why}"),
        other => panic!("accepted: {other:?}"),
    }
}

fn spec() -> CommandSpec {
    CommandSpec::new("sbatch ./RUN_PMT_SCAN_DATA_MONITOR.slurm {SN}", "pmt/scans")
}

#[test]
fn the_old_setup_is_the_default() {
    let p = CommandProfile::new(spec()).unwrap();
    // The old HV check's result and plot are synced too (issue 12), shown when present.
    assert_eq!(
        p.spec().sync_patterns,
        [
            "*_charge.png",
            "*_GAIN.txt",
            "*_HV_at_gain_*.txt",
            "*_gain_vs_hv_loglog.png"
        ]
    );
    assert_eq!(p.spec().charge_pattern, "*_charge.png");
    assert_eq!(p.spec().gain_pattern, "*_GAIN.txt");
    assert_eq!(p.remote_dir(), "pmt/scans");
    assert_eq!(
        p.template().placeholders(),
        std::collections::BTreeSet::from(["SN"])
    );
    assert_eq!(
        p,
        CommandProfile::with_defaults(&spec().template, "pmt/scans").unwrap()
    );
}

#[test]
fn profiles_round_trip_through_toml_and_json_with_defaults_filled() {
    let text = r#"
        template = "bash ./run_scan.sh {SN}"
        remote_dir = "/data/pmt"
    "#;
    let p: CommandProfile = toml::from_str(text).unwrap();
    assert_eq!(
        p.spec(),
        &CommandSpec::new("bash ./run_scan.sh {SN}", "/data/pmt")
    );
    let back: CommandProfile = toml::from_str(&toml::to_string(&p).unwrap()).unwrap();
    assert_eq!(back, p);
    let json = serde_json::to_string(&p).unwrap();
    assert_eq!(serde_json::from_str::<CommandProfile>(&json).unwrap(), p);

    // Validation runs on deserialisation: a stored profile is always usable.
    let bad = "template = \"bash ./run.sh {SERIAL}\"\nremote_dir = \"d\"\n";
    let e = toml::from_str::<CommandProfile>(bad)
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown placeholder {SERIAL}"), "{e}");
    let typo = "template = \"./a.sh\"\nremote_dir = \"d\"\nsync_pattern = []\n";
    let e = toml::from_str::<CommandProfile>(typo)
        .unwrap_err()
        .to_string();
    assert!(e.contains("sync_pattern"), "{e}");
}

#[test]
fn bad_profiles_are_refused_with_what_to_do() {
    let with = |f: fn(&mut CommandSpec)| {
        let mut s = spec();
        f(&mut s);
        refused(s)
    };
    for (msg, needle) in [
        (with(|s| s.template = String::new()), "empty"),
        (
            with(|s| s.template = "cd x && sbatch r.slurm".into()),
            "operator",
        ),
        (with(|s| s.remote_dir = String::new()), "empty"),
        (with(|s| s.remote_dir = "-rf".into()), "option"),
        (
            with(|s| s.remote_dir = "~/scans".into()),
            "'~' is not expanded",
        ),
        (with(|s| s.remote_dir = "a\nb".into()), "line break"),
        (with(|s| s.sync_patterns.clear()), "it is empty"),
        (
            with(|s| s.sync_patterns.push("*".into())),
            "matches every file",
        ),
        (
            with(|s| s.sync_patterns.push("a/*.png".into())),
            "contains '/'",
        ),
        (with(|s| s.sync_patterns.push("x\0".into())), "NUL"),
        (
            with(|s| s.sync_patterns = vec!["*.png".into(); 40]),
            "at most 32",
        ),
        (
            with(|s| s.sync_patterns.push("x".repeat(300))),
            "longer than 256",
        ),
        (with(|s| s.charge_pattern = "*.png".into()), "add it there"),
        (
            with(|s| s.sync_patterns = vec!["*_charge.png".into()]),
            "gain_pattern",
        ),
        (
            with(|s| {
                s.sync_patterns.push("*.txt".into());
                s.charge_pattern = "*.txt".into();
            }),
            "the same file",
        ),
        (
            with(|s| s.point_pattern = "theta(".into()),
            "not a valid regular expression",
        ),
        (
            with(|s| s.point_pattern = "(?P<thetha>\\d+)".into()),
            "unknown group name \"thetha\"",
        ),
        (
            with(|s| s.point_pattern = "theta(?P<theta>\\d+)".into()),
            "only one of",
        ),
        (
            with(|s| s.point_pattern = "theta(\\d+)".into()),
            "no named group",
        ),
        (
            with(|s| s.point_pattern = "a".repeat(2000)),
            "longer than 1024",
        ),
        (
            with(|s| s.point_pattern = "\\w{1000}{1000}(?P<hv>x)".into()),
            "not a valid",
        ),
    ] {
        assert!(msg.contains(needle), "{needle:?} not in {msg:?}");
    }
    // An hv-only pattern is fine.
    let mut s = spec();
    s.point_pattern = "HV(?P<hv>[0-9]+)".into();
    assert!(CommandProfile::new(s).is_ok());
}

#[test]
fn prepare_renders_argv_words_and_recognises_sbatch() {
    let p = CommandProfile::new(spec()).unwrap();
    let c = p.prepare(&values(&[("SN", "EA0123")])).unwrap();
    assert_eq!(c.line(), "sbatch ./RUN_PMT_SCAN_DATA_MONITOR.slurm EA0123");
    assert_eq!(
        c.words,
        ["sbatch", "./RUN_PMT_SCAN_DATA_MONITOR.slurm", "EA0123"]
    );
    assert_eq!(c.remote_dir, "pmt/scans");
    assert!(c.is_sbatch());
    for (template, sbatch) in [
        ("/usr/bin/sbatch --parsable x.slurm {SN}", true),
        ("bash ./run_scan.sh {SN}", false),
        ("./sbatch.sh {SN}", false),
        ("sbatchx {SN}", false),
    ] {
        let p = CommandProfile::with_defaults(template, "d").unwrap();
        let c = p.prepare(&values(&[("SN", "EA1")])).unwrap();
        assert_eq!(c.is_sbatch(), sbatch, "{template}");
    }
}

#[test]
fn hostile_serials_are_refused_by_prepare() {
    let p = CommandProfile::new(spec()).unwrap();
    for bad in [
        "EA1; touch /tmp/x",
        "$(id)",
        "`id`",
        "../etc",
        "-rf",
        "",
        "a b",
        "é",
    ] {
        match p.prepare(&values(&[("SN", bad)])) {
            Err(Error::Invalid { what, .. }) => assert!(what.contains("{SN}"), "{what}"),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    // A missing serial is refused too, naming the placeholder.
    assert!(matches!(
        p.prepare(&BTreeMap::new()),
        Err(Error::Invalid { what, .. }) if what.contains("{SN}")
    ));
}

/// Issue 10, finding 7: every placeholder a template may use has a value for every run,
/// so a saved template renders; `{POINT}` (a per-point value a per-run command cannot have)
/// is refused when the profile is checked.
#[test]
fn every_template_placeholder_is_filled_for_a_run() {
    let p = CommandProfile::with_defaults(
        "./run.sh {SN} --hv={HV} {RUN} {DIR}/out --gpu {GPU}",
        "pmt/scans",
    )
    .unwrap();
    let serial = Serial::parse("EA0123").unwrap();
    let v = p.run_values(&serial, 42, &[1400.0, 1450.0, 1500.5], "-1");
    for name in crate::remote::template::DEFAULT_PLACEHOLDERS {
        assert!(v.contains_key(name), "{name} has no value");
    }
    let prepared = p.prepare(&v).unwrap();
    assert_eq!(
        prepared.words(),
        [
            "./run.sh",
            "EA0123",
            "--hv=1400,1450,1500.5",
            "42",
            "pmt/scans/out",
            "--gpu",
            "-1"
        ]
    );
    let e = refused(CommandSpec::new("./run.sh {SN} {POINT}", "d"));
    assert!(e.contains("unknown placeholder {POINT}"), "{e}");
}

#[test]
fn job_ids_are_read_from_both_sbatch_forms() {
    assert_eq!(parse_job_id("Submitted batch job 4242", true), Some(4242));
    assert_eq!(
        parse_job_id("  Submitted batch job 7 on cluster c\n", false),
        Some(7)
    );
    assert_eq!(parse_job_id("4242", true), Some(4242));
    assert_eq!(parse_job_id("4242;spartan", true), Some(4242));
    // A bare number from a script that is not sbatch is not a job id.
    assert_eq!(parse_job_id("4242", false), None);
    for junk in [
        "",
        "Submitted batch job ",
        "Submitted batch job x",
        "12a",
        ";1",
        "-1",
    ] {
        assert_eq!(parse_job_id(junk, true), None, "{junk:?}");
    }
    assert_eq!(
        parse_job_id("Submitted batch job 99999999999999999999999", true),
        None
    );
}

proptest! {
    /// Whatever a value holds, it is refused or arrives as exactly one argv word.
    #[test]
    fn rendered_values_are_exactly_one_word(v in any::<String>()) {
        let p = CommandProfile::with_defaults("./run.sh {SN} --run {RUN}", "d").unwrap();
        if let Ok(c) = p.prepare(&values(&[("SN", "EA1"), ("RUN", v.as_str())])) {
            prop_assert_eq!(c.words, vec!["./run.sh".to_string(), "EA1".into(), "--run".into(), v]);
        }
    }

    #[test]
    fn hostile_generator_values_never_break_words(i in 0usize..400) {
        let all = crate::remote::template::hostile_values(400, 11);
        let v = &all[i];
        let p = CommandProfile::with_defaults("./run.sh {SN} {RUN}", "d").unwrap();
        if let Ok(c) = p.prepare(&values(&[("SN", v.as_str()), ("RUN", v.as_str())])) {
            prop_assert_eq!(c.words.len(), 3);
            prop_assert_eq!(&c.words[1], v);
        }
    }

    /// Arbitrary profile text never panics: it is accepted or refused with a reason.
    #[test]
    fn arbitrary_profiles_never_panic(
        template in ".{0,40}",
        dir in ".{0,20}",
        pattern in ".{0,40}",
        sync in proptest::collection::vec(".{0,12}", 0..4),
    ) {
        let mut s = CommandSpec::new(&template, &dir);
        s.point_pattern = pattern;
        s.sync_patterns.extend(sync);
        if let Err(e) = CommandProfile::new(s) {
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn job_id_parsing_never_panics(line in any::<String>(), sbatch in any::<bool>()) {
        let _ = parse_job_id(&line, sbatch);
    }
}

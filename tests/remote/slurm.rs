//! The SLURM argv builders and parsers against the real single-node cluster of
//! `scripts/test-cluster.sh`, with the commands run locally (`std::process::Command`,
//! `SLURM_CONF` from `PMT_SLURM_CONF`): failed, cancelled, pending and completed jobs, the
//! batch scripts in `slurm/` with a stand-in `pmtwatch`, and an unreachable controller.
//!
//! Needs the cluster: `eval "$(scripts/test-cluster.sh start)"` (as root) in the shell
//! that runs `cargo test --test remote_slurm`. Without it every test fails and says so.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use pmtwatch::pipeline::serial::Serial;
use pmtwatch::remote::Error;
use pmtwatch::remote::slurm::{
    self, Fault, JobInfo, JobState, SbatchOptions, classify_failure, parse_sbatch_parsable,
    parse_scontrol_show_job, parse_squeue, sbatch_args, scan_env, scancel_args, scontrol_args,
    squeue_args,
};

/// How often and how long the tests poll a job.
const POLL: Duration = Duration::from_millis(100);
const WAIT: Duration = Duration::from_secs(30);
/// The test node has 1000 MB; the scripts' `--mem=2G` default would be refused there.
const TEST_MEM: &str = "200M";

fn slurm_conf() -> String {
    match std::env::var("PMT_SLURM_CONF") {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "PMT_SLURM_CONF is not set: start the test cluster: eval \"$(scripts/test-cluster.sh start)\""
        ),
    }
}

struct Out {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs argv locally with the given SLURM config and extra environment.
fn run_with(argv: &[String], conf: &str, env: &[(&str, &str)]) -> Out {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]).env("SLURM_CONF", conf);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {argv:?} ({e}); is slurm-client installed?"));
    Out {
        status: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn run(argv: &[String]) -> Out {
    run_with(argv, &slurm_conf(), &[])
}

/// Submits and returns the job id; panics with sbatch's stderr when it fails.
fn submit(argv: &[String], env: &[(&str, &str)]) -> u64 {
    let out = run_with(argv, &slurm_conf(), env);
    assert_eq!(
        out.status,
        Some(0),
        "{argv:?} failed: {}{}",
        out.stdout,
        out.stderr
    );
    parse_sbatch_parsable(&out.stdout).expect("sbatch --parsable prints a job id")
}

fn scontrol(id: u64) -> JobInfo {
    let out = run(&scontrol_args(id));
    assert_eq!(out.status, Some(0), "scontrol: {}", out.stderr);
    parse_scontrol_show_job(&out.stdout).expect("scontrol output parses")
}

/// Polls `scontrol` (and cross-checks `squeue`) until `done` holds, at most [`WAIT`].
fn wait_for(id: u64, what: &str, done: impl Fn(&JobState) -> bool) -> JobInfo {
    wait_for_within(id, what, WAIT, done)
}

/// [`wait_for`] with its own bound.
fn wait_for_within(
    id: u64,
    what: &str,
    bound: Duration,
    done: impl Fn(&JobState) -> bool,
) -> JobInfo {
    let t0 = Instant::now();
    loop {
        let info = scontrol(id);
        let sq = run(&squeue_args(id));
        assert_eq!(sq.status, Some(0), "squeue: {}", sq.stderr);
        let row = parse_squeue(&sq.stdout)
            .expect("squeue output parses")
            .expect("squeue -t all lists the job");
        assert_eq!(row.id, id);
        if done(&info.state) {
            return info;
        }
        assert!(
            t0.elapsed() < bound,
            "job {id} not {what} after {bound:?}: {}",
            info.summary()
        );
        std::thread::sleep(POLL);
    }
}

fn wait_terminal(id: u64) -> JobInfo {
    let info = wait_for(id, "finished", JobState::is_terminal);
    // squeue must agree with scontrol on the final state (without the exit details).
    let row = parse_squeue(&run(&squeue_args(id)).stdout)
        .expect("parses")
        .expect("listed");
    assert_eq!(row.state.slurm_name(), info.state.slurm_name());
    info
}

fn read_output(info: &JobInfo) -> String {
    let path = info.stdout_path.as_deref().expect("scontrol names StdOut");
    // The output file is written by slurmd on this host; it exists once the job ended.
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

fn tmpdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("pmtwatch-slurm-test")
        .tempdir()
        .expect("temp dir")
}

fn write_exec(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn repo_file(rel: &str) -> String {
    crate::common::manifest_dir()
        .join(rel)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn wrapped_job_fails_with_exit_code_and_output() {
    let _slurm = crate::common::slurm_shared_blocking();
    let dir = tmpdir();
    let out_path = format!("{}/wrap-%j.out", dir.path().display());
    let argv: Vec<String> = [
        "sbatch",
        "--parsable",
        "--job-name=pmt-test-fail",
        &format!("--mem={TEST_MEM}"),
        &format!("--output={out_path}"),
        "--wrap",
        "echo hi; exit 3",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let id = submit(&argv, &[]);
    let mut info = wait_terminal(id);
    assert_eq!(
        info.state,
        JobState::Failed {
            exit_code: Some(3),
            signal: None
        },
        "{}",
        info.summary()
    );
    assert_eq!(info.exit_code, Some((3, 0)));
    assert_eq!(info.name.as_deref(), Some("pmt-test-fail"));
    assert_eq!(
        info.stdout_path.as_deref(),
        Some(out_path.replace("%j", &id.to_string()).as_str()),
        "SLURM expands %j in StdOut"
    );
    let output = read_output(&info);
    assert_eq!(output.trim(), "hi");
    info.output_tail = Some(slurm::output_tail(&output, slurm::OUTPUT_TAIL_LINES));
    let summary = info.summary();
    assert!(
        summary.contains("FAILED") && summary.contains("exit code 3") && summary.contains("hi"),
        "{summary}"
    );
}

#[test]
fn running_job_is_cancelled() {
    let _slurm = crate::common::slurm_shared_blocking();
    let dir = tmpdir();
    let script = dir.path().join("sleep.sh");
    write_exec(&script, "#!/bin/bash\necho started\nsleep 60\n");
    let opts = SbatchOptions {
        mem: Some(TEST_MEM.into()),
        time: Some("5".into()),
        output_path: Some(format!("{}/sleep-%j.out", dir.path().display())),
        chdir: Some(dir.path().to_string_lossy().into_owned()),
        ..SbatchOptions::default()
    };
    let argv = sbatch_args(&script.to_string_lossy(), "pmt-test-sleep", &opts).expect("valid");
    let id = submit(&argv, &[]);
    let running = wait_for(id, "running", |s| *s == JobState::Running);
    assert_eq!(running.node.as_deref().map(str::is_empty), Some(false));
    assert!(running.start_time.is_some());

    let out = run(&scancel_args(id));
    assert_eq!(out.status, Some(0), "scancel: {}", out.stderr);
    let info = wait_terminal(id);
    assert_eq!(info.state, JobState::Cancelled, "{}", info.summary());
    assert!(info.state.is_terminal() && !info.state.is_success());
    assert!(info.end_time.is_some());
}

#[test]
fn pending_job_has_a_reason_then_is_cancelled() {
    let _slurm = crate::common::slurm_shared_blocking();
    let dir = tmpdir();
    let script = dir.path().join("later.sh");
    write_exec(&script, "#!/bin/bash\ntrue\n");
    let opts = SbatchOptions {
        mem: Some(TEST_MEM.into()),
        output_path: Some(format!("{}/later-%j.out", dir.path().display())),
        ..SbatchOptions::default()
    };
    let mut argv = sbatch_args(&script.to_string_lossy(), "pmt test later", &opts).expect("valid");
    // Held back by a begin time: pending, and once the scheduler has looked at it, with
    // reason BeginTime whatever the load. Right after submission slurmctld may still
    // show the reason of its first pass (CI saw "Resources" while the previous test's
    // job was being cleaned up) until its next pass; the main scheduler runs at least
    // every sched_interval (60 s by default), so the reason is polled for up to 90 s.
    argv.insert(2, "--begin=now+600".into());
    let id = submit(&argv, &[]);
    let first = scontrol(id);
    assert!(
        matches!(first.state, JobState::Pending { .. }),
        "a job with a begin time in ten minutes is pending at once: {}",
        first.summary()
    );
    let begin_time = JobState::Pending {
        reason: Some("BeginTime".into()),
    };
    let info = wait_for_within(
        id,
        "pending with reason BeginTime",
        Duration::from_secs(90),
        |s| *s == begin_time,
    );
    assert_eq!(
        info.name.as_deref(),
        Some("pmt test later"),
        "a name with spaces"
    );
    let row = parse_squeue(&run(&squeue_args(id)).stdout)
        .expect("parses")
        .expect("listed");
    assert_eq!(row.state, info.state);
    assert_eq!(run(&scancel_args(id)).status, Some(0));
    assert_eq!(wait_terminal(id).state, JobState::Cancelled);
}

/// A stand-in `pmtwatch` that prints each argument on its own line, framed so that
/// leading/trailing spaces would show.
fn fake_pmtwatch(bin: &Path) {
    std::fs::create_dir_all(bin).expect("bin dir");
    write_exec(
        &bin.join("pmtwatch"),
        "#!/bin/bash\nfor a in \"$@\"; do printf 'ARG[%s]\\n' \"$a\"; done\n",
    );
}

/// Submits a script from `slurm/` with hostile-but-legal values and returns the job's
/// final state and output.
fn submit_scan_script(script: &str, path_env: &str, dir: &Path) -> (JobInfo, String, [String; 3]) {
    submit_scan_script_with(script, path_env, dir, &[])
}

/// [`submit_scan_script`] with more job variables (an HV check's `HV_LIST`).
fn submit_scan_script_with(
    script: &str,
    path_env: &str,
    dir: &Path,
    extra: &[(&str, &str)],
) -> (JobInfo, String, [String; 3]) {
    let scan_dir = format!("{}/scan dir $HOME `id` 'q' \"dq\";x", dir.display());
    let out_dir = format!("{}/out *", dir.display());
    let serial = Serial::parse("KM-12345_a1").expect("valid serial");
    let opts = SbatchOptions {
        mem: Some(TEST_MEM.into()),
        time: Some("10".into()),
        output_path: Some(format!("{}/job-%j.out", dir.display())),
        chdir: Some(dir.to_string_lossy().into_owned()),
        env: scan_env(&scan_dir, &serial, &out_dir).expect("valid values"),
        ..SbatchOptions::default()
    };
    let mut opts = opts;
    opts.env
        .extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let argv = sbatch_args(&repo_file(script), "pmt-test-scan", &opts).expect("valid");
    let id = submit(&argv, &[("PATH", path_env)]);
    let mut info = wait_terminal(id);
    let output = read_output(&info);
    info.output_tail = Some(slurm::output_tail(&output, slurm::OUTPUT_TAIL_LINES));
    (info, output, [scan_dir, serial.to_string(), out_dir])
}

fn args_of(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|l| l.strip_prefix("ARG[")?.strip_suffix(']'))
        .map(str::to_string)
        .collect()
}

#[test]
fn scan_script_gets_its_values_from_the_environment() {
    let _slurm = crate::common::slurm_shared_blocking();
    let dir = tmpdir();
    let bin = dir.path().join("bin");
    fake_pmtwatch(&bin);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (info, output, [scan_dir, sn, out_dir]) =
        submit_scan_script(slurm::SCAN_SCRIPT, &path, dir.path());
    assert_eq!(info.state, JobState::Completed, "{}", info.summary());
    assert!(info.state.is_success());
    assert_eq!(
        args_of(&output),
        [
            "process", "--watch", &scan_dir, "--serial", &sn, "--json", "--out", &out_dir
        ],
        "output:\n{output}"
    );
    assert!(
        output.contains("pmtwatch-scan: job"),
        "context line: {output}"
    );
}

#[test]
fn hv_script_asks_for_five_points() {
    let _slurm = crate::common::slurm_shared_blocking();
    let dir = tmpdir();
    let bin = dir.path().join("bin");
    fake_pmtwatch(&bin);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (info, output, [scan_dir, sn, out_dir]) =
        submit_scan_script(slurm::HV_SCRIPT, &path, dir.path());
    assert_eq!(info.state, JobState::Completed, "{}", info.summary());
    assert_eq!(
        args_of(&output),
        [
            "process", "--watch", &scan_dir, "--serial", &sn, "--json", "--out", &out_dir,
            "--points", "5"
        ],
        "output:\n{output}"
    );
}

/// The HV script follows the run's voltage list (issue 12): as many points as voltages,
/// and a list with something else than voltages fails before pmtwatch runs.
#[test]
fn hv_script_takes_the_runs_voltages() {
    let _slurm = crate::common::slurm_shared_blocking();
    let dir = tmpdir();
    let bin = dir.path().join("bin");
    fake_pmtwatch(&bin);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (info, output, [scan_dir, sn, out_dir]) = submit_scan_script_with(
        slurm::HV_SCRIPT,
        &path,
        dir.path(),
        &[("HV_LIST", "1600 1650 1700 1712.5"), ("SETTLE", "0.5")],
    );
    assert_eq!(info.state, JobState::Completed, "{}", info.summary());
    assert_eq!(
        args_of(&output),
        [
            "process", "--watch", &scan_dir, "--serial", &sn, "--json", "--out", &out_dir,
            "--points", "4", "--settle", "0.5"
        ],
        "output:\n{output}"
    );
    assert!(
        output.contains("voltages 1600 1650 1700 1712.5"),
        "{output}"
    );

    let dir = tmpdir();
    fake_pmtwatch(&dir.path().join("bin"));
    let (info, output, _) = submit_scan_script_with(
        slurm::HV_SCRIPT,
        &path,
        dir.path(),
        &[("HV_LIST", "1600 $(id)")],
    );
    assert!(!info.state.is_success(), "{}", info.summary());
    assert!(output.contains("is not a voltage"), "{output}");
    assert!(
        args_of(&output).is_empty(),
        "pmtwatch must not run: {output}"
    );
}

#[test]
fn scan_script_without_pmtwatch_fails_clearly() {
    let _slurm = crate::common::slurm_shared_blocking();
    let dir = tmpdir();
    // A PATH with the system tools but no pmtwatch.
    let (info, output, _) = submit_scan_script(slurm::SCAN_SCRIPT, "/usr/bin:/bin", dir.path());
    assert_eq!(
        info.state,
        JobState::Failed {
            exit_code: Some(127),
            signal: None
        },
        "{}",
        info.summary()
    );
    assert!(
        output.contains("'pmtwatch' is not on PATH"),
        "output:\n{output}"
    );
    assert!(info.summary().contains("not on PATH"), "{}", info.summary());
}

#[test]
fn forgotten_job_id_is_invalid_not_unreachable() {
    let _slurm = crate::common::slurm_shared_blocking();
    let argv = scontrol_args(999_999_999);
    let out = run(&argv);
    assert_ne!(out.status, Some(0));
    assert_eq!(
        classify_failure(&out.stderr, out.status),
        Fault::InvalidJobId,
        "{}",
        out.stderr
    );
    let out = run(&squeue_args(999_999_999));
    assert_eq!(
        classify_failure(&out.stderr, out.status),
        Fault::InvalidJobId
    );
}

#[test]
fn unreachable_controller_is_cluster_unreachable() {
    let _slurm = crate::common::slurm_shared_blocking();
    // A copy of the cluster's config that points at a port nothing listens on, with a
    // short MessageTimeout so the clients give up at once instead of after ~10-20 s.
    let dir = tmpdir();
    let conf = std::fs::read_to_string(slurm_conf()).expect("read slurm.conf");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
        // dropped here: the port is closed again
    };
    let dead: String = conf
        .lines()
        .map(|l| {
            if l.starts_with("SlurmctldPort=") {
                format!("SlurmctldPort={port}")
            } else {
                l.to_string()
            }
        })
        .chain(["MessageTimeout=1".to_string()])
        .map(|l| l + "\n")
        .collect();
    let dead_conf = dir.path().join("slurm.conf");
    std::fs::write(&dead_conf, dead).expect("write config");
    let dead_conf = dead_conf.to_string_lossy().into_owned();

    let script = dir.path().join("job.sh");
    write_exec(&script, "#!/bin/bash\ntrue\n");
    let submit_argv = sbatch_args(
        &script.to_string_lossy(),
        "pmt-test-unreachable",
        &SbatchOptions::default(),
    )
    .expect("valid");
    for argv in [
        submit_argv,
        scontrol_args(1),
        squeue_args(1),
        scancel_args(1),
    ] {
        let t0 = Instant::now();
        let out = run_with(&argv, &dead_conf, &[]);
        assert!(t0.elapsed() < WAIT, "{argv:?} took {:?}", t0.elapsed());
        assert_ne!(
            out.status,
            Some(0),
            "{argv:?} succeeded against a dead controller"
        );
        let err = slurm::check_status("127.0.0.1", &argv, out.status, &out.stderr)
            .expect_err("a failure");
        assert!(
            matches!(err, Error::ClusterUnreachable { .. }),
            "{argv:?}: {err} (stderr: {})",
            out.stderr
        );
    }
}

//! `kill -9` of the server mid-scan: a real `pmtwatch serve` process follows a run (on the
//! SLURM cluster, and on this machine), is killed with SIGKILL after a few points, and is
//! started again on the same data directory. The restarted server resumes the run — the
//! SLURM run re-attaches to the *same* job instead of submitting a new one — and the run
//! ends with every point of the scan exactly once, in the store and in what the server
//! shows (its JSON API, read with an API token). The same holds for the lab's own script
//! in command mode: it runs detached, and the restarted server follows it to its end.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pmtwatch::remote::backend::Kind;
use pmtwatch::store::{NewRun, RunState, ScanKind, Store};

use crate::command::lab_profile;
use crate::common;
use crate::fixture::{
    Bench, finish_simulation, pattern_labels, remote_spec, simulate_into, spec_in,
};

const PATTERN: &str = "0/0 10/0 10/90 10/180 10/270 20/0 20/90 20/180";

/// A `pmtwatch serve` process on 127.0.0.1 with its address.
pub(crate) struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    pub(crate) fn start(data: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pmtwatch"))
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start pmtwatch serve");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        // The server prints this line once bound (or exits, which ends the read).
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the server's first line");
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Server { child, addr }
    }

    fn kill9(mut self) {
        self.child.kill().expect("SIGKILL the server");
        let _ = self.child.wait();
    }

    /// `GET path` with a bearer token; the body.
    fn get(&self, path: &str, token: &str) -> String {
        let mut s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .expect("send");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        out.split("\r\n\r\n").nth(1).unwrap_or_default().to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (bounded) until the store satisfies `done`.
async fn wait_store(store: &Store, run: i64, what: &str, done: impl Fn(RunState, usize) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let r = store.get_run(run).expect("read").expect("run");
        let n = store.points(run).expect("points").len();
        if done(r.state, n) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "run {run}: waited for {what}; it is {} ({}) with {n} points",
            r.state,
            r.message
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Removes the scratch directory when the test ends, however it ends.
struct Scratch(std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Once the run has `points` points: SIGKILLs `server`, leaves the scan going on without
/// a server for 2 s, starts a new server on `data`, and waits for the end of the run.
/// The new server, and the run's job as stored before the kill.
async fn kill_after(
    server: Server,
    store: &Store,
    data: &Path,
    run: i64,
    points: usize,
) -> (Server, Option<String>) {
    wait_store(store, run, &format!("{points} points"), |_, n| n >= points).await;
    let job_before = store.get_run(run).expect("read").expect("run").job;
    server.kill9();
    // The scan (and the job on the cluster) carries on while no server watches.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let server = Server::start(data);
    wait_store(store, run, "the end of the run", |s, _| s.is_final()).await;
    (server, job_before)
}

/// The labels of the run's stored points, sorted.
fn stored_labels(store: &Store, run: i64) -> Vec<String> {
    let mut labels: Vec<String> = store
        .points(run)
        .expect("points")
        .into_iter()
        .map(|p| p.label)
        .collect();
    labels.sort();
    labels
}

/// A store as a server left it: the profile, slot 1 with `serial`, the executor on, and
/// a run of `points` points not yet dispatched; the run's id.
fn seed_run(
    store: &Store,
    spec: &pmtwatch::monitor::ProfileSpec,
    serial: &str,
    points: i64,
) -> i64 {
    let json = serde_json::to_string(spec).expect("spec");
    let profile = store.save_profile(None, "p", &json).expect("profile");
    store.slots().expect("slots");
    store
        .set_slot(1, serial, Some(profile), ScanKind::Surface)
        .expect("slot");
    store
        .set_setting("executor", r#"{"running":true,"by":"test","at":0}"#)
        .expect("executor");
    store
        .create_run(&NewRun {
            slot_id: 1,
            serial: serial.into(),
            kind: ScanKind::Surface,
            profile_name: "p".into(),
            profile: json,
            points_total: points,
            operator: "olga".into(),
        })
        .expect("run")
        .id
}

async fn killed_mid_scan(kind: Kind) {
    let name = format!("restart-{kind:?}").to_lowercase();
    let scratch = Scratch(Bench::scratch(&name));
    let dir = scratch.0.clone();
    let data = dir.join("data");
    let store = Store::open_dir(&data).expect("store");
    let spec = match kind {
        Kind::Local => spec_in(&dir, PATTERN),
        _ => remote_spec(&dir, PATTERN, kind),
    };
    let run = seed_run(&store, &spec, "KM4001", 8);
    let token = store.create_api_token("restart-test").expect("token");

    let server = Server::start(&data);
    let sim = simulate_into(&dir.join("scan"), "KM4001", PATTERN, None, 1.5);
    let (server, job_before) = kill_after(server, &store, &data, run, 3).await;
    finish_simulation(sim);

    let r = store.get_run(run).expect("read").expect("run");
    assert_eq!(r.state, RunState::Complete, "{}", r.message);
    if kind == Kind::Slurm {
        assert!(job_before.is_some(), "the job was recorded before the kill");
        assert_eq!(
            r.job, job_before,
            "re-attached to the same job, none submitted again"
        );
    }
    let labels = stored_labels(&store, run);
    assert_eq!(labels, pattern_labels(PATTERN), "every point exactly once");

    // What the restarted server shows.
    let body = server.get(&format!("/api/runs/{run}"), token.expose());
    let doc: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let points = doc["points"].as_array().expect("points");
    assert_eq!(points.len(), 8, "{doc}");
    assert_eq!(doc["state"], "complete");
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slurm_run_survives_kill_9_of_the_server_with_every_point_once() {
    let _slurm = common::slurm_shared().await;
    killed_mid_scan(Kind::Slurm).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_run_survives_kill_9_of_the_server_with_every_point_once() {
    killed_mid_scan(Kind::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_mode_script_survives_kill_9_of_the_server() {
    let scratch = Scratch(Bench::scratch("restart-command"));
    let dir = scratch.0.clone();
    let spec = lab_profile(&dir, 1.0);
    let data = dir.join("data");
    let store = Store::open_dir(&data).expect("store");
    let run = seed_run(&store, &spec, "KM4002", 5);

    let server = Server::start(&data);
    let (server, job_before) = kill_after(server, &store, &data, run, 2).await;
    drop(server);

    let r = store.get_run(run).expect("read").expect("run");
    assert_eq!(r.state, RunState::Complete, "{}", r.message);
    assert!(
        job_before.is_some(),
        "the script's job was recorded before the kill"
    );
    assert_eq!(
        r.job, job_before,
        "followed the same script, not started again"
    );
    let labels = stored_labels(&store, run);
    assert_eq!(
        labels,
        pattern_labels(crate::fixture::PATTERN),
        "every point exactly once"
    );
    let runs = std::fs::read_dir(dir.join("lab"))
        .expect("lab dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("scan_output_"))
        .count();
    assert_eq!(runs, 1, "the script ran once");
}

//! Helpers shared by the real-browser tests (`tests/browser.rs`) and the web benchmark
//! (`src/bin/webbench.rs`): find the built `pmtwatch` binary, start `pmtwatch serve` on a
//! free loopback port with a temporary data directory, create accounts through
//! `pmtwatch user add --password-stdin`, start `chromedriver` and a headless Chromium.
//!
//! The `pmtwatch` binary is the one `cargo test --workspace` (or `cargo build`) built in
//! the same target directory as this test: `<target>/debug/pmtwatch` next to
//! `<target>/debug/deps/<this test>`. `PMTWATCH_BIN` overrides it (e.g. a release build).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use fantoccini::{Client, ClientBuilder, Locator};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

/// The target profile directory this executable was built into (`<target>/debug`).
pub fn profile_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find this test's own executable")?;
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    Ok(dir)
}

/// The `pmtwatch` binary to test: `$PMTWATCH_BIN`, else `<target>/<profile>/pmtwatch`.
pub fn pmtwatch_bin() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("PMTWATCH_BIN") {
        let p = PathBuf::from(p);
        if !p.is_file() {
            bail!("PMTWATCH_BIN={} is not a file", p.display());
        }
        return Ok(p);
    }
    let p = profile_dir()?.join("pmtwatch");
    if !p.is_file() {
        bail!(
            "no pmtwatch binary at {}: run the browser tests with `cargo test --workspace` \
             (which builds it), or `cargo build --bin pmtwatch` first, or set PMTWATCH_BIN",
            p.display()
        );
    }
    Ok(p)
}

/// Where screenshots go: `<target>/browser-screenshots/`.
pub fn screenshot_dir() -> Result<PathBuf> {
    let dir = profile_dir()?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
        .join("browser-screenshots");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// A free TCP port on 127.0.0.1 (bound and released; good enough for tests).
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("cannot bind 127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Creates an account with `pmtwatch user add NAME --role ROLE --password-stdin`.
pub async fn add_user(
    bin: &Path,
    data_dir: &Path,
    name: &str,
    role: &str,
    password: &str,
) -> Result<()> {
    let mut child = Command::new(bin)
        .args([
            "user",
            "add",
            name,
            "--role",
            role,
            "--password-stdin",
            "--data-dir",
        ])
        .arg(data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start pmtwatch user add")?;
    if let Some(mut stdin) = child.stdin.take() {
        // A broken pipe means the command exited early; its status and stderr say why.
        let _ = stdin.write_all(format!("{password}\n").as_bytes()).await;
    }
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .context("pmtwatch user add took over 60 s")??;
    if !out.status.success() {
        bail!(
            "pmtwatch user add {name} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// A running `pmtwatch serve`; killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Server {
    /// Starts `pmtwatch serve --bind 127.0.0.1:PORT --data-dir DIR` and waits (at most
    /// 60 s) for its "listening on" line.
    pub async fn start(bin: &Path, data_dir: &Path, port: u16) -> Result<Server> {
        Self::start_with(bin, data_dir, port, &[]).await
    }

    /// [`Server::start`] with more arguments for `serve` (e.g. `--config FILE`).
    pub async fn start_with(
        bin: &Path,
        data_dir: &Path,
        port: u16,
        extra: &[&std::ffi::OsStr],
    ) -> Result<Server> {
        let mut child = Command::new(bin)
            .args([
                "serve",
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(data_dir)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start pmtwatch serve")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = tokio::time::timeout(left, lines.next_line())
                .await
                .context("pmtwatch serve did not report listening within 60 s")??;
            match line {
                Some(l) if l.contains("listening on http://") => break,
                Some(_) => {}
                None => bail!("pmtwatch serve exited before listening (port {port} in use?)"),
            }
        }
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        })
    }

    /// The server's base URL.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The server process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Kills the server (SIGKILL, as a crash would) and waits for it.
    pub async fn kill(mut self) -> Result<()> {
        self.child
            .kill()
            .await
            .context("cannot kill pmtwatch serve")?;
        Ok(())
    }
}

/// Checks that Chromium and chromedriver are installed; the error says how to install them.
pub fn chromium_paths() -> Result<(PathBuf, PathBuf)> {
    let find = |names: &[&str]| -> Option<PathBuf> {
        let path = std::env::var_os("PATH")?;
        names.iter().find_map(|n| {
            std::env::split_paths(&path)
                .map(|d| d.join(n))
                .find(|p| p.is_file())
        })
    };
    let browser = std::env::var_os("CHROMIUM_BIN")
        .map(PathBuf::from)
        .or_else(|| find(&["chromium", "chromium-browser"]));
    let driver = std::env::var_os("CHROMEDRIVER_BIN")
        .map(PathBuf::from)
        .or_else(|| find(&["chromedriver"]));
    match (browser, driver) {
        (Some(b), Some(d)) => Ok((b, d)),
        _ => bail!(
            "Chromium and chromedriver are needed for the browser tests: \
             apt-get install chromium chromium-driver (scripts/test installs them when run as root)"
        ),
    }
}

/// A chromedriver process and a WebDriver session with a fresh headless Chromium profile.
pub struct Browser {
    pub client: Client,
    _driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium session.
    pub async fn start() -> Result<Browser> {
        let (chromium, chromedriver) = chromium_paths()?;
        let port = free_port()?;
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", chromedriver.display()))?;
        let profile = tempfile::tempdir().context("cannot create a Chromium profile dir")?;
        let caps = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,800",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        });
        let caps = match caps {
            serde_json::Value::Object(m) => m,
            _ => bail!("capabilities are not an object"),
        };
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let mut builder =
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
            builder.capabilities(caps.clone());
            match builder.connect(&url).await {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    tracing_note(&format!("waiting for chromedriver: {e}"));
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => bail!("no WebDriver session from chromedriver within 30 s: {e}"),
            }
        };
        Ok(Browser {
            client,
            _driver: driver,
            _profile: profile,
        })
    }

    /// Evaluates `expr` (a JavaScript expression) every 50 ms until it is `true`, at most
    /// `limit`. The error names the condition.
    pub async fn wait_js(&self, expr: &str, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        let script = format!("return !!({expr});");
        loop {
            if let Ok(serde_json::Value::Bool(true)) = self.client.execute(&script, vec![]).await {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("timed out after {limit:?} waiting for `{expr}`");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the page at `path` shows (URL path equals it, document complete).
    pub async fn wait_path(&self, path: &str, limit: Duration) -> Result<()> {
        self.wait_js(
            &format!("window.location.pathname === {path:?} && document.readyState === 'complete'"),
            limit,
        )
        .await
    }

    /// Saves a screenshot as `<target>/browser-screenshots/NAME.png`.
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf> {
        let png = self
            .client
            .screenshot()
            .await
            .context("screenshot failed")?;
        let path = screenshot_dir()?.join(format!("{name}.png"));
        std::fs::write(&path, png).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }

    /// Fills the login form and submits it.
    pub async fn login(&self, base: &str, user: &str, password: &str) -> Result<()> {
        self.client.goto(&format!("{base}/login")).await?;
        self.wait_js(
            "document.getElementById('login-form') !== null",
            Duration::from_secs(10),
        )
        .await?;
        let user_box = self.client.find(Locator::Id("username")).await?;
        user_box.send_keys(user).await?;
        let pw_box = self.client.find(Locator::Id("password")).await?;
        pw_box.send_keys(password).await?;
        self.client
            .find(Locator::Id("login-submit"))
            .await?
            .click()
            .await?;
        Ok(())
    }

    /// Closes the WebDriver session (Chromium exits).
    pub async fn close(self) -> Result<()> {
        self.client
            .close()
            .await
            .context("closing the browser failed")?;
        Ok(())
    }
}

fn tracing_note(msg: &str) {
    if std::env::var_os("PMTWATCH_TEST_VERBOSE").is_some() {
        eprintln!("{msg}");
    }
}

/// How long the helpers below wait for an element.
const T: Duration = Duration::from_secs(20);

/// Sets the value of the input `#id` the way typing ends (one `input` and one `change`
/// event: one message over the socket, so a controlled input cannot race the keys).
pub async fn fill(b: &Browser, id: &str, value: &str) -> Result<()> {
    b.wait_js(&format!("document.getElementById({id:?}) !== null"), T)
        .await
        .with_context(|| format!("no element #{id}"))?;
    let script = "const e = document.getElementById(arguments[0]); e.value = arguments[1]; \
                  e.dispatchEvent(new Event('input', {bubbles: true})); \
                  e.dispatchEvent(new Event('change', {bubbles: true})); return true;";
    b.client
        .execute(script, vec![id.into(), value.into()])
        .await
        .with_context(|| format!("filling #{id}"))?;
    b.wait_js(
        &format!("document.getElementById({id:?}).value === {value:?}"),
        T,
    )
    .await
}

/// The test SMTP server's port and mailbox (`PMT_SMTP_PORT`, `PMT_SMTP_MAILBOX`, as
/// `scripts/test-smtp.sh start` prints them); fails saying how to start it.
pub fn smtp() -> Result<(u16, PathBuf)> {
    let port: u16 = std::env::var("PMT_SMTP_PORT")
        .unwrap_or_else(|_| "2525".into())
        .parse()
        .context("PMT_SMTP_PORT is not a port")?;
    let mailbox = std::env::var("PMT_SMTP_MAILBOX")
        .unwrap_or_else(|_| "/tmp/pmtwatch-smtp/mail/mailbox".into());
    if std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        bail!(
            "no SMTP server on 127.0.0.1:{port}: start one with `sudo scripts/test-smtp.sh start` \
             (installs exim4-daemon-light) and export what it prints"
        );
    }
    Ok((port, PathBuf::from(mailbox)))
}

/// The messages in the mbox `mailbox` addressed to `to`.
pub fn mails_to(mailbox: &Path, to: &str) -> Vec<String> {
    let text = std::fs::read_to_string(mailbox).unwrap_or_default();
    text.split("\nFrom ")
        .filter(|m| m.contains(&format!("To: {to}")))
        .map(str::to_string)
        .collect()
}

/// JavaScript: the value of `expr` as a string, or `''` when it is not one.
pub async fn js_string(b: &Browser, expr: &str) -> Result<String> {
    let v = b.client.execute(&format!("return {expr};"), vec![]).await?;
    Ok(v.as_str().unwrap_or_default().to_string())
}

/// Starts the executor from its step, waiting until it says `running`.
pub async fn start_executor(b: &Browser) -> Result<()> {
    click(b, "step-executor").await?;
    click(b, "executor-start").await?;
    b.wait_js(
        "(document.getElementById('executor-state') || {textContent: ''}).textContent === 'running'",
        T,
    )
    .await
    .context("the executor says it is running")
}

/// In the Scan tab: types `serial` into slot `slot`, chooses profile `profile` and presses
/// Run, then waits until the slot shows a run. On a timeout the error quotes what the slot
/// said (a refusal names its reason).
pub async fn run_slot(b: &Browser, slot: u32, serial: &str, profile: i64) -> Result<()> {
    fill(b, &format!("slot-{slot}-serial"), serial).await?;
    b.client
        .find(Locator::Css(&format!(
            "#slot-{slot}-profile option[value='{profile}']"
        )))
        .await
        .with_context(|| format!("slot {slot} offers no profile {profile}"))?
        .click()
        .await?;
    click(b, &format!("slot-{slot}-run")).await?;
    let shown = format!(
        "(document.getElementById('slot-{slot}-status') || {{dataset: {{}}}}).dataset.state"
    );
    if let Err(e) = b
        .wait_js(&format!("!['none', undefined].includes({shown})"), T)
        .await
    {
        let said = b
            .client
            .execute(
                "const m = document.getElementById(arguments[0]); return m ? m.textContent : '';",
                vec![format!("slot-{slot}-message").into()],
            )
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        return Err(e).context(format!(
            "slot {slot} ({serial}) shows no run after Run was pressed; the slot says: {said:?}"
        ));
    }
    Ok(())
}

/// Clicks `#id` once it exists and is enabled (scrolled out from under the header).
pub async fn click(b: &Browser, id: &str) -> Result<()> {
    b.wait_js(
        &format!("(document.getElementById({id:?}) || {{disabled: true}}).disabled === false"),
        T,
    )
    .await
    .with_context(|| format!("#{id} never became clickable"))?;
    // Out from under the sticky header.
    b.client
        .execute(
            "document.getElementById(arguments[0]).scrollIntoView({block: 'center'}); return true;",
            vec![id.into()],
        )
        .await?;
    b.client
        .find(Locator::Id(id))
        .await?
        .click()
        .await
        .with_context(|| format!("clicking #{id}"))?;
    Ok(())
}

/// A running `pmtwatch demo` (killed when dropped) and the password it printed.
pub struct Demo {
    pub child: Child,
    pub password: String,
    pub base: String,
}

/// Starts `pmtwatch demo --bind 127.0.0.1:PORT --data-dir DATA ARGS…` and waits (at most
/// 60 s) for the password it prints; its stderr is drained afterwards.
pub async fn start_demo(bin: &Path, data_dir: &Path, args: &[&str]) -> Result<Demo> {
    let port = free_port()?;
    let mut child = Command::new(bin)
        .args(["demo", "--bind", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data_dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start pmtwatch demo")?;
    let stderr = child.stderr.take().context("no stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let password = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(pw) = line.trim().strip_prefix("password:") {
                return Ok::<_, anyhow::Error>(pw.trim().to_string());
            }
        }
        bail!("pmtwatch demo ended without printing a password")
    })
    .await
    .context("no password from pmtwatch demo within 60 s")??;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(Demo {
        child,
        password,
        base: format!("http://127.0.0.1:{port}"),
    })
}

/// `pmtwatch simulate` of a scan of `serial` on `pattern` into `scan_root` (1500 events a
/// point, one point every `interval` s; `poor` gets a weak spot), killed when dropped.
pub fn simulate(
    bin: &Path,
    scan_root: &Path,
    serial: &str,
    pattern: &str,
    poor: Option<&str>,
    interval: f64,
) -> Command {
    let mut cmd = Command::new(bin);
    cmd.arg("simulate")
        .arg(scan_root)
        .args(["--serial", serial, "--events", "1500", "--pattern", pattern])
        .args(["--interval", &interval.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    if let Some(p) = poor {
        cmd.args(["--poor", p]);
    }
    cmd
}

/// A variable of the test cluster's environment (`scripts/test-cluster.sh start` prints
/// them), or an error saying how to start the cluster.
pub fn cluster_var(k: &str) -> Result<String> {
    std::env::var(k).with_context(|| {
        format!(
            "{k} is not set: start the test cluster first: \
             eval \"$(scripts/test-cluster.sh start)\" (scripts/test does this)"
        )
    })
}

/// Puts `bin` where the cluster user's PATH finds `pmtwatch`, atomically (copy to a temp
/// name of this process, then rename): other tests may deploy at the same time.
pub fn deploy_to_cluster(bin: &Path) -> Result<()> {
    let remote_bin = PathBuf::from(cluster_var("PMT_REMOTE_BIN")?);
    let tmp = remote_bin.join(format!(".pmtwatch.browser.{}.tmp", std::process::id()));
    std::fs::copy(bin, &tmp)?;
    std::fs::rename(&tmp, remote_bin.join("pmtwatch"))?;
    Ok(())
}

/// A fresh bench directory `/tmp/<name>-<pid>` with `work`, `scan`, `archive` and `flag`,
/// all writable by the cluster's user (another account).
pub fn cluster_bench(name: &str) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let bench = PathBuf::from(format!("/tmp/{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&bench);
    for d in ["", "work", "scan", "archive", "flag"] {
        let p = bench.join(d);
        std::fs::create_dir_all(&p)?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777))?;
    }
    Ok(bench)
}

/// The profile form's inputs (element id, value) for a profile on the test cluster over
/// SSH, on the directories of `bench` ([`cluster_bench`]), with the simulated tubes'
/// healthy gain range.
pub fn cluster_profile_inputs(
    bench: &Path,
    settle: f64,
    poll: f64,
    pattern: &str,
) -> Result<Vec<(&'static str, String)>> {
    let dir = |d: &str| bench.join(d).display().to_string();
    Ok(vec![
        (
            "profile-host",
            format!("{}@127.0.0.1", cluster_var("PMT_SSH_USER")?),
        ),
        ("profile-port", cluster_var("PMT_SSH_PORT")?),
        ("profile-identity", cluster_var("PMT_SSH_KEY")?),
        ("profile-known-hosts", cluster_var("PMT_SSH_KNOWN_HOSTS")?),
        ("profile-mem", "200M".into()),
        ("profile-time", "10".into()),
        ("profile-work-dir", dir("work")),
        ("profile-scan-root", dir("scan")),
        ("profile-archive-dir", dir("archive")),
        ("profile-flag-dir", dir("flag")),
        ("profile-settle", settle.to_string()),
        ("profile-poll", poll.to_string()),
        ("profile-pattern", pattern.into()),
        ("profile-gain-min", "8500000".into()),
        ("profile-gain-max", "12000000".into()),
    ])
}

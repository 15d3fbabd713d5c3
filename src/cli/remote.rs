//! `pmtwatch remote …`: remote profiles from the command line. For now `remote test`, the
//! connection test a profile must pass before a scan depends on it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::remote::report::{DEFAULT_MIN_FREE_BYTES, Report, TestOptions, test_connection};
use crate::remote::ssh::SshTarget;

/// Arguments of `pmtwatch remote`.
#[derive(Debug, Clone, clap::Args)]
pub struct RemoteArgs {
    #[command(subcommand)]
    pub command: RemoteCommand,
}

/// The `remote` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum RemoteCommand {
    /// Test a connection: reachable, host key, authentication, remote dir writable,
    /// `pmtwatch --version` there, free disk, and `sbatch` with --slurm.
    Test(TestArgs),
}

/// Arguments of `pmtwatch remote test`.
#[derive(Debug, Clone, clap::Args)]
pub struct TestArgs {
    /// `[user@]host`, as for ssh (`~/.ssh/config` applies).
    pub destination: String,
    #[arg(long, short = 'p')]
    pub port: Option<u16>,
    /// Private key file (the agent and ssh config otherwise).
    #[arg(long, short = 'i', value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// known_hosts file to check the host key against.
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<PathBuf>,
    /// ssh_config file instead of ~/.ssh/config.
    #[arg(long, short = 'F', value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,
    /// Let the --ssh-config file use directives that run commands on this machine
    /// (ProxyCommand, Match exec, …), which are refused otherwise.
    #[arg(long)]
    pub trust_ssh_config: bool,
    /// The pmtwatch program on the remote side (default: `pmtwatch` on the PATH).
    #[arg(long, value_name = "PROGRAM")]
    pub program: Option<String>,
    /// Jump host(s), as ssh -J.
    #[arg(long, short = 'J', value_name = "HOST")]
    pub jump: Vec<String>,
    /// Remote working directory that must be writable.
    #[arg(long, value_name = "DIR")]
    pub remote_dir: Option<String>,
    /// Also check that SLURM's sbatch is available.
    #[arg(long)]
    pub slurm: bool,
    /// Seconds to wait for the connection.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Runs `pmtwatch remote …`.
pub fn run(args: &RemoteArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        RemoteCommand::Test(t) => run_test(t),
    }
}

fn run_test(args: &TestArgs) -> anyhow::Result<ExitCode> {
    let mut target = SshTarget::parse(&args.destination)?;
    target.port = args.port;
    target.identity = args.identity.clone();
    target.known_hosts = args.known_hosts.clone();
    target.config_file = args.ssh_config.clone();
    if args.trust_ssh_config
        && let Some(path) = &args.ssh_config
    {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read the ssh config {}", path.display()))?;
        target.config_allowed = Some(crate::remote::inputs::sha256_hex(&bytes));
    }
    target.jump_hosts = args.jump.clone();
    target.connect_timeout = Duration::from_secs(args.timeout.max(1));
    let opts = TestOptions {
        remote_dir: args.remote_dir.clone(),
        slurm: args.slurm,
        min_free_bytes: DEFAULT_MIN_FREE_BYTES,
        program: args.program.clone(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = rt.block_on(test_connection(target, &opts));
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_report(&report);
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_report(r: &Report) {
    println!("connection test: {}", r.target);
    for c in &r.checks {
        let mark = match (c.ok, c.skipped) {
            (true, _) => "ok  ",
            (false, true) => "skip",
            (false, false) => "FAIL",
        };
        println!("  {mark} {:<20} {}", c.item, c.detail);
    }
    println!(
        "{}",
        if r.ok {
            "all checks passed"
        } else {
            "some checks failed"
        }
    );
}

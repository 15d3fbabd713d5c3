//! The `pmtwatch` binary: parses the command line and hands over to [`pmtwatch::cli`].
//! Errors are printed once, here, with their whole chain of causes.

use clap::{Parser, Subcommand};
use pmtwatch::cli;

/// pmtwatch — live monitoring and processing of PMT calibration scans.
#[derive(Debug, Parser)]
#[command(name = "pmtwatch", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
// Parsed once at start-up and consumed: its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Process one scan point (files or a point directory), or follow a scan with --watch.
    Process(cli::process::ProcessArgs),
    /// Write a realistic simulated scan in the R12860 bench layout, with its truth.
    Simulate(cli::simulate::SimulateArgs),
    /// Fit gain against HV (an HV check) and give the voltage for the target gain.
    HvFit(cli::hv_fit::HvFitArgs),
    /// Remote profiles: test a connection (SSH, SLURM).
    Remote(cli::remote::RemoteArgs),
    /// Simulate a scan, process every point and compare the gains with the truth.
    Demo(cli::demo::DemoArgs),
    /// Serve the operator web app (login, LiveView shell) until Ctrl-C or SIGTERM.
    Serve(cli::serve::ServeArgs),
    /// Lab accounts: add, list, passwd, role, delete (same database as `serve`).
    User(cli::user::UserArgs),
    /// API tokens for scripts: create, list, revoke (same database as `serve`).
    Token(cli::token::TokenArgs),
}

fn main() -> std::process::ExitCode {
    let args = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PMTWATCH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match args.command {
        Command::Process(a) => cli::process::run(&a),
        Command::Simulate(a) => cli::simulate::run(&a),
        Command::HvFit(a) => cli::hv_fit::run(&a),
        Command::Remote(a) => cli::remote::run(&a),
        Command::Demo(a) => cli::demo::run(&a),
        Command::Serve(a) => cli::serve::run(&a),
        Command::User(a) => cli::user::run(&a),
        Command::Token(a) => cli::token::run(&a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

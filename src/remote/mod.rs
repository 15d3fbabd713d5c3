//! Remote execution: where a scan is processed — this machine, a host reached over SSH, or
//! a SLURM cluster — behind one interface the monitor uses without blocking its runtime.
//!
//! # Layout
//! - [`backend`]: **the interface the monitor uses**: `Backend` over Local / Ssh / Slurm —
//!   connection test, pipeline-mode scans, detached jobs (start/poll/cancel), transfers,
//!   with reconnect of a lost SSH master.
//! - [`exec`]: where a command runs (this machine or an SSH master), as one trait.
//! - [`error`]: the remote layer's error type; every variant says what to check or do.
//! - [`inputs`]: pmtwatch's own grammar for hops, paths, programs and ssh_config files,
//!   checked on save and again where each value is used.
//! - [`quote`]: shell quoting of every value that reaches a remote shell.
//! - [`template`]: command-mode templates (`sbatch ./RUN.slurm {SN}`), parsed once, with
//!   placeholders substituted as quoted words.
//! - [`ssh`]: an SSH connection over the system OpenSSH client (multiplexed master, so
//!   `~/.ssh/config`, the agent, `ProxyJump` and known_hosts work as the operator expects),
//!   command execution, line streaming, reconnect with backoff.
//! - [`slurm`]: typed SLURM job states parsed from `squeue`, `scontrol` and `sacct`.
//! - [`sysinfo`]: parsers of `nvidia-smi`, `sinfo` and `squeue` output for the System tab, and
//!   the fixed query formats they expect.
//! - [`jobs`]: SLURM jobs over SSH: submit, poll (unreachable controller ≠ failed), cancel, wait.
//! - [`report`]: the connection-test report (`pmtwatch remote test`).
//! - [`moves`]: verified moves of remote run directories, never overwriting.
//! - [`transfer`]: SFTP on the same master: list new results, atomic resumable transfers.
//! - [`follow`]: follows a remote `process --watch --json` scan (streamed lines or a SLURM
//!   job's result directory), fetching each point.
//! - [`command_mode`]: command mode — a lab's own scripts run from a template, their result files
//!   synced, θ/φ or HV and the gain read from them.
//!
//! `ARCHITECTURE.md` draws how the pieces fit.

pub mod backend;
pub mod command_mode;
pub mod error;
pub mod exec;
pub mod follow;
pub mod inputs;
pub mod jobs;
pub mod moves;
pub mod quote;
pub mod report;
pub mod slurm;
pub mod ssh;
pub mod sysinfo;
pub mod template;
pub mod transfer;

pub use error::{Error, Result};

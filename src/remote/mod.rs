//! Remote execution: where a scan is processed — this machine, a host reached over SSH, or
//! a SLURM cluster — behind one interface the monitor uses without blocking its runtime.
//!
//! # Layout
//! - [`error`]: the remote layer's error type; every variant says what to check or do.
//! - [`quote`]: shell quoting of every value that reaches a remote shell.
//! - [`template`]: command-mode templates (`sbatch ./RUN.slurm {SN}`), parsed once, with
//!   placeholders substituted as quoted words.
//! - [`ssh`]: an SSH connection over the system OpenSSH client (multiplexed master, so
//!   `~/.ssh/config`, the agent, `ProxyJump` and known_hosts work as the operator expects),
//!   command execution, line streaming, reconnect with backoff.
//! - [`slurm`]: typed SLURM job states parsed from `squeue`, `scontrol` and `sacct`.
//! - [`jobs`]: SLURM jobs over SSH: submit, poll (unreachable controller ≠ failed), cancel, wait.
//! - [`report`]: the connection-test report (`pmtwatch remote test`).
//! - [`moves`]: verified moves of remote run directories, never overwriting.
//! - [`transfer`]: SFTP on the same master: list new results, atomic resumable transfers.
//! - [`pipeline`]: follows a remote `process --watch --json` scan, fetching each point.
//! - [`command`]: command mode — a lab's own scripts run from a template, their result files
//!   synced, θ/φ or HV and the gain read from them.
//!
//! Built so far: connection, commands, streaming, the connection test, SFTP transfers and
//! verified moves over SSH; quoting and templates; SLURM states, argv builders and batch
//! scripts. Still to come (see the issue): the `Backend` interface over Local/Ssh/Slurm
//! that puts these together (submit/poll/cancel, pipeline and command modes, result sync,
//! automatic reconnect of a lost master) and its end-to-end stories.

pub mod command;
pub mod error;
pub mod jobs;
pub mod moves;
pub mod pipeline;
pub mod quote;
pub mod report;
pub mod slurm;
pub mod ssh;
pub mod template;
pub mod transfer;

pub use error::{Error, Result};

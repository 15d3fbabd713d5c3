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
//!   command execution, and the connection test.
//! - [`slurm`]: typed SLURM job states parsed from `squeue`, `scontrol` and `sacct`.
//! - [`report`]: the connection-test report (`pmtwatch remote test`).
//!
//! Built so far: connection, command execution and the connection test over SSH, quoting
//! and templates, SLURM state parsing. Still to come (see the issue): the `Backend`
//! interface over Local/Ssh/Slurm, submit/poll/cancel, result sync and verified moves.

pub mod error;
pub mod quote;
pub mod report;
pub mod slurm;
pub mod ssh;
pub mod template;

pub use error::{Error, Result};

//! End-to-end tests of the monitor (the executor inside the server) against real parts:
//! the pmtwatch binary processing simulated scans, the real sshd and single-node SLURM
//! cluster of `scripts/test-cluster.sh` on 127.0.0.1, and a real `pmtwatch serve` process
//! that is killed with SIGKILL mid-scan. One test binary (one link of the dependency tree).
//!
//! Without the cluster's environment the SSH/SLURM tests fail and say how to start it; none
//! is skipped. Every wait has a deadline.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod alarms;
mod command;
mod dark;
mod fixture;
mod gpu;
mod hv;
mod hv_command;
mod jump;
mod local;
mod reference;
mod restart;
mod review;
mod slurm;
mod system;
mod unreachable;

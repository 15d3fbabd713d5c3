//! Integration tests of the remote layer against the real sshd and single-node SLURM
//! cluster that `scripts/test-cluster.sh start` runs on 127.0.0.1, as one test binary
//! (one link of the dependency tree instead of one per file).
//!
//! Without the cluster's environment every test fails and says how to start it; none is
//! skipped. Tests that need the SLURM controller hold `common::slurm_shared`; the one that
//! stops the controller holds `common::slurm_exclusive`, so it never pulls the controller
//! from under another test running in parallel.

#[path = "../common/mod.rs"]
mod common;

mod backend;
mod command_mode;
mod follow;
mod gpu;
mod hostile;
mod jobs;
mod limits;
mod moves;
mod slurm;
mod ssh;
mod stream;
mod transfer;

//! Where work runs: on this machine, on a host over SSH, or as a SLURM job. The
//! `remote::backend::Backend` acts on it; profiles and the profile form name it.

use serde::{Deserialize, Serialize};

/// Where work runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Local,
    Ssh,
    Slurm,
}

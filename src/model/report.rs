//! What the connection test found ("test connection" on the profile page, `pmtwatch remote
//! test`): one entry per item with a verdict and a sentence. `remote::report` runs the
//! test; the profile page and the CLI show its result.

use serde::Serialize;

/// One checked item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// `settings`, `reachable`, `host_key`, `authenticated`, `remote_dir_writable`, `pmtwatch`,
    /// `free_disk`, `sbatch`.
    pub item: &'static str,
    pub ok: bool,
    /// Not checked because an earlier item failed.
    pub skipped: bool,
    /// What was found, or what to do.
    pub detail: String,
    pub ms: f64,
}

/// The whole report: `ok` only when every item is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub ok: bool,
    pub target: String,
    pub checks: Vec<Check>,
}

//! Failures of the SLURM commands themselves: [`classify_failure`] tells an unreachable
//! controller from an unknown job id from everything else, so a backend never reports a job
//! whose fate is unknown as failed.

use crate::remote::error::{Error, Result};

/// Why a SLURM command failed, as far as its stderr and exit status tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The controller (or the accounting daemon) does not answer, or the command gave no
    /// status at all (killed after hanging). The job's fate is unknown: never report it as
    /// failed, never resubmit.
    ControllerUnreachable { detail: String },
    /// The controller does not know the job (any more): fall back to `sacct` or to the
    /// job's output / result files.
    InvalidJobId,
    /// `sacct` on a cluster without accounting: use the output / result files instead.
    AccountingDisabled,
    /// The SLURM command is not installed (or not on the PATH of a non-login shell).
    NotInstalled { detail: String },
    /// Anything else (bad partition, invalid option, permission, …): the operator must act.
    Other { detail: String },
}

/// stderr fragments (lower case) that mean "no answer from the controller / slurmdbd".
const UNREACHABLE_MARKERS: &[&str] = &[
    "unable to contact slurm controller",
    "socket timed out on send/recv",
    "zero bytes were transmitted or received",
    "connection refused",
    "connection timed out",
    "connection reset by peer",
    "communication connection failure",
    "no route to host",
    "network is unreachable",
    "transport endpoint is not connected",
    "backup controller in standby mode",
    "slurmctld not responding",
    "problem talking to the database",
];

/// Tells "the controller does not answer" from "the job id is unknown" from everything
/// else, given a failed command's stderr and exit status (`None`: killed by a signal,
/// e.g. by the caller's time-out).
pub fn classify_failure(stderr: &str, status: Option<i32>) -> Fault {
    let lower = stderr.to_ascii_lowercase();
    let detail = crate::remote::ssh::tail(stderr, 3);
    if let Some(marker) = UNREACHABLE_MARKERS.iter().find(|m| lower.contains(*m)) {
        return Fault::ControllerUnreachable {
            detail: if detail.is_empty() {
                (*marker).to_string()
            } else {
                detail
            },
        };
    }
    if lower.contains("invalid job id") {
        return Fault::InvalidJobId;
    }
    if lower.contains("accounting storage is disabled") {
        return Fault::AccountingDisabled;
    }
    if status == Some(127) || lower.contains("command not found") {
        return Fault::NotInstalled {
            detail: if detail.is_empty() {
                "exit status 127 (command not found)".into()
            } else {
                detail
            },
        };
    }
    if status.is_none() {
        // A SLURM client that had to be killed was waiting on the controller (they retry
        // for MessageTimeout × n seconds before giving up).
        return Fault::ControllerUnreachable {
            detail: if detail.is_empty() {
                "the command gave no answer and was stopped".into()
            } else {
                detail
            },
        };
    }
    Fault::Other { detail }
}

impl Fault {
    /// The remote-layer error for this fault: [`Error::ClusterUnreachable`] for an
    /// unreachable controller, [`Error::Command`] (with the stderr tail) otherwise.
    pub fn into_error(
        self,
        host: &str,
        argv: &[String],
        status: Option<i32>,
        stderr: &str,
    ) -> Error {
        match self {
            Fault::ControllerUnreachable { detail } => Error::ClusterUnreachable {
                host: host.to_string(),
                detail,
            },
            Fault::NotInstalled { detail } => Error::Command {
                host: host.to_string(),
                command: argv.join(" "),
                status: status_text(status),
                stderr_tail: format!(
                    "{detail} — is SLURM installed there and on the PATH of a non-login shell?"
                ),
            },
            Fault::InvalidJobId | Fault::AccountingDisabled | Fault::Other { .. } => {
                Error::Command {
                    host: host.to_string(),
                    command: argv.join(" "),
                    status: status_text(status),
                    stderr_tail: crate::remote::ssh::tail(stderr, 5),
                }
            }
        }
    }
}

fn status_text(status: Option<i32>) -> String {
    status.map_or_else(
        || "no status (killed or timed out)".into(),
        |s| format!("status {s}"),
    )
}

/// `Ok(())` for exit status 0; otherwise the classified error ([`classify_failure`] then
/// [`Fault::into_error`]). For callers that have no fallback for an unknown job id.
pub fn check_status(host: &str, argv: &[String], status: Option<i32>, stderr: &str) -> Result<()> {
    if status == Some(0) {
        return Ok(());
    }
    Err(classify_failure(stderr, status).into_error(host, argv, status, stderr))
}

#[cfg(test)]
mod tests {
    use super::super::captured::{
        ERR_BAD_PARTITION, ERR_INVALID_ID, ERR_MEM, ERR_SACCT_NO_ACCOUNTING, ERR_SBATCH_DOWN,
        ERR_SCANCEL_DOWN, ERR_SQUEUE_DOWN,
    };
    use super::super::squeue_args;
    use super::*;

    #[test]
    fn failures_are_classified() {
        for (err, status) in [
            (ERR_SQUEUE_DOWN, Some(1)),
            (ERR_SCANCEL_DOWN, Some(8)),
            (ERR_SBATCH_DOWN, Some(1)),
            (
                "squeue: error: Socket timed out on send/recv operation",
                Some(1),
            ),
            ("error: Connection refused", Some(1)),
            (
                "sacct: error: Problem talking to the database: Connection refused",
                Some(1),
            ),
            ("", None),
        ] {
            assert!(
                matches!(
                    classify_failure(err, status),
                    Fault::ControllerUnreachable { .. }
                ),
                "{err:?}"
            );
        }
        assert_eq!(
            classify_failure(ERR_INVALID_ID, Some(1)),
            Fault::InvalidJobId
        );
        assert_eq!(
            classify_failure(ERR_SACCT_NO_ACCOUNTING, Some(1)),
            Fault::AccountingDisabled
        );
        assert!(matches!(
            classify_failure("bash: line 1: sbatch: command not found", Some(127)),
            Fault::NotInstalled { .. }
        ));
        assert!(matches!(
            classify_failure(ERR_BAD_PARTITION, Some(1)),
            Fault::Other { .. }
        ));
        assert!(matches!(
            classify_failure(ERR_MEM, Some(1)),
            Fault::Other { .. }
        ));

        let argv = squeue_args(6);
        let e = check_status("cluster", &argv, Some(1), ERR_SQUEUE_DOWN).expect_err("fails");
        assert!(matches!(e, Error::ClusterUnreachable { .. }), "{e}");
        let e = check_status("cluster", &argv, Some(1), ERR_MEM).expect_err("fails");
        assert!(matches!(e, Error::Command { .. }), "{e}");
        assert!(
            e.to_string().contains("Requested node configuration"),
            "{e}"
        );
        assert!(check_status("cluster", &argv, Some(0), "warning").is_ok());
    }
}

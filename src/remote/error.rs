//! The remote layer's errors. Each variant names what failed in terms the operator can act
//! on ("host key changed — check known_hosts"), and none carries a secret.

use std::path::PathBuf;

/// Result alias for the remote layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong talking to a remote host or cluster.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value (serial number, template value, path) was refused before anything ran.
    #[error("refused {what}: {why}")]
    Invalid { what: String, why: String },
    /// The host's key differs from the one in known_hosts: possibly an attack, possibly a
    /// reinstalled host. Never accepted silently.
    #[error(
        "SSH to {host}: the host key has CHANGED — check {known_hosts} (possible attack or reinstalled host); remove the old key only if you know why it changed"
    )]
    HostKeyChanged { host: String, known_hosts: String },
    /// The host is not in known_hosts and strict checking refuses it.
    #[error(
        "SSH to {host}: the host key is unknown — add it to {known_hosts} (ssh-keyscan, then verify the fingerprint) before connecting"
    )]
    HostKeyUnknown { host: String, known_hosts: String },
    /// The server refused every key offered.
    #[error(
        "SSH to {host}: authentication failed — check the user name and the identity file / agent"
    )]
    AuthFailed { host: String },
    /// Nothing answered, or the connection dropped.
    #[error("SSH to {host}: unreachable — {detail}")]
    Unreachable { host: String, detail: String },
    /// A remote command ran and failed.
    #[error("`{command}` on {host} exited with {status}: {stderr_tail}")]
    Command {
        host: String,
        command: String,
        status: String,
        stderr_tail: String,
    },
    /// A remote directory move was refused or did not verify: `why` names the check that
    /// failed and where the data is now (a failed move never looks like a success).
    #[error("moving {src} to {dest}: {why}")]
    Move {
        src: String,
        dest: String,
        why: String,
    },
    /// The SLURM controller does not answer (not the same as a failed job).
    #[error("SLURM controller on {host} does not answer: {detail}")]
    ClusterUnreachable { host: String, detail: String },
    /// A disk (or quota) is full where pmtwatch or the remote side writes results.
    #[error(
        "disk full on {host}: {detail} — free space there (df -h); finished points are kept \
         and the scan can be resumed"
    )]
    DiskFull { host: String, detail: String },
    /// A local file operation failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Anything else the SSH client reported.
    #[error("SSH to {host}: {detail}")]
    Ssh { host: String, detail: String },
}

/// Whether a command's error output says a disk or quota is full.
pub fn says_disk_full(text: &str) -> bool {
    text.contains("No space left on device")
        || text.contains("Disk quota exceeded")
        || text.contains("disk full")
}

//! Persistence: one SQLite file (WAL) under the data directory with numbered migrations and
//! typed functions per table. No SQL lives outside this module.
//!
//! - [`migrations`]: the schema as an ordered list of numbered migrations (never edit one).
//! - [`users`]: lab accounts, roles, argon2id password hashes, the per-user theme.
//! - [`sessions`]: login sessions; random 256-bit tokens stored only as SHA-256 hashes.
//! - [`alarms`]: the alarms — one active per condition, history kept, acknowledged and shelved —
//!   and notification deliveries.
//! - [`logbook`]: each run's logbook, searchable (FTS5).
//! - [`audit`]: the append-only audit log (who, what, when, details as JSON).
//! - [`password`]: hashing and verifying passwords (argon2id).
//! - [`runs`]: runs and their points (what the live grid and History show).
//! - [`hv`]: HV check results per serial, and the voltage a surface scan is offered.
//! - [`profiles`], [`slots`], [`tokens`], [`settings`]: the bench's configuration — compute
//!   profiles, PMT slots, API tokens for scripts, server-wide settings — one file per table.
//!
//! [`Store`] is a cheap handle around one connection behind a `std` mutex: every method is
//! blocking, so async code calls it through [`Store::run`], which moves the work onto
//! tokio's blocking pool. The CLI (`pmtwatch user …`) opens the same file while `serve`
//! runs; WAL mode and a busy timeout make that safe.

pub(crate) mod alarms;
pub(crate) mod audit;
pub(crate) mod hv;
pub(crate) mod logbook;
pub(crate) mod migrations;
pub(crate) mod password;
pub(crate) mod profiles;
pub(crate) mod runs;
pub(crate) mod sessions;
pub(crate) mod settings;
pub(crate) mod slots;
pub(crate) mod tokens;
pub(crate) mod users;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::Connection;

pub use crate::model::HvResult;
pub use alarms::NewAlarm;
pub use audit::AuditEntry;
pub use profiles::ProfileRow;
pub use runs::{
    NewRun, Point, PointStatus, Review, ReviewStep, Run, RunFilter, RunState, ScanKind,
};
pub use sessions::{NewSession, SessionToken, SessionUser};
pub use slots::Slot;
pub use tokens::ApiToken;
pub use users::{Role, Theme, User};

/// The database file's name inside the data directory.
pub const DB_FILE: &str = "pmtwatch.sqlite3";

/// What can go wrong in the store. Messages name the problem and, where there is one, the fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open the database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the database was written by a newer pmtwatch (schema version {found}, this build knows up to {known}); use the newer pmtwatch"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error("migration {number} ({name}) failed: {source}")]
    Migration {
        number: usize,
        name: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("no user named '{0}' (see `pmtwatch user list`)")]
    NoSuchUser(String),
    #[error("a user named '{0}' already exists")]
    UserExists(String),
    #[error(
        "invalid user name '{0}': use 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit"
    )]
    BadUserName(String),
    #[error("unknown role '{0}': use admin, operator or observer")]
    BadRole(String),
    #[error("the password is too short: use at least {min} characters")]
    PasswordTooShort { min: usize },
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("no run with id {0}")]
    NoSuchRun(i64),
    #[error("slot {0} already has a run that has not ended: stop it first")]
    SlotBusy(i64),
    #[error("a {what} named '{name}' already exists; choose another name")]
    Exists { what: &'static str, name: String },
    #[error("invalid {what}: {value}")]
    BadValue { what: &'static str, value: String },
    #[error("the database worker stopped unexpectedly: {0}")]
    Worker(String),
    #[error("the database lock was poisoned by a panic in another thread; restart pmtwatch")]
    Poisoned,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A handle to the database. Cloning is cheap; all clones share one connection.
#[derive(Clone)]
pub struct Store {
    // A std mutex is right here: the lock is only ever taken inside blocking code
    // (`Store::run` runs on tokio's blocking pool) and never held across an `.await`.
    conn: Arc<Mutex<Connection>>,
    path: Arc<PathBuf>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if needed) the database in `data_dir` and runs pending migrations.
    pub fn open_dir(data_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(data_dir).map_err(|source| Error::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        Self::open(&data_dir.join(DB_FILE))
    }

    /// Opens (creating if needed) the database file at `path` and runs pending migrations.
    pub fn open(path: &Path) -> Result<Self> {
        let open_err = |source| Error::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut conn = Connection::open(path).map_err(open_err)?;
        // Another process (the `user` CLI, a second server) may hold the write lock briefly.
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        migrations::run(&mut conn)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path: Arc::new(path.to_path_buf()),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection, for the blocking functions of the table modules.
    pub(crate) fn conn(&self) -> Result<MutexGuard<'_, Connection>> {
        self.conn.lock().map_err(|_| Error::Poisoned)
    }

    /// Runs blocking store work on tokio's blocking pool, so no async worker thread (and no
    /// LiveView thread) ever waits for SQLite or argon2.
    pub async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| Error::Worker(e.to_string()))?
    }
}

pub use crate::model::clock::{now, rfc3339};

impl From<crate::model::ParseError> for Error {
    fn from(e: crate::model::ParseError) -> Error {
        match e {
            crate::model::ParseError::BadValue { what, value } => Error::BadValue { what, value },
            crate::model::ParseError::BadRole(role) => Error::BadRole(role),
        }
    }
}

//! The schema as numbered migrations, applied in order at start and recorded in SQLite's
//! `user_version`. Never edit or reorder a migration that has shipped: add a new one at the
//! end (the next issue adds profiles, runs and points this way).

use rusqlite::{Connection, TransactionBehavior};

use super::{Error, Result};

/// One schema step: a name for error messages and the SQL it runs.
struct Migration {
    name: &'static str,
    sql: &'static str,
}

/// Every migration, in order; migration N (1-based) brings the schema to version N.
const MIGRATIONS: &[Migration] = &[
    Migration {
        name: "users, sessions, audit log",
        sql: r#"
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'observer')),
    password_hash TEXT NOT NULL,
    theme         TEXT NOT NULL DEFAULT 'dark' CHECK (theme IN ('dark', 'light')),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY,
    -- SHA-256 of the 256-bit random token, hex; the token itself is never stored.
    token_hash   TEXT NOT NULL UNIQUE,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    -- Absolute expiry; the idle expiry is last_seen_at + the configured idle timeout.
    expires_at   INTEGER NOT NULL,
    client       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL,
    -- The acting user's name as it was (kept when the account is deleted), or a
    -- description such as 'cli' or 'anonymous'.
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    details  TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(details))
);
CREATE INDEX audit_log_at ON audit_log(at);

-- The audit log is append-only: the database itself refuses edits and deletions.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"#,
    },
    Migration {
        name: "sessions remember the open view",
        sql: r#"
-- Which tab and step the session's page shows, so a reconnecting page (or a server
-- restart) brings back the same screen. Written by the views through web::commands.
ALTER TABLE sessions ADD COLUMN view TEXT NOT NULL DEFAULT '';
"#,
    },
];

/// The schema version this build brings a database to.
pub fn latest() -> i64 {
    i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX)
}

/// Applies every migration newer than the database's `user_version`, all in one
/// `IMMEDIATE` transaction: a second process opening the same new database at the same
/// moment (`serve` and `user add`) waits for the write lock, then finds the schema current.
pub(super) fn run(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if current > latest() {
        return Err(Error::SchemaTooNew {
            found: current,
            known: latest(),
        });
    }
    for (index, m) in MIGRATIONS.iter().enumerate() {
        let number = index + 1;
        if i64::try_from(number).unwrap_or(i64::MAX) <= current {
            continue;
        }
        let fail = |source| Error::Migration {
            number,
            name: m.name,
            source,
        };
        tx.execute_batch(m.sql).map_err(fail)?;
        tx.pragma_update(None, "user_version", number as i64)
            .map_err(fail)?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_are_idempotent() -> Result<()> {
        let mut conn = Connection::open_in_memory()?;
        run(&mut conn)?;
        run(&mut conn)?;
        let v: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        assert_eq!(v, latest());
        Ok(())
    }

    #[test]
    fn newer_schema_is_refused() -> Result<()> {
        let mut conn = Connection::open_in_memory()?;
        conn.pragma_update(None, "user_version", latest() + 1)?;
        assert!(matches!(run(&mut conn), Err(Error::SchemaTooNew { .. })));
        Ok(())
    }
}

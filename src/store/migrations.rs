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
    Migration {
        name: "profiles, slots, runs, points, API tokens, settings",
        sql: r#"
-- Compute profiles; `spec` is the profile as JSON (monitor::profile::ProfileSpec).
CREATE TABLE profiles (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    spec       TEXT NOT NULL CHECK (json_valid(spec)),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- PMT slots on the bench (PMT 1, PMT 2, ...): the serial typed in and the profile used.
CREATE TABLE slots (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    serial     TEXT NOT NULL DEFAULT '',
    profile_id INTEGER REFERENCES profiles(id) ON DELETE SET NULL,
    kind       TEXT NOT NULL DEFAULT 'surface' CHECK (kind IN ('surface', 'hv'))
);

-- One scan of one PMT. `profile` is the profile as it was when the run started, so a
-- later edit never changes how a running (or resumed) run is followed.
CREATE TABLE runs (
    id            INTEGER PRIMARY KEY,
    slot_id       INTEGER NOT NULL,
    serial        TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('surface', 'hv')),
    profile_name  TEXT NOT NULL,
    profile       TEXT NOT NULL CHECK (json_valid(profile)),
    state         TEXT NOT NULL CHECK (state IN ('queued', 'submitting', 'running',
                      'complete', 'failed', 'cancelled', 'cluster_unreachable')),
    message       TEXT NOT NULL DEFAULT '',
    -- remote::backend::JobId as JSON once submitted.
    job           TEXT CHECK (job IS NULL OR json_valid(job)),
    remote_out    TEXT NOT NULL DEFAULT '',
    points_total  INTEGER NOT NULL,
    operator      TEXT NOT NULL,
    review        TEXT NOT NULL DEFAULT 'unreviewed' CHECK (review IN ('unreviewed',
                      'archive_requested', 'archived', 'flag_requested', 'flagged')),
    review_reason TEXT NOT NULL DEFAULT '',
    reviewed_by   TEXT NOT NULL DEFAULT '',
    reviewed_at   INTEGER,
    review_dest   TEXT NOT NULL DEFAULT '',
    local_removed INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    started_at    INTEGER,
    ended_at      INTEGER
);
CREATE INDEX runs_serial ON runs(serial, created_at);
CREATE INDEX runs_slot ON runs(slot_id, created_at);

-- One result per point and run; the primary key is what makes "exactly once" hold
-- across restarts, re-syncs and duplicate reports.
CREATE TABLE points (
    run_id   INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    label    TEXT NOT NULL,
    theta    REAL,
    phi      REAL,
    hv       REAL,
    status   TEXT NOT NULL CHECK (status IN ('healthy', 'poor', 'fit_failed',
                 'no_signal', 'failed')),
    gain     REAL,
    gain_err REAL,
    message  TEXT NOT NULL DEFAULT '',
    at       INTEGER NOT NULL,
    PRIMARY KEY (run_id, label)
) WITHOUT ROWID;

-- API tokens for scripts (`pmtwatch token create`): only the SHA-256 is stored.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER
);

-- Small server-wide settings (the executor's running flag survives a restart).
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
"#,
    },
    Migration {
        name: "one active run per slot; where a review moves the data from",
        sql: r#"
-- A double click on Start must not create two runs in one slot. Databases written before
-- this rule may hold such pairs: all but the oldest active run of a slot end `cancelled`.
UPDATE runs SET state = 'cancelled',
    message = 'cancelled on upgrade: a second active run in the same slot (double start)',
    ended_at = COALESCE(ended_at, created_at)
WHERE state NOT IN ('complete', 'failed', 'cancelled')
  AND id NOT IN (SELECT MIN(id) FROM runs
                 WHERE state NOT IN ('complete', 'failed', 'cancelled') GROUP BY slot_id);
CREATE UNIQUE INDEX runs_one_active_per_slot ON runs(slot_id)
    WHERE state NOT IN ('complete', 'failed', 'cancelled');

-- The directory a review moves (set with `*_requested`, with review_dest as the
-- destination): a restart after a crash mid-review looks at both to finish or roll back.
ALTER TABLE runs ADD COLUMN review_src TEXT NOT NULL DEFAULT '';
"#,
    },
    Migration {
        name: "points: warning and unresolved statuses",
        // SQLite cannot change a CHECK constraint in place: the table is rebuilt.
        sql: r#"
CREATE TABLE points_new (
    run_id   INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    label    TEXT NOT NULL,
    theta    REAL,
    phi      REAL,
    hv       REAL,
    status   TEXT NOT NULL CHECK (status IN ('healthy', 'warning', 'poor', 'fit_failed',
                 'no_signal', 'unresolved', 'failed')),
    gain     REAL,
    gain_err REAL,
    message  TEXT NOT NULL DEFAULT '',
    at       INTEGER NOT NULL,
    PRIMARY KEY (run_id, label)
) WITHOUT ROWID;
INSERT INTO points_new (run_id, label, theta, phi, hv, status, gain, gain_err, message, at)
    SELECT run_id, label, theta, phi, hv, status, gain, gain_err, message, at FROM points;
DROP TABLE points;
ALTER TABLE points_new RENAME TO points;
"#,
    },
    Migration {
        name: "HV check results per serial; a run's operating voltage; a slot's nominal HV",
        sql: r#"
-- One HV check's outcome per run (rewritten as its voltages arrive): the voltage for the
-- target gain and its error (NULL while the fit has none), what the fit used, the summary
-- line. The newest unflagged result of a serial is offered to its next surface scan.
CREATE TABLE hv_results (
    run_id       INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    serial       TEXT NOT NULL,
    volts        REAL,
    volts_err    REAL,
    target       REAL NOT NULL,
    points_used  INTEGER NOT NULL,
    points_total INTEGER NOT NULL,
    summary      TEXT NOT NULL DEFAULT '',
    at           INTEGER NOT NULL
);
CREATE INDEX hv_results_serial ON hv_results(serial, at);
-- A run's operating voltage: an HV check's result, or the one a surface scan was offered
-- (hv_from: the HV check run it came from).
ALTER TABLE runs ADD COLUMN hv REAL;
ALTER TABLE runs ADD COLUMN hv_err REAL;
ALTER TABLE runs ADD COLUMN hv_from INTEGER;
-- The nominal voltage the operator entered for a slot's HV check (NULL: the profile's).
ALTER TABLE slots ADD COLUMN hv_nominal REAL;
"#,
    },
    Migration {
        name: "alarms, notification deliveries, run logbook (FTS5)",
        sql: r#"
CREATE TABLE alarms (
    id            INTEGER PRIMARY KEY,
    key           TEXT NOT NULL,
    kind          TEXT NOT NULL,
    severity      TEXT NOT NULL CHECK (severity IN ('warning', 'alarm')),
    message       TEXT NOT NULL,
    run_id        INTEGER REFERENCES runs(id) ON DELETE SET NULL,
    slot_id       INTEGER,
    subject       TEXT NOT NULL DEFAULT '',
    raised_at     INTEGER NOT NULL,
    cleared_at    INTEGER,
    acked_by      TEXT,
    acked_at      INTEGER,
    ack_comment   TEXT NOT NULL DEFAULT '',
    shelved_until INTEGER,
    shelved_run   INTEGER,
    shelved_by    TEXT
);
-- One alarm per condition while it holds; cleared ones stay as history.
CREATE UNIQUE INDEX alarms_one_active_per_key ON alarms(key) WHERE cleared_at IS NULL;
CREATE INDEX alarms_by_run ON alarms(run_id);

CREATE TABLE deliveries (
    id       INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL,
    target   TEXT NOT NULL,
    subject  TEXT NOT NULL,
    status   TEXT NOT NULL CHECK (status IN ('sending', 'retrying', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    error    TEXT NOT NULL DEFAULT ''
);

CREATE TABLE logbook (
    id         INTEGER PRIMARY KEY,
    run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    at         INTEGER NOT NULL,
    author     TEXT NOT NULL,
    automatic  INTEGER NOT NULL,
    text       TEXT NOT NULL,
    attachment TEXT
);
CREATE INDEX logbook_by_run ON logbook(run_id, at, id);
CREATE VIRTUAL TABLE logbook_fts USING fts5(text, author, content='logbook', content_rowid='id');
CREATE TRIGGER logbook_fts_insert AFTER INSERT ON logbook BEGIN
    INSERT INTO logbook_fts(rowid, text, author) VALUES (new.id, new.text, new.author);
END;
CREATE TRIGGER logbook_fts_delete AFTER DELETE ON logbook BEGIN
    INSERT INTO logbook_fts(logbook_fts, rowid, text, author)
        VALUES ('delete', old.id, old.text, old.author);
END;
CREATE TRIGGER logbook_no_update BEFORE UPDATE ON logbook BEGIN
    SELECT RAISE(ABORT, 'logbook entries are never changed');
END;
"#,
    },
    Migration {
        name: "a point's figures (resolution, P/V, dark rate, TTS, relative efficiency) and its flagged criteria",
        sql: "ALTER TABLE points ADD COLUMN figures TEXT NOT NULL DEFAULT '{}';",
    },
    Migration {
        name: "a slot's GPU choice and the GPU each run resolved it to",
        sql: r#"
-- model::GpuChoice as text: auto, none, index:N, count:N.
ALTER TABLE slots ADD COLUMN gpu TEXT NOT NULL DEFAULT 'auto';
-- model::RunGpu as JSON; NULL for runs created before the choice existed.
ALTER TABLE runs ADD COLUMN gpu TEXT CHECK (gpu IS NULL OR json_valid(gpu));
"#,
    },
    Migration {
        name: "the darkness check: a slot's and a run's kind may be 'dark'",
        // Widening a CHECK constraint changes no stored row, so SQLite's documented way
        // for it is used ("Making Other Kinds Of Table Schema Changes", sqlite.org/
        // lang_altertable.html): edit the table's SQL in the schema and bump the schema
        // version, instead of rebuilding `runs`, whose DROP would cascade to its points,
        // logbook and alarms.
        sql: r#"
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (kind IN (''surface'', ''hv''))',
                          'CHECK (kind IN (''surface'', ''hv'', ''dark''))')
 WHERE type = 'table' AND name IN ('slots', 'runs');
PRAGMA writable_schema = OFF;
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
        if m.sql.contains("writable_schema") {
            // The schema's text was edited: every connection must parse it again.
            let v: i64 = tx
                .pragma_query_value(None, "schema_version", |r| r.get(0))
                .map_err(fail)?;
            tx.pragma_update(None, "schema_version", v + 1)
                .map_err(fail)?;
        }
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

    /// The darkness check's migration widens the kind constraints of a database with runs
    /// and points in it: nothing is lost, `dark` is accepted, other kinds still refused.
    #[test]
    fn the_dark_kind_is_added_to_a_database_with_data() -> Result<()> {
        let mut conn = Connection::open_in_memory()?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let before = MIGRATIONS.len() - 1;
        let tx = conn.transaction()?;
        for m in &MIGRATIONS[..before] {
            tx.execute_batch(m.sql)?;
        }
        tx.pragma_update(None, "user_version", before as i64)?;
        tx.commit()?;
        conn.execute_batch(
            "INSERT INTO slots (name, kind) VALUES ('PMT 1', 'hv');
             INSERT INTO runs (slot_id, serial, kind, profile_name, profile, state,
                               points_total, operator, created_at)
                  VALUES (1, 'KM1', 'hv', 'p', '{}', 'complete', 5, 'olga', 0);
             INSERT INTO points (run_id, label, status, message, at)
                  VALUES (1, 'hv1500', 'healthy', '', 0);",
        )?;
        run(&mut conn)?;
        let points: i64 = conn.query_row("SELECT count(*) FROM points", [], |r| r.get(0))?;
        assert_eq!(points, 1, "no point lost");
        conn.execute("UPDATE slots SET kind = 'dark' WHERE id = 1", [])?;
        conn.execute("UPDATE runs SET kind = 'dark' WHERE id = 1", [])?;
        assert!(
            conn.execute("UPDATE runs SET kind = 'x' WHERE id = 1", [])
                .is_err()
        );
        let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        assert_eq!(ok, "ok");
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

//! Alarms (raised, cleared, acknowledged, shelved) and notification deliveries. One active
//! alarm per condition key (a partial unique index); cleared alarms stay as history. An
//! acknowledgement or shelving is a row update, so a restart finds it as it was.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Result, Store};
use crate::model::{Alarm, Delivery, Shelve};

/// An alarm about to be raised.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlarm {
    pub key: String,
    pub kind: crate::model::AlarmKind,
    pub message: String,
    pub run_id: Option<i64>,
    pub slot_id: Option<i64>,
    pub subject: String,
}

const COLUMNS: &str = "id, key, kind, severity, message, run_id, slot_id, subject, raised_at, \
     cleared_at, acked_by, acked_at, ack_comment, shelved_until, shelved_run, shelved_by";

/// The alarm with this id, if any.
fn by_id(conn: &Connection, id: i64) -> Result<Option<Alarm>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM alarms WHERE id = ?1"),
            [id],
            alarm_of,
        )
        .optional()?)
}

fn alarm_of(r: &Row<'_>) -> rusqlite::Result<Alarm> {
    let text = |i: usize| -> rusqlite::Result<String> { r.get(i) };
    let bad = |i: usize, e: crate::model::ParseError| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    };
    Ok(Alarm {
        id: r.get(0)?,
        key: r.get(1)?,
        kind: text(2)?.parse().map_err(|e| bad(2, e))?,
        severity: text(3)?.parse().map_err(|e| bad(3, e))?,
        message: r.get(4)?,
        run_id: r.get(5)?,
        slot_id: r.get(6)?,
        subject: r.get(7)?,
        raised_at: r.get(8)?,
        cleared_at: r.get(9)?,
        acked_by: r.get(10)?,
        acked_at: r.get(11)?,
        ack_comment: r.get(12)?,
        shelved_until: r.get(13)?,
        shelved_run: r.get(14)?,
        shelved_by: r.get(15)?,
    })
}

impl Store {
    /// Raises an alarm unless one with the same key is active; `None` when one was.
    pub fn raise_alarm(&self, a: &NewAlarm, at: i64) -> Result<Option<Alarm>> {
        let conn = self.conn()?;
        let n = conn.execute(
            "INSERT OR IGNORE INTO alarms (key, kind, severity, message, run_id, slot_id, \
             subject, raised_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                a.key,
                a.kind.as_str(),
                a.kind.severity().as_str(),
                a.message,
                a.run_id,
                a.slot_id,
                a.subject,
                at
            ],
        )?;
        if n == 0 {
            return Ok(None);
        }
        let id = conn.last_insert_rowid();
        by_id(&conn, id)
    }

    /// Clears the active alarm with this key; the cleared alarm, if there was one.
    pub fn clear_alarm(&self, key: &str, at: i64) -> Result<Option<Alarm>> {
        let conn = self.conn()?;
        let id: Option<i64> = conn
            .query_row(
                "SELECT id FROM alarms WHERE key = ?1 AND cleared_at IS NULL",
                [key],
                |r| r.get(0),
            )
            .optional()?;
        let Some(id) = id else { return Ok(None) };
        conn.execute(
            "UPDATE alarms SET cleared_at = ?2 WHERE id = ?1",
            params![id, at],
        )?;
        by_id(&conn, id)
    }

    /// Acknowledges an active alarm (once: a second acknowledgement keeps the first).
    pub fn ack_alarm(&self, id: i64, by: &str, comment: &str, at: i64) -> Result<Option<Alarm>> {
        let conn = self.conn()?;
        conn.execute(
            "UPDATE alarms SET acked_by = ?2, acked_at = ?3, ack_comment = ?4 \
             WHERE id = ?1 AND acked_at IS NULL",
            params![id, by, at, comment],
        )?;
        by_id(&conn, id)
    }

    /// Shelves an alarm until a time or until its run ends.
    pub fn shelve_alarm(&self, id: i64, how: Shelve, by: &str) -> Result<Option<Alarm>> {
        let conn = self.conn()?;
        match how {
            Shelve::Until(t) => conn.execute(
                "UPDATE alarms SET shelved_until = ?2, shelved_run = NULL, shelved_by = ?3 \
                 WHERE id = ?1",
                params![id, t, by],
            )?,
            Shelve::RunEnds => conn.execute(
                "UPDATE alarms SET shelved_run = run_id, shelved_until = NULL, shelved_by = ?2 \
                 WHERE id = ?1",
                params![id, by],
            )?,
        };
        by_id(&conn, id)
    }

    /// One alarm.
    pub fn alarm(&self, id: i64) -> Result<Option<Alarm>> {
        let conn = self.conn()?;
        by_id(&conn, id)
    }

    /// The alarms not cleared, oldest first.
    pub fn active_alarms(&self) -> Result<Vec<Alarm>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM alarms WHERE cleared_at IS NULL ORDER BY id"
        ))?;
        let v = stmt
            .query_map([], alarm_of)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(v)
    }

    /// The newest `limit` alarms, cleared ones included, newest first.
    pub fn alarm_history(&self, limit: u32) -> Result<Vec<Alarm>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM alarms ORDER BY id DESC LIMIT ?1"
        ))?;
        let v = stmt
            .query_map([limit], alarm_of)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(v)
    }

    /// Records a delivery attempt's state; `id` None creates the row. Returns its id.
    #[allow(clippy::too_many_arguments)]
    pub fn record_delivery(
        &self,
        id: Option<i64>,
        target: &str,
        subject: &str,
        status: &str,
        attempts: i64,
        error: &str,
        at: i64,
    ) -> Result<i64> {
        let conn = self.conn()?;
        match id {
            Some(id) => {
                conn.execute(
                    "UPDATE deliveries SET status = ?2, attempts = ?3, error = ?4, at = ?5 \
                     WHERE id = ?1",
                    params![id, status, attempts, error, at],
                )?;
                Ok(id)
            }
            None => {
                conn.execute(
                    "INSERT INTO deliveries (at, target, subject, status, attempts, error) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![at, target, subject, status, attempts, error],
                )?;
                Ok(conn.last_insert_rowid())
            }
        }
    }

    /// The newest `limit` deliveries, newest first.
    pub fn deliveries(&self, limit: u32) -> Result<Vec<Delivery>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT id, at, target, subject, status, attempts, error FROM deliveries \
             ORDER BY id DESC LIMIT ?1",
        )?;
        let v = stmt
            .query_map([limit], |r| {
                Ok(Delivery {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    target: r.get(2)?,
                    subject: r.get(3)?,
                    status: r.get(4)?,
                    attempts: r.get(5)?,
                    error: r.get(6)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AlarmKind;

    #[test]
    fn one_active_alarm_per_key_and_acknowledgement_persists() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| super::super::Error::Worker(e.to_string()))?;
        let s = Store::open_dir(dir.path())?;
        let a = NewAlarm {
            key: "disk_low:/d".into(),
            kind: AlarmKind::DiskLow,
            message: "low".into(),
            run_id: None,
            slot_id: None,
            subject: "/d".into(),
        };
        let first = s.raise_alarm(&a, 10)?.expect("raised");
        assert!(s.raise_alarm(&a, 11)?.is_none(), "no second while active");
        let acked = s.ack_alarm(first.id, "olga", "known", 12)?.expect("row");
        assert_eq!(acked.acked_by.as_deref(), Some("olga"));
        drop(s);
        let s = Store::open_dir(dir.path())?;
        let again = s.active_alarms()?;
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].ack_comment, "known");
        s.clear_alarm("disk_low:/d", 20)?.expect("cleared");
        assert!(s.active_alarms()?.is_empty());
        assert!(
            s.raise_alarm(&a, 30)?.is_some(),
            "a new episode raises again"
        );
        assert_eq!(s.alarm_history(10)?.len(), 2, "history kept");
        Ok(())
    }
}

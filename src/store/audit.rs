//! The append-only audit log: who did what, when, with details as JSON. The database's own
//! triggers refuse updates and deletions, so an entry, once written, stays.

use rusqlite::params;

use super::{Result, Store, now};

/// One audit entry as read back.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub details: serde_json::Value,
}

impl Store {
    /// Appends an entry. `actor` is a user name, or e.g. `cli` / `anonymous`.
    pub fn audit(&self, actor: &str, action: &str, details: &serde_json::Value) -> Result<()> {
        self.conn()?.execute(
            "INSERT INTO audit_log (at, actor, action, details) VALUES (?1, ?2, ?3, ?4)",
            params![now(), actor, action, details.to_string()],
        )?;
        Ok(())
    }

    /// The newest `limit` entries, newest first.
    pub fn recent_audit(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT id, at, actor, action, details FROM audit_log ORDER BY id DESC LIMIT ?1",
        )?;
        let v = stmt
            .query_map([limit], |r| {
                let details: String = r.get(4)?;
                Ok(AuditEntry {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_is_append_only() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| super::super::Error::Worker(e.to_string()))?;
        let s = Store::open_dir(dir.path())?;
        s.audit(
            "alice",
            "login",
            &serde_json::json!({"client": "127.0.0.1"}),
        )?;
        let e = s.recent_audit(10)?;
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].details["client"], "127.0.0.1");
        let conn = s.conn()?;
        assert!(conn.execute("DELETE FROM audit_log", []).is_err());
        assert!(
            conn.execute("UPDATE audit_log SET actor = 'x'", [])
                .is_err()
        );
        Ok(())
    }
}

//! The bench's configuration: compute profiles (stored as JSON the monitor parses), PMT
//! slots (PMT 1, PMT 2, … with the serial typed in), API tokens for scripts, and small
//! server-wide settings such as the executor's running flag.

use rusqlite::{OptionalExtension, params};

use super::runs::ScanKind;
use super::sessions::SessionToken;
use super::{Error, Result, Store, now};

/// A compute profile as stored; `spec` is `monitor::profile::ProfileSpec` as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileRow {
    pub id: i64,
    pub name: String,
    pub spec: String,
    pub updated_at: i64,
}

/// A PMT slot on the bench.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub id: i64,
    pub name: String,
    /// The serial number typed in (validated by the monitor before a run starts).
    pub serial: String,
    pub profile_id: Option<i64>,
    pub kind: ScanKind,
}

/// An API token's public record (the token itself is shown once, at creation).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

fn slot_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Slot> {
    let kind: String = r.get(4)?;
    Ok(Slot {
        id: r.get(0)?,
        name: r.get(1)?,
        serial: r.get(2)?,
        profile_id: r.get(3)?,
        kind: kind.parse().unwrap_or(ScanKind::Surface),
    })
}

impl Store {
    /// Every profile, by name.
    pub fn profiles(&self) -> Result<Vec<ProfileRow>> {
        let conn = self.conn()?;
        let mut stmt =
            conn.prepare("SELECT id, name, spec, updated_at FROM profiles ORDER BY name")?;
        let rows = stmt
            .query_map([], |r| {
                Ok(ProfileRow {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    spec: r.get(2)?,
                    updated_at: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// One profile.
    pub fn profile(&self, id: i64) -> Result<Option<ProfileRow>> {
        Ok(self
            .conn()?
            .query_row(
                "SELECT id, name, spec, updated_at FROM profiles WHERE id = ?1",
                [id],
                |r| {
                    Ok(ProfileRow {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        spec: r.get(2)?,
                        updated_at: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// Creates (`id` = `None`) or replaces a profile; returns its id.
    pub fn save_profile(&self, id: Option<i64>, name: &str, spec: &str) -> Result<i64> {
        let conn = self.conn()?;
        let t = now();
        let r = match id {
            None => conn
                .execute(
                    "INSERT INTO profiles (name, spec, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
                    params![name, spec, t],
                )
                .map(|_| conn.last_insert_rowid()),
            Some(id) => conn
                .execute(
                    "UPDATE profiles SET name = ?2, spec = ?3, updated_at = ?4 WHERE id = ?1",
                    params![id, name, spec, t],
                )
                .map(|_| id),
        };
        let saved = r.map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Error::Exists {
                    what: "profile",
                    name: name.to_string(),
                }
            }
            e => e.into(),
        })?;
        // Saving a profile that was deleted meanwhile (another admin) changes nothing: say so.
        let there: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM profiles WHERE id = ?1)",
            [saved],
            |r| r.get(0),
        )?;
        if !there {
            return Err(Error::BadValue {
                what: "profile",
                value: format!("{name:?} was deleted meanwhile; nothing was saved"),
            });
        }
        Ok(saved)
    }

    /// Deletes a profile (slots using it fall back to none).
    pub fn delete_profile(&self, id: i64) -> Result<()> {
        self.conn()?
            .execute("DELETE FROM profiles WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Every slot, in order; creates PMT 1 and PMT 2 when there are none.
    pub fn slots(&self) -> Result<Vec<Slot>> {
        let conn = self.conn()?;
        let n: i64 = conn.query_row("SELECT COUNT(*) FROM slots", [], |r| r.get(0))?;
        if n == 0 {
            conn.execute("INSERT INTO slots (name) VALUES ('PMT 1'), ('PMT 2')", [])?;
        }
        let mut stmt =
            conn.prepare("SELECT id, name, serial, profile_id, kind FROM slots ORDER BY id")?;
        let rows = stmt
            .query_map([], slot_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Adds a slot named `PMT <n>` after the last one.
    pub fn add_slot(&self) -> Result<Slot> {
        let conn = self.conn()?;
        let next: i64 = conn.query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM slots", [], |r| {
            r.get(0)
        })?;
        conn.execute(
            "INSERT INTO slots (id, name) VALUES (?1, ?2)",
            params![next, format!("PMT {next}")],
        )?;
        Ok(conn.query_row(
            "SELECT id, name, serial, profile_id, kind FROM slots WHERE id = ?1",
            [next],
            slot_from_row,
        )?)
    }

    /// Removes a slot (its runs stay in the history); refused while the slot has a run that
    /// has not ended. One statement, so a run started meanwhile cannot slip in between the
    /// check and the deletion.
    pub fn remove_slot(&self, id: i64) -> Result<()> {
        let conn = self.conn()?;
        let n = conn.execute(
            "DELETE FROM slots WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM runs WHERE \
             slot_id = ?1 AND state NOT IN ('complete', 'failed', 'cancelled'))",
            [id],
        )?;
        if n == 0 {
            let exists: bool = conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM slots WHERE id = ?1)",
                [id],
                |r| r.get(0),
            )?;
            if exists {
                return Err(Error::SlotBusy(id));
            }
        }
        Ok(())
    }

    /// Saves what the operator set for a slot.
    pub fn set_slot(
        &self,
        id: i64,
        serial: &str,
        profile_id: Option<i64>,
        kind: ScanKind,
    ) -> Result<()> {
        self.conn()?.execute(
            "UPDATE slots SET serial = ?2, profile_id = ?3, kind = ?4 WHERE id = ?1",
            params![id, serial, profile_id, kind.as_str()],
        )?;
        Ok(())
    }

    /// Creates an API token named `name`; returns the token (shown once, stored hashed).
    pub fn create_api_token(&self, name: &str) -> Result<SessionToken> {
        let ok = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !ok {
            return Err(Error::BadValue {
                what: "token name",
                value: format!("{name:?} (use 1–64 letters, digits, '.', '_' or '-')"),
            });
        }
        let token = SessionToken::generate()?;
        self.conn()?
            .execute(
                "INSERT INTO api_tokens (name, token_hash, created_at) VALUES (?1, ?2, ?3)",
                params![name, token.hash(), now()],
            )
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    Error::Exists {
                        what: "API token",
                        name: name.to_string(),
                    }
                }
                e => e.into(),
            })?;
        Ok(token)
    }

    /// The token's name if `raw` is a valid API token (and notes its use).
    pub fn check_api_token(&self, raw: &str) -> Result<Option<String>> {
        let hash = SessionToken::from_cookie(raw).hash();
        let conn = self.conn()?;
        let name: Option<String> = conn
            .query_row(
                "SELECT name FROM api_tokens WHERE token_hash = ?1",
                [&hash],
                |r| r.get(0),
            )
            .optional()?;
        if name.is_some() {
            conn.execute(
                "UPDATE api_tokens SET last_used_at = ?2 WHERE token_hash = ?1",
                params![hash, now()],
            )?;
        }
        Ok(name)
    }

    /// Every API token (names and dates only).
    pub fn api_tokens(&self) -> Result<Vec<ApiToken>> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare("SELECT id, name, created_at, last_used_at FROM api_tokens ORDER BY name")?;
        let rows = stmt
            .query_map([], |r| {
                Ok(ApiToken {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    created_at: r.get(2)?,
                    last_used_at: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Revokes the token named `name`; `false` if there is none.
    pub fn revoke_api_token(&self, name: &str) -> Result<bool> {
        Ok(self
            .conn()?
            .execute("DELETE FROM api_tokens WHERE name = ?1", [name])?
            == 1)
    }

    /// A server-wide setting.
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn()?
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Sets a server-wide setting.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.conn()?.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_default_to_two_and_grow() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::Worker(e.to_string()))?;
        let s = Store::open_dir(dir.path())?;
        let names: Vec<String> = s.slots()?.into_iter().map(|x| x.name).collect();
        assert_eq!(names, ["PMT 1", "PMT 2"]);
        assert_eq!(s.add_slot()?.name, "PMT 3");
        s.remove_slot(2)?;
        assert_eq!(s.slots()?.len(), 2);
        Ok(())
    }

    #[test]
    fn api_tokens_are_stored_hashed_and_checked() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::Worker(e.to_string()))?;
        let s = Store::open_dir(dir.path())?;
        let t = s.create_api_token("grafana")?;
        assert_eq!(s.check_api_token(t.expose())?.as_deref(), Some("grafana"));
        assert_eq!(s.check_api_token("nope")?, None);
        assert!(matches!(
            s.create_api_token("grafana"),
            Err(Error::Exists { .. })
        ));
        assert!(s.create_api_token("bad name").is_err());
        assert!(s.revoke_api_token("grafana")?);
        assert_eq!(s.check_api_token(t.expose())?, None);
        Ok(())
    }
}

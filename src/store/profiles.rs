//! Compute profiles as stored: a name and the spec as JSON (`monitor::profile::ProfileSpec`,
//! which the monitor parses and validates); slots point at them.

use rusqlite::{OptionalExtension, params};

use super::{Error, Result, Store, now};

/// A compute profile as stored; `spec` is `monitor::profile::ProfileSpec` as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileRow {
    pub id: i64,
    pub name: String,
    pub spec: String,
    pub updated_at: i64,
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
}

//! API tokens for scripts (`Authorization: Bearer …` on `/api/*`): stored only as SHA-256
//! hashes, shown once at creation.

use rusqlite::{OptionalExtension, params};

use super::sessions::SessionToken;
use super::{Error, Result, Store, now};

/// An API token's public record (the token itself is shown once, at creation).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

impl Store {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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

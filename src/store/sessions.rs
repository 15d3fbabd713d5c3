//! Login sessions. The browser holds a random 256-bit token (hex, in an `HttpOnly;
//! SameSite=Strict` cookie); the database holds only its SHA-256, so a copy of the database
//! file cannot be used to log in. A session ends at logout, after the idle timeout since it
//! was last seen, or at its absolute expiry, whichever comes first.

use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::{Error, Result, Role, Store, Theme, User, now};

/// A session token as the browser holds it. Its `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl SessionToken {
    /// A fresh random 256-bit token.
    pub fn generate() -> Result<Self> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| Error::Hash(format!("no system randomness: {e}")))?;
        Ok(Self(hex(&bytes)))
    }

    /// Wraps a token read from a cookie (not checked here; lookups simply find nothing).
    pub fn from_cookie(value: &str) -> Self {
        Self(value.to_string())
    }

    /// The value for the cookie. Only for the `Set-Cookie` header.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the database stores: SHA-256 of the token, hex.
    pub fn hash(&self) -> String {
        hex(&Sha256::digest(self.0.as_bytes()))
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(<redacted>)")
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A freshly created session: the token for the cookie and its database id.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: i64,
    pub token: SessionToken,
    pub expires_at: i64,
}

pub use crate::model::account::SessionUser;

/// The longest view string stored (they are short keys like `system/executor`).
const MAX_VIEW_LEN: usize = 128;

/// `last_seen_at` is written at most this often per session (seconds), so that every
/// request does not become a database write.
const TOUCH_EVERY: i64 = 30;

impl Store {
    /// Starts a session for `user_id` that ends at the latest `absolute_secs` from now.
    pub fn create_session(
        &self,
        user_id: i64,
        absolute_secs: i64,
        client: &str,
    ) -> Result<NewSession> {
        let token = SessionToken::generate()?;
        let t = now();
        let expires_at = t.saturating_add(absolute_secs);
        let conn = self.conn()?;
        conn.execute(
            "INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, expires_at, client)
             VALUES (?1, ?2, ?3, ?3, ?4, ?5)",
            params![token.hash(), user_id, t, expires_at, client],
        )?;
        Ok(NewSession {
            id: conn.last_insert_rowid(),
            token,
            expires_at,
        })
    }

    /// The user behind `token` if the session is valid (not idle for more than `idle_secs`,
    /// not past its absolute expiry, account still present), and marks it as seen.
    /// An expired session is deleted on the way.
    pub fn session_user(
        &self,
        token: &SessionToken,
        idle_secs: i64,
    ) -> Result<Option<SessionUser>> {
        let t = now();
        let conn = self.conn()?;
        let row = conn
            .query_row(
                "SELECT s.id, s.last_seen_at, s.expires_at, u.id, u.name, u.role, u.theme, s.view
                 FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.token_hash = ?1",
                [token.hash()],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, String>(7)?,
                    ))
                },
            )
            .optional()?;
        let Some((sid, last_seen, expires_at, user_id, name, role, theme, view)) = row else {
            return Ok(None);
        };
        if t >= expires_at || t >= last_seen.saturating_add(idle_secs) {
            conn.execute("DELETE FROM sessions WHERE id = ?1", [sid])?;
            return Ok(None);
        }
        if t - last_seen >= TOUCH_EVERY {
            conn.execute(
                "UPDATE sessions SET last_seen_at = ?1 WHERE id = ?2",
                params![t, sid],
            )?;
        }
        Ok(Some(SessionUser {
            session_id: sid,
            user_id,
            name,
            role: role.parse().unwrap_or(Role::Observer),
            theme: if theme == "light" {
                Theme::Light
            } else {
                Theme::Dark
            },
            view,
        }))
    }

    /// The account behind session `session_id` if that session is still valid, marking it
    /// as seen: an open page's actions keep its session alive, and an ended or expired
    /// session can no longer act.
    pub fn session_account(&self, session_id: i64, idle_secs: i64) -> Result<Option<User>> {
        let t = now();
        let conn = self.conn()?;
        let row = conn
            .query_row(
                "SELECT s.last_seen_at, s.expires_at, u.id, u.name, u.role, u.theme, u.created_at
                 FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ?1",
                [session_id],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        User {
                            id: r.get(2)?,
                            name: r.get(3)?,
                            role: r.get::<_, String>(4)?.parse().unwrap_or(Role::Observer),
                            theme: if r.get::<_, String>(5)? == "light" {
                                Theme::Light
                            } else {
                                Theme::Dark
                            },
                            created_at: r.get(6)?,
                        },
                    ))
                },
            )
            .optional()?;
        let Some((last_seen, expires_at, user)) = row else {
            return Ok(None);
        };
        if t >= expires_at || t >= last_seen.saturating_add(idle_secs) {
            conn.execute("DELETE FROM sessions WHERE id = ?1", [session_id])?;
            return Ok(None);
        }
        if t - last_seen >= TOUCH_EVERY {
            conn.execute(
                "UPDATE sessions SET last_seen_at = ?1 WHERE id = ?2",
                params![t, session_id],
            )?;
        }
        Ok(Some(user))
    }

    /// Whether session `session_id` is still valid (not ended, not expired), without
    /// marking it as seen: an open page that only watches does not keep it alive.
    pub fn session_valid(&self, session_id: i64, idle_secs: i64) -> Result<bool> {
        let t = now();
        let valid = self
            .conn()?
            .query_row(
                "SELECT ?2 < expires_at AND ?2 < last_seen_at + ?3 FROM sessions WHERE id = ?1",
                params![session_id, t, idle_secs],
                |r| r.get::<_, bool>(0),
            )
            .optional()?;
        Ok(valid.unwrap_or(false))
    }

    /// Remembers which view the session's page shows (cut to a sane length).
    pub fn set_session_view(&self, session_id: i64, view: &str) -> Result<()> {
        let view: String = view.chars().take(MAX_VIEW_LEN).collect();
        self.conn()?.execute(
            "UPDATE sessions SET view = ?1 WHERE id = ?2",
            params![view, session_id],
        )?;
        Ok(())
    }

    /// Ends the session with this id (logout). Returns whether it existed.
    pub fn delete_session(&self, session_id: i64) -> Result<bool> {
        Ok(self
            .conn()?
            .execute("DELETE FROM sessions WHERE id = ?1", [session_id])?
            > 0)
    }

    /// Deletes every session past its absolute or idle expiry; returns how many.
    pub fn purge_expired_sessions(&self, idle_secs: i64) -> Result<usize> {
        let t = now();
        Ok(self.conn()?.execute(
            "DELETE FROM sessions WHERE expires_at <= ?1 OR last_seen_at + ?2 <= ?1",
            params![t, idle_secs],
        )?)
    }

    /// The stored token hashes (for tests that check no token is stored in clear).
    pub fn session_token_hashes(&self) -> Result<Vec<String>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare("SELECT token_hash FROM sessions ORDER BY id")?;
        let v = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_stored_hashed_and_expires() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::Worker(e.to_string()))?;
        let s = Store::open_dir(dir.path())?;
        let u = s.add_user("op", Role::Operator, "password-1")?;
        let new = s.create_session(u.id, 3600, "127.0.0.1")?;
        assert_eq!(new.token.expose().len(), 64);
        assert!(!format!("{:?}", new).contains(new.token.expose()));
        let hashes = s.session_token_hashes()?;
        assert_eq!(hashes, vec![new.token.hash()]);
        assert_ne!(hashes[0], new.token.expose());
        let su = s.session_user(&new.token, 600)?;
        assert_eq!(su.map(|x| x.name), Some("op".to_string()));
        // Idle timeout of zero: the session is already idle-expired and gets deleted.
        assert!(s.session_user(&new.token, 0)?.is_none());
        assert!(s.session_token_hashes()?.is_empty());
        // Absolute expiry in the past.
        let old = s.create_session(u.id, -1, "")?;
        assert!(s.session_user(&old.token, 600)?.is_none());
        Ok(())
    }
}

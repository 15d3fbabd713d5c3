//! Lab accounts: name, role, argon2id password hash and the per-user theme. There is no
//! self-registration; accounts come from `pmtwatch user …` (or an admin in the web app).

use rusqlite::{OptionalExtension, params};

use super::{Error, Result, Store, now, password};

pub use crate::model::account::{Role, Theme, User};

/// Checks a user name: 1–64 of `[A-Za-z0-9._-]`, starting with a letter or digit.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::BadUserName(name.to_string()))
    }
}

/// The stored theme name; anything but `light` is the default (dark).
fn theme_from_db(s: &str) -> Theme {
    if s == "light" {
        Theme::Light
    } else {
        Theme::Dark
    }
}

const USER_COLUMNS: &str = "id, name, role, theme, created_at";

fn user_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    let role: String = row.get(2)?;
    let theme: String = row.get(3)?;
    Ok(User {
        id: row.get(0)?,
        name: row.get(1)?,
        // The CHECK constraint keeps the column to the three names.
        role: role.parse().unwrap_or(Role::Observer),
        theme: theme_from_db(&theme),
        created_at: row.get(4)?,
    })
}

impl Store {
    /// Creates an account. The password is hashed with argon2id before it is stored.
    pub fn add_user(&self, name: &str, role: Role, password: &str) -> Result<User> {
        validate_name(name)?;
        let hash = password::hash(password)?;
        let conn = self.conn()?;
        let t = now();
        let inserted = conn.execute(
            "INSERT INTO users (name, role, password_hash, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT(name) DO NOTHING",
            params![name, role.as_str(), hash, t],
        )?;
        if inserted == 0 {
            return Err(Error::UserExists(name.to_string()));
        }
        Ok(User {
            id: conn.last_insert_rowid(),
            name: name.to_string(),
            role,
            theme: Theme::Dark,
            created_at: t,
        })
    }

    /// Every account, by name.
    pub fn list_users(&self) -> Result<Vec<User>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY name"))?;
        let users = stmt
            .query_map([], user_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(users)
    }

    /// How many accounts exist (`serve` explains how to create the first one when 0).
    pub fn count_users(&self) -> Result<i64> {
        Ok(self
            .conn()?
            .query_row("SELECT count(*) FROM users", [], |r| r.get(0))?)
    }

    /// The account called `name`, if any.
    pub fn user_by_name(&self, name: &str) -> Result<Option<User>> {
        Ok(self
            .conn()?
            .query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE name = ?1"),
                [name],
                user_from_row,
            )
            .optional()?)
    }

    /// The account with this id, if it still exists.
    pub fn user_by_id(&self, id: i64) -> Result<Option<User>> {
        Ok(self
            .conn()?
            .query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
                [id],
                user_from_row,
            )
            .optional()?)
    }

    /// Checks a login. `None` for an unknown user and for a wrong password alike; an unknown
    /// user costs the same argon2 time as a known one.
    pub fn verify_login(&self, name: &str, password: &str) -> Result<Option<User>> {
        let found: Option<(User, String)> = {
            let conn = self.conn()?;
            conn.query_row(
                &format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE name = ?1"),
                [name],
                |row| Ok((user_from_row(row)?, row.get::<_, String>(5)?)),
            )
            .optional()?
        };
        // The (slow) hash check runs without the connection lock held.
        match found {
            Some((user, hash)) if password::verify(password, &hash) => Ok(Some(user)),
            Some(_) => Ok(None),
            None => {
                password::verify_dummy(password);
                Ok(None)
            }
        }
    }

    /// Sets a new password and ends every session of that account.
    pub fn set_password(&self, name: &str, password: &str) -> Result<()> {
        let hash = password::hash(password)?;
        let conn = self.conn()?;
        let tx = conn.unchecked_transaction()?;
        let n = tx.execute(
            "UPDATE users SET password_hash = ?1, updated_at = ?2 WHERE name = ?3",
            params![hash, now(), name],
        )?;
        if n == 0 {
            return Err(Error::NoSuchUser(name.to_string()));
        }
        tx.execute(
            "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = ?1)",
            [name],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Changes an account's role; it applies to that user's next request or action.
    pub fn set_role(&self, name: &str, role: Role) -> Result<()> {
        let n = self.conn()?.execute(
            "UPDATE users SET role = ?1, updated_at = ?2 WHERE name = ?3",
            params![role.as_str(), now(), name],
        )?;
        if n == 0 {
            return Err(Error::NoSuchUser(name.to_string()));
        }
        Ok(())
    }

    /// Deletes an account and (by cascade) its sessions. Audit entries keep its name.
    pub fn delete_user(&self, name: &str) -> Result<()> {
        let n = self
            .conn()?
            .execute("DELETE FROM users WHERE name = ?1", [name])?;
        if n == 0 {
            return Err(Error::NoSuchUser(name.to_string()));
        }
        Ok(())
    }

    /// Remembers a user's theme.
    pub fn set_theme(&self, user_id: i64, theme: Theme) -> Result<()> {
        self.conn()?.execute(
            "UPDATE users SET theme = ?1 WHERE id = ?2",
            params![theme.as_str(), user_id],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Result<(tempfile::TempDir, Store)> {
        let dir = tempfile::tempdir().map_err(|e| Error::Worker(e.to_string()))?;
        let store = Store::open_dir(dir.path())?;
        Ok((dir, store))
    }

    #[test]
    fn add_verify_role_delete() -> Result<()> {
        let (_dir, s) = store()?;
        let u = s.add_user("alice", Role::Operator, "password-1")?;
        assert_eq!(u.role, Role::Operator);
        assert!(matches!(
            s.add_user("alice", Role::Admin, "password-2"),
            Err(Error::UserExists(_))
        ));
        assert!(s.verify_login("alice", "password-1")?.is_some());
        assert!(s.verify_login("alice", "password-2")?.is_none());
        assert!(s.verify_login("bob", "password-1")?.is_none());
        s.set_role("alice", Role::Observer)?;
        assert_eq!(
            s.user_by_name("alice")?.map(|u| u.role),
            Some(Role::Observer)
        );
        s.set_password("alice", "password-3")?;
        assert!(s.verify_login("alice", "password-3")?.is_some());
        s.delete_user("alice")?;
        assert!(matches!(s.delete_user("alice"), Err(Error::NoSuchUser(_))));
        Ok(())
    }

    #[test]
    fn names_are_validated() {
        assert!(validate_name("op.1_a-b").is_ok());
        for bad in ["", "-x", "a b", "ä", "a;drop", &"x".repeat(65)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}

//! Password hashing with argon2id (PHC string format, parameters stored with the hash), so
//! the parameters can be raised later without invalidating existing accounts.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use super::{Error, Result};

/// The shortest password accepted for an account.
pub const MIN_PASSWORD_LEN: usize = 8;

/// Hashes `password` with a fresh random salt (argon2id, the crate's default parameters:
/// 19 MiB, 2 passes — OWASP's recommendation).
pub fn hash(password: &str) -> Result<String> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(Error::PasswordTooShort {
            min: MIN_PASSWORD_LEN,
        });
    }
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| Error::Hash(format!("no system randomness: {e}")))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Hash(e.to_string()))
}

/// Whether `password` matches `stored` (a PHC string). A malformed stored hash never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Spends about the time of a real verification, so that a login for an unknown user
/// takes as long as one with a wrong password (no user enumeration by timing).
pub fn verify_dummy(password: &str) {
    static DUMMY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    if let Some(h) = DUMMY.get_or_init(|| hash("pmtwatch-dummy-password").ok()) {
        let _ = verify(password, h);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_verifies_and_is_argon2id() -> Result<()> {
        let h = hash("correct horse")?;
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse", &h));
        assert!(!verify("wrong horse", &h));
        assert!(!verify("correct horse", "not a hash"));
        Ok(())
    }

    #[test]
    fn short_password_is_refused() {
        assert!(matches!(hash("short"), Err(Error::PasswordTooShort { .. })));
    }
}

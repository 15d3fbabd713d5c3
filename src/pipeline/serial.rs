//! PMT serial numbers: validated against a strict pattern before they name a directory,
//! a file or reach any command line, so a hostile "serial" can never escape its place.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A validated serial number: 1–32 characters of `A–Z a–z 0–9 _ -`, starting with a letter
/// or digit (so it is never an option like `-rf`, and never a path component other than
/// itself). The pattern is the remote layer's default (issue 3).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Serial(String);

impl Serial {
    /// Validates `s`; the error says what is wrong and what is allowed.
    pub fn parse(s: &str) -> Result<Serial, String> {
        let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-');
        if s.is_empty() {
            return Err("serial number is empty".into());
        }
        if s.len() > 32 {
            return Err(format!(
                "serial number is {} characters long; at most 32 are allowed",
                s.len()
            ));
        }
        if !s.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(format!(
                "serial number {s:?} must start with a letter or digit"
            ));
        }
        if let Some(c) = s.chars().find(|&c| !ok_char(c)) {
            return Err(format!(
                "serial number {s:?} contains {c:?}; only letters, digits, '_' and '-' are allowed"
            ));
        }
        Ok(Serial(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Serial {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Serial::parse(&s)
    }
}

impl From<Serial> for String {
    fn from(s: Serial) -> String {
        s.0
    }
}

impl std::str::FromStr for Serial {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Serial::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_serials() {
        for s in ["EA0123", "SN-123_a", "R12860-EA9999"] {
            assert!(Serial::parse(s).is_ok(), "{s}");
        }
    }

    #[test]
    fn rejects_hostile_serials() {
        for s in [
            "",
            "a'b",
            "x; rm -rf /",
            "$(id)",
            "../etc",
            "-rf",
            ".",
            "a b",
            "a/b",
            "é",
            &"x".repeat(33),
        ] {
            assert!(Serial::parse(s).is_err(), "{s:?} accepted");
        }
    }
}

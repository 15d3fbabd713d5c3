//! Scan-point labels (`theta30_phi90`, `hv1500`): one validated type for every layer. A
//! label names a directory of its own (`<run>/<label>/result.json`), a URL segment and a
//! ZIP entry, so it is checked once, with one rule, wherever one comes in: a remote watch's
//! output, a result directory, the store, a URL.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The longest label accepted (bytes).
pub const MAX_LABEL_LEN: usize = 128;

/// A validated point label: one plain path component — not empty, at most
/// [`MAX_LABEL_LEN`] bytes, no leading `.` (so never `.` or `..`), no `/`, `\`, NUL or other
/// control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Label(String);

impl Label {
    /// Validates `s`; the error says what a label may be.
    pub fn parse(s: &str) -> Result<Label, String> {
        if Label::is_valid(s) {
            Ok(Label(s.to_string()))
        } else {
            Err(format!(
                "{s:?} is not a point label: a label is one plain name (no '/', '\\', '..', \
                 leading '.' or control characters, at most {MAX_LABEL_LEN} bytes)"
            ))
        }
    }

    /// Whether `s` is a valid label (the rule of [`Label::parse`]).
    pub fn is_valid(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= MAX_LABEL_LEN
            && !s.starts_with('.')
            && !s.contains(['/', '\\', '\0'])
            && !s.chars().any(char::is_control)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A label reads as the text it is (`&label` where a `&str` is expected).
impl std::ops::Deref for Label {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Label {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<Path> for Label {
    fn as_ref(&self) -> &Path {
        Path::new(&self.0)
    }
}

impl TryFrom<String> for Label {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Label::parse(&s)
    }
}

impl From<Label> for String {
    fn from(l: Label) -> String {
        l.0
    }
}

impl std::str::FromStr for Label {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Label::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // From remote/follow.rs (the follower's rule, now the one rule).
    #[test]
    fn labels_must_be_one_plain_component() {
        assert!(Label::is_valid("theta30_phi90"));
        assert!(Label::is_valid("hv1500"));
        for bad in ["", ".", "..", "../x", "a/b", ".hidden", "a\\b"] {
            assert!(!Label::is_valid(bad), "{bad:?} accepted");
        }
    }

    // The monitor's rule, which was stricter: no control characters, bounded length.
    #[test]
    fn labels_are_bounded_and_printable() {
        assert!(Label::is_valid(&"x".repeat(MAX_LABEL_LEN)));
        for bad in ["a\nb", "tab\there", "nul\0", &"x".repeat(MAX_LABEL_LEN + 1)] {
            assert!(Label::parse(bad).is_err(), "{bad:?} accepted");
        }
        let l = Label::parse("theta0_phi0").expect("a label");
        assert_eq!(l.to_string(), "theta0_phi0");
        assert_eq!(serde_json::to_string(&l).expect("json"), "\"theta0_phi0\"");
        assert!(serde_json::from_str::<Label>("\"../x\"").is_err());
    }
}

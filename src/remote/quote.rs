//! Shell quoting for every value that reaches a remote shell.
//!
//! A command sent over SSH is a single string that the remote user's login shell parses, so
//! any value we put into it (serial number, run directory, HV) must arrive as exactly one
//! word with no shell meaning. [`quote`] turns one value into one POSIX-sh word (the quoting
//! itself is `shlex::try_quote`, which is tested against bash, dash, zsh, busybox ash and
//! mksh); [`join`] builds a whole command line from words.
//!
//! Before quoting, values with control characters are refused rather than quoted. Each
//! refusal has a reason:
//! - **NUL** cannot be passed in an argument at all (C strings end there): the remote side
//!   would silently see a truncated value.
//! - **Newline and carriage return** are quotable for `sh -c`, but not for every login shell
//!   (csh/tcsh reject a newline inside quotes; a `\r` may be turned into a newline by a
//!   terminal or in an interactive context), so a quoted newline could end the command and
//!   start another one. They also break the one-line command logs and audit entries.
//! - **Other C0/C1 controls and DEL** (escape sequences, U+0085 "next line") can rewrite what
//!   an operator sees in a terminal or log, hiding what really ran, and no serial number,
//!   path or HV value legitimately contains one.
//!
//! A tab is allowed: it is harmless inside quotes and shows up in hand-written values.

use std::borrow::Cow;

use super::error::{Error, Result};

/// Quotes `value` as a single POSIX-sh word: the shell that reads the result sees exactly
/// `value`, as one argument, with nothing expanded. Values that need no quoting (`EA0123`,
/// `./run.sh`) come back unchanged; the empty string becomes `''`.
///
/// Refuses (with [`Error::Invalid`]) values containing NUL or any control character other
/// than tab; the module documentation says why each is refused.
pub fn quote(value: &str) -> Result<String> {
    check(value).map_err(|why| Error::Invalid {
        what: format!("shell word {}", preview(value)),
        why,
    })?;
    // `check` has already refused NUL, the only error `try_quote` can return; mapping it
    // anyway keeps this function total if shlex ever adds refusals.
    shlex::try_quote(value)
        .map(Cow::into_owned)
        .map_err(|e| Error::Invalid {
            what: format!("shell word {}", preview(value)),
            why: e.to_string(),
        })
}

/// Builds a command line from `words`, each quoted with [`quote`] and separated by one
/// space. The first word is the program; an empty list is refused because an empty command
/// line runs nothing and is always a caller's mistake.
pub fn join(words: &[&str]) -> Result<String> {
    if words.is_empty() {
        return Err(Error::Invalid {
            what: "command line".into(),
            why: "no words: a command needs at least the program to run".into(),
        });
    }
    let quoted = words
        .iter()
        .map(|w| quote(w))
        .collect::<Result<Vec<String>>>()?;
    Ok(quoted.join(" "))
}

/// Says why `value` cannot be quoted, if it cannot. Shared with the template renderer so
/// that its error can name the placeholder.
pub(crate) fn check(value: &str) -> std::result::Result<(), String> {
    for (at, c) in value.char_indices() {
        if c == '\t' || !c.is_control() {
            continue;
        }
        let why = match c {
            '\0' => "contains a NUL byte, which cannot be passed in a command argument \
                     (the value would be cut short there)"
                .to_string(),
            '\n' | '\r' => format!(
                "contains a line break ({}) at byte {at}: a command line must stay one line, \
                 because some login shells and terminals would end the command there",
                describe(c)
            ),
            _ => format!(
                "contains the control character {} at byte {at}: control characters can \
                 disguise what a command does in a terminal or log, and no serial, path or \
                 value needs one",
                describe(c)
            ),
        };
        return Err(why);
    }
    Ok(())
}

/// Whether `name` may name an environment variable set for a job: `[A-Z_][A-Z0-9_]*`, at
/// most 64 characters (what both `env NAME=value` and `sbatch --export` pass on intact).
pub fn is_env_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 64
}

/// `U+000A (newline)`-style name for a refused character.
fn describe(c: char) -> String {
    let name = match c {
        '\n' => " (newline)",
        '\r' => " (carriage return)",
        '\x1b' => " (escape)",
        '\x7f' => " (delete)",
        '\u{85}' => " (next line)",
        _ => "",
    };
    format!("U+{:04X}{name}", u32::from(c))
}

/// A short, escaped rendering of a refused value for error messages: long values (a 10 kB
/// hostile string) are cut so the message stays readable, and `{:?}` escapes the control
/// characters that caused the refusal instead of printing them raw.
pub(crate) fn preview(value: &str) -> String {
    const MAX_CHARS: usize = 40;
    let count = value.chars().count();
    if count <= MAX_CHARS {
        format!("{value:?}")
    } else {
        let head: String = value.chars().take(MAX_CHARS).collect();
        format!("{head:?}… ({count} characters)")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// What `sh -c` would see for `printf '%s\n' <quoted>`: checks real shell semantics, not
    /// just the quoting's appearance.
    fn sh_roundtrip(value: &str) -> Vec<u8> {
        let line = format!("printf '%s\\n' {}", quote(value).unwrap());
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&line)
            .output()
            .unwrap();
        assert!(out.status.success(), "{line}");
        out.stdout
    }

    #[test]
    fn plain_values_are_left_alone() {
        for v in [
            "EA0123",
            "./RUN_PMT.slurm",
            "R12860-EA9999",
            "1500",
            "a/b.c_d",
        ] {
            assert_eq!(quote(v).unwrap(), v);
        }
        assert_eq!(quote("").unwrap(), "''");
    }

    #[test]
    fn shell_syntax_is_quoted_into_one_word() {
        for v in [
            "a b",
            "it's",
            "\"x\"",
            "$(id)",
            "`id`",
            "$HOME",
            "a;b",
            "a && b",
            "*",
            "~",
            "tab\there",
            "\\",
            "é 🔬",
            "-rf",
            "",
        ] {
            assert_eq!(sh_roundtrip(v), format!("{v}\n").into_bytes(), "{v:?}");
        }
    }

    #[test]
    fn control_characters_are_refused_with_a_reason() {
        for (v, needle) in [
            ("a\0b", "NUL"),
            ("a\nb", "U+000A (newline)"),
            ("a\rb", "carriage return"),
            ("\x1b[31m", "U+001B (escape)"),
            ("x\x7f", "delete"),
            ("x\u{85}", "next line"),
            ("x\x01", "U+0001"),
        ] {
            match quote(v) {
                Err(Error::Invalid { what, why }) => {
                    assert!(why.contains(needle), "{v:?}: {why}");
                    assert!(what.starts_with("shell word"), "{what}");
                    // The message escapes the value rather than printing the control raw.
                    assert!(!what.contains(|c: char| c.is_control()), "{what:?}");
                }
                other => panic!("{v:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn long_values_are_previewed_short() {
        let v = format!("{}\n", "x".repeat(10_000));
        let Err(Error::Invalid { what, why }) = quote(&v) else {
            panic!("accepted");
        };
        assert!(what.len() < 100, "{what}");
        assert!(what.contains("10001 characters"), "{what}");
        assert!(why.contains("byte 10000"), "{why}");
    }

    #[test]
    fn join_quotes_each_word() {
        assert_eq!(
            join(&["sbatch", "./RUN.slurm", "EA 01"]).unwrap(),
            "sbatch ./RUN.slurm 'EA 01'"
        );
        assert!(matches!(join(&[]), Err(Error::Invalid { .. })));
        assert!(matches!(
            join(&["echo", "a\nb"]),
            Err(Error::Invalid { .. })
        ));
    }
}

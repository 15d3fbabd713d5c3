//! Command-mode templates: a lab's existing command line with placeholders, such as
//! `sbatch ./RUN_PMT_SCAN_DATA_MONITOR.slurm {SN}` or `./run_hv.sh {SN} {HV} --out={RUN}/data`.
//!
//! A [`Template`] is parsed once, when the configuration is loaded, so a broken template is
//! reported before any scan starts rather than at the first submission. Parsing splits the
//! text into words with shell rules (`shlex::split`) and finds the `{NAME}` placeholders in
//! each word; rendering substitutes the values and then quotes every word as a whole with
//! [`quote`]. A value can therefore never become two words, an option
//! of its own, or shell syntax, however it is written.
//!
//! Because every rendered word is quoted, shell syntax written in a template (`&&`, `|`,
//! `>`, `$HOME`, `*`, `~`) would reach the program as a literal argument instead of doing
//! what its author meant. Parsing refuses such templates with a message saying what to do
//! (usually: put the pipeline in a script and call the script), instead of letting the
//! command silently change meaning.
//!
//! A list value (an HV check's voltages, passed comma-separated like `1600,1650,1700`) is
//! one word where `{HV}` stands, or one word per item where a word is exactly `{HV...}`
//! (also written `{HV…}`): `sbatch ./HV_CHECK.slurm {SN} {HV...}` runs
//! `sbatch ./HV_CHECK.slurm EA0123 1600 1650 1700`, each item checked and quoted alone.
//!
//! [`hostile_values`] is the deterministic generator of hostile inputs shared by the local
//! (`tests/remote_hostile.rs`) and SSH injection tests; it lives here, hidden from the docs,
//! so that both tests draw exactly the same values from one definition.
//!
//! Why this file is over 600 lines: a parser and its renderer for every value that reaches
//! a remote shell, followed by about 200 lines of tests of hostile input, kept next to the
//! code they guard.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::error::{Error, Result};
use super::quote::{check, preview, quote};
use crate::pipeline::serial::Serial;

/// Placeholders a template may use unless the caller passes its own set to
/// [`Template::parse_allowing`]: serial number, high voltage(s), run id, directory, the
/// run's GPU — each
/// filled for every run ([`CommandProfile::run_values`](super::command_mode::CommandProfile::run_values)),
/// so a template accepted here never lacks a value later. (A per-point `{POINT}` is not
/// one of them: a command-mode command runs once per run, not once per point.)
pub const DEFAULT_PLACEHOLDERS: &[&str] = &["SN", "HV", "RUN", "DIR", "GPU"];

/// The placeholder whose value must be a valid serial number ([`Serial::parse`]).
const SERIAL_PLACEHOLDER: &str = "SN";

/// One piece of a template word: literal text, or a placeholder to substitute.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Placeholder(String),
    /// `{NAME...}`, a whole word: one word per comma-separated item of the value.
    Spread(String),
}

/// The suffixes that make a placeholder spread into one word per item.
const SPREAD_SUFFIXES: [&str; 2] = ["...", "\u{2026}"];

/// A parsed command template. Parse it once ([`Template::parse`]) and render it for each
/// job ([`Template::render`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The text as written, for messages and logs.
    text: String,
    /// The words after shell splitting, each a sequence of pieces. Never empty.
    words: Vec<Vec<Piece>>,
}

impl Template {
    /// Parses `text`, allowing the [`DEFAULT_PLACEHOLDERS`].
    pub fn parse(text: &str) -> Result<Template> {
        Template::parse_allowing(text, DEFAULT_PLACEHOLDERS)
    }

    /// Parses `text`, allowing only the placeholder names in `allowed`. A misspelt
    /// placeholder (`{SERIAL}` for `{SN}`) is an error here rather than a missing value at
    /// the first submission.
    pub fn parse_allowing(text: &str, allowed: &[&str]) -> Result<Template> {
        let invalid = |why: String| Error::Invalid {
            what: format!("command template {}", preview(text)),
            why,
        };
        // Control characters are refused for the reasons given in `quote`; checking the
        // template text here means literal words never fail at render time.
        check(text).map_err(&invalid)?;
        check_shell_syntax(text).map_err(&invalid)?;
        let split = shlex::split(text).ok_or_else(|| {
            invalid(
                "it does not split into words: a quote is not closed or it ends in a backslash"
                    .into(),
            )
        })?;
        if split.is_empty() {
            return Err(invalid(
                "it is empty: it needs at least the program to run".into(),
            ));
        }
        let words = split
            .iter()
            .map(|w| parse_word(w, allowed))
            .collect::<std::result::Result<Vec<_>, String>>()
            .map_err(&invalid)?;
        check_program_word(&words[0], &split[0]).map_err(&invalid)?;
        Ok(Template {
            text: text.to_string(),
            words,
        })
    }

    /// The distinct placeholder names this template uses, sorted.
    pub fn placeholders(&self) -> BTreeSet<&str> {
        self.words
            .iter()
            .flatten()
            .filter_map(|p| match p {
                Piece::Placeholder(name) | Piece::Spread(name) => Some(name.as_str()),
                Piece::Literal(_) => None,
            })
            .collect()
    }

    /// The template as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Substitutes `values` (keyed by placeholder name, without braces) and returns a
    /// command line for a POSIX shell in which every word is quoted.
    ///
    /// Refused, with [`Error::Invalid`] naming the placeholder:
    /// - a placeholder with no value;
    /// - an `{SN}` value that is not a valid serial number ([`Serial::parse`]);
    /// - a value with control characters (see [`quote`](super::quote));
    /// - an empty value: `--out={RUN}/data` with an empty run would write to `/data`, so an
    ///   empty value silently changes what the command means;
    /// - a value that would start a word with `-` (unless it is a number such as `-1500`, or
    ///   follows a literal `--` word): the program would read it as an option, not a value.
    ///
    /// Values for names the template does not use are ignored, so a caller can pass one
    /// map of everything it knows.
    pub fn render(&self, values: &BTreeMap<&str, String>) -> Result<String> {
        let mut line = String::new();
        let mut after_end_of_options = false;
        for (i, word) in self.words.iter().enumerate() {
            if let [Piece::Spread(name)] = word.as_slice() {
                let value = values.get(name.as_str()).ok_or_else(|| Error::Invalid {
                    what: format!("placeholder {{{name}...}}"),
                    why: format!(
                        "no value given for {{{name}...}} in template {}",
                        preview(&self.text)
                    ),
                })?;
                for item in value.split(',') {
                    check_value(name, item, !after_end_of_options)?;
                    line.push(' ');
                    line.push_str(&quote(item)?);
                }
                continue;
            }
            let mut text = String::new();
            for (j, piece) in word.iter().enumerate() {
                match piece {
                    Piece::Literal(s) => text.push_str(s),
                    // Only a whole word spreads; parsing refuses it anywhere else.
                    Piece::Spread(_) => {}
                    Piece::Placeholder(name) => {
                        let value = values.get(name.as_str()).ok_or_else(|| Error::Invalid {
                            what: format!("placeholder {{{name}}}"),
                            why: format!(
                                "no value given for {{{name}}} in template {}",
                                preview(&self.text)
                            ),
                        })?;
                        check_value(name, value, j == 0 && !after_end_of_options)?;
                        text.push_str(value);
                    }
                }
            }
            if i > 0 {
                line.push(' ');
            }
            line.push_str(&quote(&text)?);
            // Only a literal `--` ends options; a value can never be `--` in that position
            // because leading dashes are refused there.
            if word == &[Piece::Literal("--".into())] {
                after_end_of_options = true;
            }
        }
        Ok(line)
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Validates one value for placeholder `name`; `starts_word` says whether the value would
/// be the first thing in its word (where a leading `-` makes it an option).
fn check_value(name: &str, value: &str, starts_word: bool) -> Result<()> {
    let invalid = |why: String| Error::Invalid {
        what: format!("value {} for {{{name}}}", preview(value)),
        why,
    };
    if name == SERIAL_PLACEHOLDER {
        // The strict serial rule is the first line of defence: a valid serial contains
        // nothing a shell or a path could misread, quoting or not.
        Serial::parse(value).map_err(|why| Error::Invalid {
            what: "serial number for {SN}".into(),
            why,
        })?;
    }
    check(value).map_err(invalid)?;
    if value.is_empty() {
        return Err(invalid(
            "it is empty; an empty value silently changes what the command means \
             (`--out={RUN}/data` would become `--out=/data`)"
                .into(),
        ));
    }
    if starts_word && value.starts_with('-') && !is_number(value) {
        return Err(invalid(
            "it starts with '-', so the program would read it as an option rather than a value"
                .into(),
        ));
    }
    Ok(())
}

/// A negative number such as `-1500` or `-0.5` (a high voltage), which is a value, not an
/// option. `-inf`/`-nan` parse as floats but are not accepted: they look like options.
fn is_number(value: &str) -> bool {
    value
        .strip_prefix('-')
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit() || c == '.'))
        && value.parse::<f64>().is_ok()
}

/// Splits one shell word into literal text and `{NAME}` placeholders; `{{` and `}}` are a
/// literal brace.
fn parse_word(word: &str, allowed: &[&str]) -> std::result::Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                literal.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                literal.push('}');
            }
            '}' => {
                return Err(format!(
                    "word {} has a '}}' that closes nothing; write '}}}}' for a literal brace",
                    preview(word)
                ));
            }
            '{' => {
                let mut name = String::new();
                let closed = loop {
                    match chars.next() {
                        Some('}') => break true,
                        Some(c) => name.push(c),
                        None => break false,
                    }
                };
                if let Some(base) = SPREAD_SUFFIXES
                    .iter()
                    .find_map(|suffix| name.strip_suffix(suffix))
                    .filter(|_| closed)
                {
                    if !literal.is_empty() || !pieces.is_empty() || chars.peek().is_some() {
                        return Err(format!(
                            "word {} uses {{{base}...}} inside a word; it stands alone (one \
                             word per value), or write {{{base}}} for the list as one word",
                            preview(word)
                        ));
                    }
                    if !allowed.contains(&base) {
                        let known: Vec<String> =
                            allowed.iter().map(|n| format!("{{{n}}}")).collect();
                        return Err(format!(
                            "unknown placeholder {{{base}...}}; known placeholders: {}",
                            known.join(", ")
                        ));
                    }
                    return Ok(vec![Piece::Spread(base.to_string())]);
                }
                let valid_name = !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
                if !closed || !valid_name {
                    let hint = if closed && name.chars().any(|c| c.is_ascii_lowercase()) {
                        format!(
                            " (placeholder names are upper case: did you mean {{{}}}?)",
                            name.to_ascii_uppercase()
                        )
                    } else {
                        String::new()
                    };
                    return Err(format!(
                        "word {} has a '{{' that does not start a placeholder {{NAME}} \
                         (NAME: upper-case letters, digits, '_'); write '{{{{' for a literal \
                         brace{hint}",
                        preview(word)
                    ));
                }
                if !allowed.contains(&name.as_str()) {
                    let known: Vec<String> = allowed.iter().map(|n| format!("{{{n}}}")).collect();
                    return Err(format!(
                        "unknown placeholder {{{name}}}; known placeholders: {}",
                        known.join(", ")
                    ));
                }
                if !literal.is_empty() {
                    pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Placeholder(name));
            }
            c => literal.push(c),
        }
    }
    // A quoted empty word (`''`) is kept as an empty literal so it still renders as `''`.
    if !literal.is_empty() || pieces.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    Ok(pieces)
}

/// The first word names the program to run. It must be written in the template (a value
/// must never choose what runs), and must not be a `NAME=value` assignment, which the
/// shell would treat as an environment setting but which, once quoted, becomes a program
/// name.
fn check_program_word(pieces: &[Piece], word: &str) -> std::result::Result<(), String> {
    if pieces
        .iter()
        .any(|p| matches!(p, Piece::Placeholder(_) | Piece::Spread(_)))
    {
        return Err(format!(
            "the program to run ({}) contains a placeholder; the program must be written in \
             the template, only its arguments may come from values",
            preview(word)
        ));
    }
    if let Some((name, _)) = word.split_once('=')
        && !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(format!(
            "it starts with the variable assignment {}, which would run as a program name \
             once quoted; write `env {word} program …` instead",
            preview(word)
        ));
    }
    Ok(())
}

/// Refuses shell syntax outside single quotes that quoting every word would silently turn
/// into a literal argument: operators (`; & | < > ( )`), expansions (`$`, backquote, also
/// inside double quotes where the shell would still expand them), wildcards (`* ? [`) and a
/// word-leading `~`. Quoted, the same characters are plain text and are accepted.
/// An unbalanced quote is left to `shlex::split`, which reports it.
fn check_shell_syntax(text: &str) -> std::result::Result<(), String> {
    #[derive(PartialEq)]
    enum State {
        Plain,
        Single,
        Double,
    }
    let mut state = State::Plain;
    let mut word_start = true;
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        match state {
            State::Single => {
                if c == '\'' {
                    state = State::Plain;
                }
            }
            State::Double => match c {
                '\\' => {
                    chars.next();
                }
                '"' => state = State::Plain,
                '$' | '`' => return Err(expansion(c, at)),
                _ => {}
            },
            State::Plain => {
                let was_word_start = std::mem::replace(&mut word_start, false);
                match c {
                    ' ' | '\t' => word_start = true,
                    '\\' => {
                        chars.next();
                    }
                    '\'' => state = State::Single,
                    '"' => state = State::Double,
                    // A comment runs to the end of the line, and the template is one line:
                    // the shell and `shlex::split` both drop the rest.
                    '#' if was_word_start => return Ok(()),
                    ';' | '&' | '|' | '<' | '>' | '(' | ')' => {
                        return Err(format!(
                            "it uses the shell operator '{c}' at byte {at}; every word of a \
                             template is quoted, so '{c}' would reach the program as a literal \
                             argument — put pipelines, redirections and '&&' in a script and \
                             call the script (or quote the character if it is meant literally)"
                        ));
                    }
                    '$' | '`' => return Err(expansion(c, at)),
                    '*' | '?' | '[' => {
                        return Err(format!(
                            "it uses the wildcard '{c}' at byte {at}, which would not be \
                             expanded because every word is quoted; quote it if it is meant \
                             literally"
                        ));
                    }
                    '~' if was_word_start => {
                        return Err(format!(
                            "a word starts with '~' at byte {at}, which would not expand to a \
                             home directory because every word is quoted; remote commands \
                             start in the home directory, so use a relative path"
                        ));
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(())
}

fn expansion(c: char, at: usize) -> String {
    format!(
        "it uses the shell expansion '{c}' at byte {at}, which would be passed literally \
         because every word is quoted; write the value out, or use a placeholder"
    )
}

/// Name of the file the hostile values try to create (relative, so each test can run them
/// in its own scratch directory and look for it there).
#[doc(hidden)]
pub const HOSTILE_CANARY: &str = "pmtwatch-hostile-canary";

/// Deterministic hostile inputs for injection tests (local and over SSH): first a fixed
/// list covering every class (quotes, operators, `$()`, backquotes, `$VAR`, wildcards,
/// `~`, line breaks, NUL, `..`, leading `-`, 10 kB, non-ASCII, emoji, combining marks,
/// empty, valid serials, attempts to create [`HOSTILE_CANARY`]), then random mixtures of
/// those fragments and characters.
///
/// The generator uses its own SplitMix64 rather than `rand`, so that a seed names the same
/// values forever: a failure reported as "seed 7, value 512" stays reproducible across
/// dependency upgrades.
#[doc(hidden)]
pub fn hostile_values(n: usize, seed: u64) -> Vec<String> {
    let c = HOSTILE_CANARY;
    let fixed: Vec<String> = vec![
        String::new(),
        "'".into(),
        "\"".into(),
        "''".into(),
        "'\\''".into(),
        ";".into(),
        "&&".into(),
        "||".into(),
        "|".into(),
        "&".into(),
        "$()".into(),
        "$(id)".into(),
        "`id`".into(),
        "$VAR".into(),
        "${HOME}".into(),
        "$HOME/x".into(),
        "$1".into(),
        "$@".into(),
        "*".into(),
        "?".into(),
        "[a-z]*".into(),
        "~".into(),
        "~root".into(),
        "{a,b}".into(),
        "\n".into(),
        "a\nb".into(),
        "\r".into(),
        "a\r\nb".into(),
        "\0".into(),
        "a\0b".into(),
        "\t".into(),
        "a\tb".into(),
        "\x1b[31mred".into(),
        "\x7f".into(),
        "\u{85}".into(),
        "..".into(),
        "../../etc/passwd".into(),
        "/etc/passwd".into(),
        "-".into(),
        "--".into(),
        "-rf".into(),
        "--help".into(),
        "-1500".into(),
        "-0.5".into(),
        "-inf".into(),
        "x".repeat(10_000),
        format!("{}'$(id)'", "a".repeat(10_000)),
        "é".into(),
        "日本語".into(),
        "🔬🧪".into(),
        "👨‍👩‍👧".into(),
        "e\u{301}".into(),
        "\u{301}".into(),
        "\u{200b}".into(),
        "\u{202e}evil".into(),
        "\u{feff}".into(),
        "\u{a0}".into(),
        " ".into(),
        "a b".into(),
        "  lead".into(),
        "\\".into(),
        "\\n".into(),
        "%s".into(),
        "%n%n".into(),
        "{SN}".into(),
        "{{".into(),
        "}}".into(),
        "!".into(),
        "!!".into(),
        "#".into(),
        "# comment".into(),
        "=".into(),
        "A=B".into(),
        ">".into(),
        "2>&1".into(),
        "<&0".into(),
        "EA0123".into(),
        "R12860-EA9999".into(),
        "SN-12.3_a".into(),
        format!("$(touch {c})"),
        format!("`touch {c}`"),
        format!("; touch {c}"),
        format!("&& touch {c}"),
        format!("|| touch {c}"),
        format!("| touch {c}"),
        format!("& touch {c}"),
        format!("\ntouch {c}"),
        format!("> {c}"),
        format!(">{c}"),
        format!("'; touch {c}; '"),
        format!("\"; touch {c}; \""),
        format!("'$(touch {c})'"),
        format!("\"$(touch {c})\""),
        format!("\\'; touch {c} #"),
        format!("x' && touch {c} && echo '"),
        format!("$(printf touch) {c}"),
        format!("${{IFS}}touch${{IFS}}{c}"),
    ];

    // Fragments for the random part: every fixed value except the 10 kB ones (length is
    // added separately so that most values stay short and the tests stay fast).
    let fragments: Vec<&str> = fixed
        .iter()
        .map(String::as_str)
        .filter(|f| f.len() < 1_000)
        .collect();
    const CHARS: &[char] = &[
        'a', 'Z', '0', '9', '.', '_', '-', '/', ' ', '\'', '"', '\\', '$', '`', ';', '&', '|', '<',
        '>', '(', ')', '{', '}', '[', ']', '*', '?', '~', '#', '!', '%', '^', '=', ',', ':', '@',
        '+', '\t', '\n', '\r', '\0', '\x01', '\x1b', '\x7f', '\u{85}', 'é', 'ß', '中', '🔬',
        '\u{301}', '\u{200b}', '\u{202e}', '\u{a0}', '\u{feff}',
    ];
    const SERIAL_CHARS: &[u8] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";

    let mut rng = SplitMix64(seed);
    let mut out: Vec<String> = fixed.iter().take(n).cloned().collect();
    while out.len() < n {
        let value = match rng.below(100) {
            // Serial-like: valid ones must pass the SN rule, a few are one character too long
            // or start with a symbol and must not.
            0..=9 => {
                let len = 1 + rng.below(65) as usize;
                (0..len)
                    .map(|i| {
                        let pool = if i == 0 && rng.below(4) != 0 {
                            &SERIAL_CHARS[..62]
                        } else {
                            SERIAL_CHARS
                        };
                        char::from(pool[rng.below(pool.len() as u64) as usize])
                    })
                    .collect()
            }
            // Long: a fragment repeated to about 10 kB.
            10..=11 => {
                let f = fragments[rng.below(fragments.len() as u64) as usize];
                let f = if f.is_empty() { "x" } else { f };
                f.repeat(10_000 / f.len() + 1)
            }
            // A mixture of 1-4 fragments and random characters.
            _ => {
                let mut s = String::new();
                for _ in 0..1 + rng.below(4) {
                    if rng.below(10) < 6 {
                        s.push_str(fragments[rng.below(fragments.len() as u64) as usize]);
                    } else {
                        for _ in 0..1 + rng.below(8) {
                            s.push(CHARS[rng.below(CHARS.len() as u64) as usize]);
                        }
                    }
                }
                s
            }
        };
        out.push(value);
    }
    out
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and fixed forever.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform-enough in `0..bound` for test data (`bound` > 0).
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn values(pairs: &[(&'static str, &str)]) -> BTreeMap<&'static str, String> {
        pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
    }

    fn refused(text: &str) -> String {
        match Template::parse(text) {
            Err(Error::Invalid { why, .. }) => why,
            other => panic!("{text:?} accepted: {other:?}"),
        }
    }

    #[test]
    fn lab_templates_parse_and_render() {
        let t = Template::parse("sbatch ./RUN_PMT_SCAN_DATA_MONITOR.slurm {SN}").unwrap();
        assert_eq!(t.placeholders(), BTreeSet::from(["SN"]));
        assert_eq!(
            t.render(&values(&[("SN", "EA0123")])).unwrap(),
            "sbatch ./RUN_PMT_SCAN_DATA_MONITOR.slurm EA0123"
        );

        let t = Template::parse("./run_hv.sh {SN} {HV} --out {RUN}/data").unwrap();
        assert_eq!(t.placeholders(), BTreeSet::from(["HV", "RUN", "SN"]));
        let v = values(&[
            ("SN", "EA0123"),
            ("HV", "1500"),
            ("RUN", "run 7"),
            ("DIR", "x"),
        ]);
        assert_eq!(
            t.render(&v).unwrap(),
            "./run_hv.sh EA0123 1500 --out 'run 7/data'"
        );
        assert_eq!(t.text(), "./run_hv.sh {SN} {HV} --out {RUN}/data");
        assert_eq!(t.to_string(), t.text());
    }

    /// Issue 12: the old HV script takes one argument per voltage: `{HV...}` spreads the
    /// list into words (each checked and quoted), `{HV}` keeps it one word.
    #[test]
    fn hv_spreads_into_one_word_per_voltage() {
        let t = Template::parse("sbatch ./HV_CHECK.slurm {SN} {HV...}").unwrap();
        assert_eq!(t.placeholders(), BTreeSet::from(["HV", "SN"]));
        let v = values(&[("SN", "EA0123"), ("HV", "1600,1650,1700.5")]);
        assert_eq!(
            t.render(&v).unwrap(),
            "sbatch ./HV_CHECK.slurm EA0123 1600 1650 1700.5"
        );
        let t2 = Template::parse("./hv.sh {SN} {HV\u{2026}}").unwrap();
        assert_eq!(t2.render(&v).unwrap(), "./hv.sh EA0123 1600 1650 1700.5");
        let list = Template::parse("./hv.sh {HV}").unwrap();
        assert_eq!(list.render(&v).unwrap(), "./hv.sh '1600,1650,1700.5'");
        // Each spread word is checked: an option or an empty item is refused.
        let bad = values(&[("SN", "EA0123"), ("HV", "1600,-rf")]);
        assert!(t.render(&bad).is_err());
        let empty = values(&[("SN", "EA0123"), ("HV", "1600,,1700")]);
        assert!(t.render(&empty).is_err());
        let hostile = values(&[("SN", "EA0123"), ("HV", "1600,$(id)")]);
        assert_eq!(
            t.render(&hostile).unwrap(),
            "sbatch ./HV_CHECK.slurm EA0123 1600 '$(id)'"
        );
        // Only a whole word spreads; the program is never a value.
        assert!(Template::parse("./hv.sh --hv={HV...}").is_err());
        assert!(Template::parse("{HV...} x").is_err());
        assert!(Template::parse("./hv.sh {VOLTS...}").is_err());
    }

    /// Issue 13, item 5: `{GPU}` is one of the run's values — a GPU index, `-1` for no
    /// GPU (a number, so not an option), a SLURM count — checked and quoted like the rest.
    #[test]
    fn gpu_is_a_run_value_checked_and_quoted_like_the_others() {
        let t = Template::parse("./run.sh {SN} --device=cuda:{GPU} {GPU}").unwrap();
        assert_eq!(t.placeholders(), BTreeSet::from(["GPU", "SN"]));
        let v = |gpu: &str| values(&[("SN", "EA0123"), ("GPU", gpu)]);
        assert_eq!(
            t.render(&v("1")).unwrap(),
            "./run.sh EA0123 '--device=cuda:1' 1"
        );
        assert_eq!(
            t.render(&v("-1")).unwrap(),
            "./run.sh EA0123 '--device=cuda:-1' -1"
        );
        let sbatch = Template::parse("sbatch --gres=gpu:{GPU} ./RUN.slurm {SN}").unwrap();
        assert_eq!(
            sbatch.render(&v("2")).unwrap(),
            "sbatch '--gres=gpu:2' ./RUN.slurm EA0123"
        );
        // Whatever a value holds, it stays one quoted word, or is refused.
        assert_eq!(
            t.render(&v("0 $(reboot)")).unwrap(),
            "./run.sh EA0123 '--device=cuda:0 $(reboot)' '0 $(reboot)'"
        );
        for bad in ["", "--all", "0\nid"] {
            assert!(t.render(&v(bad)).is_err(), "{bad:?}");
        }
        assert!(
            t.render(&values(&[("SN", "EA0123")])).is_err(),
            "a missing {{GPU}} is refused, naming it"
        );
        // The program is never the GPU.
        assert!(Template::parse("{GPU} ./run.sh").is_err());
    }

    #[test]
    fn placeholder_inside_a_word_is_one_quoted_word() {
        let t = Template::parse("./run.sh --out={RUN}/data").unwrap();
        assert_eq!(
            t.render(&values(&[("RUN", "a b; rm -rf ~")])).unwrap(),
            "./run.sh '--out=a b; rm -rf ~/data'"
        );
        // Inside a word a leading dash in the value is harmless: the word starts with `--out=`.
        assert_eq!(
            t.render(&values(&[("RUN", "-x")])).unwrap(),
            "./run.sh '--out=-x/data'"
        );
    }

    #[test]
    fn template_quoting_and_brace_escapes() {
        let t = Template::parse(r#"./a.sh 'lit {{x}}' "two words" {{{SN}}} a\ b ''"#).unwrap();
        assert_eq!(
            t.render(&values(&[("SN", "EA1")])).unwrap(),
            "./a.sh 'lit {x}' 'two words' '{EA1}' 'a b' ''"
        );
        // Quoted shell syntax is literal text and accepted.
        let t = Template::parse("./sync.sh '*_charge.png' '$HOME' \"a;b\"").unwrap();
        assert_eq!(
            t.render(&BTreeMap::new()).unwrap(),
            "./sync.sh '*_charge.png' '$HOME' 'a;b'"
        );
        // A comment is dropped, as a shell would.
        let t = Template::parse("./a.sh {SN} # submit it").unwrap();
        assert_eq!(t.render(&values(&[("SN", "EA1")])).unwrap(), "./a.sh EA1");
    }

    #[test]
    fn broken_templates_are_refused_at_parse_time() {
        assert!(refused("").contains("empty"));
        assert!(refused("   ").contains("empty"));
        assert!(refused("./a.sh 'open").contains("does not split"));
        assert!(refused("./a.sh \"open").contains("does not split"));
        assert!(refused("./a.sh trailing\\").contains("does not split"));
        assert!(refused("./a.sh {SERIAL}").contains("unknown placeholder {SERIAL}"));
        assert!(refused("./a.sh {SERIAL}").contains("{SN}, {HV}"));
        assert!(refused("./a.sh {sn}").contains("did you mean {SN}"));
        assert!(refused("./a.sh {SN").contains("'{{'"));
        assert!(refused("./a.sh {}").contains("placeholder"));
        assert!(refused("./a.sh {S N}").contains("placeholder"));
        assert!(refused("./a.sh SN}").contains("'}}'"));
        assert!(refused("{DIR}/run.sh").contains("program"));
        assert!(refused("FOO=1 ./a.sh").contains("env FOO=1"));
        assert!(refused("./a.sh\nrm x").contains("newline"));
    }

    #[test]
    fn shell_syntax_in_templates_is_refused_not_silently_quoted() {
        for (text, needle) in [
            ("cd dir && sbatch x.slurm {SN}", "operator '&'"),
            ("./a.sh {SN}; ./b.sh", "operator ';'"),
            ("./a.sh {SN} | tee log", "operator '|'"),
            ("./a.sh {SN} > log", "operator '>'"),
            ("./a.sh < in", "operator '<'"),
            ("(./a.sh)", "operator '('"),
            ("./a.sh $HOME", "expansion '$'"),
            ("./a.sh \"$HOME\"", "expansion '$'"),
            ("./a.sh `id`", "expansion '`'"),
            ("./a.sh *.png", "wildcard '*'"),
            ("./a.sh file?", "wildcard '?'"),
            ("./a.sh [ab]", "wildcard '['"),
            ("~/bin/run.sh {SN}", "'~'"),
            ("./a.sh ~/x", "'~'"),
        ] {
            assert!(refused(text).contains(needle), "{text}: {}", refused(text));
        }
        // Not at a word start, or escaped, or quoted: literal and fine.
        for text in [
            "./a.sh a~b",
            "./a.sh \\$HOME",
            "./a.sh \"\\$HOME\"",
            "./a.sh '~'",
            "./a.sh \\*",
        ] {
            assert!(Template::parse(text).is_ok(), "{text}");
        }
    }

    #[test]
    fn caller_chosen_placeholder_set() {
        let t = Template::parse_allowing("./a.sh {THETA} {PHI}", &["THETA", "PHI"]).unwrap();
        assert_eq!(t.placeholders(), BTreeSet::from(["PHI", "THETA"]));
        assert!(Template::parse_allowing("./a.sh {SN}", &["THETA"]).is_err());
        assert!(Template::parse("./a.sh {THETA}").is_err());
    }

    #[test]
    fn render_refusals_name_the_placeholder() {
        let t = Template::parse("./a.sh {SN} {HV} --out={RUN}").unwrap();
        let ok = [("SN", "EA1"), ("HV", "1500"), ("RUN", "r1")];

        let mut v = values(&ok);
        v.remove("HV");
        let Err(Error::Invalid { what, why }) = t.render(&v) else {
            panic!("missing value accepted")
        };
        assert_eq!(what, "placeholder {HV}");
        assert!(why.contains("no value"), "{why}");

        for (name, bad, needle) in [
            ("SN", "EA1; rm -rf /", "contains ';'"),
            ("SN", "../etc", "must start with a letter or digit"),
            ("SN", "-rf", "must start with a letter or digit"),
            ("SN", "", "empty"),
            ("HV", "15\n00", "newline"),
            ("HV", "", "empty"),
            ("HV", "-rf", "option"),
            ("HV", "-inf", "option"),
            ("RUN", "r\0", "NUL"),
            ("RUN", "", "empty"),
        ] {
            let mut v = values(&ok);
            v.insert(name, bad.to_string());
            match t.render(&v) {
                Err(Error::Invalid { what, why }) => {
                    assert!(what.contains(&format!("{{{name}}}")), "{what}");
                    assert!(why.contains(needle), "{name}={bad:?}: {why}");
                }
                other => panic!("{name}={bad:?} accepted: {other:?}"),
            }
        }
        // Negative numbers are values, not options.
        let mut v = values(&ok);
        v.insert("HV", "-1500".into());
        assert_eq!(t.render(&v).unwrap(), "./a.sh EA1 -1500 '--out=r1'");
    }

    #[test]
    fn leading_dash_is_allowed_after_end_of_options() {
        let t = Template::parse("./a.sh -- {RUN}").unwrap();
        assert_eq!(
            t.render(&values(&[("RUN", "-rf")])).unwrap(),
            "./a.sh -- -rf"
        );
        // A quoted `--` is still a literal `--` word.
        let t = Template::parse("./a.sh {RUN} '--'").unwrap();
        assert!(t.render(&values(&[("RUN", "-rf")])).is_err());
    }

    #[test]
    fn hostile_generator_is_deterministic_and_covers_its_classes() {
        let a = hostile_values(1000, 7);
        assert_eq!(a.len(), 1000);
        assert_eq!(a, hostile_values(1000, 7));
        assert_ne!(a, hostile_values(1000, 8));
        assert_eq!(hostile_values(3, 1).len(), 3);
        for probe in [
            "\0", "\n", "\r", "$(", "`", ";", "&&", "|", "'", "\"", "..", "~",
        ] {
            assert!(a.iter().any(|v| v.contains(probe)), "{probe:?}");
        }
        assert!(a.iter().any(String::is_empty));
        assert!(a.iter().any(|v| v.len() >= 10_000));
        assert!(a.iter().any(|v| v.starts_with('-')));
        assert!(a.iter().any(|v| v.contains('\u{301}')));
        assert!(a.iter().any(|v| v.contains('🔬')));
        assert!(a.iter().filter(|v| Serial::parse(v).is_ok()).count() >= 20);
    }
}

//! pmtwatch's own grammar for every typed value that becomes an `ssh` argument, a path or
//! an ssh_config the client reads: jump hops, paths, program names. The checks live here,
//! once, and run both when a profile is saved (so the form names the field) and where the
//! value is used ([`SshTarget::check`](super::ssh::SshTarget::check),
//! [`Backend::new`](super::backend::Backend::new)), so a value stored before a rule existed,
//! or a draft that was never saved, cannot slip past them.
//!
//! Decisions, and why:
//! - **Our grammar, not the client's.** OpenSSH turns `-J` hops into a `ProxyCommand` run
//!   by `sh -c`; only recent clients refuse shell syntax in a hop themselves. A hop is
//!   `[user@]host[:port]` from the same strict rule as the profile's host.
//! - **Paths are ASCII letters, digits, `.`, `_`, `-`, `+` and `/`.** `ssh` expands `%` and
//!   `~` tokens in key and known_hosts paths and splits `UserKnownHostsFile` at spaces;
//!   `sbatch --export` splits at commas; lookalike Unicode characters make a path read as
//!   another. No lab path needs any of them, so they are refused rather than quoted.
//! - **An ssh_config is read before `ssh` ever is.** Directives that run commands or load
//!   code (`ProxyCommand`, `LocalCommand`, `Match exec`, `KnownHostsCommand`,
//!   `PermitLocalCommand`, `Include`, provider libraries) are refused, also inside
//!   `Host`/`Match` blocks and in any spelling `ssh` accepts (case, `=`, quotes) — unless an
//!   admin allowed exactly that file's content (its SHA-256 in the profile). Even `ssh -G`
//!   runs `Match exec`, so nothing is asked of the client first.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::error::Error;
use super::quote::preview;

/// Longest path accepted (bytes).
pub const MAX_PATH: usize = 1024;
/// Largest ssh_config file read (bytes); a real one is a few kB.
pub const MAX_SSH_CONFIG: u64 = 64 * 1024;

/// A refusal naming the profile field `field`.
pub fn refusal(field: &str, value: &str, why: impl Into<String>) -> Error {
    Error::Invalid {
        what: format!("{field} {}", preview(value)),
        why: why.into(),
    }
}

/// A user name for SSH: 1–32 of `[A-Za-z0-9_.-]`, not starting with `-` or `.`.
pub fn check_user(user: &str) -> std::result::Result<(), &'static str> {
    let ok = !user.is_empty()
        && user.len() <= 32
        && user.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err("the user name must be 1–32 letters, digits, '_', '.', '-' (not starting with '-')")
    }
}

/// A host name or address: letters, digits, `.`, `-`, `_`, starting with a letter or digit;
/// or an IPv6 address, bare or in brackets (hex digits, `:` and `.`).
pub fn check_host(host: &str) -> std::result::Result<(), &'static str> {
    let inner = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let ipv6 = inner.contains(':')
        && inner
            .chars()
            .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.'));
    let name = inner == host
        && inner.starts_with(|c: char| c.is_ascii_alphanumeric())
        && inner
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if !host.is_empty() && host.len() <= 253 && (ipv6 || name) {
        Ok(())
    } else {
        Err("the host must be a name or address (letters, digits, '.', '-', '_'; IPv6 in [ ])")
    }
}

/// One jump hop, `[user@]host[:port]`, as `ssh -J` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

/// Parses a hop with the same rule as the profile's host; an IPv6 address with a port is
/// written `[addr]:port`.
pub fn parse_hop(hop: &str) -> std::result::Result<Hop, String> {
    let (user, rest) = match hop.split_once('@') {
        Some((u, r)) => (Some(u), r),
        None => (None, hop),
    };
    if let Some(u) = user {
        check_user(u)?;
    }
    let (host, port) = if rest.starts_with('[') {
        match rest.split_once(']') {
            Some((h, "")) => (format!("{h}]"), None),
            Some((h, p)) => match p.strip_prefix(':') {
                Some(p) => (format!("{h}]"), Some(p)),
                None => return Err("after ']' only ':port' may follow".into()),
            },
            None => return Err("an IPv6 address needs its closing ']'".into()),
        }
    } else {
        match rest.split_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (rest.to_string(), None),
        }
    };
    check_host(&host)?;
    let port = match port {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|&n| n > 0 && p.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| format!("port {} is not 1–65535", preview(p)))?,
        ),
    };
    Ok(Hop {
        user: user.map(str::to_string),
        host,
        port,
    })
}

/// Checks a path: `absolute` says whether it must start with `/` (a relative one is from
/// the remote home and must not start with `-`). See the module documentation for the
/// characters allowed.
pub fn check_path(path: &str, absolute: bool) -> std::result::Result<(), String> {
    if path.is_empty() {
        return Err("it is empty".into());
    }
    if path.len() > MAX_PATH {
        return Err(format!(
            "it is {} bytes long; at most {MAX_PATH}",
            path.len()
        ));
    }
    if absolute && !path.starts_with('/') {
        return Err("it must be an absolute path (starting with /)".into());
    }
    if path.starts_with('-') {
        return Err("it starts with '-', which a command would read as an option".into());
    }
    if let Some(c) = path
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | '+')))
    {
        return Err(format!(
            "it contains {c:?}: a path here is ASCII letters, digits, '.', '_', '-', '+' and \
             '/' (no spaces, quotes, '$', '%', '~', ',' or lookalike characters)"
        ));
    }
    if path.split('/').any(|c| c == "..") {
        return Err("it must not contain '..'".into());
    }
    Ok(())
}

/// Checks a program: a bare name found on the PATH (`pmtwatch`) or an absolute path.
pub fn check_program(program: &str) -> std::result::Result<(), String> {
    if program.starts_with('/') {
        return check_path(program, true);
    }
    let ok = !program.is_empty()
        && program.len() <= 64
        && program.starts_with(|c: char| c.is_ascii_alphanumeric())
        && program
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'));
    if ok {
        Ok(())
    } else {
        Err(
            "a program name (letters, digits, '.', '_', '-', '+'; not starting with '-') \
             or an absolute path"
                .into(),
        )
    }
}

/// Directives of an ssh_config that run a command or load code on this machine.
const FORBIDDEN_DIRECTIVES: [&str; 9] = [
    "proxycommand",
    "localcommand",
    "permitlocalcommand",
    "knownhostscommand",
    "include",
    "pkcs11provider",
    "securitykeyprovider",
    "xauthlocation",
    "remotecommand",
];

/// The SHA-256 of `bytes`, lower-case hex: what an admin records to allow an ssh_config.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Reads the ssh_config at `path` (bounded) and refuses it when it holds a directive that
/// runs commands, unless `allowed` is the SHA-256 of exactly this content. Blocking: call
/// from `spawn_blocking` in async code.
pub fn check_ssh_config_file(
    path: &Path,
    allowed: Option<&str>,
) -> std::result::Result<(), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot be read: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_SSH_CONFIG + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot be read: {e}"))?;
    if bytes.len() as u64 > MAX_SSH_CONFIG {
        return Err(format!(
            "it is larger than {} kB; an ssh_config for pmtwatch is a few lines",
            MAX_SSH_CONFIG / 1024
        ));
    }
    if allowed.is_some_and(|h| h.eq_ignore_ascii_case(&sha256_hex(&bytes))) {
        return Ok(());
    }
    check_ssh_config_text(&String::from_utf8_lossy(&bytes))
}

/// The directive check of [`check_ssh_config_file`] on the text itself.
pub fn check_ssh_config_text(text: &str) -> std::result::Result<(), String> {
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_matches(|c: char| c.is_whitespace());
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // ssh splits the keyword at whitespace or one '=', and strips quotes.
        let mut words = line
            .split(|c: char| c.is_whitespace() || c == '=')
            .map(|w| w.trim_matches('"').to_ascii_lowercase())
            .filter(|w| !w.is_empty());
        let Some(keyword) = words.next() else {
            continue;
        };
        let at = n + 1;
        if FORBIDDEN_DIRECTIVES.contains(&keyword.as_str()) {
            return Err(format!(
                "line {at} sets {keyword}, which makes ssh run a command or load code on this \
                 machine; remove it, or have an admin allow this exact file"
            ));
        }
        if keyword == "match" && words.any(|w| w.trim_start_matches('!') == "exec") {
            return Err(format!(
                "line {at} is a 'Match exec', which runs a command while the config is read; \
                 remove it, or have an admin allow this exact file"
            ));
        }
        if keyword == "proxyjump" {
            let value = line
                .split_once(|c: char| c.is_whitespace() || c == '=')
                .map_or("", |(_, v)| v)
                .trim_matches(|c: char| c.is_whitespace() || c == '=' || c == '"');
            if !value.eq_ignore_ascii_case("none") {
                for hop in value.split(',') {
                    parse_hop(hop.trim()).map_err(|why| {
                        format!("line {at}: ProxyJump hop {}: {why}", preview(hop))
                    })?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hops_follow_the_host_grammar() {
        assert_eq!(
            parse_hop("ops@inner:2222"),
            Ok(Hop {
                user: Some("ops".into()),
                host: "inner".into(),
                port: Some(2222)
            })
        );
        assert!(parse_hop("gate.lab.org").is_ok());
        assert!(parse_hop("[::1]:22").is_ok());
        assert!(parse_hop("[fe80::1]").is_ok());
        for bad in [
            "$(touch x)",
            "`id`",
            "a;b",
            "a|b",
            "h${IFS}x",
            "-oProxyCommand=sh",
            "h:0",
            "h:99999",
            "h:22x",
            "u@@h",
            "%h",
            "gаte", // Cyrillic а
            "",
            "[::1",
            "[::1]x",
        ] {
            assert!(parse_hop(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn paths_are_plain() {
        assert!(check_path("/etc/pmtwatch/ssh_config", true).is_ok());
        assert!(check_path("pmt/scans", false).is_ok());
        for bad in [
            "relative", "/a b", "/a/../b", "/a%d", "/~x", "/a$HOME", "/a\nb", "/a,b", "/é",
        ] {
            assert!(check_path(bad, true).is_err(), "{bad:?}");
        }
        assert!(check_path(&format!("/{}", "a".repeat(MAX_PATH)), true).is_err());
        assert!(check_program("pmtwatch").is_ok());
        assert!(check_program("/opt/pmt/bin/pmtwatch").is_ok());
        for bad in ["-x", "sh -c", "./x", "a;b", ""] {
            assert!(check_program(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ssh_config_directives_that_run_commands_are_refused() {
        assert!(
            check_ssh_config_text("Host gate\n  HostName 10.0.0.1\n  ProxyJump ops@gw:22\n")
                .is_ok()
        );
        for bad in [
            "ProxyCommand touch /tmp/x",
            "  proxycommand=touch /tmp/x",
            "Host *\n\tPROXYCOMMAND\t touch x",
            "\"ProxyCommand\" touch x",
            "LocalCommand id\nPermitLocalCommand yes",
            "Match host x exec \"touch y\"",
            "Match !exec=true",
            "KnownHostsCommand /bin/true",
            "Include /tmp/other",
            "PKCS11Provider /tmp/evil.so",
            "ProxyJump a;b",
        ] {
            assert!(check_ssh_config_text(bad).is_err(), "{bad:?}");
        }
    }
}

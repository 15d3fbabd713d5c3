//! Settings of the web server: cookie and session lifetimes, login throttling, which
//! origins may open the LiveView socket, proxy headers. Defaults suit a loopback server;
//! `serve --config FILE` reads a TOML `[web]` table to change them, and an `[alarms]` table
//! (`model::AlarmConfig`: thresholds, rules, targets) applied to the monitor at start.

use std::path::Path;
use std::time::Duration;

/// The web server's settings.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Add `Secure` to the session cookie (set when pmtwatch is served over TLS by a proxy).
    pub secure_cookie: bool,
    /// A session ends after this long without a request.
    pub idle_timeout: Duration,
    /// A session ends this long after login, however active.
    pub absolute_timeout: Duration,
    /// Origins besides the request's own host that may open the socket and post the login
    /// form, e.g. `https://pmt.lab.example` behind a proxy that rewrites `Host`.
    pub allowed_origins: Vec<String>,
    /// Wrong passwords within `throttle_window` that lock an account or a client address.
    pub throttle_failures: usize,
    pub throttle_window: Duration,
    /// How long such a lock lasts.
    pub lock_duration: Duration,
    /// Take the client address from `X-Forwarded-For` when the peer is loopback (a local
    /// reverse proxy); otherwise every client behind the proxy would share one address.
    pub trust_proxy_headers: bool,
    /// The `[alarms]` table (rules, targets, thresholds), applied at start when present.
    pub alarms: Option<crate::model::AlarmConfig>,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            secure_cookie: false,
            idle_timeout: Duration::from_secs(12 * 3600),
            absolute_timeout: Duration::from_secs(7 * 24 * 3600),
            allowed_origins: Vec::new(),
            throttle_failures: 20,
            throttle_window: Duration::from_secs(60),
            lock_duration: Duration::from_secs(15 * 60),
            trust_proxy_headers: false,
            alarms: None,
        }
    }
}

/// The `[web]` table of the config file; durations are humantime strings ("12h", "7d").
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WebTable {
    secure_cookie: Option<bool>,
    idle_timeout: Option<String>,
    absolute_timeout: Option<String>,
    allowed_origins: Option<Vec<String>>,
    throttle_failures: Option<usize>,
    throttle_window: Option<String>,
    lock_duration: Option<String>,
    trust_proxy_headers: Option<bool>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct FileConfig {
    #[serde(default)]
    web: WebTable,
    #[serde(default)]
    alarms: Option<crate::model::AlarmConfig>,
}

/// A config file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the config file {path} is not valid: {message}")]
    Invalid { path: String, message: String },
}

impl WebConfig {
    /// Reads `[web]` from a TOML file; unset keys keep their defaults.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::from_toml(&text).map_err(|message| ConfigError::Invalid {
            path: shown,
            message,
        })
    }

    /// Parses the TOML text of a config file.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let file: FileConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        let t = file.web;
        let alarms = file.alarms;
        if let Some(a) = &alarms {
            let problems = a.problems();
            if !problems.is_empty() {
                return Err(format!("[alarms]: {}", problems.join("; ")));
            }
        }
        let mut c = Self::default();
        let dur = |key: &str, v: Option<String>, d: Duration| -> Result<Duration, String> {
            match v {
                None => Ok(d),
                Some(s) => humantime::parse_duration(&s)
                    .map_err(|e| format!("web.{key} = {s:?}: {e} (write e.g. \"12h\" or \"30m\")")),
            }
        };
        c.secure_cookie = t.secure_cookie.unwrap_or(c.secure_cookie);
        c.idle_timeout = dur("idle_timeout", t.idle_timeout, c.idle_timeout)?;
        c.absolute_timeout = dur("absolute_timeout", t.absolute_timeout, c.absolute_timeout)?;
        c.allowed_origins = t.allowed_origins.unwrap_or_default();
        c.throttle_failures = t.throttle_failures.unwrap_or(c.throttle_failures).max(1);
        c.throttle_window = dur("throttle_window", t.throttle_window, c.throttle_window)?;
        c.lock_duration = dur("lock_duration", t.lock_duration, c.lock_duration)?;
        c.trust_proxy_headers = t.trust_proxy_headers.unwrap_or(false);
        c.alarms = alarms;
        Ok(c)
    }

    pub(crate) fn idle_secs(&self) -> i64 {
        i64::try_from(self.idle_timeout.as_secs()).unwrap_or(i64::MAX)
    }

    pub(crate) fn absolute_secs(&self) -> i64 {
        i64::try_from(self.absolute_timeout.as_secs()).unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_and_rejects_unknown_keys() {
        let c = WebConfig::from_toml("[web]\nsecure_cookie = true\nidle_timeout = \"30m\"\n");
        let c = c.expect("valid config");
        assert!(c.secure_cookie);
        assert_eq!(c.idle_timeout, Duration::from_secs(1800));
        assert!(WebConfig::from_toml("[web]\nidle_timeout = \"soon\"").is_err());
        assert!(WebConfig::from_toml("[web]\nsecure = true").is_err());
    }
}

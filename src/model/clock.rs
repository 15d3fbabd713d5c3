//! The clock: Unix seconds, as every timestamp is stored, and their RFC 3339 form, as the
//! JSON API, the CLI and the screen show them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (the store's clock; all timestamps are stored this way).
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A stored timestamp as RFC 3339 in UTC (`2026-05-01T12:00:00Z`), as the JSON API and the
/// CLI show it. Times before the epoch show as the epoch.
pub fn rfc3339(secs: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0));
    humantime::format_rfc3339_seconds(t).to_string()
}

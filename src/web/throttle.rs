//! Login throttling: too many wrong passwords within a window lock the account name and the
//! client address they came from, each on its own, for a while. Kept in memory (a restart
//! clears it); the lock itself is written to the audit log by the login handler.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a failure count is kept for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ThrottleKey {
    Account(String),
    Address(IpAddr),
}

impl ThrottleKey {
    /// `account` or `address`, for the audit log.
    pub fn kind(&self) -> &'static str {
        match self {
            ThrottleKey::Account(_) => "account",
            ThrottleKey::Address(_) => "address",
        }
    }

    /// The account name or address, for the audit log.
    pub fn value(&self) -> String {
        match self {
            ThrottleKey::Account(a) => a.clone(),
            ThrottleKey::Address(a) => a.to_string(),
        }
    }
}

#[derive(Debug, Default)]
struct Entry {
    failures: VecDeque<Instant>,
    locked_until: Option<Instant>,
}

/// Failure counts per account and per address.
#[derive(Debug)]
pub struct Throttle {
    max_failures: usize,
    window: Duration,
    lock_for: Duration,
    // A std mutex: held only for a few map operations, never across an await.
    entries: Mutex<HashMap<ThrottleKey, Entry>>,
}

/// Entries kept before old ones are dropped, so a flood of names cannot grow memory.
const MAX_ENTRIES: usize = 10_000;

impl Throttle {
    pub fn new(max_failures: usize, window: Duration, lock_for: Duration) -> Self {
        Self {
            max_failures: max_failures.max(1),
            window,
            lock_for,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn keys(account: &str, addr: IpAddr) -> [ThrottleKey; 2] {
        [
            ThrottleKey::Account(account.to_string()),
            ThrottleKey::Address(addr),
        ]
    }

    /// How long the account or the address stays locked, if either is.
    pub fn locked(&self, account: &str, addr: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        Self::keys(account, addr)
            .iter()
            .filter_map(|k| entries.get(k)?.locked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max()
    }

    /// Records a wrong password; returns the keys that this failure has just locked.
    pub fn failure(&self, account: &str, addr: IpAddr) -> Vec<ThrottleKey> {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            let window = self.window;
            entries.retain(|_, e| {
                e.locked_until.is_some_and(|u| u > now)
                    || e.failures.back().is_some_and(|t| now - *t < window)
            });
        }
        let mut newly_locked = Vec::new();
        for key in Self::keys(account, addr) {
            let e = entries.entry(key.clone()).or_default();
            while e.failures.front().is_some_and(|t| now - *t >= self.window) {
                e.failures.pop_front();
            }
            e.failures.push_back(now);
            let already = e.locked_until.is_some_and(|u| u > now);
            if !already && e.failures.len() >= self.max_failures {
                e.locked_until = Some(now + self.lock_for);
                e.failures.clear();
                newly_locked.push(key);
            }
        }
        newly_locked
    }

    /// A good password for `account`: its failure count starts again (the address keeps
    /// its count, so one known account cannot be used to reset a guessing address).
    pub fn success(&self, account: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(&ThrottleKey::Account(account.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twenty_failures_lock_account_and_address() {
        let t = Throttle::new(20, Duration::from_secs(60), Duration::from_secs(600));
        let ip: IpAddr = [10, 0, 0, 1].into();
        for i in 0..19 {
            assert!(t.failure("alice", ip).is_empty(), "attempt {i}");
            assert!(t.locked("alice", ip).is_none());
        }
        let locked = t.failure("alice", ip);
        assert_eq!(locked.len(), 2);
        assert!(t.locked("alice", ip).is_some());
        assert!(t.locked("bob", ip).is_some(), "the address is locked too");
        assert!(t.locked("alice", [10, 0, 0, 2].into()).is_some());
        assert!(t.locked("bob", [10, 0, 0, 2].into()).is_none());
    }
}

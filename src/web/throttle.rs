//! Login throttling: too many wrong passwords within a window lock the account name and the
//! client address they came from, each on its own, for a while. Kept in memory (a restart
//! clears it); the lock itself is written to the audit log by the login handler.
//!
//! A guess counts from the moment it is allowed, not once its (slow) check is over: an
//! [`Attempt`] is reserved before the password is verified, and while the guesses already
//! counted plus those being checked reach the limit, further ones are refused unchecked. So
//! parallel requests get no more guesses than sequential ones. At most
//! [`MAX_VERIFYING`] argon2 checks (19 MiB each) run at once, whoever asks; the rest wait
//! their turn without holding a thread, so a flood of logins cannot starve other requests.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};

/// Password checks (argon2) running at the same time, at most.
pub const MAX_VERIFYING: usize = 4;

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
    /// Attempts allowed and not yet decided (their password is being checked).
    in_flight: usize,
}

/// Failure counts per account and per address.
#[derive(Debug)]
pub struct Throttle {
    max_failures: usize,
    window: Duration,
    lock_for: Duration,
    // A std mutex: held only for a few map operations, never across an await.
    entries: Mutex<HashMap<ThrottleKey, Entry>>,
    /// Bounds the password checks running at once ([`MAX_VERIFYING`]).
    verifying: Semaphore,
}

/// Why an attempt was not allowed: how long to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The account or address is locked for this long.
    Locked(Duration),
    /// Every guess the window allows is already counted or being checked.
    Busy(Duration),
}

/// A login attempt that counts as a guess from the moment it was allowed. Settle it with
/// [`Attempt::failed`] or [`Attempt::succeeded`]; dropped unsettled (the request was
/// abandoned mid-check), it counts as a failure.
#[derive(Debug)]
pub struct Attempt<'a> {
    throttle: &'a Throttle,
    account: String,
    addr: IpAddr,
    settled: bool,
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
            verifying: Semaphore::new(MAX_VERIFYING),
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

    /// Allows one guess for `account` from `addr`, counting it at once, or says why not.
    /// Check the password only with the returned [`Attempt`] in hand.
    pub fn begin(&self, account: &str, addr: IpAddr) -> Result<Attempt<'_>, Refused> {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            let window = self.window;
            entries.retain(|_, e| {
                e.in_flight > 0
                    || e.locked_until.is_some_and(|u| u > now)
                    || e.failures.back().is_some_and(|t| now - *t < window)
            });
        }
        let keys = Self::keys(account, addr);
        let mut busy = false;
        let mut locked = None::<Duration>;
        for key in &keys {
            let Some(e) = entries.get_mut(key) else {
                continue;
            };
            while e.failures.front().is_some_and(|t| now - *t >= self.window) {
                e.failures.pop_front();
            }
            if let Some(until) = e.locked_until.filter(|u| *u > now) {
                locked = Some(locked.map_or(until - now, |l| l.max(until - now)));
            }
            busy |= e.failures.len() + e.in_flight >= self.max_failures;
        }
        if let Some(left) = locked {
            return Err(Refused::Locked(left));
        }
        if busy {
            return Err(Refused::Busy(self.window));
        }
        for key in keys {
            entries.entry(key).or_default().in_flight += 1;
        }
        Ok(Attempt {
            throttle: self,
            account: account.to_string(),
            addr,
            settled: false,
        })
    }

    /// Waits for a turn to check a password (at most [`MAX_VERIFYING`] at once).
    pub async fn verify_turn(&self) -> Option<SemaphorePermit<'_>> {
        self.verifying.acquire().await.ok()
    }

    /// Ends an attempt: a failure is counted (and may lock); returns the keys it locked.
    fn settle(&self, account: &str, addr: IpAddr, failed: bool) -> Vec<ThrottleKey> {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let mut newly_locked = Vec::new();
        for key in Self::keys(account, addr) {
            let e = entries.entry(key.clone()).or_default();
            e.in_flight = e.in_flight.saturating_sub(1);
            if !failed {
                // A good password: the account's count starts again (the address keeps
                // its count, so one known account cannot reset a guessing address).
                if matches!(key, ThrottleKey::Account(_)) {
                    e.failures.clear();
                    e.locked_until = None;
                }
                continue;
            }
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
}

impl Attempt<'_> {
    /// A wrong password (or unknown user); returns the keys this failure has just locked.
    pub fn failed(mut self) -> Vec<ThrottleKey> {
        self.settled = true;
        self.throttle.settle(&self.account, self.addr, true)
    }

    /// A good password.
    pub fn succeeded(mut self) {
        self.settled = true;
        self.throttle.settle(&self.account, self.addr, false);
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.throttle.settle(&self.account, self.addr, true);
        }
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
            let a = t.begin("alice", ip).expect("allowed");
            assert!(a.failed().is_empty(), "attempt {i}");
            assert!(t.locked("alice", ip).is_none());
        }
        let locked = t.begin("alice", ip).expect("the 20th guess").failed();
        assert_eq!(locked.len(), 2);
        assert!(t.locked("alice", ip).is_some());
        assert!(t.locked("bob", ip).is_some(), "the address is locked too");
        assert!(t.locked("alice", [10, 0, 0, 2].into()).is_some());
        assert!(t.locked("bob", [10, 0, 0, 2].into()).is_none());
    }

    #[test]
    fn guesses_count_while_they_are_checked() {
        let t = Throttle::new(3, Duration::from_secs(60), Duration::from_secs(600));
        let ip: IpAddr = [10, 0, 0, 1].into();
        let held: Vec<_> = (0..3)
            .map(|_| t.begin("alice", ip).expect("allowed"))
            .collect();
        assert!(matches!(t.begin("alice", ip), Err(Refused::Busy(_))));
        // A good password frees the account's reservation without counting a failure.
        let mut held = held.into_iter();
        held.next().expect("one").succeeded();
        let again = t
            .begin("alice", [10, 0, 0, 2].into())
            .expect("a slot is free");
        drop(again); // abandoned mid-check: counted as a failure
        for a in held {
            a.failed();
        }
        assert!(matches!(t.begin("alice", ip), Err(Refused::Locked(_))));
    }
}

//! Failed operator logins, counted per source address in memory.
//!
//! After [`MAX_FAILURES`] failures from one address within [`WINDOW`], that
//! address is refused with 429 and `Retry-After` until the window ends,
//! whatever token it presents, without touching the store. The count lives
//! in this replica's memory: each console replica limits on its own, and a
//! restart forgets the counts.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Failures allowed from one address per window.
pub(crate) const MAX_FAILURES: u32 = 10;
/// The window failures are counted in.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked before expired entries are swept.
const SWEEP_AT: usize = 10_000;

#[derive(Debug)]
struct Failures {
    since: Instant,
    count: u32,
}

/// The failed-login counts of this replica.
#[derive(Debug, Default)]
pub(crate) struct LoginThrottle {
    by_addr: Mutex<HashMap<String, Failures>>,
}

impl LoginThrottle {
    /// `Err(retry_after)` when `addr` has failed too often in this window.
    pub(crate) fn check(&self, addr: &str, now: Instant) -> Result<(), Duration> {
        let map = self.by_addr.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(addr) {
            Some(f) if f.count >= MAX_FAILURES => {
                let ends = f.since + WINDOW;
                if now < ends {
                    // Round up, so a client that waits is not refused again.
                    Err(Duration::from_secs((ends - now).as_secs() + 1))
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    /// Counts one failure from `addr`.
    pub(crate) fn fail(&self, addr: &str, now: Instant) {
        let mut map = self.by_addr.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= SWEEP_AT {
            map.retain(|_, f| now.duration_since(f.since) < WINDOW);
        }
        let entry = map.entry(addr.to_owned()).or_insert(Failures {
            since: now,
            count: 0,
        });
        if now.duration_since(entry.since) >= WINDOW {
            *entry = Failures {
                since: now,
                count: 0,
            };
        }
        entry.count = entry.count.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_refused_after_too_many_failures_until_the_window_ends() {
        let throttle = LoginThrottle::default();
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert!(throttle.check("192.0.2.1", t0).is_ok());
            throttle.fail("192.0.2.1", t0);
        }
        let retry = throttle.check("192.0.2.1", t0).unwrap_err();
        assert_eq!(retry, WINDOW + Duration::from_secs(1));
        assert!(throttle.check("192.0.2.2", t0).is_ok(), "other addresses");
        assert!(throttle.check("192.0.2.1", t0 + WINDOW).is_ok());
        // A failure after the window starts a new count.
        throttle.fail("192.0.2.1", t0 + WINDOW);
        assert!(throttle.check("192.0.2.1", t0 + WINDOW).is_ok());
    }
}

//! Retry arithmetic: backoff with jitter, `Retry-After` caps, and a retry
//! budget so retries cannot multiply traffic during an outage.

use crate::UnixMillis;

/// Exponential backoff with full jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base_ms: u64,
    pub max_ms: u64,
}

impl Backoff {
    /// The delay before retry number `retry` (1 for the first retry), drawn
    /// uniformly from `[0, min(max, base * 2^(retry-1))]` using `random`.
    pub fn delay_ms(&self, retry: u32, random: u64) -> u64 {
        let exp = self
            .base_ms
            .saturating_mul(1u64 << retry.saturating_sub(1).min(20));
        let cap = exp.min(self.max_ms);
        if cap == 0 { 0 } else { random % (cap + 1) }
    }
}

/// The wait before a retry: the backoff, or the upstream's `Retry-After`
/// when longer, never more than `cap_ms`. `None` when `Retry-After` asks for
/// more than the cap: retrying sooner than asked would be rude and useless.
pub fn retry_wait_ms(backoff_ms: u64, retry_after_ms: Option<u64>, cap_ms: u64) -> Option<u64> {
    match retry_after_ms {
        Some(asked) if asked > cap_ms => None,
        Some(asked) => Some(asked.max(backoff_ms).min(cap_ms)),
        None => Some(backoff_ms.min(cap_ms)),
    }
}

/// A retry budget over a sliding window: retries may add at most `ratio`
/// extra attempts on top of first attempts, plus a small floor so a quiet
/// route can still retry.
#[derive(Debug, Clone)]
pub struct RetryBudget {
    ratio: f64,
    floor: u32,
    window_ms: i64,
    window_start: UnixMillis,
    requests: u32,
    retries: u32,
    previous_requests: u32,
    previous_retries: u32,
}

impl RetryBudget {
    pub fn new(ratio: f64, floor: u32, window_ms: i64) -> Self {
        Self {
            ratio,
            floor,
            window_ms: window_ms.max(1),
            window_start: 0,
            requests: 0,
            retries: 0,
            previous_requests: 0,
            previous_retries: 0,
        }
    }

    fn roll(&mut self, now: UnixMillis) {
        if now - self.window_start >= self.window_ms {
            let skipped_whole = now - self.window_start >= 2 * self.window_ms;
            self.previous_requests = if skipped_whole { 0 } else { self.requests };
            self.previous_retries = if skipped_whole { 0 } else { self.retries };
            self.requests = 0;
            self.retries = 0;
            self.window_start = now - now.rem_euclid(self.window_ms);
        }
    }

    /// Counts a first attempt.
    pub fn on_request(&mut self, now: UnixMillis) {
        self.roll(now);
        self.requests += 1;
    }

    /// Takes a retry from the budget if one is left.
    pub fn try_retry(&mut self, now: UnixMillis) -> bool {
        self.roll(now);
        let requests = f64::from(self.requests + self.previous_requests);
        let retries = self.retries + self.previous_retries;
        let allowed = (requests * self.ratio) as u32 + self.floor;
        if retries < allowed {
            self.retries += 1;
            true
        } else {
            false
        }
    }
}

/// Picks a target index by weight with `random` in `[0, total)`.
pub fn pick_weighted(weights: &[u32], random: u64) -> Option<usize> {
    let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
    if total == 0 {
        return None;
    }
    let mut point = random % total;
    for (i, w) in weights.iter().enumerate() {
        let w = u64::from(*w);
        if point < w {
            return Some(i);
        }
        point -= w;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_under_the_cap() {
        let b = Backoff {
            base_ms: 100,
            max_ms: 1_000,
        };
        for retry in 1..30 {
            for random in [0, 1, 99, 12345, u64::MAX] {
                let d = b.delay_ms(retry, random);
                assert!(d <= 1_000);
                assert!(d <= 100u64.saturating_mul(1 << (retry - 1).min(20)));
            }
        }
        assert_eq!(b.delay_ms(1, u64::MAX), u64::MAX % 101);
        assert_eq!(
            Backoff {
                base_ms: 0,
                max_ms: 0
            }
            .delay_ms(3, 7),
            0
        );
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap() {
        assert_eq!(retry_wait_ms(50, None, 1_000), Some(50));
        assert_eq!(retry_wait_ms(50, Some(300), 1_000), Some(300));
        assert_eq!(retry_wait_ms(500, Some(300), 1_000), Some(500));
        assert_eq!(retry_wait_ms(50, Some(5_000), 1_000), None);
    }

    #[test]
    fn budget_limits_retries_to_a_share_of_requests() {
        let mut budget = RetryBudget::new(0.2, 2, 10_000);
        for _ in 0..100 {
            budget.on_request(5);
        }
        let granted = (0..100).filter(|_| budget.try_retry(6)).count();
        assert_eq!(granted, 22, "20% of 100 requests plus the floor of 2");
        // Two windows later everything has drained.
        budget.on_request(30_000);
        assert_eq!((0..10).filter(|_| budget.try_retry(30_001)).count(), 2);
    }

    #[test]
    fn weighted_choice_follows_weights() {
        let weights = [1, 3, 6];
        let mut counts = [0u32; 3];
        // A deterministic spread of random numbers across the range.
        for i in 0..10_000u64 {
            let random = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            counts[pick_weighted(&weights, random).unwrap()] += 1;
        }
        for (count, weight) in counts.iter().zip(weights) {
            let expected = 10_000.0 * f64::from(weight) / 10.0;
            assert!(
                (f64::from(*count) - expected).abs() < expected * 0.1,
                "{counts:?}"
            );
        }
        assert_eq!(pick_weighted(&[], 3), None);
        assert_eq!(pick_weighted(&[0, 0], 3), None);
    }
}

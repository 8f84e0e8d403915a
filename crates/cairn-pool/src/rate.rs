//! Per-key request rates: a token bucket for every key that signs requests (an account's or a
//! peer's), so that one busy client cannot take the pool's capacity from the others. Pure: the
//! caller passes the time, so tests need no clock.
//!
//! A key may make [`RateLimit::burst`] requests at once after being idle, then
//! [`RateLimit::per_second`] a second on average. The bucket counts thousandths of a request
//! in whole numbers, so refill is exact. Memory is bounded: a key whose bucket has refilled is
//! indistinguishable from one never seen, so it is forgotten when room is needed; if every
//! remembered key is still active, a new key is refused rather than an old one forgotten
//! (forgetting would hand that key a fresh burst).

use std::collections::HashMap;

/// Signed requests per second one key may make on average, by default: a client storing
/// or reading a thousand small files a second (two requests each) keeps within it, a
/// runaway one takes at most a bounded share of a pool that serves several thousand.
pub const DEFAULT_REQUESTS_PER_SECOND: u32 = 2000;
/// Signed requests one idle key may make at once, by default (a few thousand small files'
/// worth of uploads).
pub const DEFAULT_REQUEST_BURST: u32 = 10_000;
/// Most keys whose buckets are remembered at once.
pub const MAX_TRACKED_KEYS: usize = 100_000;

/// Thousandths of a request per request.
const MILLI: u64 = 1000;

/// How fast one key may send signed requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests a second on average; `0` means no limit.
    pub per_second: u32,
    /// Requests at once after being idle (the bucket's size; at least 1 is used).
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            per_second: DEFAULT_REQUESTS_PER_SECOND,
            burst: DEFAULT_REQUEST_BURST,
        }
    }
}

impl RateLimit {
    /// The bucket's size in thousandths of a request.
    fn capacity(self) -> u64 {
        u64::from(self.burst.max(1)) * MILLI
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RateRefusal {
    /// This key has used its burst and must wait for the bucket to refill.
    #[error(
        "this key sent more than {per_second} requests a second (at most {burst} at once); wait {} s and try again", retry_after_secs(*retry_after_ms)
    )]
    TooFast {
        /// Requests a second allowed.
        per_second: u32,
        /// Requests at once allowed.
        burst: u32,
        /// Milliseconds until one more request is allowed.
        retry_after_ms: u64,
    },
    /// So many keys are sending requests right now that no new one can be tracked.
    #[error("the pool is serving too many clients at once; try again shortly")]
    TooManyKeys,
}

impl RateRefusal {
    /// Whole seconds to wait before retrying (for `Retry-After`), at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        match self {
            Self::TooFast { retry_after_ms, .. } => retry_after_secs(*retry_after_ms),
            Self::TooManyKeys => 1,
        }
    }
}

fn retry_after_secs(ms: u64) -> u64 {
    ms.div_ceil(1000).max(1)
}

/// One key's bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Thousandths of a request available.
    milli: u64,
    /// When `milli` was last brought up to date, Unix milliseconds.
    at_ms: u64,
}

impl Bucket {
    /// The bucket's content at `now_ms` (never before its last update: a clock that steps
    /// back refills nothing).
    fn level(self, limit: RateLimit, now_ms: u64) -> u64 {
        let elapsed = now_ms.saturating_sub(self.at_ms);
        // Thousandths of a request per millisecond equals requests per second.
        self.milli
            .saturating_add(elapsed.saturating_mul(u64::from(limit.per_second)))
            .min(limit.capacity())
    }
}

/// Every active key's bucket.
#[derive(Debug)]
pub struct KeyRates {
    limit: RateLimit,
    max_keys: usize,
    buckets: HashMap<[u8; 32], Bucket>,
}

impl Default for KeyRates {
    fn default() -> Self {
        Self::new(RateLimit::default())
    }
}

impl KeyRates {
    /// Buckets for `limit`, remembering up to [`MAX_TRACKED_KEYS`] keys.
    pub fn new(limit: RateLimit) -> Self {
        Self::with_max_keys(limit, MAX_TRACKED_KEYS)
    }

    /// Buckets for `limit`, remembering up to `max_keys` keys (at least 1).
    pub fn with_max_keys(limit: RateLimit, max_keys: usize) -> Self {
        Self {
            limit,
            max_keys: max_keys.max(1),
            buckets: HashMap::new(),
        }
    }

    /// Takes one request from `key`'s bucket at `now_ms`, or says why it may not be made.
    pub fn check(&mut self, key: [u8; 32], now_ms: u64) -> Result<(), RateRefusal> {
        self.charge(key, 1, now_ms)
    }

    /// Takes `requests` requests from `key`'s bucket at `now_ms` (a request carrying that
    /// many items), or says why they may not be made and takes none.
    pub fn charge(&mut self, key: [u8; 32], requests: u32, now_ms: u64) -> Result<(), RateRefusal> {
        let limit = self.limit;
        if limit.per_second == 0 || requests == 0 {
            return Ok(());
        }
        let cost = u64::from(requests) * MILLI;
        if !self.buckets.contains_key(&key) && self.buckets.len() >= self.max_keys {
            self.forget_idle(now_ms);
            if self.buckets.len() >= self.max_keys {
                return Err(RateRefusal::TooManyKeys);
            }
        }
        let bucket = self.buckets.entry(key).or_insert(Bucket {
            milli: limit.capacity(),
            at_ms: now_ms,
        });
        bucket.milli = bucket.level(limit, now_ms);
        bucket.at_ms = bucket.at_ms.max(now_ms);
        if bucket.milli >= cost {
            bucket.milli -= cost;
            return Ok(());
        }
        Err(RateRefusal::TooFast {
            per_second: limit.per_second,
            burst: limit.burst.max(1),
            retry_after_ms: (cost - bucket.milli).div_ceil(u64::from(limit.per_second)),
        })
    }

    /// How many keys are remembered.
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }

    /// Forgets every key whose bucket is full again at `now_ms`.
    fn forget_idle(&mut self, now_ms: u64) {
        let limit = self.limit;
        self.buckets
            .retain(|_, bucket| bucket.level(limit, now_ms) < limit.capacity());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 32] = [1; 32];
    const B: [u8; 32] = [2; 32];

    fn rates(per_second: u32, burst: u32) -> KeyRates {
        KeyRates::new(RateLimit { per_second, burst })
    }

    #[test]
    fn a_request_of_many_items_costs_as_many_or_takes_nothing() {
        let mut rates = rates(10, 10);
        assert_eq!(rates.charge(A, 8, 1_000), Ok(()));
        let refused = rates.charge(A, 3, 1_000).unwrap_err();
        assert!(
            matches!(
                refused,
                RateRefusal::TooFast {
                    retry_after_ms: 100,
                    ..
                }
            ),
            "{refused:?}"
        );
        // The refused charge took nothing: two requests are left.
        assert_eq!(rates.charge(A, 2, 1_000), Ok(()));
        assert!(rates.check(A, 1_000).is_err());
        assert_eq!(rates.charge(B, 0, 1_000), Ok(()));
        assert_eq!(rates.tracked(), 1, "a charge of nothing tracks no key");
    }

    #[test]
    fn a_burst_is_allowed_then_refused_until_refilled() {
        let mut rates = rates(10, 3);
        for _ in 0..3 {
            assert_eq!(rates.check(A, 1_000), Ok(()));
        }
        let refused = rates.check(A, 1_000).unwrap_err();
        assert_eq!(
            refused,
            RateRefusal::TooFast {
                per_second: 10,
                burst: 3,
                retry_after_ms: 100
            }
        );
        assert_eq!(refused.retry_after_secs(), 1);
        // 99 ms later a request is still short by a hundredth...
        assert!(rates.check(A, 1_099).is_err());
        // ...and at 100 ms there is exactly one.
        assert_eq!(rates.check(A, 1_100), Ok(()));
        assert!(rates.check(A, 1_100).is_err());
    }

    #[test]
    fn keys_do_not_share_buckets() {
        let mut rates = rates(1, 2);
        assert!(rates.check(A, 0).is_ok());
        assert!(rates.check(A, 0).is_ok());
        assert!(rates.check(A, 0).is_err());
        assert!(rates.check(B, 0).is_ok());
        assert!(rates.check(B, 0).is_ok());
    }

    #[test]
    fn idle_time_refills_no_more_than_the_burst() {
        let mut rates = rates(100, 5);
        for _ in 0..5 {
            rates.check(A, 0).unwrap();
        }
        let later = 24 * 60 * 60 * 1000;
        for _ in 0..5 {
            assert!(rates.check(A, later).is_ok());
        }
        assert!(rates.check(A, later).is_err());
    }

    #[test]
    fn the_sustained_rate_is_the_limit() {
        let mut rates = rates(50, 1);
        let mut allowed = 0;
        // One attempt every millisecond for ten seconds.
        for now in 0..10_000u64 {
            if rates.check(A, now).is_ok() {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 1 + 50 * 10 - 1);
    }

    #[test]
    fn a_clock_stepping_back_refills_nothing_and_does_not_panic() {
        let mut rates = rates(1, 1);
        rates.check(A, 1_000_000).unwrap();
        assert!(rates.check(A, 0).is_err());
        assert!(rates.check(A, u64::MAX).is_ok());
        assert!(rates.check(A, u64::MAX).is_err());
    }

    #[test]
    fn the_wait_is_rounded_up_to_whole_seconds() {
        let mut rates = rates(1, 1);
        rates.check(A, 0).unwrap();
        let refused = rates.check(A, 1).unwrap_err();
        assert_eq!(refused.retry_after_secs(), 1);
        assert!(refused.to_string().contains("wait 1 s"), "{refused}");
        let mut slow = KeyRates::new(RateLimit {
            per_second: 1,
            burst: 1,
        });
        slow.check(A, 0).unwrap();
        assert!(matches!(
            slow.check(A, 0),
            Err(RateRefusal::TooFast {
                retry_after_ms: 1000,
                ..
            })
        ));
    }

    #[test]
    fn zero_means_no_limit() {
        let mut rates = rates(0, 0);
        for _ in 0..10_000 {
            assert!(rates.check(A, 0).is_ok());
        }
        assert_eq!(rates.tracked(), 0);
    }

    #[test]
    fn memory_is_bounded_and_active_keys_are_not_forgotten() {
        let mut rates = KeyRates::with_max_keys(
            RateLimit {
                per_second: 1,
                burst: 2,
            },
            2,
        );
        rates.check(A, 0).unwrap();
        rates.check(B, 0).unwrap();
        // Both keys are still refilling: a third is refused, and A keeps its state.
        assert_eq!(rates.check([3; 32], 500), Err(RateRefusal::TooManyKeys));
        assert_eq!(RateRefusal::TooManyKeys.retry_after_secs(), 1);
        rates.check(A, 500).unwrap();
        assert!(rates.check(A, 500).is_err());
        // Once B's bucket is full again, B is forgotten to make room.
        assert!(rates.check([3; 32], 1_000).is_ok());
        assert_eq!(rates.tracked(), 2);
    }
}

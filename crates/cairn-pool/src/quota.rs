//! Per-account quota without a scan per placement: the pool keeps, for each account, an
//! upper bound of what its pieces and open placements occupy. Every placement adds what it
//! may store; everything else an account does (committing fewer pieces than were placed,
//! aborting, deleting, replacing) only lowers the truth, so the bound stays an upper bound.
//! The exact figure is read from the store the first time an account places after a start,
//! and again whenever the bound says a placement would not fit — so a refusal is always
//! made on the exact figure, and deleting files frees room at once.
//!
//! Only this process's placements are seen: two pool processes sharing one store would
//! each need their own view of the other's placements (noted for a PostgreSQL store).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use cairn_core::AccountId;

/// One account's view.
#[derive(Debug, Default, Clone, Copy)]
struct Ledger {
    /// Upper bound of the account's usage, if known.
    bound: Option<u64>,
    /// Every byte ever reserved here: a refresh adds what was reserved while it read.
    reserved: u64,
}

/// What a placement may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The placement fits; its bytes are reserved.
    Fits,
    /// It does not fit: the account uses `used` bytes (exactly, as of now).
    Over {
        /// The account's exact usage.
        used: u64,
    },
}

/// The quota ledgers of a running pool.
#[derive(Debug, Default)]
pub struct Quotas {
    ledgers: Mutex<HashMap<AccountId, Ledger>>,
    /// One exact recount at a time, so concurrent placements near the quota cannot each
    /// see the room the other is about to take.
    recount: tokio::sync::Mutex<()>,
}

impl Quotas {
    fn lock(&self) -> MutexGuard<'_, HashMap<AccountId, Ledger>> {
        self.ledgers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reserves `needed` bytes for `account` if its usage plus `needed` stays within
    /// `quota`. `exact` reads the account's usage from the store; it runs only when the
    /// bound is unknown or too high to decide.
    pub async fn reserve<E, F>(
        &self,
        account: AccountId,
        needed: u64,
        quota: u64,
        exact: F,
    ) -> Result<Verdict, E>
    where
        F: AsyncFnOnce() -> Result<u64, E>,
    {
        if self.try_reserve(account, needed, quota) {
            return Ok(Verdict::Fits);
        }
        let _recount = self.recount.lock().await;
        // Another placement may have recounted meanwhile.
        if self.try_reserve(account, needed, quota) {
            return Ok(Verdict::Fits);
        }
        let before = self.lock().get(&account).map_or(0, |l| l.reserved);
        let used = exact().await?;
        let mut ledgers = self.lock();
        let ledger = ledgers.entry(account).or_default();
        // Placements reserved while the store was read may or may not be in `used`:
        // counting them again keeps the bound an upper bound.
        let bound = used.saturating_add(ledger.reserved.saturating_sub(before));
        if bound.saturating_add(needed) <= quota {
            ledger.bound = Some(bound.saturating_add(needed));
            ledger.reserved = ledger.reserved.saturating_add(needed);
            Ok(Verdict::Fits)
        } else {
            ledger.bound = Some(bound);
            Ok(Verdict::Over { used: bound })
        }
    }

    /// Reserves on the known bound alone; false if it is unknown or does not fit.
    fn try_reserve(&self, account: AccountId, needed: u64, quota: u64) -> bool {
        let mut ledgers = self.lock();
        let ledger = ledgers.entry(account).or_default();
        match ledger.bound {
            Some(bound) if bound.saturating_add(needed) <= quota => {
                ledger.bound = Some(bound.saturating_add(needed));
                ledger.reserved = ledger.reserved.saturating_add(needed);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use std::cell::Cell;

    fn account(n: u8) -> AccountId {
        AccountId::from_verifying_key(&SigningKey::from_bytes(&[n; 32]).verifying_key())
    }

    #[tokio::test]
    async fn the_store_is_read_only_when_the_bound_cannot_decide() {
        let quotas = Quotas::default();
        let reads = Cell::new(0);
        let usage = Cell::new(100u64);
        let read = || async {
            reads.set(reads.get() + 1);
            Ok::<_, ()>(usage.get())
        };
        // First placement: unknown bound, one read.
        assert_eq!(
            quotas.reserve(account(1), 50, 1000, read).await,
            Ok(Verdict::Fits)
        );
        assert_eq!(reads.get(), 1);
        // Within the bound (150 + 800 ≤ 1000): no read.
        assert_eq!(
            quotas.reserve(account(1), 800, 1000, read).await,
            Ok(Verdict::Fits)
        );
        assert_eq!(reads.get(), 1);
        // The bound (950) says no; the store says the account holds 900 now: still no, on
        // the exact figure.
        usage.set(900);
        assert_eq!(
            quotas.reserve(account(1), 200, 1000, read).await,
            Ok(Verdict::Over { used: 900 })
        );
        assert_eq!(reads.get(), 2);
        // Files deleted: the next placement rereads and fits.
        usage.set(100);
        assert_eq!(
            quotas.reserve(account(1), 200, 1000, read).await,
            Ok(Verdict::Fits)
        );
        assert_eq!(reads.get(), 3);
        // Another account has its own ledger.
        assert_eq!(
            quotas.reserve(account(2), 1001, 1000, read).await,
            Ok(Verdict::Over { used: 100 })
        );
    }

    #[tokio::test]
    async fn the_quota_is_a_ceiling_not_a_floor() {
        let exactly = async |used: u64, needed: u64, quota: u64| {
            Quotas::default()
                .reserve(account(1), needed, quota, async || Ok::<_, ()>(used))
                .await
        };
        assert_eq!(exactly(0, 100, 100).await, Ok(Verdict::Fits));
        assert_eq!(exactly(60, 40, 100).await, Ok(Verdict::Fits));
        assert_eq!(exactly(60, 41, 100).await, Ok(Verdict::Over { used: 60 }));
        // An unlimited quota (`u64::MAX`) takes anything.
        assert_eq!(
            exactly(u64::MAX, u64::MAX, u64::MAX).await,
            Ok(Verdict::Fits)
        );
        assert_eq!(
            exactly(u64::MAX - 1, 1, u64::MAX - 1).await,
            Ok(Verdict::Over { used: u64::MAX - 1 })
        );
    }

    #[tokio::test]
    async fn reservations_made_during_a_recount_are_kept() {
        let quotas = Quotas::default();
        // The recount reads 0, but a placement of 600 lands while it reads.
        let verdict = quotas
            .reserve(account(1), 300, 1000, async || {
                assert!(!quotas.try_reserve(account(1), 600, 1000));
                let mut ledgers = quotas.lock();
                let ledger = ledgers.entry(account(1)).or_default();
                ledger.reserved += 600;
                Ok::<_, ()>(0)
            })
            .await;
        assert_eq!(verdict, Ok(Verdict::Fits));
        // 0 read + 600 reserved meanwhile + 300 now: 200 more would pass 1000.
        assert!(!quotas.try_reserve(account(1), 200, 1000));
        assert!(quotas.try_reserve(account(1), 100, 1000));
    }
}

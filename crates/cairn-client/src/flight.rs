//! How many files a tree operation moves at once: a memory budget shared by size, so
//! small files fly many at a time and large ones few.

use crate::drive::DriveOptions;

/// A tree operation's files in flight: as many as fit a budget of `concurrency` segments
/// of plaintext, each file counted by its size in sixteenths of a
/// segment (at least one), and at most four times `concurrency` files — so a tree of small
/// files keeps peers and pool busy enough to share their syncs, and one of large files
/// holds no more memory than `concurrency` of them did.
pub(crate) struct Flight {
    pub(crate) files: usize,
    unit: u64,
    budget: tokio::sync::Semaphore,
}

/// A file's share of the budget, at most a whole segment.
const SHARES_PER_SEGMENT: u64 = 16;

impl Flight {
    pub(crate) fn new(options: &DriveOptions) -> Self {
        let concurrency = options.concurrency.max(1);
        let shares = concurrency.saturating_mul(SHARES_PER_SEGMENT as usize);
        Self {
            files: concurrency.saturating_mul(4),
            unit: (u64::from(options.segment_size) / SHARES_PER_SEGMENT).max(1),
            budget: tokio::sync::Semaphore::new(shares),
        }
    }

    /// Waits until a file of `size` bytes fits the budget; its share is back when the
    /// permit is dropped. (`None` only if the budget were closed, which it never is.)
    pub(crate) async fn room_for(&self, size: u64) -> Option<tokio::sync::SemaphorePermit<'_>> {
        let shares = size.div_ceil(self.unit).clamp(1, SHARES_PER_SEGMENT);
        let shares = u32::try_from(shares).unwrap_or(1);
        self.budget.acquire_many(shares).await.ok()
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;

    #[tokio::test]
    async fn small_files_fly_four_times_as_many_as_large_ones_in_the_same_budget() {
        let options = DriveOptions {
            concurrency: 2,
            segment_size: 16 << 20,
            ..DriveOptions::default()
        };
        let flight = Flight::new(&options);
        assert_eq!(flight.files, 8);
        let first = flight.room_for(100 << 20).now_or_never().flatten();
        let second = flight.room_for(16 << 20).now_or_never().flatten();
        assert!(first.is_some() && second.is_some());
        assert!(
            flight.room_for(4096).now_or_never().is_none(),
            "two large files fill the budget"
        );
        drop(first);
        let small: Vec<_> = (0..16)
            .map(|_| flight.room_for(4096).now_or_never().flatten())
            .collect();
        assert!(
            small.iter().all(Option::is_some),
            "one large file's room holds 16 small ones"
        );
        assert!(flight.room_for(1).now_or_never().is_none());
    }
}

//! A bounded memory of things accepted once (order serials, request nonces), each kept
//! until it expires.
//!
//! Forgetting an entry before it expires would let it be replayed, so when the cache is
//! full of unexpired entries it refuses new ones instead of evicting. Expired entries are
//! dropped cheaply (a min-heap by expiry), because an expired order or request is refused by
//! its expiry alone.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use std::hash::Hash;

/// Why an entry could not be remembered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The entry is already remembered.
    Seen,
    /// The cache holds its capacity of unexpired entries.
    Full,
}

/// Accepted entries, each remembered until its expiry.
#[derive(Debug)]
pub(crate) struct ReplayCache<K> {
    /// Most entries remembered at once.
    capacity: usize,
    /// Each remembered entry and its expiry.
    expiry_of: HashMap<K, u64>,
    /// The same entries ordered by expiry, soonest first, for pruning.
    by_expiry: BinaryHeap<Reverse<(u64, K)>>,
}

impl<K: Copy + Eq + Hash + Ord> ReplayCache<K> {
    /// An empty cache that remembers at most `capacity` serials.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            expiry_of: HashMap::new(),
            by_expiry: BinaryHeap::new(),
        }
    }

    /// How many entries are remembered.
    pub(crate) fn len(&self) -> usize {
        self.expiry_of.len()
    }

    /// Forgets every entry that expired at or before `now`.
    pub(crate) fn prune(&mut self, now: u64) {
        while let Some(&Reverse((expires_at, serial))) = self.by_expiry.peek() {
            if expires_at > now {
                break;
            }
            self.by_expiry.pop();
            self.expiry_of.remove(&serial);
        }
    }

    /// Whether `serial` is remembered.
    pub(crate) fn contains(&self, serial: K) -> bool {
        self.expiry_of.contains_key(&serial)
    }

    /// Checks that `serial` could be remembered, without remembering it.
    pub(crate) fn can_insert(&self, serial: K) -> Result<(), Refused> {
        if self.contains(serial) {
            return Err(Refused::Seen);
        }
        if self.len() >= self.capacity {
            return Err(Refused::Full);
        }
        Ok(())
    }

    /// Remembers `serial` until `expires_at`.
    pub(crate) fn insert(&mut self, serial: K, expires_at: u64) -> Result<(), Refused> {
        self.can_insert(serial)?;
        self.expiry_of.insert(serial, expires_at);
        self.by_expiry.push(Reverse((expires_at, serial)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::OrderSerial;
    use proptest::prelude::*;

    #[test]
    fn remembers_until_expiry() {
        let mut cache = ReplayCache::<OrderSerial>::new(10);
        assert_eq!(cache.insert(OrderSerial(1), 100), Ok(()));
        assert_eq!(cache.insert(OrderSerial(1), 200), Err(Refused::Seen));
        cache.prune(99);
        assert!(cache.contains(OrderSerial(1)));
        cache.prune(100);
        assert!(!cache.contains(OrderSerial(1)));
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn full_refuses_rather_than_forgets() {
        let mut cache = ReplayCache::<OrderSerial>::new(2);
        cache.insert(OrderSerial(1), 100).unwrap();
        cache.insert(OrderSerial(2), 50).unwrap();
        assert_eq!(cache.insert(OrderSerial(3), 10), Err(Refused::Full));
        assert_eq!(cache.can_insert(OrderSerial(1)), Err(Refused::Seen));
        assert!(cache.contains(OrderSerial(1)) && cache.contains(OrderSerial(2)));
        cache.prune(50);
        assert_eq!(cache.insert(OrderSerial(3), 10), Ok(()));
        assert!(cache.contains(OrderSerial(1)) && !cache.contains(OrderSerial(2)));
    }

    #[test]
    fn zero_capacity_refuses_everything() {
        let mut cache = ReplayCache::<OrderSerial>::new(0);
        assert_eq!(cache.insert(OrderSerial(1), 1), Err(Refused::Full));
    }

    proptest! {
        /// Against a plain model: a serial is remembered exactly while its expiry is in
        /// the future, and the heap and map agree.
        #[test]
        fn matches_a_simple_model(
            steps in proptest::collection::vec((0u64..20, 0u64..50, 0u64..5), 0..200),
        ) {
            let mut cache = ReplayCache::<OrderSerial>::new(8);
            let mut model: HashMap<OrderSerial, u64> = HashMap::new();
            let mut now = 0;
            for (serial, expires_at, advance) in steps {
                now += advance;
                cache.prune(now);
                model.retain(|_, e| *e > now);
                let serial = OrderSerial(serial);
                let expected = if model.contains_key(&serial) {
                    Err(Refused::Seen)
                } else if model.len() >= 8 {
                    Err(Refused::Full)
                } else {
                    model.insert(serial, expires_at);
                    Ok(())
                };
                prop_assert_eq!(cache.insert(serial, expires_at), expected);
                prop_assert_eq!(cache.len(), model.len());
                prop_assert_eq!(cache.by_expiry.len(), model.len());
            }
        }
    }
}

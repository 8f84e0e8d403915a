//! Which pieces the pool does not know a peer may delete: only pieces stored since the peer
//! last met the pool's index of records as it had been, and held longer than the grace
//! period. A pool whose store was made anew (a lost disk) shows another index, and one
//! restored from an older copy a lower generation than the peer saw; either way the peer
//! keeps everything it held then, so the pool's records can be recovered from its peers —
//! for the recovery window (30 days by default), after which pieces still unclaimed (an
//! account whose owner never came back) are collected as any other.

use std::collections::HashSet;
use std::path::Path;

use cairn_core::PieceHash;
use cairn_node::IdentityError;
use cairn_proto::api::PoolIndex;

/// File remembering the pool's index this peer last met, the highest generation it saw,
/// and since when (Unix ms) the pool's word that it does not know a piece is trusted:
/// `{index} {generation} {since}`. (Not `pool.*`: `pool.id` and `pool.url` are written
/// through `pool.tmp`.)
pub const INDEX_FILE: &str = "pool-index";

/// The longest index identity accepted (the pool sends 32 hex digits).
const MAX_INDEX_LEN: usize = 64;

/// How the index the pool names compares with the one the peer remembers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Met {
    /// The index the peer knew, as far on or further.
    Known,
    /// The first index the peer has met (or its memory of one was unreadable).
    First,
    /// Another index than the one the peer knew: the pool's records were made anew.
    Changed,
    /// The index the peer knew, at a lower generation than it saw: an older copy.
    RolledBack,
}

/// What the peer remembers of the pool's index.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Memory {
    id: String,
    generation: u64,
    since: u64,
}

/// Notes the pool's index as a registration or heartbeat names it, and answers since when
/// (Unix ms) pieces the pool does not know may be deleted, with how the index compared;
/// `None` when the pool named no usable index (nothing may be deleted then). Meeting an
/// index for the first time, another one, or an older state of it trusts the pool's word
/// only for pieces stored from `now` on; the memory is durable before anything is deleted.
pub(crate) fn observe(
    data_dir: &Path,
    index: Option<&PoolIndex>,
    now: u64,
) -> Result<Option<(u64, Met)>, IdentityError> {
    let Some(index) = index.filter(|i| usable(&i.id)) else {
        return Ok(None);
    };
    let path = data_dir.join(INDEX_FILE);
    let remembered = std::fs::read_to_string(&path).ok().and_then(|t| parse(&t));
    let (met, since) = match &remembered {
        Some(m) if m.id == index.id && index.generation >= m.generation => (Met::Known, m.since),
        Some(m) if m.id == index.id => (Met::RolledBack, now),
        Some(_) => (Met::Changed, now),
        None => (Met::First, now),
    };
    let memory = Memory {
        id: index.id.clone(),
        generation: index.generation,
        since,
    };
    if remembered.as_ref() != Some(&memory) {
        let text = format!("{} {} {}\n", memory.id, memory.generation, memory.since);
        cairn_node::write_private_file(data_dir, &path, text.as_bytes())?;
    }
    Ok(Some((since, met)))
}

fn usable(index: &str) -> bool {
    !index.is_empty()
        && index.len() <= MAX_INDEX_LEN
        && index.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn parse(text: &str) -> Option<Memory> {
    let mut words = text.split_ascii_whitespace();
    let id = words.next().filter(|i| usable(i))?.to_owned();
    let generation = words.next()?.parse().ok()?;
    let since = words.next()?.parse().ok()?;
    words.next().is_none().then_some(Memory {
        id,
        generation,
        since,
    })
}

/// When pieces the pool does not know may be deleted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Collect {
    /// Since when (Unix ms) the pool's word that it does not know a piece is trusted.
    pub(crate) since: u64,
    /// Pieces stored from this time on (Unix ms) are within the grace period.
    pub(crate) cutoff: u64,
    /// Whether the recovery window after `since` has passed, so pieces held from before
    /// it, still unclaimed, may go too.
    pub(crate) window_over: bool,
}

/// The pieces of `inventory` (hash, stored at) that may be deleted: unknown to the pool,
/// stored before the cutoff (held past the grace period), and stored since `since` — or
/// before, once the recovery window is over.
pub(crate) fn collectable(
    inventory: &[(PieceHash, u64)],
    unknown: &[PieceHash],
    rule: Collect,
) -> Vec<PieceHash> {
    let unknown: HashSet<_> = unknown.iter().collect();
    inventory
        .iter()
        .filter(|(hash, stored_at)| {
            unknown.contains(hash)
                && *stored_at < rule.cutoff
                && (*stored_at >= rule.since || rule.window_over)
        })
        .map(|(hash, _)| *hash)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(id: &str, generation: u64) -> PoolIndex {
        PoolIndex {
            id: id.to_owned(),
            generation,
        }
    }

    #[test]
    fn an_index_is_trusted_from_when_it_was_first_met_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert_eq!(observe(d, None, 100).unwrap(), None);
        assert_eq!(observe(d, Some(&index("", 1)), 100).unwrap(), None);
        assert_eq!(observe(d, Some(&index("a b", 1)), 100).unwrap(), None);
        assert!(
            !d.join(INDEX_FILE).exists(),
            "nothing remembered of no index"
        );
        let aa = |generation, now| observe(d, Some(&index("aa11", generation)), now).unwrap();
        assert_eq!(aa(5, 100), Some((100, Met::First)));
        // The same index, as far on or further (a pool restarted on its store, working).
        assert_eq!(aa(5, 300), Some((100, Met::Known)));
        assert_eq!(aa(9, 500), Some((100, Met::Known)));
        // Behind what the peer saw: an older copy of the store; trusted only from now.
        assert_eq!(aa(7, 600), Some((600, Met::RolledBack)));
        assert_eq!(aa(8, 700), Some((600, Met::Known)));
        // Another index (a store made anew) is trusted only from now.
        let bb = |generation, now| observe(d, Some(&index("bb22", generation)), now).unwrap();
        assert_eq!(bb(0, 900), Some((900, Met::Changed)));
        assert_eq!(bb(3, 950), Some((900, Met::Known)));
        // A damaged memory trusts nothing held before now.
        for damaged in ["bb22 3", "bb22 three 900", "bb22 3 900 extra", ""] {
            std::fs::write(d.join(INDEX_FILE), damaged).unwrap();
            assert_eq!(bb(3, 1200), Some((1200, Met::First)), "{damaged:?}");
        }
    }

    #[test]
    fn only_unknown_pieces_stored_since_the_index_and_past_the_grace_are_collectable() {
        let piece = |n: u8| PieceHash::of(&[n]);
        let inventory = [
            (piece(1), 50),
            (piece(2), 150),
            (piece(3), 150),
            (piece(4), 400),
        ];
        let unknown = [piece(1), piece(2), piece(4)];
        let rule = |since, cutoff, window_over| Collect {
            since,
            cutoff,
            window_over,
        };
        // 1 predates the index, 3 is known, 4 is within the grace period.
        assert_eq!(
            collectable(&inventory, &unknown, rule(100, 300, false)),
            vec![piece(2)]
        );
        assert_eq!(
            collectable(&inventory, &unknown, rule(0, 1000, false)),
            vec![piece(1), piece(2), piece(4)]
        );
        assert!(collectable(&inventory, &unknown, rule(1000, 2000, false)).is_empty());
        // Once the recovery window is over, what predates the index and nobody claimed
        // goes too — never a known piece, nor one within the grace period.
        assert_eq!(
            collectable(&inventory, &unknown, rule(100, 300, true)),
            vec![piece(1), piece(2)]
        );
        assert_eq!(
            collectable(&inventory, &unknown, rule(1000, 2000, true)),
            vec![piece(1), piece(2), piece(4)]
        );
    }
}

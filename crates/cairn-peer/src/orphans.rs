//! Which pieces the pool does not know a peer may delete: only pieces stored since the peer
//! met the pool's present index of records, and held longer than the grace period. A pool
//! whose store was made anew (a lost disk) has another index, so its peers keep everything
//! they held before and the pool's records can be recovered from them.

use std::collections::HashSet;
use std::path::Path;

use cairn_core::PieceHash;
use cairn_node::IdentityError;

/// File remembering the pool's index this peer last met, and since when (Unix ms) the pool's
/// word that it does not know a piece is trusted: `{index} {since}`.
pub const INDEX_FILE: &str = "pool.index";

/// The longest index identity accepted (the pool sends 32 hex digits).
const MAX_INDEX_LEN: usize = 64;

/// How this registration's index compares with the one the peer remembers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Met {
    /// The index the peer knew.
    Known,
    /// The first index the peer has met (or its memory of one was unreadable).
    First,
    /// Another index than the one the peer knew: the pool's records were made anew.
    Changed,
}

/// Since when (Unix ms) pieces the pool does not know may be deleted, and how the index
/// compared; `None` when the pool named no usable index (nothing may be deleted then).
/// Meeting an index for the first time, or another one, trusts the pool's word only for
/// pieces stored from `now` on, and remembers that durably before anything is deleted.
pub(crate) fn trusted_since(
    data_dir: &Path,
    index: Option<&str>,
    now: u64,
) -> Result<Option<(u64, Met)>, IdentityError> {
    let Some(index) = index.filter(|i| usable(i)) else {
        return Ok(None);
    };
    let path = data_dir.join(INDEX_FILE);
    let remembered = std::fs::read_to_string(&path).ok().and_then(|t| parse(&t));
    let met = match &remembered {
        Some((known, since)) if known == index => return Ok(Some((*since, Met::Known))),
        Some(_) => Met::Changed,
        None => Met::First,
    };
    cairn_node::write_private_file(data_dir, &path, format!("{index} {now}\n").as_bytes())?;
    Ok(Some((now, met)))
}

fn usable(index: &str) -> bool {
    !index.is_empty()
        && index.len() <= MAX_INDEX_LEN
        && index.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn parse(text: &str) -> Option<(String, u64)> {
    let (index, since) = text.trim().split_once(' ')?;
    usable(index).then_some(())?;
    Some((index.to_owned(), since.parse().ok()?))
}

/// The pieces of `inventory` (hash, stored at) that may be deleted: unknown to the pool,
/// stored since `since`, and stored before `cutoff` (held past the grace period).
pub(crate) fn collectable(
    inventory: &[(PieceHash, u64)],
    unknown: &[PieceHash],
    since: u64,
    cutoff: u64,
) -> Vec<PieceHash> {
    let unknown: HashSet<_> = unknown.iter().collect();
    inventory
        .iter()
        .filter(|(hash, stored_at)| {
            unknown.contains(hash) && *stored_at >= since && *stored_at < cutoff
        })
        .map(|(hash, _)| *hash)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_is_trusted_from_when_it_was_first_met() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert_eq!(trusted_since(d, None, 100).unwrap(), None);
        assert_eq!(trusted_since(d, Some(""), 100).unwrap(), None);
        assert_eq!(trusted_since(d, Some("a b"), 100).unwrap(), None);
        assert!(
            !d.join(INDEX_FILE).exists(),
            "nothing remembered of no index"
        );
        assert_eq!(
            trusted_since(d, Some("aa11"), 100).unwrap(),
            Some((100, Met::First))
        );
        // The same index later (a pool restarted on its store) keeps the first meeting.
        assert_eq!(
            trusted_since(d, Some("aa11"), 500).unwrap(),
            Some((100, Met::Known))
        );
        // Another index (a store made anew) is trusted only from now.
        assert_eq!(
            trusted_since(d, Some("bb22"), 900).unwrap(),
            Some((900, Met::Changed))
        );
        assert_eq!(
            trusted_since(d, Some("bb22"), 950).unwrap(),
            Some((900, Met::Known))
        );
        // A damaged memory trusts nothing held before now.
        std::fs::write(d.join(INDEX_FILE), "bb22 not-a-time").unwrap();
        assert_eq!(
            trusted_since(d, Some("bb22"), 1200).unwrap(),
            Some((1200, Met::First))
        );
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
        // 1 predates the index, 3 is known, 4 is within the grace period.
        assert_eq!(collectable(&inventory, &unknown, 100, 300), vec![piece(2)]);
        assert_eq!(
            collectable(&inventory, &unknown, 0, 1000),
            vec![piece(1), piece(2), piece(4)]
        );
        assert!(collectable(&inventory, &unknown, 1000, 2000).is_empty());
    }
}

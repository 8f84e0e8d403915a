//! The account's ledger: a copy of every record the pool keeps for an account (encrypted
//! paths, sealed metadata, sizes) and of every change to them, kept on the peers as small
//! replicated pieces sealed under the account's ledger key, so that an account's files can
//! be found again when the pool's disk is lost.
//!
//! A ledger entry is sealed as `nonce [12] | AES-256-GCM(entry)`, with associated data
//! `MAGIC | locator | tag | count`, and cut into [`FRAGMENTS`] pieces of one length, each
//! self-describing: `MAGIC [8] | locator [16] | entry tag [16] (the entry's object id) |
//! index u8 | count u8 | sealed length u32 | part`. The locator is derived
//! from the ledger key, so the owner (and only the owner, from the recovery phrase alone)
//! can ask for "every piece that starts with my locator"; a peer sees the locator in the
//! first bytes of what it stores, and a repaired copy carries it too, because a repair
//! rebuilds the same bytes.
//!
//! Entry, version 1 (big-endian): `version u8 | ledger object [16] | written ms u64 |
//! kind u8 (1 changes, 2 snapshot) | if snapshot: covered count u32, ids [16]… |
//! op count u32 | ops…`. Ops: `1 put | object [16] | path | size u64 | metadata`,
//! `2 rename | from | to`, `3 delete | path`, where a path is `len u16 | utf-8` and
//! metadata `len u32 | bytes`.
//!
//! [`fold`] replays entries into the account's namespace as the pool would hold it: from the
//! newest snapshot, every entry it does not cover, in the order they were written.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::aead::{AeadKey, NONCE_LEN, TAG_LEN};
use crate::encoding::{DecodeError, Reader, Writer};
use crate::id::ObjectId;
use crate::keys::LedgerKey;

/// What every ledger piece starts with (the last byte is the format's version).
pub const MAGIC: [u8; 8] = *b"cairnLG\x01";
/// Bytes a peer reads from the start of a piece to find its locator.
pub const HEAD_LEN: usize = MAGIC.len() + LOCATOR_LEN;
const LOCATOR_LEN: usize = 16;
/// Pieces an entry is cut into: two, so no piece is ever a whole entry (as no piece is ever
/// a whole segment: `policy::MIN_DATA`); stored as the data fragments of `rep:2xR`.
pub const FRAGMENTS: u8 = 2;
const TAG_ID_LEN: usize = 16;
/// A ledger piece's head: `MAGIC | locator | entry tag [16] | index u8 | count u8 |
/// sealed length u32`.
pub const PIECE_HEAD_LEN: usize = HEAD_LEN + TAG_ID_LEN + 1 + 1 + 4;
const VERSION: u8 = 1;
const LOCATOR_CONTEXT: &str = "cairn 2026-12-04 ledger locator v1";
const SEAL_CONTEXT: &str = "cairn 2026-12-04 ledger seal v1";
const KIND_CHANGES: u8 = 1;
const KIND_SNAPSHOT: u8 = 2;
const OP_PUT: u8 = 1;
const OP_RENAME: u8 = 2;
const OP_DELETE: u8 = 3;

/// Why a ledger piece could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// The bytes do not start as a ledger piece does.
    #[error("not a ledger piece")]
    NotLedger,
    /// The piece is another account's, or its bytes were changed.
    #[error("the ledger piece does not open under this account's key")]
    Unauthentic,
    /// A version this code does not know (a newer client wrote it).
    #[error("the ledger entry has unknown version {0}")]
    UnknownVersion(u8),
    /// The opened entry is malformed.
    #[error("the ledger entry is malformed: {0}")]
    Malformed(String),
}

impl From<DecodeError> for LedgerError {
    fn from(e: DecodeError) -> Self {
        Self::Malformed(e.to_string())
    }
}

/// Names an account's ledger pieces without naming the account: derived from its ledger key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Locator([u8; LOCATOR_LEN]);

impl Locator {
    /// The locator of the ledger sealed under `key`.
    pub fn of(key: &LedgerKey) -> Self {
        let full = blake3::derive_key(LOCATOR_CONTEXT, key.as_bytes());
        let mut out = [0u8; LOCATOR_LEN];
        out.copy_from_slice(&full[..LOCATOR_LEN]);
        Self(out)
    }

    /// Wraps known bytes (decoding).
    pub const fn from_bytes(bytes: [u8; LOCATOR_LEN]) -> Self {
        Self(bytes)
    }

    /// The locator's bytes.
    pub const fn as_bytes(&self) -> &[u8; LOCATOR_LEN] {
        &self.0
    }

    /// The locator in a piece's first bytes, if the piece is a ledger piece.
    pub fn in_piece(head: &[u8]) -> Option<Self> {
        let rest = head.strip_prefix(&MAGIC)?;
        rest.get(..LOCATOR_LEN)
            .and_then(|b| b.try_into().ok())
            .map(Self)
    }

    /// Parses the 32-character lowercase hex form.
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = data_encoding::HEXLOWER.decode(text.as_bytes()).ok()?;
        bytes.try_into().ok().map(Self)
    }
}

impl fmt::Display for Locator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&data_encoding::HEXLOWER.encode(&self.0))
    }
}

impl fmt::Debug for Locator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Locator({self})")
    }
}

/// One change to the account's records, in the pool's terms (encrypted paths, sealed
/// records), so recovery can hand it back as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerOp {
    /// An object was committed at `path`, replacing what was there.
    Put {
        /// The object's id (its segments and record are bound to it).
        object: ObjectId,
        /// Its encrypted path.
        path: String,
        /// Its ciphertext size in bytes, as the pool records it.
        size: u64,
        /// Its sealed record.
        metadata: Vec<u8>,
    },
    /// `from` was renamed to `to`: one object, or, when both end in `/`, every object
    /// under a folder prefix.
    Rename {
        /// The old path or prefix.
        from: String,
        /// The new path or prefix.
        to: String,
    },
    /// The object at `path` was deleted.
    Delete {
        /// Its encrypted path.
        path: String,
    },
}

/// One sealed piece of the ledger: the changes one write carried, or a snapshot of the
/// whole namespace that stands in for the entries it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// The object the pool keeps this entry under.
    pub object: ObjectId,
    /// When it was written, in milliseconds since the epoch (orders replay).
    pub written_ms: u64,
    /// For a snapshot, the ledger objects it folds in (they may be deleted once it is
    /// stored); `None` for an entry of changes.
    pub covers: Option<Vec<ObjectId>>,
    /// The changes, or for a snapshot a put per object alive.
    pub ops: Vec<LedgerOp>,
}

fn seal_key(key: &LedgerKey) -> AeadKey {
    let derived = Zeroizing::new(blake3::derive_key(SEAL_CONTEXT, key.as_bytes()));
    AeadKey::new(&derived)
}

fn path(w: &mut Writer, path: &str) -> Result<(), LedgerError> {
    let len = u16::try_from(path.len())
        .map_err(|_| LedgerError::Malformed(format!("a path of {} bytes", path.len())))?;
    w.u16(len).bytes(path.as_bytes());
    Ok(())
}

fn read_path(r: &mut Reader<'_>) -> Result<String, LedgerError> {
    let len = r.u16()? as usize;
    String::from_utf8(r.take(len)?.to_vec())
        .map_err(|_| LedgerError::Malformed("a path is not UTF-8".into()))
}

impl LedgerEntry {
    /// The plaintext entry (what [`Self::seal`] seals).
    pub fn encode(&self) -> Result<Zeroizing<Vec<u8>>, LedgerError> {
        let mut w = Writer::default();
        w.u8(VERSION)
            .bytes(self.object.as_bytes())
            .u64(self.written_ms);
        match &self.covers {
            None => {
                w.u8(KIND_CHANGES);
            }
            Some(ids) => {
                w.u8(KIND_SNAPSHOT).u32(count(ids.len())?);
                for id in ids {
                    w.bytes(id.as_bytes());
                }
            }
        }
        w.u32(count(self.ops.len())?);
        for op in &self.ops {
            match op {
                LedgerOp::Put {
                    object,
                    path: p,
                    size,
                    metadata,
                } => {
                    w.u8(OP_PUT).bytes(object.as_bytes());
                    path(&mut w, p)?;
                    w.u64(*size).u32(count(metadata.len())?).bytes(metadata);
                }
                LedgerOp::Rename { from, to } => {
                    w.u8(OP_RENAME);
                    path(&mut w, from)?;
                    path(&mut w, to)?;
                }
                LedgerOp::Delete { path: p } => {
                    w.u8(OP_DELETE);
                    path(&mut w, p)?;
                }
            }
        }
        Ok(Zeroizing::new(w.finish()))
    }

    /// Reads a plaintext entry (untrusted: it was inside a piece a peer served).
    pub fn decode(bytes: &[u8]) -> Result<Self, LedgerError> {
        let mut r = Reader::new(bytes);
        let version = r.u8()?;
        if version != VERSION {
            return Err(LedgerError::UnknownVersion(version));
        }
        let object = ObjectId::from_bytes(r.array()?);
        let written_ms = r.u64()?;
        let covers = match r.u8()? {
            KIND_CHANGES => None,
            KIND_SNAPSHOT => {
                let n = r.u32()? as usize;
                // Each id takes 16 bytes: a count beyond what remains is a lie.
                if n > r.remaining() / 16 {
                    return Err(DecodeError::Truncated.into());
                }
                let mut ids = Vec::with_capacity(n);
                for _ in 0..n {
                    ids.push(ObjectId::from_bytes(r.array()?));
                }
                Some(ids)
            }
            kind => return Err(LedgerError::Malformed(format!("unknown kind {kind}"))),
        };
        let n = r.u32()? as usize;
        // Every op takes at least three bytes.
        if n > r.remaining() / 3 {
            return Err(DecodeError::Truncated.into());
        }
        let mut ops = Vec::with_capacity(n);
        for _ in 0..n {
            let op = match r.u8()? {
                OP_PUT => {
                    let object = ObjectId::from_bytes(r.array()?);
                    let path = read_path(&mut r)?;
                    let size = r.u64()?;
                    let len = r.u32()? as usize;
                    let metadata = r.take(len)?.to_vec();
                    LedgerOp::Put {
                        object,
                        path,
                        size,
                        metadata,
                    }
                }
                OP_RENAME => LedgerOp::Rename {
                    from: read_path(&mut r)?,
                    to: read_path(&mut r)?,
                },
                OP_DELETE => LedgerOp::Delete {
                    path: read_path(&mut r)?,
                },
                op => return Err(LedgerError::Malformed(format!("unknown op {op}"))),
            };
            ops.push(op);
        }
        r.finish()?;
        Ok(Self {
            object,
            written_ms,
            covers,
            ops,
        })
    }

    /// The ledger pieces for this entry, sealed under `key` with a fresh nonce and cut
    /// into [`FRAGMENTS`] pieces of one length (the last padded with zeros).
    pub fn seal(
        &self,
        key: &LedgerKey,
        rng: &mut impl CryptoRng,
    ) -> Result<Vec<Vec<u8>>, LedgerError> {
        let locator = Locator::of(key);
        // The entry's pieces are tagged with its object id: a recovery that finds only some
        // of an entry's pieces can tell whether a snapshot already stands in for it.
        let tag = *self.object.as_bytes();
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let plain = self.encode()?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + plain.len() + TAG_LEN);
        sealed.extend_from_slice(&nonce);
        let mut body = Vec::with_capacity(plain.len() + TAG_LEN);
        body.extend_from_slice(&plain);
        seal_key(key).seal(nonce, &aad(locator, &tag), &mut body);
        sealed.extend_from_slice(&body);
        let len = u32::try_from(sealed.len())
            .map_err(|_| LedgerError::Malformed(format!("{} bytes", sealed.len())))?;
        let part = sealed.len().div_ceil(usize::from(FRAGMENTS));
        sealed.resize(part * usize::from(FRAGMENTS), 0);
        Ok(sealed
            .chunks(part)
            .enumerate()
            .map(|(index, chunk)| {
                let mut piece = Vec::with_capacity(PIECE_HEAD_LEN + chunk.len());
                piece.extend_from_slice(&MAGIC);
                piece.extend_from_slice(locator.as_bytes());
                piece.extend_from_slice(&tag);
                piece.push(index as u8);
                piece.push(FRAGMENTS);
                piece.extend_from_slice(&len.to_be_bytes());
                piece.extend_from_slice(chunk);
                piece
            })
            .collect())
    }

    /// Opens an entry from all of its pieces, in any order (untrusted: they come from
    /// peers).
    pub fn open(key: &LedgerKey, pieces: &[&[u8]]) -> Result<Self, LedgerError> {
        let locator = Locator::of(key);
        let mut parts: Vec<(PieceHead, &[u8])> = pieces
            .iter()
            .map(|p| PieceHead::parse(p).map(|h| (h, &p[PIECE_HEAD_LEN..])))
            .collect::<Option<_>>()
            .ok_or(LedgerError::NotLedger)?;
        parts.sort_by_key(|(h, _)| h.index);
        let Some((first, _)) = parts.first().copied() else {
            return Err(LedgerError::NotLedger);
        };
        if first.locator != locator {
            return Err(LedgerError::Unauthentic);
        }
        let whole = parts.len() == usize::from(first.count)
            && parts.iter().enumerate().all(|(i, (h, _))| {
                usize::from(h.index) == i
                    && h.tag == first.tag
                    && h.count == first.count
                    && h.len == first.len
                    && h.locator == first.locator
            });
        if !whole {
            return Err(LedgerError::Malformed(
                "the pieces are not all of one entry".into(),
            ));
        }
        let mut sealed: Vec<u8> = parts.iter().flat_map(|(_, b)| b.iter().copied()).collect();
        if sealed.len() < first.len as usize {
            return Err(DecodeError::Truncated.into());
        }
        sealed.truncate(first.len as usize);
        let mut r = Reader::new(&sealed);
        let nonce = r.array()?;
        let mut plain = Zeroizing::new(r.rest().to_vec());
        seal_key(key)
            .open(nonce, &aad(locator, &first.tag), &mut plain)
            .map_err(|_| LedgerError::Unauthentic)?;
        Self::decode(&plain)
    }
}

/// What a ledger piece says of itself before it is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PieceHead {
    /// The ledger it belongs to.
    pub locator: Locator,
    /// The entry it is a piece of: the entry's object id, shared by its pieces.
    pub tag: [u8; TAG_ID_LEN],
    /// Which piece of the entry.
    pub index: u8,
    /// How many pieces the entry has.
    pub count: u8,
    len: u32,
}

impl PieceHead {
    /// Reads a piece's head; `None` if it is not a ledger piece.
    pub fn parse(piece: &[u8]) -> Option<Self> {
        let locator = Locator::in_piece(piece)?;
        let mut r = Reader::new(piece.get(HEAD_LEN..PIECE_HEAD_LEN)?);
        let tag = r.array().ok()?;
        let index = r.u8().ok()?;
        let count = r.u8().ok()?;
        let len = r.u32().ok()?;
        (index < count).then_some(Self {
            locator,
            tag,
            index,
            count,
            len,
        })
    }
}

fn aad(locator: Locator, tag: &[u8; TAG_ID_LEN]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(HEAD_LEN + TAG_ID_LEN + 1);
    aad.extend_from_slice(&MAGIC);
    aad.extend_from_slice(locator.as_bytes());
    aad.extend_from_slice(tag);
    aad.push(FRAGMENTS);
    aad
}

fn count(n: usize) -> Result<u32, LedgerError> {
    u32::try_from(n).map_err(|_| LedgerError::Malformed(format!("{n} items")))
}

/// One object alive in the folded namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRecord {
    /// The object's id.
    pub object: ObjectId,
    /// Its ciphertext size.
    pub size: u64,
    /// Its sealed record.
    pub metadata: Vec<u8>,
}

/// The namespace the ledger describes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Folded {
    /// Every object alive, by encrypted path.
    pub records: BTreeMap<String, LedgerRecord>,
    /// Objects the ledger saw put that are no longer alive (replaced or deleted): a pool
    /// that still lists one has missed the change.
    pub gone: HashSet<ObjectId>,
    /// The ledger objects that hold what was folded and are not covered by the newest
    /// snapshot (a compaction may fold these into a new one).
    pub live_entries: Vec<ObjectId>,
    /// Every ledger object seen, covered or not.
    pub all_entries: Vec<ObjectId>,
}

/// Replays `entries` (any order; duplicates are harmless) into the namespace they
/// describe: the newest snapshot's objects, then every entry it does not cover, oldest first.
pub fn fold(mut entries: Vec<LedgerEntry>) -> Folded {
    entries.sort_by_key(|e| (e.written_ms, e.object));
    entries.dedup_by_key(|e| e.object);
    let mut folded = Folded {
        all_entries: entries.iter().map(|e| e.object).collect(),
        ..Folded::default()
    };
    let snapshot = entries
        .iter()
        .rposition(|e| e.covers.is_some())
        .map(|at| entries.remove(at));
    let mut covered = HashSet::new();
    let mut put = HashSet::new();
    if let Some(snapshot) = &snapshot {
        covered.extend(snapshot.covers.iter().flatten().copied());
        folded.live_entries.push(snapshot.object);
        apply(&mut folded.records, &mut put, &snapshot.ops);
    }
    for entry in &entries {
        if let Some(ids) = &entry.covers {
            // An older snapshot: what it knew of is gone or alive by the entries it covered.
            for op in &entry.ops {
                if let LedgerOp::Put { object, .. } = op {
                    put.insert(*object);
                }
            }
            if !covered.contains(&entry.object) {
                covered.extend(ids.iter().copied());
            }
            continue;
        }
        if covered.contains(&entry.object) {
            for op in &entry.ops {
                if let LedgerOp::Put { object, .. } = op {
                    put.insert(*object);
                }
            }
            continue;
        }
        folded.live_entries.push(entry.object);
        apply(&mut folded.records, &mut put, &entry.ops);
    }
    let alive: HashSet<_> = folded.records.values().map(|r| r.object).collect();
    folded.gone = put.difference(&alive).copied().collect();
    folded
}

fn apply(
    records: &mut BTreeMap<String, LedgerRecord>,
    put: &mut HashSet<ObjectId>,
    ops: &[LedgerOp],
) {
    for op in ops {
        match op {
            LedgerOp::Put {
                object,
                path,
                size,
                metadata,
            } => {
                put.insert(*object);
                records.insert(
                    path.clone(),
                    LedgerRecord {
                        object: *object,
                        size: *size,
                        metadata: metadata.clone(),
                    },
                );
            }
            LedgerOp::Rename { from, to } if from.ends_with('/') && to.ends_with('/') => {
                let moved: Vec<String> = records
                    .range(from.clone()..)
                    .take_while(|(p, _)| p.starts_with(from.as_str()))
                    .map(|(p, _)| p.clone())
                    .collect();
                for old in moved {
                    if let Some(record) = records.remove(&old) {
                        records.insert(format!("{to}{}", &old[from.len()..]), record);
                    }
                }
            }
            LedgerOp::Rename { from, to } => {
                if let Some(record) = records.remove(from) {
                    records.insert(to.clone(), record);
                }
            }
            LedgerOp::Delete { path } => {
                records.remove(path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn key(n: u8) -> LedgerKey {
        LedgerKey::from_bytes([n; 32])
    }

    fn id(n: u8) -> ObjectId {
        ObjectId::from_bytes([n; 16])
    }

    fn put(n: u8, path: &str) -> LedgerOp {
        LedgerOp::Put {
            object: id(n),
            path: path.into(),
            size: u64::from(n),
            metadata: vec![n; 3],
        }
    }

    fn entry(n: u8, ms: u64, ops: Vec<LedgerOp>) -> LedgerEntry {
        LedgerEntry {
            object: id(n),
            written_ms: ms,
            covers: None,
            ops,
        }
    }

    #[test]
    fn an_entry_round_trips_and_opens_only_under_its_key() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let e = LedgerEntry {
            object: id(9),
            written_ms: 77,
            covers: Some(vec![id(1), id(2)]),
            ops: vec![
                put(1, "aa/bb"),
                LedgerOp::Rename {
                    from: "aa/".into(),
                    to: "cc/".into(),
                },
                LedgerOp::Delete { path: "x".into() },
            ],
        };
        let pieces = e.seal(&key(1), &mut rng).unwrap();
        assert_eq!(pieces.len(), usize::from(FRAGMENTS));
        assert_eq!(pieces[0].len(), pieces[1].len());
        for piece in &pieces {
            assert_eq!(Locator::in_piece(piece), Some(Locator::of(&key(1))));
        }
        let refs: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
        assert_eq!(LedgerEntry::open(&key(1), &refs).unwrap(), e);
        let backwards = [refs[1], refs[0]];
        assert_eq!(LedgerEntry::open(&key(1), &backwards).unwrap(), e);
        assert_eq!(
            LedgerEntry::open(&key(2), &refs),
            Err(LedgerError::Unauthentic)
        );
        assert!(LedgerEntry::open(&key(1), &refs[..1]).is_err());
        // Pieces of two entries do not make one.
        let other = e.seal(&key(1), &mut rng).unwrap();
        assert!(LedgerEntry::open(&key(1), &[refs[0], &other[1]]).is_err());
        let mut bad = pieces[1].clone();
        let at = PIECE_HEAD_LEN + 1;
        bad[at] ^= 1;
        assert_eq!(
            LedgerEntry::open(&key(1), &[refs[0], &bad]),
            Err(LedgerError::Unauthentic)
        );
        assert_eq!(
            LedgerEntry::open(&key(1), &[b"not a ledger".as_slice()]),
            Err(LedgerError::NotLedger)
        );
        assert_ne!(Locator::of(&key(1)), Locator::of(&key(2)));
        let text = Locator::of(&key(1)).to_string();
        assert_eq!(Locator::parse(&text), Some(Locator::of(&key(1))));
    }

    #[test]
    fn folding_replays_puts_renames_and_deletes_in_written_order() {
        let folded = fold(vec![
            entry(
                3,
                30,
                vec![
                    LedgerOp::Rename {
                        from: "d/".into(),
                        to: "e/".into(),
                    },
                    LedgerOp::Delete { path: "b".into() },
                ],
            ),
            entry(1, 10, vec![put(1, "a"), put(2, "b"), put(3, "d/x")]),
            entry(2, 20, vec![put(4, "a"), put(5, "d/y/z"), put(6, "dd")]),
        ]);
        let paths: Vec<_> = folded.records.keys().cloned().collect();
        assert_eq!(paths, ["a", "dd", "e/x", "e/y/z"]);
        assert_eq!(folded.records["a"].object, id(4));
        assert_eq!(folded.gone, HashSet::from([id(1), id(2)]));
        assert_eq!(folded.live_entries, [id(1), id(2), id(3)]);
    }

    #[test]
    fn a_snapshot_stands_in_for_what_it_covers_and_later_entries_follow_it() {
        let snapshot = LedgerEntry {
            object: id(10),
            written_ms: 50,
            covers: Some(vec![id(1), id(2)]),
            ops: vec![put(4, "a")],
        };
        let folded = fold(vec![
            entry(1, 10, vec![put(1, "a")]),
            entry(2, 20, vec![put(4, "a"), put(2, "gone-before-snapshot")]),
            // Written by another device while the snapshot was made: not covered.
            entry(3, 40, vec![put(5, "c")]),
            snapshot,
            entry(4, 60, vec![LedgerOp::Delete { path: "a".into() }]),
        ]);
        let paths: Vec<_> = folded.records.keys().cloned().collect();
        assert_eq!(paths, ["c"]);
        assert_eq!(folded.live_entries, [id(10), id(3), id(4)]);
        assert_eq!(folded.gone, HashSet::from([id(1), id(2), id(4)]));
    }

    proptest! {
        #[test]
        fn hostile_pieces_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = LedgerEntry::open(&key(1), &[&bytes]);
            let _ = LedgerEntry::open(&key(1), &[&bytes, &bytes]);
            let _ = PieceHead::parse(&bytes);
            let _ = LedgerEntry::decode(&bytes);
            let _ = Locator::in_piece(&bytes);
        }
    }
}

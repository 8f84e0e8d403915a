//! Audit answers: a BLAKE3-verified slice (Bao encoding) of a piece's bytes, computed from
//! what is on disk right now, so the pool can check that this peer still holds the piece
//! without fetching it whole.
//!
//! The Bao outboard tree is rebuilt on every audit from the file's bytes (about 6% of the
//! piece in memory, never the piece itself). A piece damaged on disk therefore yields a tree
//! whose root is no longer the piece's name, and the pool's check of the slice fails.

use std::io::{Read, Seek};

use cairn_proto::peer_api::AUDIT_CHUNK;
use serde::Deserialize;

/// The query of an audit request: `?start=S&len=L`.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct AuditQuery {
    /// First byte of the slice, a multiple of [`AUDIT_CHUNK`].
    pub start: u64,
    /// Bytes asked for; a range past the piece's end is cut at the end.
    pub len: u64,
}

/// A checked range of a piece: `start < size`, `start` chunk-aligned, `len > 0` and
/// `start + len <= size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditRange {
    /// First byte.
    pub start: u64,
    /// Bytes, at least one.
    pub len: u64,
}

/// Why an audit could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The slice would be empty.
    #[error("an audit slice must ask for at least one byte")]
    Empty,
    /// The start does not fall on a BLAKE3 chunk boundary.
    #[error("an audit slice must start at a multiple of {AUDIT_CHUNK} bytes, not at {0}")]
    Misaligned(u64),
    /// The start lies at or past the piece's end.
    #[error("an audit slice must start within the piece's {size} bytes, not at {start}")]
    OutOfRange {
        /// The requested start.
        start: u64,
        /// The piece's size.
        size: u64,
    },
    /// The piece could not be read.
    #[error("reading the piece failed: {0}")]
    Io(#[from] std::io::Error),
}

impl AuditQuery {
    /// Checks the shape of the request alone (before the order is spent).
    pub fn check_shape(&self) -> Result<(), AuditError> {
        if self.len == 0 {
            return Err(AuditError::Empty);
        }
        if !self.start.is_multiple_of(AUDIT_CHUNK) {
            return Err(AuditError::Misaligned(self.start));
        }
        Ok(())
    }

    /// The range within a piece of `size` bytes, the length cut at the piece's end.
    pub fn within(&self, size: u64) -> Result<AuditRange, AuditError> {
        self.check_shape()?;
        if self.start >= size {
            return Err(AuditError::OutOfRange {
                start: self.start,
                size,
            });
        }
        Ok(AuditRange {
            start: self.start,
            len: self.len.min(size - self.start),
        })
    }
}

/// The Bao slice of `range` of the piece read from `piece`: its length header, the parent
/// hashes on the way to the range and the range's chunks. The outboard tree is computed
/// from `piece` first, so the slice verifies against the piece's name only if every byte
/// read matches it. Blocking: call on a blocking thread.
pub fn slice<R: Read + Seek>(mut piece: R, range: AuditRange) -> Result<Vec<u8>, AuditError> {
    let mut outboard = std::io::Cursor::new(Vec::new());
    {
        let mut encoder = bao::encode::Encoder::new_outboard(&mut outboard);
        std::io::copy(&mut piece, &mut encoder)?;
        encoder.finalize()?;
    }
    piece.rewind()?;
    outboard.rewind()?;
    let mut extractor =
        bao::encode::SliceExtractor::new_outboard(piece, outboard, range.start, range.len);
    let mut answer = Vec::new();
    extractor.read_to_end(&mut answer)?;
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use cairn_core::PieceHash;

    use super::*;

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    fn decode(hash: &PieceHash, range: AuditRange, slice: &[u8]) -> std::io::Result<Vec<u8>> {
        let hash = bao::Hash::from(*hash.as_bytes());
        let mut decoder = bao::decode::SliceDecoder::new(slice, &hash, range.start, range.len);
        let mut out = Vec::new();
        decoder.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn the_bao_root_is_the_piece_name() {
        for len in [1, 1023, 1024, 1025, 4096, 100_000] {
            let bytes = data(len);
            let (_, root) = bao::encode::outboard(&bytes);
            assert_eq!(*root.as_bytes(), *PieceHash::of(&bytes).as_bytes(), "{len}");
        }
    }

    #[test]
    fn a_slice_decodes_to_the_range_against_the_piece_name() {
        let bytes = data(10_000);
        let hash = PieceHash::of(&bytes);
        for (start, len) in [(0, 1), (0, 10_000), (1024, 4096), (9216, 4096), (8192, 1)] {
            let range = AuditQuery { start, len }.within(10_000).unwrap();
            let answer = slice(Cursor::new(&bytes), range).unwrap();
            let decoded = decode(&hash, range, &answer).unwrap();
            let end = (start + range.len) as usize;
            assert_eq!(decoded, bytes[start as usize..end], "{start}+{len}");
        }
    }

    #[test]
    fn bytes_changed_on_disk_give_a_slice_that_fails() {
        let bytes = data(8192);
        let hash = PieceHash::of(&bytes);
        let mut damaged = bytes.clone();
        damaged[5000] ^= 1;
        // Even a slice far from the damaged byte fails: the tree's root has changed.
        let range = AuditQuery {
            start: 0,
            len: 1024,
        }
        .within(8192)
        .unwrap();
        let answer = slice(Cursor::new(&damaged), range).unwrap();
        assert!(decode(&hash, range, &answer).is_err());
    }

    #[test]
    fn ranges_are_checked() {
        let q = |start, len| AuditQuery { start, len };
        assert!(matches!(q(0, 0).within(10), Err(AuditError::Empty)));
        assert!(matches!(
            q(1, 10).within(10_000),
            Err(AuditError::Misaligned(1))
        ));
        assert!(matches!(
            q(2048, 1).within(2048),
            Err(AuditError::OutOfRange { .. })
        ));
        assert_eq!(
            q(1024, u64::MAX).within(1500).unwrap(),
            AuditRange {
                start: 1024,
                len: 476
            }
        );
    }
}

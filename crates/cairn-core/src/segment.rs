//! The per-segment data path: how an object is cut into segments, and how one segment
//! becomes named fragments (seal → erasure-code → hash) and back (verify → decode → open).

use std::ops::Range;

use crate::erasure::{ErasureCodec, ErasureError};
use crate::id::{ObjectId, PieceHash, SegmentIndex};
use crate::keys::FileKey;
use crate::policy::Redundancy;
use crate::seal::{SEAL_OVERHEAD, SealError, SegmentCipher};

/// Default plaintext bytes per segment: 64 MiB.
pub const DEFAULT_SEGMENT_SIZE: u32 = 64 * 1024 * 1024;
/// Smallest allowed segment size: 4 KiB.
pub const MIN_SEGMENT_SIZE: u32 = 4 * 1024;
/// Largest allowed segment size: 256 MiB (a segment and its fragments are held in memory).
pub const MAX_SEGMENT_SIZE: u32 = 256 * 1024 * 1024;

/// Why a layout is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// The segment size is outside the allowed range.
    #[error(
        "segment size {0} bytes is outside the allowed {MIN_SEGMENT_SIZE}..={MAX_SEGMENT_SIZE} bytes"
    )]
    SegmentSize(u32),
    /// The object would need more than `u32::MAX` segments.
    #[error(
        "an object of {size} bytes needs too many segments of {segment_size} bytes; use larger segments"
    )]
    TooManySegments {
        /// The object size.
        size: u64,
        /// The segment size.
        segment_size: u32,
    },
}

/// How an object of `size` bytes is cut into segments of `segment_size` bytes (the last
/// one shorter; an empty object has one empty segment, so its emptiness is authenticated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentLayout {
    size: u64,
    segment_size: u32,
    count: u32,
}

impl SegmentLayout {
    /// The layout for an object of `size` bytes.
    pub fn new(size: u64, segment_size: u32) -> Result<Self, LayoutError> {
        if !(MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&segment_size) {
            return Err(LayoutError::SegmentSize(segment_size));
        }
        let count = size.div_ceil(u64::from(segment_size)).max(1);
        let count = u32::try_from(count)
            .map_err(|_| LayoutError::TooManySegments { size, segment_size })?;
        Ok(Self {
            size,
            segment_size,
            count,
        })
    }

    /// The object size in bytes.
    pub const fn size(&self) -> u64 {
        self.size
    }

    /// Plaintext bytes per (full) segment.
    pub const fn segment_size(&self) -> u32 {
        self.segment_size
    }

    /// Number of segments, at least 1.
    pub const fn count(&self) -> u32 {
        self.count
    }

    /// Byte offset of segment `index` within the object.
    pub fn offset(&self, index: SegmentIndex) -> u64 {
        u64::from(index.0) * u64::from(self.segment_size)
    }

    /// Plaintext length of segment `index` (0 when out of range).
    pub fn plaintext_len(&self, index: SegmentIndex) -> usize {
        let start = self.offset(index).min(self.size);
        let len = (self.size - start).min(u64::from(self.segment_size));
        // A segment is at most MAX_SEGMENT_SIZE (256 MiB), which fits in usize.
        usize::try_from(len).unwrap_or(usize::MAX)
    }

    /// Sealed length of segment `index`.
    pub fn ciphertext_len(&self, index: SegmentIndex) -> usize {
        self.plaintext_len(index) + SEAL_OVERHEAD
    }

    /// The segments that hold bytes `range` of the object (for range reads), clamped to
    /// the object; an empty range needs no segment.
    pub fn segments_for(&self, range: Range<u64>) -> Range<u32> {
        let end = range.end.min(self.size);
        if range.start >= end {
            return 0..0;
        }
        let seg = u64::from(self.segment_size);
        let first = range.start / seg;
        let last = (end - 1) / seg;
        // Both are below `count`, which is a u32.
        let first = u32::try_from(first).unwrap_or(u32::MAX);
        let last = u32::try_from(last).unwrap_or(u32::MAX);
        first..last.saturating_add(1)
    }
}

/// Why a segment could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    /// The plaintext handed in is not the length the layout says.
    #[error("segment {index} should hold {expected} bytes but {found} were given")]
    WrongLength {
        /// The segment.
        index: SegmentIndex,
        /// Length the layout requires.
        expected: usize,
        /// Length given.
        found: usize,
    },
    /// A fragment's bytes do not match its recorded hash.
    #[error("fragment {fragment} of segment {index} is corrupt: its hash does not match")]
    CorruptFragment {
        /// The segment.
        index: SegmentIndex,
        /// The fragment's position.
        fragment: usize,
    },
    /// The number of expected hashes does not match the policy.
    #[error("segment {index} should have {expected} fragments but {found} were given")]
    FragmentCount {
        /// The segment.
        index: SegmentIndex,
        /// Fragments the policy has.
        expected: usize,
        /// Fragments given.
        found: usize,
    },
    /// Erasure decoding failed (for example too few fragments).
    #[error(transparent)]
    Erasure(#[from] ErasureError),
    /// The segment did not authenticate.
    #[error(transparent)]
    Seal(#[from] SealError),
}

/// One segment, ready to upload: `k + m` fragments and their hashes (piece names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedSegment {
    /// Fragment bytes, data fragments first.
    pub fragments: Vec<Vec<u8>>,
    /// BLAKE3 of each fragment, in the same order.
    pub hashes: Vec<PieceHash>,
}

/// Encodes and decodes the segments of one object.
pub struct ObjectCodec {
    cipher: SegmentCipher,
    erasure: ErasureCodec,
    layout: SegmentLayout,
}

impl ObjectCodec {
    /// A codec for object `object` sealed under `key`, cut by `layout`, coded by `redundancy`.
    pub fn new(
        key: &FileKey,
        object: ObjectId,
        layout: SegmentLayout,
        redundancy: Redundancy,
    ) -> Result<Self, SegmentError> {
        Ok(Self {
            cipher: SegmentCipher::new(key, object, layout.count()),
            erasure: ErasureCodec::new(usize::from(redundancy.k()), usize::from(redundancy.m()))?,
            layout,
        })
    }

    /// The layout this codec cuts by.
    pub fn layout(&self) -> &SegmentLayout {
        &self.layout
    }

    /// Seals, erasure-codes and hashes one segment's plaintext.
    pub fn encode(
        &self,
        index: SegmentIndex,
        mut plaintext: Vec<u8>,
    ) -> Result<EncodedSegment, SegmentError> {
        let mut out = EncodedSegment {
            fragments: Vec::new(),
            hashes: Vec::new(),
        };
        self.encode_into(index, &mut plaintext, &mut out)?;
        Ok(out)
    }

    /// Like [`encode`](Self::encode), but seals in `plaintext`'s own buffer and reuses the
    /// fragment buffers of `out`, which is how a streaming client keeps memory flat and
    /// avoids the page faults of fresh buffers (give `plaintext` 16 bytes of spare
    /// capacity to avoid one copy). On return `plaintext` holds the sealed segment.
    pub fn encode_into(
        &self,
        index: SegmentIndex,
        plaintext: &mut Vec<u8>,
        out: &mut EncodedSegment,
    ) -> Result<(), SegmentError> {
        let expected = self.layout.plaintext_len(index);
        if plaintext.len() != expected || index.0 >= self.layout.count() {
            return Err(SegmentError::WrongLength {
                index,
                expected,
                found: plaintext.len(),
            });
        }
        plaintext.reserve(SEAL_OVERHEAD);
        self.cipher.seal(index, plaintext)?;
        self.erasure.encode_into(plaintext, &mut out.fragments)?;
        out.hashes.clear();
        out.hashes
            .extend(out.fragments.iter().map(|f| PieceHash::of(f)));
        Ok(())
    }

    /// Verifies present fragments against `hashes`, rebuilds the ciphertext from any `k` of
    /// them, and opens it. A fragment whose hash is wrong is an error naming it, so the
    /// caller can report it and fetch another.
    pub fn decode(
        &self,
        index: SegmentIndex,
        fragments: &[Option<&[u8]>],
        hashes: &[PieceHash],
    ) -> Result<Vec<u8>, SegmentError> {
        let total = self.erasure.total_fragments();
        if hashes.len() != total || fragments.len() != total {
            return Err(SegmentError::FragmentCount {
                index,
                expected: total,
                found: hashes.len().min(fragments.len()),
            });
        }
        for (fragment, (bytes, hash)) in fragments.iter().zip(hashes).enumerate() {
            if let Some(bytes) = bytes
                && !hash.matches(bytes)
            {
                return Err(SegmentError::CorruptFragment { index, fragment });
            }
        }
        let mut sealed = self
            .erasure
            .decode(fragments, self.layout.ciphertext_len(index))?;
        self.cipher.open(index, &mut sealed)?;
        Ok(sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const OBJECT: ObjectId = ObjectId::from_bytes([1; 16]);

    #[test]
    fn layout_counts_and_lengths() {
        let kib = 4096;
        let empty = SegmentLayout::new(0, kib).unwrap();
        assert_eq!(
            (empty.count(), empty.plaintext_len(SegmentIndex(0))),
            (1, 0)
        );
        let exact = SegmentLayout::new(2 * 4096, kib).unwrap();
        assert_eq!(exact.count(), 2);
        assert_eq!(exact.plaintext_len(SegmentIndex(1)), 4096);
        let over = SegmentLayout::new(2 * 4096 + 1, kib).unwrap();
        assert_eq!(over.count(), 3);
        assert_eq!(over.plaintext_len(SegmentIndex(2)), 1);
        assert_eq!(over.ciphertext_len(SegmentIndex(2)), 17);
        assert_eq!(over.plaintext_len(SegmentIndex(3)), 0);
        assert_eq!(over.segments_for(0..1), 0..1);
        assert_eq!(over.segments_for(4095..4097), 0..2);
        assert_eq!(over.segments_for(8192..u64::MAX), 2..3);
        assert_eq!(over.segments_for(5..5), 0..0);
        assert_eq!(over.segments_for(9000..10000), 0..0);
        assert_eq!(
            SegmentLayout::new(1, 100),
            Err(LayoutError::SegmentSize(100))
        );
        assert!(matches!(
            SegmentLayout::new(u64::MAX, MIN_SEGMENT_SIZE),
            Err(LayoutError::TooManySegments { .. })
        ));
    }

    #[test]
    fn segments_survive_loss_and_detect_corruption() {
        let layout = SegmentLayout::new(10_000, 4096).unwrap();
        let codec = ObjectCodec::new(
            &FileKey::from_bytes([2; 32]),
            OBJECT,
            layout,
            Redundancy::ec(4, 2).unwrap(),
        )
        .unwrap();
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        for i in 0..layout.count() {
            let index = SegmentIndex(i);
            let start = layout.offset(index) as usize;
            let plain = data[start..start + layout.plaintext_len(index)].to_vec();
            let encoded = codec.encode(index, plain.clone()).unwrap();
            assert_eq!(encoded.fragments.len(), 6);
            let mut slots: Vec<Option<&[u8]>> = encoded
                .fragments
                .iter()
                .map(|f| Some(f.as_slice()))
                .collect();
            slots[0] = None;
            slots[3] = None;
            assert_eq!(codec.decode(index, &slots, &encoded.hashes).unwrap(), plain);
            let mut bad = encoded.fragments[1].clone();
            bad[0] ^= 1;
            slots[1] = Some(&bad);
            assert_eq!(
                codec.decode(index, &slots, &encoded.hashes),
                Err(SegmentError::CorruptFragment { index, fragment: 1 })
            );
            slots[1] = None;
            assert!(matches!(
                codec.decode(index, &slots, &encoded.hashes),
                Err(SegmentError::Erasure(_))
            ));
        }
        assert!(matches!(
            codec.encode(SegmentIndex(0), vec![0; 5]),
            Err(SegmentError::WrongLength {
                expected: 4096,
                found: 5,
                ..
            })
        ));
    }

    #[test]
    fn a_fragment_from_another_segment_is_caught() {
        // Hashes recorded for segment 0 but fragments of segment 1: the hash check fails;
        // with hashes of segment 1 too, the AEAD binding to the index fails.
        let layout = SegmentLayout::new(8192, 4096).unwrap();
        let codec = ObjectCodec::new(
            &FileKey::from_bytes([2; 32]),
            OBJECT,
            layout,
            Redundancy::rep(2, 2).unwrap(),
        )
        .unwrap();
        let s0 = codec.encode(SegmentIndex(0), vec![0; 4096]).unwrap();
        let s1 = codec.encode(SegmentIndex(1), vec![0; 4096]).unwrap();
        let slots: Vec<Option<&[u8]>> = s1.fragments.iter().map(|f| Some(f.as_slice())).collect();
        assert!(matches!(
            codec.decode(SegmentIndex(0), &slots, &s0.hashes),
            Err(SegmentError::CorruptFragment { .. })
        ));
        assert!(matches!(
            codec.decode(SegmentIndex(0), &slots, &s1.hashes),
            Err(SegmentError::Seal(_))
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn round_trip_any_size(size in 0u64..20_000, k in 2u16..6, m in 1u16..3, drop in any::<prop::sample::Index>()) {
            let layout = SegmentLayout::new(size, 4096).unwrap();
            let redundancy = Redundancy::ec(k, m).unwrap();
            let codec = ObjectCodec::new(&FileKey::from_bytes([9; 32]), OBJECT, layout, redundancy).unwrap();
            for i in 0..layout.count() {
                let index = SegmentIndex(i);
                let plain = vec![i as u8; layout.plaintext_len(index)];
                let encoded = codec.encode(index, plain.clone()).unwrap();
                let mut slots: Vec<Option<&[u8]>> = encoded.fragments.iter().map(|f| Some(f.as_slice())).collect();
                let lost = drop.index(slots.len());
                slots[lost] = None;
                prop_assert_eq!(codec.decode(index, &slots, &encoded.hashes).unwrap(), plain);
            }
        }
    }
}

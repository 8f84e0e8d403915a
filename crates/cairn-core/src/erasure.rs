//! Reed–Solomon erasure coding of segment ciphertext into equal-length fragments.
//!
//! `k` data fragments are the ciphertext cut into equal pieces (the last zero-padded);
//! `m` parity fragments come from `reed-solomon-simd` (GF(2^16), O(n log n)). Any `k` of
//! the `k + m` fragments rebuild the ciphertext. With `m = 0` (replication policies) the
//! codec only cuts. Fragment length is `ceil(len / k)` rounded up to an even number (the
//! library's only shard-size rule) and at least 2. Reed–Solomon cannot tell a corrupt
//! fragment from a good one; callers check fragment hashes before decoding.

use std::borrow::Cow;

use reed_solomon_simd::{ReedSolomonDecoder, ReedSolomonEncoder};

/// Why fragments could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErasureError {
    /// The shape is not supported.
    #[error(
        "unsupported erasure shape {data}+{parity}: need at least 1 data fragment and at most {} fragments in all",
        ErasureCodec::MAX_FRAGMENTS
    )]
    Shape {
        /// Data fragments asked for.
        data: usize,
        /// Parity fragments asked for.
        parity: usize,
    },
    /// The fragment list does not have one slot per fragment.
    #[error("expected {expected} fragment slots, got {found}")]
    SlotCount {
        /// Slots the shape has.
        expected: usize,
        /// Slots given.
        found: usize,
    },
    /// Fewer than `k` fragments are present.
    #[error(
        "only {present} fragments are available but {needed} are needed to rebuild the segment"
    )]
    TooFewFragments {
        /// Fragments present.
        present: usize,
        /// Fragments needed (`k`).
        needed: usize,
    },
    /// Present fragments differ in length, or have a length no encoder produces.
    #[error("fragment {index} is {found} bytes long, expected {expected}")]
    FragmentLength {
        /// The fragment's position.
        index: usize,
        /// Its length.
        found: usize,
        /// The length expected.
        expected: usize,
    },
    /// The ciphertext length does not fit the fragment length.
    #[error(
        "a segment of {ciphertext_len} bytes cannot be made of fragments of {fragment_len} bytes"
    )]
    CiphertextLength {
        /// The claimed ciphertext length.
        ciphertext_len: usize,
        /// The fragments' length.
        fragment_len: usize,
    },
    /// A wanted fragment index is out of range.
    #[error("fragment index {index} is out of range for {total} fragments")]
    Index {
        /// The index asked for.
        index: usize,
        /// Fragments the shape has.
        total: usize,
    },
    /// The Reed–Solomon library reported an error.
    #[error("Reed–Solomon coding failed: {0}")]
    Codec(String),
}

fn codec_error(e: reed_solomon_simd::Error) -> ErasureError {
    ErasureError::Codec(e.to_string())
}

/// Splits ciphertext into `data` + `parity` fragments and rebuilds it from any `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErasureCodec {
    data: usize,
    parity: usize,
}

impl ErasureCodec {
    /// Most fragments a segment can have.
    pub const MAX_FRAGMENTS: usize = 256;

    /// A codec for `data` data fragments and `parity` parity fragments.
    pub fn new(data: usize, parity: usize) -> Result<Self, ErasureError> {
        let shape_ok = data >= 1
            && data
                .checked_add(parity)
                .is_some_and(|n| n <= Self::MAX_FRAGMENTS)
            && (parity == 0 || ReedSolomonEncoder::supports(data, parity));
        if !shape_ok {
            return Err(ErasureError::Shape { data, parity });
        }
        Ok(Self { data, parity })
    }

    /// Data fragments (`k`).
    pub const fn data_fragments(&self) -> usize {
        self.data
    }

    /// Parity fragments (`m`).
    pub const fn parity_fragments(&self) -> usize {
        self.parity
    }

    /// All fragments (`k + m`).
    pub const fn total_fragments(&self) -> usize {
        self.data + self.parity
    }

    /// Length of every fragment for a ciphertext of `ciphertext_len` bytes.
    pub fn fragment_len(&self, ciphertext_len: usize) -> usize {
        let len = ciphertext_len.div_ceil(self.data).max(2);
        len + len % 2
    }

    /// Cuts and encodes: `data + parity` fragments of `fragment_len` bytes each.
    pub fn encode(&self, ciphertext: &[u8]) -> Result<Vec<Vec<u8>>, ErasureError> {
        let mut fragments = Vec::new();
        self.encode_into(ciphertext, &mut fragments)?;
        Ok(fragments)
    }

    /// Like [`encode`](Self::encode), but reuses the buffers in `fragments`. Streaming
    /// callers should keep one set per segment in flight: fresh multi-megabyte buffers
    /// cost a page fault per 4 KiB, which measured as the pipeline's largest cost.
    pub fn encode_into(
        &self,
        ciphertext: &[u8],
        fragments: &mut Vec<Vec<u8>>,
    ) -> Result<(), ErasureError> {
        let len = self.fragment_len(ciphertext.len());
        fragments.resize_with(self.total_fragments(), Vec::new);
        let (data, parity) = fragments.split_at_mut(self.data);
        let mut chunks = ciphertext.chunks(len);
        for fragment in data.iter_mut() {
            // One copy per data fragment is unavoidable: each becomes its own piece body.
            fragment.clear();
            fragment.extend_from_slice(chunks.next().unwrap_or_default());
            fragment.resize(len, 0);
        }
        if parity.is_empty() {
            return Ok(());
        }
        for fragment in parity.iter_mut() {
            fragment.resize(len, 0);
        }
        self.parity_into(data, parity, len)
    }

    /// Rebuilds exactly `ciphertext_len` bytes of ciphertext from any `data` fragments;
    /// `None` marks a missing one. When every data fragment is present this is a plain
    /// concatenation.
    pub fn decode(
        &self,
        fragments: &[Option<&[u8]>],
        ciphertext_len: usize,
    ) -> Result<Vec<u8>, ErasureError> {
        let len = self.check(fragments)?;
        if ciphertext_len > len.saturating_mul(self.data)
            || self.fragment_len(ciphertext_len) != len
        {
            return Err(ErasureError::CiphertextLength {
                ciphertext_len,
                fragment_len: len,
            });
        }
        let originals = self.originals(fragments, len)?;
        let mut out = Vec::with_capacity(ciphertext_len);
        for original in originals {
            let take = (ciphertext_len - out.len()).min(original.len());
            out.extend_from_slice(original.get(..take).unwrap_or_default());
        }
        Ok(out)
    }

    /// For repair: rebuilds the fragments at `wanted` (data or parity) from any `data`
    /// present fragments, byte-identical to what [`encode`](Self::encode) produced.
    pub fn rebuild(
        &self,
        fragments: &[Option<&[u8]>],
        wanted: &[usize],
    ) -> Result<Vec<Vec<u8>>, ErasureError> {
        let total = self.total_fragments();
        if let Some(&index) = wanted.iter().find(|&&i| i >= total) {
            return Err(ErasureError::Index { index, total });
        }
        let len = self.check(fragments)?;
        let originals = self.originals(fragments, len)?;
        let needs_parity = wanted.iter().any(|&i| i >= self.data);
        let mut parity = Vec::new();
        if needs_parity {
            parity.resize_with(self.parity, || vec![0u8; len]);
            self.parity_into(&originals, &mut parity, len)?;
        }
        wanted
            .iter()
            .map(|&i| {
                let fragment = if i < self.data {
                    originals.get(i).map(|c| c.as_ref())
                } else {
                    parity.get(i - self.data).map(Vec::as_slice)
                };
                fragment
                    .map(<[u8]>::to_vec)
                    .ok_or(ErasureError::Index { index: i, total })
            })
            .collect()
    }

    /// Checks slot count, presence and lengths; returns the common fragment length.
    fn check(&self, fragments: &[Option<&[u8]>]) -> Result<usize, ErasureError> {
        let total = self.total_fragments();
        if fragments.len() != total {
            return Err(ErasureError::SlotCount {
                expected: total,
                found: fragments.len(),
            });
        }
        let present = fragments.iter().flatten().count();
        if present < self.data {
            return Err(ErasureError::TooFewFragments {
                present,
                needed: self.data,
            });
        }
        let mut expected = None;
        for (index, fragment) in fragments.iter().enumerate() {
            let Some(fragment) = fragment else { continue };
            let expected = *expected.get_or_insert(fragment.len());
            if fragment.len() != expected || expected < 2 || expected % 2 != 0 {
                return Err(ErasureError::FragmentLength {
                    index,
                    found: fragment.len(),
                    expected: expected.max(2) + expected % 2,
                });
            }
        }
        expected.ok_or(ErasureError::TooFewFragments {
            present,
            needed: self.data,
        })
    }

    /// The `data` original fragments, restoring missing ones with Reed–Solomon.
    fn originals<'a>(
        &self,
        fragments: &[Option<&'a [u8]>],
        len: usize,
    ) -> Result<Vec<Cow<'a, [u8]>>, ErasureError> {
        let (data, parity) = fragments.split_at(self.data.min(fragments.len()));
        if data.iter().all(Option::is_some) {
            return Ok(data.iter().flatten().map(|f| Cow::Borrowed(*f)).collect());
        }
        // Missing data with no parity is caught by `check` (too few present).
        let missing: Vec<usize> = (0..self.data)
            .filter(|&i| data.get(i).is_none_or(Option::is_none))
            .collect();
        let mut restored: Vec<Vec<u8>> = missing.iter().map(|_| vec![0u8; len]).collect();
        let mut decoder = None::<ReedSolomonDecoder>;
        for start in (0..len).step_by(DECODE_STRIPE) {
            let width = DECODE_STRIPE.min(len - start);
            let decoder = match decoder.as_mut() {
                Some(d) => {
                    d.reset(self.data, self.parity, width)
                        .map_err(codec_error)?;
                    d
                }
                None => decoder.insert(
                    ReedSolomonDecoder::new(self.data, self.parity, width).map_err(codec_error)?,
                ),
            };
            for (i, fragment) in data.iter().enumerate() {
                if let Some(fragment) = fragment {
                    decoder
                        .add_original_shard(i, stripe(fragment, start, width)?)
                        .map_err(codec_error)?;
                }
            }
            for (i, fragment) in parity.iter().enumerate() {
                if let Some(fragment) = fragment {
                    decoder
                        .add_recovery_shard(i, stripe(fragment, start, width)?)
                        .map_err(codec_error)?;
                }
            }
            let result = decoder.decode().map_err(codec_error)?;
            for (&i, out) in missing.iter().zip(restored.iter_mut()) {
                let shard = result
                    .restored_original(i)
                    .ok_or(ErasureError::TooFewFragments {
                        present: 0,
                        needed: self.data,
                    })?;
                stripe_mut(out, start, width)?.copy_from_slice(shard);
            }
        }
        let mut restored = restored.into_iter();
        data.iter()
            .map(|fragment| match fragment {
                Some(f) => Ok(Cow::Borrowed(*f)),
                None => restored
                    .next()
                    .map(Cow::Owned)
                    .ok_or(ErasureError::TooFewFragments {
                        present: 0,
                        needed: self.data,
                    }),
            })
            .collect()
    }

    /// Writes the parity of `originals` into `parity` (each `len` bytes), stripe by stripe.
    ///
    /// `reed-solomon-simd` codes each 64-byte position of the shards independently, so
    /// coding [`STRIPE`]-byte slices gives the same bytes as coding whole fragments, while
    /// keeping the working set (`(k + m) × STRIPE`) in cache: for 4 MiB fragments this was
    /// ~10× faster than one call over whole fragments on the project's machines.
    fn parity_into<T: AsRef<[u8]>>(
        &self,
        originals: &[T],
        parity: &mut [Vec<u8>],
        len: usize,
    ) -> Result<(), ErasureError> {
        let mut encoder = None::<ReedSolomonEncoder>;
        for start in (0..len).step_by(STRIPE) {
            let width = STRIPE.min(len - start);
            let encoder = match encoder.as_mut() {
                Some(e) => {
                    e.reset(self.data, self.parity, width)
                        .map_err(codec_error)?;
                    e
                }
                None => encoder.insert(
                    ReedSolomonEncoder::new(self.data, self.parity, width).map_err(codec_error)?,
                ),
            };
            for original in originals {
                encoder
                    .add_original_shard(stripe(original.as_ref(), start, width)?)
                    .map_err(codec_error)?;
            }
            let result = encoder.encode().map_err(codec_error)?;
            for (out, shard) in parity.iter_mut().zip(result.recovery_iter()) {
                stripe_mut(out, start, width)?.copy_from_slice(shard);
            }
        }
        Ok(())
    }
}

/// Bytes an encoding stripe covers in each fragment; a multiple of 64, the library's
/// block size, small enough that a stripe of every fragment stays in L2 cache.
const STRIPE: usize = 64 * 1024;
/// Bytes a decoding stripe covers. Decoding has a large fixed cost per call (error
/// locator over the whole field), so its stripes are wider than encoding's.
const DECODE_STRIPE: usize = 1024 * 1024;

fn stripe(fragment: &[u8], start: usize, width: usize) -> Result<&[u8], ErasureError> {
    fragment
        .get(start..start + width)
        .ok_or(ErasureError::Codec("stripe out of range".into()))
}

fn stripe_mut(fragment: &mut [u8], start: usize, width: usize) -> Result<&mut [u8], ErasureError> {
    fragment
        .get_mut(start..start + width)
        .ok_or(ErasureError::Codec("stripe out of range".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use data_encoding::HEXLOWER;
    use proptest::prelude::*;

    fn slots(fragments: &[Vec<u8>]) -> Vec<Option<&[u8]>> {
        fragments.iter().map(|f| Some(f.as_slice())).collect()
    }

    /// Every subset of `0..n` with exactly `size` members.
    fn subsets(n: usize, size: usize) -> Vec<Vec<usize>> {
        (0u32..1 << n)
            .filter(|mask| mask.count_ones() as usize == size)
            .map(|mask| (0..n).filter(|i| mask & (1 << i) != 0).collect())
            .collect()
    }

    #[test]
    fn every_loss_pattern_up_to_m_recovers_and_m_plus_one_fails() {
        for (k, m) in [(2, 1), (4, 2), (3, 3), (6, 3), (2, 0), (4, 0)] {
            let codec = ErasureCodec::new(k, m).unwrap();
            let ciphertext: Vec<u8> = (0..1001u32).map(|i| (i * 7 % 256) as u8).collect();
            let fragments = codec.encode(&ciphertext).unwrap();
            assert_eq!(fragments.len(), k + m);
            for lost in 0..=m + 1 {
                if lost > k + m {
                    continue;
                }
                for pattern in subsets(k + m, lost) {
                    let mut s = slots(&fragments);
                    for &i in &pattern {
                        s[i] = None;
                    }
                    let decoded = codec.decode(&s, ciphertext.len());
                    if lost <= m {
                        assert_eq!(decoded.unwrap(), ciphertext, "{k}+{m} lost {pattern:?}");
                    } else {
                        assert!(
                            matches!(decoded, Err(ErasureError::TooFewFragments { .. })),
                            "{k}+{m} lost {pattern:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn rebuild_matches_the_encoder_for_every_one_or_two_losses() {
        let codec = ErasureCodec::new(4, 2).unwrap();
        let ciphertext: Vec<u8> = (0..5000u32).map(|i| (i * 13 % 251) as u8).collect();
        let fragments = codec.encode(&ciphertext).unwrap();
        for lost in 1..=2 {
            for pattern in subsets(6, lost) {
                let mut s = slots(&fragments);
                for &i in &pattern {
                    s[i] = None;
                }
                let rebuilt = codec.rebuild(&s, &pattern).unwrap();
                for (fragment, &i) in rebuilt.iter().zip(&pattern) {
                    assert_eq!(fragment, &fragments[i], "fragment {i} of {pattern:?}");
                }
            }
        }
        assert_eq!(
            codec.rebuild(&slots(&fragments), &[6]),
            Err(ErasureError::Index { index: 6, total: 6 })
        );
    }

    #[test]
    fn known_answer_vector() {
        // Pins the parity bytes so a library upgrade cannot silently change the format.
        let codec = ErasureCodec::new(4, 2).unwrap();
        let ciphertext: Vec<u8> = (0..100u8).collect();
        let fragments = codec.encode(&ciphertext).unwrap();
        assert_eq!(codec.fragment_len(100), 26);
        assert_eq!(fragments[3][22..], [0, 0, 0, 0]);
        assert_eq!(
            HEXLOWER.encode(&fragments[4]),
            "0de2a2b0b23b2d636849e85b1d3e3d3d0a0af5f5f7f70b0f0b0f"
        );
        assert_eq!(
            HEXLOWER.encode(&fragments[5]),
            "6d82dac8c24b652b2809a0132d0e05052a2aedede7e767626d68"
        );
    }

    #[test]
    fn striped_coding_equals_whole_fragment_coding() {
        // Lengths spanning several stripes with a tail that is not a multiple of 64.
        for len in [STRIPE * 4 * 3 + 998, STRIPE * 2 + 130, 64 * 4 + 2] {
            let codec = ErasureCodec::new(4, 3).unwrap();
            let ciphertext: Vec<u8> = (0..len as u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect();
            let fragments = codec.encode(&ciphertext).unwrap();
            let whole = reed_solomon_simd::encode(4, 3, &fragments[..4]).unwrap();
            assert_eq!(whole, fragments[4..].to_vec(), "len {len}");
        }
    }

    #[test]
    fn encode_into_reuses_buffers_of_any_prior_shape() {
        let codec = ErasureCodec::new(3, 2).unwrap();
        let mut buffers = vec![vec![0xAA; 10_000]; 7];
        for len in [5000usize, 17, 0, 300_001] {
            let ciphertext: Vec<u8> = (0..len as u32).map(|i| (i % 253) as u8).collect();
            codec.encode_into(&ciphertext, &mut buffers).unwrap();
            assert_eq!(buffers, codec.encode(&ciphertext).unwrap(), "len {len}");
        }
    }

    #[test]
    fn large_fragments_agree_on_both_paths() {
        let codec = ErasureCodec::new(4, 2).unwrap();
        let ciphertext: Vec<u8> = (0..(1u32 << 20) + 3)
            .map(|i| (i ^ (i >> 8)) as u8)
            .collect();
        let fragments = codec.encode(&ciphertext).unwrap();
        let fast = codec.decode(&slots(&fragments), ciphertext.len()).unwrap();
        let mut s = slots(&fragments);
        s[1] = None;
        s[2] = None;
        let slow = codec.decode(&s, ciphertext.len()).unwrap();
        assert_eq!(fast, ciphertext);
        assert_eq!(slow, ciphertext);
    }

    #[test]
    fn bad_inputs_are_named() {
        assert!(ErasureCodec::new(0, 2).is_err());
        assert!(ErasureCodec::new(200, 57).is_err());
        assert!(ErasureCodec::new(usize::MAX, 1).is_err());
        let codec = ErasureCodec::new(2, 1).unwrap();
        let fragments = codec.encode(b"hello world").unwrap();
        let s = slots(&fragments);
        assert_eq!(
            codec.decode(&s[..2], 11),
            Err(ErasureError::SlotCount {
                expected: 3,
                found: 2
            })
        );
        let short = &fragments[1][..4];
        assert!(matches!(
            codec.decode(&[s[0], Some(short), None], 11),
            Err(ErasureError::FragmentLength { index: 1, .. })
        ));
        assert!(matches!(
            codec.decode(&s, 1000),
            Err(ErasureError::CiphertextLength { .. })
        ));
        assert!(matches!(
            codec.decode(&s, usize::MAX),
            Err(ErasureError::CiphertextLength { .. })
        ));
        // A length whose last data fragment would be pure padding is refused too.
        assert!(matches!(
            codec.decode(&s, 2),
            Err(ErasureError::CiphertextLength { .. })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn round_trip(data in 1usize..=8, parity in 0usize..=4, bytes in proptest::collection::vec(any::<u8>(), 0..10_000), drop in any::<prop::sample::Index>()) {
            let codec = ErasureCodec::new(data, parity).unwrap();
            let fragments = codec.encode(&bytes).unwrap();
            prop_assert!(fragments.iter().all(|f| f.len() == codec.fragment_len(bytes.len())));
            let mut s = slots(&fragments);
            if parity > 0 {
                let i = drop.index(s.len());
                s[i] = None;
            }
            prop_assert_eq!(codec.decode(&s, bytes.len()).unwrap(), bytes);
        }

        #[test]
        fn garbage_never_panics(
            present in proptest::collection::vec(proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)), 0..8),
            ciphertext_len in prop_oneof![0usize..300, Just(usize::MAX)],
            wanted in proptest::collection::vec(0usize..10, 0..4),
        ) {
            let codec = ErasureCodec::new(3, 2).unwrap();
            let s: Vec<Option<&[u8]>> = present.iter().map(|f| f.as_deref()).collect();
            let _ = codec.decode(&s, ciphertext_len);
            let _ = codec.rebuild(&s, &wanted);
        }
    }
}

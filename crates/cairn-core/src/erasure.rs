//! Reed–Solomon erasure coding of segment ciphertext into equal-length fragments.
//!
//! The ciphertext is cut into `k` data fragments of [`ErasureCodec::fragment_len`] bytes (the
//! last zero-padded) and `reed-solomon-simd` (GF(2^16)) adds `m` parity fragments, byte for
//! byte what it computes over whole fragments with its default rate for `(k, m)` (pinned by
//! the known-answer tests). Any `k` fragments rebuild the ciphertext; with `m = 0` the codec
//! only cuts. Reed–Solomon cannot detect corruption: callers check fragment hashes first,
//! and garbage of a valid shape decodes to garbage, never to a panic.
//!
//! The library codes each 64-byte block independently, so the codec runs one encoder or
//! decoder over stripes of the fragments (multiples of 64 bytes) for the same bytes with a
//! cache-sized working set: 2–4× faster on large segments. Decoder stripes are larger, as
//! each decode call has a fixed cost. Copies: each ciphertext byte is copied once into its
//! data fragment and each parity byte once out of the encoder; decoding copies present data
//! once into the output and restored bytes once into zero-filled gaps for the missing
//! fragments. The library's own copy of each input stripe cannot be avoided through its API.

use reed_solomon_simd::{ReedSolomonDecoder, ReedSolomonEncoder};

/// Bytes of each fragment coded per encoder call (a multiple of 64).
const ENCODE_STRIPE: usize = 64 * 1024;
/// Bytes of the decoder's work buffer (about `(k + m).next_power_of_two()` shards) to aim
/// for per decoder call, before clamping.
const DECODE_BUDGET: usize = 8 * 1024 * 1024;
/// Least bytes of each fragment per decoder call (a multiple of 64).
const DECODE_STRIPE_MIN: usize = 64 * 1024;
/// Most bytes of each fragment per decoder call (a multiple of 64).
const DECODE_STRIPE_MAX: usize = 2 * 1024 * 1024;

/// Why fragments could not be encoded, decoded or rebuilt.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum ErasureError {
    /// The shape is unsupported: no data fragments, or more than
    /// [`ErasureCodec::MAX_FRAGMENTS`] fragments in all.
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
    /// The fragment list does not have exactly one slot per fragment of the shape.
    #[error("expected {expected} fragment slots, got {found}")]
    SlotCount {
        /// Slots the shape has (`k + m`).
        expected: usize,
        /// Slots given.
        found: usize,
    },
    /// Fewer than `k` fragments are present.
    #[error("only {present} fragments are present but {needed} are needed")]
    TooFewFragments {
        /// Fragments present.
        present: usize,
        /// Fragments needed (`k`).
        needed: usize,
    },
    /// A present fragment's length differs from the first present fragment's.
    #[error("fragment {index} is {found} bytes long but fragment lengths are {expected}")]
    FragmentLength {
        /// The fragment's index.
        index: usize,
        /// Its length.
        found: usize,
        /// The first present fragment's length.
        expected: usize,
    },
    /// The fragments' common length is zero or odd, which no encoder produces.
    #[error("fragment {index} is {len} bytes long; fragment lengths are even and at least 2")]
    InvalidFragmentLength {
        /// The first present fragment's index.
        index: usize,
        /// Its length.
        len: usize,
    },
    /// `ciphertext_len` is not a length that [`ErasureCodec::encode`] cuts into fragments of
    /// this length: more than `k × fragment_len` bytes, or so few that the encoder would
    /// have used shorter fragments.
    #[error(
        "a ciphertext of {ciphertext_len} bytes is not coded into {fragment_len}-byte fragments"
    )]
    CiphertextLength {
        /// The claimed ciphertext length.
        ciphertext_len: usize,
        /// The fragments' length.
        fragment_len: usize,
    },
    /// A wanted fragment index is not below `k + m`.
    #[error("fragment index {index} is out of range for {total} fragments")]
    IndexOutOfRange {
        /// The index asked for.
        index: usize,
        /// Fragments the shape has.
        total: usize,
    },
    /// A fragment index is wanted twice (which bounds the output by `k + m` fragments).
    #[error("fragment {index} is wanted more than once")]
    DuplicateIndex {
        /// The repeated index.
        index: usize,
    },
    /// `reed-solomon-simd` reported an error or did not return a shard it should have.
    /// Unreachable for input that passed the checks above; kept so that a change in the
    /// library surfaces as an error instead of a panic.
    #[error("Reed–Solomon coding failed: {0}")]
    Codec(String),
}

fn rs_error(e: reed_solomon_simd::Error) -> ErasureError {
    ErasureError::Codec(e.to_string())
}

fn internal(what: &str) -> ErasureError {
    ErasureError::Codec(format!("internal: {what}"))
}

/// Bytes `start..start + width` of `bytes`, which must all exist.
fn part(bytes: &[u8], start: usize, width: usize) -> Result<&[u8], ErasureError> {
    start
        .checked_add(width)
        .and_then(|end| bytes.get(start..end))
        .ok_or_else(|| internal("stripe out of range"))
}

/// Whatever of bytes `start..start + width` of `bytes` exists (possibly nothing).
fn clip(bytes: &[u8], start: usize, width: usize) -> &[u8] {
    let tail = bytes.get(start..).unwrap_or_default();
    tail.get(..width).unwrap_or(tail)
}

/// `(start, width)` of each stripe of a `len`-byte fragment; `stripe` is a multiple of 64,
/// so every width is even when `len` is.
fn stripes(len: usize, stripe: usize) -> impl Iterator<Item = (usize, usize)> {
    let stripe = stripe.max(64);
    (0..len)
        .step_by(stripe)
        .map(move |start| (start, stripe.min(len.saturating_sub(start))))
}

/// Splits ciphertext into `data` + `parity` equal fragments and rebuilds it from any `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErasureCodec {
    data: usize,
    parity: usize,
}

impl ErasureCodec {
    /// Most fragments (data + parity) a segment can have.
    pub const MAX_FRAGMENTS: usize = 256;

    /// A codec for `data >= 1` data and `parity >= 0` parity fragments, at most
    /// [`MAX_FRAGMENTS`](Self::MAX_FRAGMENTS) in all.
    pub fn new(data: usize, parity: usize) -> Result<Self, ErasureError> {
        let ok = data >= 1
            && data
                .checked_add(parity)
                .is_some_and(|n| n <= Self::MAX_FRAGMENTS)
            && (parity == 0 || ReedSolomonEncoder::supports(data, parity));
        if ok {
            Ok(Self { data, parity })
        } else {
            Err(ErasureError::Shape { data, parity })
        }
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
        self.data.saturating_add(self.parity)
    }

    /// Length of every fragment for a ciphertext of `ciphertext_len` bytes:
    /// `ceil(ciphertext_len / k)` rounded up to an even number, and at least 2, because
    /// `reed-solomon-simd` 3 needs shard sizes that are non-zero and even. Saturates at
    /// `usize::MAX` (odd, so never a real fragment length) for lengths no slice can have.
    pub fn fragment_len(&self, ciphertext_len: usize) -> usize {
        // `max(1)` only guards the invariant `data >= 1` that `new` establishes.
        let len = ciphertext_len.div_ceil(self.data.max(1)).max(2);
        len.saturating_add(len % 2)
    }

    /// Cuts and encodes: `k + m` fragments of [`fragment_len`](Self::fragment_len) bytes,
    /// data fragments first (the last one zero-padded), then parity.
    pub fn encode(&self, ciphertext: &[u8]) -> Result<Vec<Vec<u8>>, ErasureError> {
        let mut fragments = Vec::new();
        self.encode_into(ciphertext, &mut fragments)?;
        Ok(fragments)
    }

    /// Like [`encode`](Self::encode), but reuses the buffers in `fragments` (resized to
    /// `k + m`), so a streaming caller avoids the page faults of fresh multi-megabyte
    /// buffers. On error the contents of `fragments` are unspecified.
    pub fn encode_into(
        &self,
        ciphertext: &[u8],
        fragments: &mut Vec<Vec<u8>>,
    ) -> Result<(), ErasureError> {
        let len = self.fragment_len(ciphertext.len());
        // `len * k >= ciphertext.len()`, so there are at most `k` chunks.
        let mut sources: Vec<&[u8]> = ciphertext.chunks(len).collect();
        sources.resize(self.data, &[]);
        fragments.resize_with(self.total_fragments(), Vec::new);
        for fragment in fragments.iter_mut() {
            fragment.clear();
            fragment.reserve_exact(len);
        }
        let (data, parity) = fragments.split_at_mut(self.data);
        let mut encoder = (self.parity > 0)
            .then(|| ReedSolomonEncoder::new(self.data, self.parity, ENCODE_STRIPE.min(len)))
            .transpose()
            .map_err(rs_error)?;
        for (start, width) in stripes(len, ENCODE_STRIPE) {
            for (fragment, source) in data.iter_mut().zip(&sources) {
                fragment.extend_from_slice(clip(source, start, width));
                fragment.resize(start.saturating_add(width), 0);
            }
            let Some(encoder) = encoder.as_mut() else {
                continue;
            };
            // The stripe just copied is still in cache.
            encoder
                .reset(self.data, self.parity, width)
                .map_err(rs_error)?;
            for fragment in data.iter() {
                encoder
                    .add_original_shard(part(fragment, start, width)?)
                    .map_err(rs_error)?;
            }
            let result = encoder.encode().map_err(rs_error)?;
            for (fragment, shard) in parity.iter_mut().zip(result.recovery_iter()) {
                fragment.extend_from_slice(shard);
            }
        }
        Ok(())
    }

    /// Rebuilds exactly `ciphertext_len` bytes of ciphertext from any `k` fragments;
    /// `fragments` has one slot per fragment and `None` marks a missing one. When no data
    /// fragment holding ciphertext is missing this only concatenates, with no
    /// Reed–Solomon call. `ciphertext_len` must be a length that
    /// [`encode`](Self::encode) cuts into fragments of the given length
    /// ([`ErasureError::CiphertextLength`] otherwise).
    pub fn decode(
        &self,
        fragments: &[Option<&[u8]>],
        ciphertext_len: usize,
    ) -> Result<Vec<u8>, ErasureError> {
        let mut out = Vec::new();
        self.decode_into(fragments, ciphertext_len, &mut out)?;
        Ok(out)
    }

    /// Like [`decode`](Self::decode), but writes into `out` (cleared first), reusing its
    /// buffer. On error the contents of `out` are unspecified.
    pub fn decode_into(
        &self,
        fragments: &[Option<&[u8]>],
        ciphertext_len: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), ErasureError> {
        let len = self.check(fragments)?;
        // Equality also bounds `ciphertext_len` by `k × len`, so the allocation below is
        // no larger than the fragments given.
        if self.fragment_len(ciphertext_len) != len {
            return Err(ErasureError::CiphertextLength {
                ciphertext_len,
                fragment_len: len,
            });
        }
        let (data, parity) = fragments
            .split_at_checked(self.data)
            .ok_or_else(|| internal("slot count"))?;
        out.clear();
        out.reserve_exact(ciphertext_len);
        // (index, offset in `out`, bytes of it in `out`) of missing data fragments.
        let mut missing = Vec::new();
        for (index, slot) in data.iter().enumerate() {
            let take = len.min(ciphertext_len.saturating_sub(out.len()));
            match slot {
                Some(fragment) => out.extend_from_slice(part(fragment, 0, take)?),
                None if take > 0 => {
                    missing.push((index, out.len(), take));
                    out.resize(out.len().saturating_add(take), 0);
                }
                None => {}
            }
        }
        let needed = missing.iter().map(|&(_, _, take)| take).max().unwrap_or(0);
        if needed == 0 {
            return Ok(());
        }
        let stripe = self.decode_stripe();
        let mut decoder =
            ReedSolomonDecoder::new(self.data, self.parity, stripe.min(len)).map_err(rs_error)?;
        for (start, width) in stripes(len, stripe).take_while(|&(start, _)| start < needed) {
            let result = self.decode_stripe_with(&mut decoder, data, parity, start, width)?;
            for &(index, offset, take) in &missing {
                let restored = result
                    .restored_original(index)
                    .ok_or_else(|| internal("fragment not restored"))?;
                let n = width.min(take.saturating_sub(start));
                let at = offset.saturating_add(start);
                let target = at.checked_add(n).and_then(|end| out.get_mut(at..end));
                target
                    .ok_or_else(|| internal("output out of range"))?
                    .copy_from_slice(part(restored, 0, n)?);
            }
        }
        Ok(())
    }

    /// For repair: rebuilds the fragments at the distinct `wanted` indexes (data or parity)
    /// from any `k` present fragments, byte-identical to what [`encode`](Self::encode)
    /// produced there, in `wanted` order. A wanted fragment that is present is copied.
    pub fn rebuild(
        &self,
        fragments: &[Option<&[u8]>],
        wanted: &[usize],
    ) -> Result<Vec<Vec<u8>>, ErasureError> {
        let total = self.total_fragments();
        let mut seen = [false; Self::MAX_FRAGMENTS];
        for &index in wanted {
            match seen.get_mut(index) {
                Some(seen) if index < total && !*seen => *seen = true,
                Some(_) if index < total => return Err(ErasureError::DuplicateIndex { index }),
                _ => return Err(ErasureError::IndexOutOfRange { index, total }),
            }
        }
        let len = self.check(fragments)?;
        let (data, parity) = fragments
            .split_at_checked(self.data)
            .ok_or_else(|| internal("slot count"))?;
        let present = |index: usize| fragments.get(index).copied().flatten();
        let mut out: Vec<Vec<u8>> = wanted
            .iter()
            .map(|&index| present(index).map_or_else(|| Vec::with_capacity(len), <[u8]>::to_vec))
            .collect();
        if wanted.iter().all(|&index| present(index).is_some()) {
            return Ok(out);
        }
        let need_decoder = data.iter().any(Option::is_none);
        let need_encoder = wanted
            .iter()
            .any(|&index| index >= self.data && present(index).is_none());
        let stripe = if need_decoder {
            self.decode_stripe()
        } else {
            ENCODE_STRIPE
        };
        let first = stripe.min(len);
        let mut decoder = need_decoder
            .then(|| ReedSolomonDecoder::new(self.data, self.parity, first))
            .transpose()
            .map_err(rs_error)?;
        let mut encoder = need_encoder
            .then(|| ReedSolomonEncoder::new(self.data, self.parity, first))
            .transpose()
            .map_err(rs_error)?;
        for (start, width) in stripes(len, stripe) {
            let restored = (decoder.as_mut())
                .map(|decoder| self.decode_stripe_with(decoder, data, parity, start, width))
                .transpose()?;
            let original = |index: usize| match data.get(index).copied().flatten() {
                Some(fragment) => part(fragment, start, width),
                None => restored
                    .as_ref()
                    .and_then(|result| result.restored_original(index))
                    .ok_or_else(|| internal("fragment not restored")),
            };
            let recovery = match encoder.as_mut() {
                Some(encoder) => {
                    encoder
                        .reset(self.data, self.parity, width)
                        .map_err(rs_error)?;
                    for index in 0..self.data {
                        encoder
                            .add_original_shard(original(index)?)
                            .map_err(rs_error)?;
                    }
                    Some(encoder.encode().map_err(rs_error)?)
                }
                None => None,
            };
            for (fragment, &index) in out.iter_mut().zip(wanted) {
                if present(index).is_some() {
                    continue;
                }
                let shard = match index.checked_sub(self.data) {
                    None => original(index)?,
                    Some(parity_index) => recovery
                        .as_ref()
                        .and_then(|result| result.recovery(parity_index))
                        .ok_or_else(|| internal("parity not computed"))?,
                };
                fragment.extend_from_slice(shard);
            }
        }
        Ok(out)
    }

    /// Bytes of each fragment per decoder call: [`DECODE_BUDGET`] over the decoder's work
    /// shards, clamped, and a multiple of 64 (measured best for 2+1 up to 128+128).
    fn decode_stripe(&self) -> usize {
        let work = self.total_fragments().checked_next_power_of_two();
        let stripe = work.and_then(|work| DECODE_BUDGET.checked_div(work));
        let stripe = stripe.unwrap_or(DECODE_STRIPE_MIN);
        stripe.clamp(DECODE_STRIPE_MIN, DECODE_STRIPE_MAX) & !63
    }

    /// Resets `decoder` and decodes stripe `start..start + width` of the present fragments.
    fn decode_stripe_with<'d>(
        &self,
        decoder: &'d mut ReedSolomonDecoder,
        data: &[Option<&[u8]>],
        parity: &[Option<&[u8]>],
        start: usize,
        width: usize,
    ) -> Result<reed_solomon_simd::DecoderResult<'d>, ErasureError> {
        decoder
            .reset(self.data, self.parity, width)
            .map_err(rs_error)?;
        for (index, slot) in data.iter().enumerate() {
            if let Some(fragment) = slot {
                decoder
                    .add_original_shard(index, part(fragment, start, width)?)
                    .map_err(rs_error)?;
            }
        }
        for (index, slot) in parity.iter().enumerate() {
            if let Some(fragment) = slot {
                decoder
                    .add_recovery_shard(index, part(fragment, start, width)?)
                    .map_err(rs_error)?;
            }
        }
        decoder.decode().map_err(rs_error)
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
        let too_few = ErasureError::TooFewFragments {
            present,
            needed: self.data,
        };
        if present < self.data {
            return Err(too_few);
        }
        let mut common = None;
        for (index, fragment) in fragments.iter().enumerate() {
            let Some(fragment) = fragment else { continue };
            match common {
                None if fragment.len() < 2 || !fragment.len().is_multiple_of(2) => {
                    let len = fragment.len();
                    return Err(ErasureError::InvalidFragmentLength { index, len });
                }
                None => common = Some(fragment.len()),
                Some(expected) if expected != fragment.len() => {
                    return Err(ErasureError::FragmentLength {
                        index,
                        found: fragment.len(),
                        expected,
                    });
                }
                Some(_) => {}
            }
        }
        common.ok_or(too_few)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    /// Slots for `fragments` with the `lost` ones missing.
    fn without<'a>(fragments: &'a [Vec<u8>], lost: &[usize]) -> Vec<Option<&'a [u8]>> {
        let present = |(i, f): (usize, &'a Vec<u8>)| (!lost.contains(&i)).then_some(&f[..]);
        fragments.iter().enumerate().map(present).collect()
    }

    /// Every subset of `0..n` with exactly `size` members.
    fn subsets(n: usize, size: usize) -> Vec<Vec<usize>> {
        (0u32..1 << n)
            .filter(|mask| mask.count_ones() as usize == size)
            .map(|mask| (0..n).filter(|i| mask & (1 << i) != 0).collect())
            .collect()
    }

    fn bytes(len: usize, seed: u32) -> Vec<u8> {
        let byte = |i: u32| (i.wrapping_add(seed).wrapping_mul(2_654_435_761) >> 13) as u8;
        (0..len as u32).map(byte).collect()
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn every_loss_pattern_up_to_m_recovers_and_m_plus_one_fails() {
        for (k, m) in [(2, 1), (4, 2), (3, 3), (6, 3), (2, 0), (4, 0)] {
            let codec = ErasureCodec::new(k, m).unwrap();
            for ciphertext in [bytes(1001, 1), bytes(k * 64 * 3, 2)] {
                let fragments = codec.encode(&ciphertext).unwrap();
                assert_eq!(fragments.len(), k + m);
                for lost in (0..=m + 1).filter(|&lost| lost <= k + m) {
                    for pattern in subsets(k + m, lost) {
                        let decoded =
                            codec.decode(&without(&fragments, &pattern), ciphertext.len());
                        if lost <= m {
                            assert_eq!(decoded.unwrap(), ciphertext, "{k}+{m} lost {pattern:?}");
                        } else {
                            let too_few = ErasureError::TooFewFragments {
                                present: k - 1,
                                needed: k,
                            };
                            assert_eq!(decoded, Err(too_few), "{k}+{m} lost {pattern:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn rebuild_matches_the_encoder_for_every_one_or_two_losses() {
        let codec = ErasureCodec::new(4, 2).unwrap();
        for len in [0, 5000, 4 * ENCODE_STRIPE * 2 + 260] {
            let fragments = codec.encode(&bytes(len, 3)).unwrap();
            for pattern in subsets(6, 1).into_iter().chain(subsets(6, 2)) {
                let s = without(&fragments, &pattern);
                // The lost ones, then all in another order (present ones are copied).
                for wanted in [pattern.clone(), vec![5, 0, 4, 1, 3, 2]] {
                    let rebuilt = codec.rebuild(&s, &wanted).unwrap();
                    assert_eq!(rebuilt.len(), wanted.len());
                    for (fragment, &i) in rebuilt.iter().zip(&wanted) {
                        assert!(fragment == &fragments[i], "{len}: {i} of {pattern:?}");
                    }
                }
            }
            let all = without(&fragments, &[]);
            assert_eq!(codec.rebuild(&all, &[]), Ok(vec![]));
            let out_of_range = ErasureError::IndexOutOfRange { index: 6, total: 6 };
            assert_eq!(codec.rebuild(&all, &[1, 6]), Err(out_of_range));
            let twice = ErasureError::DuplicateIndex { index: 5 };
            assert_eq!(codec.rebuild(&all, &[5, 1, 5, 9]), Err(twice));
        }
    }

    #[test]
    fn known_answer_vectors() {
        // Pins parity bytes so a library upgrade cannot silently change the format.
        let codec = ErasureCodec::new(4, 2).unwrap();
        let fragments = codec.encode(&(0..100u8).collect::<Vec<_>>()).unwrap();
        let hexes: Vec<String> = fragments.iter().map(|f| hex(f)).collect();
        assert_eq!(hexes[0], hex(&(0..26).collect::<Vec<_>>()));
        assert_eq!(hexes[3], hex(&(78..100).chain([0; 4]).collect::<Vec<_>>()));
        let parity = [
            "0de2a2b0b23b2d636849e85b1d3e3d3d0a0af5f5f7f70b0f0b0f",
            "6d82dac8c24b652b2809a0132d0e05052a2aedede7e767626d68",
        ];
        assert_eq!(hexes[4..], parity);
        // A low-rate shape (more parity than data).
        let codec = ErasureCodec::new(2, 3).unwrap();
        let fragments = codec.encode(&[0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9]).unwrap();
        let hexes: Vec<String> = fragments[2..].iter().map(|f| hex(f)).collect();
        assert_eq!(hexes, ["5336ff0e0f0c", "aa30f5040b09", "36a20b0f0207"]);
    }

    #[test]
    fn reused_buffers_give_the_same_bytes() {
        let (mut fragments, mut out) = (vec![vec![7u8; 9000]; 9], vec![7u8; 20_000]);
        for (k, m, len) in [(2, 1, 20_000), (4, 2, 5000), (3, 0, 10), (6, 3, 0)] {
            let codec = ErasureCodec::new(k, m).unwrap();
            let ciphertext = bytes(len, 7);
            codec.encode_into(&ciphertext, &mut fragments).unwrap();
            assert!(fragments == codec.encode(&ciphertext).unwrap());
            let lost: Vec<usize> = (0..m).collect();
            codec
                .decode_into(&without(&fragments, &lost), len, &mut out)
                .unwrap();
            assert!(out == ciphertext);
        }
    }

    #[test]
    fn striped_coding_equals_whole_fragment_coding() {
        for (k, m) in [(4, 3), (2, 1), (1, 2)] {
            let codec = ErasureCodec::new(k, m).unwrap();
            for len in [64 * 5 + 2, ENCODE_STRIPE * 2 + 130, ENCODE_STRIPE * 3] {
                let fragments = codec.encode(&bytes(len * k - 1, 4)).unwrap();
                let whole = reed_solomon_simd::encode(k, m, &fragments[..k]).unwrap();
                assert!(whole == fragments[k..], "{k}+{m} len {len}");
            }
        }
    }

    #[test]
    fn large_fragments_agree_on_both_paths() {
        let codec = ErasureCodec::new(4, 2).unwrap();
        // Spans two decoder stripes, the last one ending in a partial 64-byte block.
        let ciphertext = bytes(4 * (codec.decode_stripe() + 130) - 3, 5);
        let fragments = codec.encode(&ciphertext).unwrap();
        let fast = codec.decode(&without(&fragments, &[]), ciphertext.len());
        assert!(fast.unwrap() == ciphertext);
        for lost in [[1, 2], [0, 5], [3, 4]] {
            let s = without(&fragments, &lost);
            assert!(codec.decode(&s, ciphertext.len()).unwrap() == ciphertext);
            let rebuilt = codec.rebuild(&s, &lost).unwrap();
            assert!(rebuilt[0] == fragments[lost[0]] && rebuilt[1] == fragments[lost[1]]);
        }
    }

    #[test]
    fn shapes_lengths_and_bad_inputs() {
        for (k, m) in [(0, 2), (200, 57), (usize::MAX, 1), (1, usize::MAX)] {
            let shape = ErasureError::Shape { data: k, parity: m };
            assert_eq!(ErasureCodec::new(k, m), Err(shape));
        }
        assert!(ErasureCodec::new(256, 0).is_ok());
        let codec = ErasureCodec::new(128, 128).unwrap();
        let ciphertext = bytes(3000, 6);
        let fragments = codec.encode(&ciphertext).unwrap();
        let lost: Vec<usize> = (0..256).step_by(2).collect();
        let decoded = codec.decode(&without(&fragments, &lost), ciphertext.len());
        assert_eq!(decoded.unwrap(), ciphertext);

        let codec = ErasureCodec::new(3, 1).unwrap();
        assert_eq!((codec.data_fragments(), codec.parity_fragments()), (3, 1));
        for (ciphertext_len, fragment_len) in [(0, 2), (6, 2), (7, 4), (12, 4), (13, 6)] {
            assert_eq!(codec.fragment_len(ciphertext_len), fragment_len);
        }
        assert_eq!(codec.fragment_len(usize::MAX), usize::MAX / 3 + 1);
        let one = ErasureCodec::new(1, 0).unwrap();
        assert_eq!(one.fragment_len(usize::MAX), usize::MAX);

        let codec = ErasureCodec::new(2, 1).unwrap();
        let fragments = codec.encode(b"hello world").unwrap();
        let s = without(&fragments, &[]);
        let short = Some(&fragments[1][..4]);
        let results = [
            codec.decode(&s[..2], 11),
            codec.rebuild(&s[..2], &[0]).map(|_| vec![]),
            codec.decode(&[None, None, s[2]], 11),
            codec.decode(&[s[0], short, None], 11),
            codec.decode(&[None, s[0], Some(b"abc")], 1),
            codec.decode(&[None, Some(b""), s[1]], 1),
            codec.decode(&[Some(b"abc"), None, s[1]], 1),
        ];
        let expected = [
            "SlotCount { expected: 3, found: 2 }",
            "SlotCount { expected: 3, found: 2 }",
            "TooFewFragments { present: 1, needed: 2 }",
            "FragmentLength { index: 1, found: 4, expected: 6 }",
            "FragmentLength { index: 2, found: 3, expected: 6 }",
            "InvalidFragmentLength { index: 1, len: 0 }",
            "InvalidFragmentLength { index: 0, len: 3 }",
        ];
        for (result, expected) in results.into_iter().zip(expected) {
            assert_eq!(format!("{:?}", result.unwrap_err()), expected);
        }
        let message = codec
            .decode(&[None, None, s[2]], 11)
            .unwrap_err()
            .to_string();
        assert_eq!(message, "only 1 fragments are present but 2 are needed");
        // 6-byte fragments hold 9 to 12 bytes: fewer would have used 4-byte fragments.
        assert_eq!(codec.decode(&s, 9).map(|v| v.len()), Ok(9));
        for ciphertext_len in [13, 1000, 8, 2, usize::MAX] {
            let err = format!("{:?}", codec.decode(&s, ciphertext_len).unwrap_err());
            let expected =
                format!("CiphertextLength {{ ciphertext_len: {ciphertext_len}, fragment_len: 6 }}");
            assert_eq!(err, expected);
        }
    }

    fn shape_and_len() -> impl Strategy<Value = (usize, usize, usize)> {
        (1usize..=8, 0usize..=4).prop_flat_map(|(k, m)| {
            let multiple = move |n: usize| (0..=10_000 / n).prop_map(move |q| q * n);
            let len = prop_oneof![
                Just(0),
                Just(1),
                0..=10_000usize,
                multiple(k),
                multiple(2 * k)
            ];
            (Just(k), Just(m), len)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn round_trip((k, m, len) in shape_and_len(), seed: u32, first_lost in 0usize..12) {
            let codec = ErasureCodec::new(k, m).unwrap();
            let ciphertext = bytes(len, seed);
            let fragments = codec.encode(&ciphertext).unwrap();
            let fragment_len = codec.fragment_len(len);
            prop_assert!(fragment_len >= 2 && fragment_len.is_multiple_of(2));
            prop_assert!(fragment_len * k >= len && (fragment_len == 2 || (fragment_len - 2) * k < len));
            prop_assert!(fragments.len() == k + m && fragments.iter().all(|f| f.len() == fragment_len));
            prop_assert!(fragments.concat()[len..k * fragment_len].iter().all(|&b| b == 0));
            prop_assert_eq!(&codec.decode(&without(&fragments, &[]), len).unwrap(), &ciphertext);
            // Lose `m` consecutive fragments (wrapping), rebuild them and decode.
            let lost: Vec<usize> = (0..m).map(|i| (first_lost + i) % (k + m)).collect();
            let s = without(&fragments, &lost);
            prop_assert_eq!(&codec.decode(&s, len).unwrap(), &ciphertext);
            for (fragment, &i) in codec.rebuild(&s, &lost).unwrap().iter().zip(&lost) {
                prop_assert_eq!(fragment, &fragments[i]);
            }
        }

        #[test]
        fn arbitrary_slots_never_panic(
            (k, m) in (1usize..=8, 0usize..=4),
            slots in vec(proptest::option::of(vec(any::<u8>(), 0..64)), 0..14),
            ciphertext_len in prop_oneof![0usize..600, Just(usize::MAX), any::<usize>()],
            wanted in vec(prop_oneof![0usize..14, Just(usize::MAX), any::<usize>()], 0..4),
        ) {
            let codec = ErasureCodec::new(k, m).unwrap();
            let s: Vec<Option<&[u8]>> = slots.iter().map(|f| f.as_deref()).collect();
            if let Ok(out) = codec.decode(&s, ciphertext_len) {
                prop_assert_eq!(out.len(), ciphertext_len);
            }
            if let Ok(out) = codec.rebuild(&s, &wanted) {
                prop_assert_eq!(out.len(), wanted.len());
            }
        }

        #[test]
        fn garbage_of_the_right_shape_decodes_to_some_bytes(
            (k, m) in (1usize..=8, 1usize..=4),
            half in 1usize..40,
            (seed, present) in (any::<u32>(), any::<u16>()),
            ciphertext_len in prop_oneof![0usize..700, Just(usize::MAX)],
            wanted in proptest::sample::subsequence((0..12).collect::<Vec<usize>>(), 0..4),
        ) {
            let codec = ErasureCodec::new(k, m).unwrap();
            let garbage: Vec<Vec<u8>> = (0..k + m).map(|i| bytes(2 * half, seed ^ i as u32)).collect();
            let lost: Vec<usize> = (0..k + m).filter(|i| present & (1 << i) == 0).collect();
            let s = without(&garbage, &lost);
            let enough = k + m - lost.len() >= k;
            let fits = codec.fragment_len(ciphertext_len) == 2 * half;
            match codec.decode(&s, ciphertext_len) {
                Ok(out) => prop_assert!(enough && fits && out.len() == ciphertext_len),
                Err(_) => prop_assert!(!enough || !fits),
            }
            match codec.rebuild(&s, &wanted) {
                Ok(out) => prop_assert!(enough && out.iter().all(|f| f.len() == 2 * half)),
                Err(_) => prop_assert!(!enough || wanted.iter().any(|&i| i >= k + m)),
            }
        }
    }
}

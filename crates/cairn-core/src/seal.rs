//! Sealing segments: AES-256-GCM under the object's file key, bound to the object id, the
//! segment's index and the object's segment count.
//!
//! The nonce is the segment index (unique because every object version has a fresh file
//! key); the associated data is `"cairn segment v1" | object id | index u32 | count u32`.
//! So a flipped bit, a segment from another object, a swapped, repeated or dropped
//! segment, or a truncated object (fewer segments than sealed) all fail to open.

use crate::aead::{AeadKey, TAG_LEN};
use crate::id::{ObjectId, SegmentIndex};
use crate::keys::FileKey;

const AAD_PREFIX: &[u8; 16] = b"cairn segment v1";
const AAD_LEN: usize = 16 + ObjectId::LEN + 4 + 4;

/// Bytes a sealed segment is longer than its plaintext.
pub const SEAL_OVERHEAD: usize = TAG_LEN;

/// Why a segment could not be sealed or opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The segment does not authenticate: it was altered, or it is not segment `index` of
    /// `count` of this object.
    #[error(
        "segment {index} of {count} failed authentication: it was altered, swapped, \
         truncated or belongs to another file"
    )]
    Tampered {
        /// The index it was expected to be at.
        index: SegmentIndex,
        /// The segment count it was expected to have.
        count: u32,
    },
    /// The index is not below the count.
    #[error("segment index {index} is out of range for an object of {count} segments")]
    OutOfRange {
        /// The requested index.
        index: SegmentIndex,
        /// The object's segment count.
        count: u32,
    },
}

/// Seals and opens the segments of one object.
pub struct SegmentCipher {
    key: AeadKey,
    object: ObjectId,
    count: u32,
}

impl SegmentCipher {
    /// A cipher for an object of `count` segments sealed under `key`.
    pub fn new(key: &FileKey, object: ObjectId, count: u32) -> Self {
        Self {
            key: AeadKey::new(key.as_bytes()),
            object,
            count,
        }
    }

    /// Encrypts segment `index` in place and appends its tag.
    pub fn seal(&self, index: SegmentIndex, buf: &mut Vec<u8>) -> Result<(), SealError> {
        let (nonce, aad) = self.bind(index)?;
        self.key.seal(nonce, &aad, buf);
        Ok(())
    }

    /// Checks segment `index` and decrypts it in place. On error `buf` holds no plaintext.
    pub fn open(&self, index: SegmentIndex, buf: &mut Vec<u8>) -> Result<(), SealError> {
        let (nonce, aad) = self.bind(index)?;
        self.key.open(nonce, &aad, buf).map_err(|_| {
            buf.clear();
            SealError::Tampered {
                index,
                count: self.count,
            }
        })
    }

    fn bind(&self, index: SegmentIndex) -> Result<([u8; 12], [u8; AAD_LEN]), SealError> {
        if index.0 >= self.count {
            return Err(SealError::OutOfRange {
                index,
                count: self.count,
            });
        }
        let mut nonce = [0u8; 12];
        nonce[8..].copy_from_slice(&index.0.to_be_bytes());
        let mut aad = [0u8; AAD_LEN];
        aad[..16].copy_from_slice(AAD_PREFIX);
        aad[16..32].copy_from_slice(self.object.as_bytes());
        aad[32..36].copy_from_slice(&index.0.to_be_bytes());
        aad[36..].copy_from_slice(&self.count.to_be_bytes());
        Ok((nonce, aad))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use data_encoding::HEXLOWER;
    use proptest::prelude::*;

    const OBJECT: ObjectId = ObjectId::from_bytes([5; 16]);

    fn sealed_object(key: &FileKey, object: ObjectId, segments: &[&[u8]]) -> Vec<Vec<u8>> {
        let count = segments.len() as u32;
        let cipher = SegmentCipher::new(key, object, count);
        segments
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut buf = s.to_vec();
                cipher.seal(SegmentIndex(i as u32), &mut buf).unwrap();
                buf
            })
            .collect()
    }

    fn open_all(
        key: &FileKey,
        object: ObjectId,
        sealed: &[Vec<u8>],
        count: u32,
    ) -> Result<Vec<Vec<u8>>, SealError> {
        let cipher = SegmentCipher::new(key, object, count);
        sealed
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut buf = s.clone();
                cipher.open(SegmentIndex(i as u32), &mut buf)?;
                Ok(buf)
            })
            .collect()
    }

    #[test]
    fn known_answer_vector() {
        let sealed = sealed_object(&FileKey::from_bytes([7; 32]), OBJECT, &[b"cairn", b""]);
        // Cross-checked against Python `cryptography`'s AESGCM with the documented nonce and AAD.
        assert_eq!(
            HEXLOWER.encode(&sealed[0]),
            "02b9cdc0955249a070f057750adadffe9099c91e8c"
        );
        assert_eq!(
            HEXLOWER.encode(&sealed[1]),
            "44fb0af68c7a89b45109383683ad9d0d"
        );
    }

    #[test]
    fn every_tamper_case_fails() {
        let key = FileKey::from_bytes([7; 32]);
        let segments: [&[u8]; 3] = [b"first segment", b"second segment", b"third segment"];
        let sealed = sealed_object(&key, OBJECT, &segments);
        assert_eq!(
            open_all(&key, OBJECT, &sealed, 3).unwrap(),
            segments.map(<[u8]>::to_vec)
        );

        // Any single bit flip, anywhere in any segment.
        for s in 0..sealed.len() {
            for byte in 0..sealed[s].len() {
                let mut bad = sealed.clone();
                bad[s][byte] ^= 0x10;
                assert!(open_all(&key, OBJECT, &bad, 3).is_err(), "flip {s}/{byte}");
            }
        }
        // Swapped.
        let mut swapped = sealed.clone();
        swapped.swap(0, 1);
        assert!(open_all(&key, OBJECT, &swapped, 3).is_err());
        // Repeated.
        let repeated = vec![sealed[0].clone(), sealed[0].clone(), sealed[2].clone()];
        assert!(open_all(&key, OBJECT, &repeated, 3).is_err());
        // Dropped from the middle (two segments left, claimed count 2).
        let dropped = vec![sealed[0].clone(), sealed[2].clone()];
        assert!(open_all(&key, OBJECT, &dropped, 2).is_err());
        // Truncated at the end: the first two open only under the count they were sealed with.
        let truncated = sealed[..2].to_vec();
        assert!(open_all(&key, OBJECT, &truncated, 2).is_err());
        // Truncated bytes.
        let mut short = sealed.clone();
        short[2].truncate(10);
        assert!(open_all(&key, OBJECT, &short, 3).is_err());
        // Another object, another key.
        assert!(open_all(&key, ObjectId::from_bytes([6; 16]), &sealed, 3).is_err());
        assert!(open_all(&FileKey::from_bytes([8; 32]), OBJECT, &sealed, 3).is_err());
    }

    #[test]
    fn failed_open_leaves_no_plaintext_and_ranges_are_checked() {
        let key = FileKey::from_bytes([1; 32]);
        let cipher = SegmentCipher::new(&key, OBJECT, 1);
        let mut buf = b"secret".to_vec();
        cipher.seal(SegmentIndex(0), &mut buf).unwrap();
        buf[0] ^= 1;
        let err = cipher.open(SegmentIndex(0), &mut buf).unwrap_err();
        assert!(buf.is_empty());
        assert!(err.to_string().contains("segment 0 of 1"));
        assert_eq!(
            cipher.seal(SegmentIndex(1), &mut Vec::new()),
            Err(SealError::OutOfRange {
                index: SegmentIndex(1),
                count: 1
            })
        );
    }

    proptest! {
        #[test]
        fn round_trip(data in proptest::collection::vec(any::<u8>(), 0..4096), key in any::<[u8; 32]>(), index in 0u32..1000) {
            let cipher = SegmentCipher::new(&FileKey::from_bytes(key), OBJECT, 1000);
            let mut buf = data.clone();
            cipher.seal(SegmentIndex(index), &mut buf).unwrap();
            prop_assert_eq!(buf.len(), data.len() + SEAL_OVERHEAD);
            cipher.open(SegmentIndex(index), &mut buf).unwrap();
            prop_assert_eq!(buf, data);
        }

        #[test]
        fn garbage_never_opens(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let cipher = SegmentCipher::new(&FileKey::from_bytes([3; 32]), OBJECT, 4);
            let mut buf = data;
            prop_assert!(cipher.open(SegmentIndex(0), &mut buf).is_err());
        }
    }
}

//! AES-256-GCM from `aws-lc-rs`, the one AEAD behind every sealed thing in Cairn.
//!
//! Chosen by measurement on the project's 2-core machines (4 MiB messages, see
//! `docs/performance.md`): aws-lc-rs ≈ 19.8 GB/s, ring ≈ 9.4 GB/s, RustCrypto `aes-gcm`
//! ≈ 1.5 GB/s, XChaCha20-Poly1305 ≈ 1.4 GB/s. AES-GCM is also what browsers offer.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

/// Length of the authentication tag appended to every sealed message.
pub const TAG_LEN: usize = 16;
/// Length of a nonce.
pub const NONCE_LEN: usize = 12;

/// Opening failed: wrong key, or the bytes, nonce or associated data were changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unauthentic;

/// A ready-to-use AES-256-GCM key.
pub(crate) struct AeadKey(LessSafeKey);

impl AeadKey {
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        // `UnboundKey::new` fails only for a key of the wrong length, which the type rules out.
        match UnboundKey::new(&AES_256_GCM, key) {
            Ok(k) => Self(LessSafeKey::new(k)),
            Err(_) => unreachable!("AES-256 keys are 32 bytes"),
        }
    }

    /// Encrypts `buf` in place and appends the tag. The caller guarantees that `nonce` is
    /// never reused with this key.
    pub(crate) fn seal(&self, nonce: [u8; NONCE_LEN], aad: &[u8], buf: &mut Vec<u8>) {
        let nonce = Nonce::assume_unique_for_key(nonce);
        // Sealing fails only when the message exceeds GCM's 64 GiB limit; segments and
        // blobs are far smaller (their sizes are validated before they get here).
        if self
            .0
            .seal_in_place_append_tag(nonce, Aad::from(aad), buf)
            .is_err()
        {
            unreachable!("message within AES-GCM's size limit");
        }
    }

    /// Checks the tag and decrypts `buf` in place, removing the tag.
    pub(crate) fn open(
        &self,
        nonce: [u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut Vec<u8>,
    ) -> Result<(), Unauthentic> {
        if buf.len() < TAG_LEN {
            return Err(Unauthentic);
        }
        let nonce = Nonce::assume_unique_for_key(nonce);
        let plain_len = self
            .0
            .open_in_place(nonce, Aad::from(aad), buf)
            .map_err(|_| Unauthentic)?
            .len();
        buf.truncate(plain_len);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use data_encoding::HEXLOWER;

    #[test]
    fn known_answer_nist_gcm_vector() {
        // NIST GCM test case 13 (AES-256, zero key, zero IV, empty message): tag only.
        let key = AeadKey::new(&[0; 32]);
        let mut buf = Vec::new();
        key.seal([0; 12], b"", &mut buf);
        assert_eq!(HEXLOWER.encode(&buf), "530f8afbc74536b9a963b4f1c4cb738b");
        // Test case 14: one zero block.
        let mut buf = vec![0u8; 16];
        key.seal([0; 12], b"", &mut buf);
        assert_eq!(
            HEXLOWER.encode(&buf),
            "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919"
        );
        key.open([0; 12], b"", &mut buf).unwrap();
        assert_eq!(buf, vec![0u8; 16]);
    }

    #[test]
    fn any_change_fails_to_open() {
        let key = AeadKey::new(&[1; 32]);
        let mut sealed = b"hello".to_vec();
        key.seal([2; 12], b"ad", &mut sealed);
        let mut flipped = sealed.clone();
        flipped[0] ^= 1;
        assert!(key.open([2; 12], b"ad", &mut flipped).is_err());
        assert!(key.open([3; 12], b"ad", &mut sealed.clone()).is_err());
        assert!(key.open([2; 12], b"ae", &mut sealed.clone()).is_err());
        assert!(
            AeadKey::new(&[9; 32])
                .open([2; 12], b"ad", &mut sealed.clone())
                .is_err()
        );
        assert!(key.open([2; 12], b"ad", &mut sealed[..4].to_vec()).is_err());
        key.open([2; 12], b"ad", &mut sealed).unwrap();
        assert_eq!(sealed, b"hello");
    }
}

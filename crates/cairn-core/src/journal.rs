//! Records the client keeps in its home between runs (an interrupted upload's journal),
//! sealed one by one: AES-256-GCM under a key derived from the [`JournalKey`], a fresh
//! random nonce per record, bound by associated data to what the record is for, so a record
//! cannot be moved from one journal to another or read without the master secret.

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::aead::{AeadKey, NONCE_LEN, TAG_LEN};
use crate::keys::JournalKey;

/// Derivation context of the sealing key, under the journal key.
const SEAL_CONTEXT: &str = "cairn 2026-12-06 home journal record seal v1";

/// Bytes a sealed record adds to its plaintext.
pub const RECORD_OVERHEAD: usize = NONCE_LEN + TAG_LEN;

/// A record could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    /// Wrong key, another journal's record, or changed bytes.
    #[error("the journal record is not authentic (another account's, or damaged)")]
    Unauthentic,
}

fn seal_key(key: &JournalKey) -> AeadKey {
    let derived = Zeroizing::new(blake3::derive_key(SEAL_CONTEXT, key.as_bytes()));
    AeadKey::new(&derived)
}

/// `plain` sealed under `key` for the journal named by `context`: nonce, then ciphertext
/// and tag.
pub fn seal(key: &JournalKey, context: &[u8], plain: &[u8], rng: &mut impl CryptoRng) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let mut body = Vec::with_capacity(plain.len() + TAG_LEN);
    body.extend_from_slice(plain);
    seal_key(key).seal(nonce, context, &mut body);
    let mut sealed = Vec::with_capacity(NONCE_LEN + body.len());
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&body);
    sealed
}

/// Opens a record [`seal`] made under `key` for `context`.
pub fn open(
    key: &JournalKey,
    context: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, JournalError> {
    let Some((nonce, body)) = sealed.split_first_chunk::<NONCE_LEN>() else {
        return Err(JournalError::Unauthentic);
    };
    let mut buf = Zeroizing::new(body.to_vec());
    seal_key(key)
        .open(*nonce, context, &mut buf)
        .map_err(|_| JournalError::Unauthentic)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;

    fn key(byte: u8) -> JournalKey {
        JournalKey::from_bytes([byte; 32])
    }

    #[test]
    fn a_record_opens_only_with_its_key_and_context() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let sealed = seal(&key(1), b"upload a", b"segment 3", &mut rng);
        assert_eq!(sealed.len(), b"segment 3".len() + RECORD_OVERHEAD);
        assert_eq!(
            open(&key(1), b"upload a", &sealed).unwrap().as_slice(),
            b"segment 3"
        );
        assert_eq!(
            open(&key(2), b"upload a", &sealed),
            Err(JournalError::Unauthentic)
        );
        assert_eq!(
            open(&key(1), b"upload b", &sealed),
            Err(JournalError::Unauthentic)
        );
        let mut changed = sealed.clone();
        changed[NONCE_LEN] ^= 1;
        assert_eq!(
            open(&key(1), b"upload a", &changed),
            Err(JournalError::Unauthentic)
        );
        assert_eq!(
            open(&key(1), b"upload a", &sealed[..5]),
            Err(JournalError::Unauthentic)
        );
        // A fresh nonce each time: the same record seals differently.
        assert_ne!(seal(&key(1), b"upload a", b"segment 3", &mut rng), sealed);
    }
}

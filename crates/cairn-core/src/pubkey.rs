//! Ed25519 public keys decompressed once per process: turning 32 bytes into a curve point
//! costs a field square root (as much as a third of a signature check), and a process sees
//! the same few keys — its pool, its peers, its accounts — over and over, in every id it
//! parses and every signature it checks. Bounded: past [`CAPACITY`] keys the memory starts
//! afresh.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use ed25519_dalek::{SignatureError, VerifyingKey};

/// Most keys remembered at once (about 200 bytes each).
pub const CAPACITY: usize = 16_384;

fn keys() -> &'static Mutex<HashMap<[u8; 32], VerifyingKey>> {
    static KEYS: OnceLock<Mutex<HashMap<[u8; 32], VerifyingKey>>> = OnceLock::new();
    KEYS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The public key with these bytes, or why they are not one.
pub fn decompress(bytes: &[u8; 32]) -> Result<VerifyingKey, SignatureError> {
    let remembered = |keys: &Mutex<HashMap<[u8; 32], VerifyingKey>>| {
        keys.lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(bytes)
            .copied()
    };
    if let Some(key) = remembered(keys()) {
        return Ok(key);
    }
    let key = VerifyingKey::from_bytes(bytes)?;
    let mut keys = keys().lock().unwrap_or_else(|p| p.into_inner());
    if keys.len() >= CAPACITY {
        keys.clear();
    }
    keys.insert(*bytes, key);
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    #[test]
    fn remembered_keys_verify_exactly_as_fresh_ones() {
        let signing = SigningKey::from_bytes(&[9; 32]);
        let bytes = signing.verifying_key().to_bytes();
        let signature = signing.sign(b"message");
        for _ in 0..2 {
            let key = decompress(&bytes).unwrap();
            assert_eq!(key, signing.verifying_key());
            assert!(key.verify_strict(b"message", &signature).is_ok());
            assert!(key.verify_strict(b"other", &signature).is_err());
        }
    }

    #[test]
    fn bytes_off_the_curve_are_refused_every_time() {
        // Not the y-coordinate of any curve point (found by search in `id.rs`'s tests).
        let bad = (0u8..=255)
            .map(|b| [b; 32])
            .find(|b| VerifyingKey::from_bytes(b).is_err())
            .unwrap();
        assert!(decompress(&bad).is_err());
        assert!(decompress(&bad).is_err());
    }

    #[test]
    fn memory_is_bounded() {
        for n in 0..(CAPACITY as u32 + 10) {
            let mut seed = [0u8; 32];
            seed[..4].copy_from_slice(&n.to_le_bytes());
            let key = SigningKey::from_bytes(&seed).verifying_key();
            assert_eq!(decompress(&key.to_bytes()).unwrap(), key);
        }
        assert!(keys().lock().unwrap().len() <= CAPACITY);
    }
}

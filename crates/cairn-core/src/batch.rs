//! Checking many Ed25519 signatures at once: one multiscalar multiplication for the whole
//! set costs about half of checking each alone (43 → 21 µs a signature for six on the
//! machine in `docs/performance.md`). A set that fails is checked one by one, so each
//! signature still gets its own answer.
//!
//! Acceptance matches the strict one-by-one check ([`crate::PeerId::verify`]) for every
//! signature someone other than the key's holder could make. The only difference is in
//! signatures the holder makes with small-order components on purpose, which a set can
//! accept with probability 1/8: they vouch for the same message the holder could have
//! signed plainly, so nothing is gained by them. Weak (small-order) keys, with which
//! anyone could sign, are refused as in the strict check.

use ed25519_dalek::{Signature, VerifyingKey};

use crate::id::BadSignature;

/// One signature to check: the signer's public key bytes, the message and the signature.
#[derive(Debug, Clone, Copy)]
pub struct SignedBy<'a> {
    /// The signer's Ed25519 public key.
    pub key: &'a [u8; 32],
    /// What was signed.
    pub message: &'a [u8],
    /// The signature.
    pub signature: &'a [u8; 64],
}

/// Checks every signature; the answers are in the order asked. Sets of fewer than two are
/// checked alone.
pub fn verify_many(items: &[SignedBy<'_>]) -> Vec<Result<(), BadSignature>> {
    if items.len() >= 2 && verify_set(items) {
        return vec![Ok(()); items.len()];
    }
    items.iter().map(verify_one).collect()
}

/// Whether every signature in `items` is good, checked as one set.
fn verify_set(items: &[SignedBy<'_>]) -> bool {
    let mut keys: Vec<VerifyingKey> = Vec::with_capacity(items.len());
    for item in items {
        match crate::pubkey::decompress(item.key) {
            Ok(key) if !key.is_weak() => keys.push(key),
            _ => return false,
        }
    }
    let messages: Vec<&[u8]> = items.iter().map(|item| item.message).collect();
    let signatures: Vec<Signature> = items
        .iter()
        .map(|item| Signature::from_bytes(item.signature))
        .collect();
    ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
}

/// The strict check of one signature.
fn verify_one(item: &SignedBy<'_>) -> Result<(), BadSignature> {
    let key = crate::pubkey::decompress(item.key).map_err(|_| BadSignature)?;
    key.verify_strict(item.message, &Signature::from_bytes(item.signature))
        .map_err(|_| BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};
    use proptest::prelude::*;

    fn signed(keys: &[SigningKey], n: usize) -> Vec<([u8; 32], Vec<u8>, [u8; 64])> {
        (0..n)
            .map(|i| {
                let key = &keys[i % keys.len()];
                let message = format!("message {i}").into_bytes();
                let signature = key.sign(&message).to_bytes();
                (key.verifying_key().to_bytes(), message, signature)
            })
            .collect()
    }

    fn check(set: &[([u8; 32], Vec<u8>, [u8; 64])]) -> Vec<Result<(), BadSignature>> {
        let items: Vec<SignedBy<'_>> = set
            .iter()
            .map(|(key, message, signature)| SignedBy {
                key,
                message,
                signature,
            })
            .collect();
        verify_many(&items)
    }

    fn keys(n: u8) -> Vec<SigningKey> {
        (1..=n).map(|i| SigningKey::from_bytes(&[i; 32])).collect()
    }

    #[test]
    fn a_good_set_passes_whole() {
        for n in [0, 1, 2, 6, 64] {
            let set = signed(&keys(3), n);
            assert_eq!(check(&set), vec![Ok(()); n]);
        }
    }

    #[test]
    fn each_bad_signature_is_named_and_only_it() {
        let mut set = signed(&keys(6), 12);
        set[3].2[10] ^= 1; // a damaged signature
        set[7].1.push(b'!'); // a changed message
        set[9].0 = keys(9)[8].verifying_key().to_bytes(); // another signer's key
        let answers = check(&set);
        for (i, answer) in answers.iter().enumerate() {
            let bad = [3, 7, 9].contains(&i);
            assert_eq!(answer.is_err(), bad, "signature {i}");
        }
    }

    #[test]
    fn a_weak_key_or_a_key_that_is_no_point_fails_alone() {
        let mut set = signed(&keys(2), 4);
        set[1].0 = [0; 32]; // not a point on the curve... or a small-order one
        set[2].0 = {
            // The identity point: a weak key anyone could "sign" with.
            let mut identity = [0; 32];
            identity[0] = 1;
            identity
        };
        let answers = check(&set);
        assert!(answers[0].is_ok() && answers[3].is_ok());
        assert!(answers[1].is_err() && answers[2].is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// A set answers exactly as checking each signature alone does.
        #[test]
        fn a_set_answers_as_each_alone(
            n in 0usize..10,
            flips in proptest::collection::vec((0usize..10, 0usize..64), 0..3),
        ) {
            let mut set = signed(&keys(3), n);
            for (i, byte) in flips {
                if i < n {
                    set[i].2[byte] ^= 0x40;
                }
            }
            let alone: Vec<_> = set
                .iter()
                .map(|(key, message, signature)| {
                    verify_one(&SignedBy { key, message, signature })
                })
                .collect();
            prop_assert_eq!(check(&set), alone);
        }
    }
}

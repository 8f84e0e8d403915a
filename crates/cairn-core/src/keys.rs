//! The key hierarchy: one master secret, and every other user key derived from it.
//!
//! ```text
//! MasterSecret (32 random bytes, shown once as a recovery phrase)
//!  ├─ AccountKey  (Ed25519; its public half is the AccountId the pool knows)
//!  ├─ MetadataKey (seals object metadata blobs)
//!  ├─ PathKey     (encrypts path components deterministically)
//!  └─ LedgerKey   (seals the account's ledger on the peers; also names it by a locator)
//! FileKey (fresh and random per object; travels inside the sealed metadata)
//! ```
//!
//! Derivation is BLAKE3 `derive_key` with a distinct, versioned context string per key, so
//! no two keys are related and a future scheme can be introduced beside this one.

use std::fmt;

use ed25519_dalek::{Signer, SigningKey};
use rand_core::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::id::AccountId;

/// Derivation context of the account signing key. Changing it changes every account id.
pub const ACCOUNT_KEY_CONTEXT: &str = "cairn 2026-11-25 account signing key v1";
/// Derivation context of the metadata key.
pub const METADATA_KEY_CONTEXT: &str = "cairn 2026-11-25 metadata key v1";
/// Derivation context of the path key.
pub const PATH_KEY_CONTEXT: &str = "cairn 2026-11-25 path key v1";
/// Derivation context of the ledger key.
pub const LEDGER_KEY_CONTEXT: &str = "cairn 2026-12-04 ledger key v1";
/// Derivation context of the link key.
pub const LINK_KEY_CONTEXT: &str = "cairn 2026-12-05 share link key v1";
/// Derivation context of the journal key.
pub const JOURNAL_KEY_CONTEXT: &str = "cairn 2026-12-06 home journal key v1";

/// Implements a zeroizing 32-byte secret that never prints its bytes.
macro_rules! secret {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
        pub struct $name([u8; 32]);

        impl $name {
            /// Wraps known bytes (decoding, tests).
            pub const fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// The secret bytes. Handle with care: never log or send them.
            pub const fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<secret>)"))
            }
        }
    };
}

secret!(
    /// The root of all of a user's keys. Whoever holds it holds the account and every file.
    MasterSecret
);

secret!(
    /// Seals and opens object metadata blobs.
    MetadataKey
);

secret!(
    /// Encrypts path components.
    PathKey
);

secret!(
    /// Seals the account's ledger: the copy of its records the peers keep (`ledger.rs`).
    LedgerKey
);

secret!(
    /// The secret a share link carries after `#`: whoever has the link (and its password,
    /// if it has one) can open what was shared, and the pool never sees it (`share.rs`).
    ShareSecret
);

secret!(
    /// The account's key for its share links: each link's secret comes from it and the
    /// share's id, so the owner can copy a link again, and it seals each link's label (what
    /// it shares, whether it has a password) for the owner's list (`share.rs`).
    LinkKey
);

secret!(
    /// Seals what the client keeps in its home between runs, such as an interrupted
    /// upload's journal (`journal.rs`): it holds file keys, so the disk never sees them bare.
    JournalKey
);

impl ShareSecret {
    /// A fresh random link secret.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }
}

secret!(
    /// Seals the segments of one object. Fresh and random for every object version, so
    /// segment nonces never repeat under one key.
    FileKey
);

impl MasterSecret {
    /// A fresh master secret from a cryptographic RNG.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// The account signing key.
    pub fn account_key(&self) -> AccountKey {
        let mut seed = blake3::derive_key(ACCOUNT_KEY_CONTEXT, &self.0);
        let key = AccountKey(SigningKey::from_bytes(&seed));
        seed.zeroize();
        key
    }

    /// The key that seals object metadata.
    pub fn metadata_key(&self) -> MetadataKey {
        MetadataKey(blake3::derive_key(METADATA_KEY_CONTEXT, &self.0))
    }

    /// The key that encrypts path components.
    pub fn path_key(&self) -> PathKey {
        PathKey(blake3::derive_key(PATH_KEY_CONTEXT, &self.0))
    }

    /// The key that seals the account's ledger.
    pub fn ledger_key(&self) -> LedgerKey {
        LedgerKey(blake3::derive_key(LEDGER_KEY_CONTEXT, &self.0))
    }

    /// The key the account's share links come from.
    pub fn link_key(&self) -> LinkKey {
        LinkKey(blake3::derive_key(LINK_KEY_CONTEXT, &self.0))
    }

    /// The key that seals the client's journals in its home.
    pub fn journal_key(&self) -> JournalKey {
        JournalKey(blake3::derive_key(JOURNAL_KEY_CONTEXT, &self.0))
    }
}

impl FileKey {
    /// A fresh file key from a cryptographic RNG.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }
}

/// The Ed25519 key that identifies a user to the pool. Its secret half never leaves the client.
#[derive(Clone)]
pub struct AccountKey(SigningKey);

impl AccountKey {
    /// The public identity the pool knows this account by.
    pub fn account_id(&self) -> AccountId {
        AccountId::from_verifying_key(&self.0.verifying_key())
    }

    /// The Ed25519 signing key, for signing wire requests (`cairn-proto`'s `RequestAuth`).
    pub fn signing_key(&self) -> &SigningKey {
        &self.0
    }

    /// Signs a message (a request, a challenge) as this account.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

impl fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountKey({})", self.account_id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use data_encoding::HEXLOWER;

    fn fixed() -> MasterSecret {
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = i as u8;
        }
        MasterSecret::from_bytes(bytes)
    }

    #[test]
    fn derived_keys_are_pinned() {
        // Known-answer vectors: if these change, every existing account and file is lost.
        // Cross-checked against independent implementations (Python `blake3` and
        // `cryptography`'s Ed25519).
        let master = fixed();
        assert_eq!(
            master.account_key().account_id().to_string(),
            "8fa97f7b7fe4a3041b4358cfe73bcf32226ec3348e0b4158947d3a8f12bd7015"
        );
        assert_eq!(
            HEXLOWER.encode(master.metadata_key().as_bytes()),
            "22a043686f7b89d3e44d5101d3c68c1e1c28236a0dac3c66d22a5db839eb0bfe"
        );
        assert_eq!(
            HEXLOWER.encode(master.path_key().as_bytes()),
            "c58deb13e9472df6c701f322085745bc885c4b51f5c7770b6c82772702041878"
        );
    }

    #[test]
    fn derived_keys_are_distinct() {
        let master = fixed();
        let account_seed = blake3::derive_key(ACCOUNT_KEY_CONTEXT, master.as_bytes());
        let keys = [
            account_seed,
            *master.metadata_key().as_bytes(),
            *master.path_key().as_bytes(),
            *master.ledger_key().as_bytes(),
            *master.link_key().as_bytes(),
            *master.as_bytes(),
        ];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn signatures_verify_under_the_account_id() {
        let key = fixed().account_key();
        let signature = key.sign(b"challenge");
        assert!(key.account_id().verify(b"challenge", &signature).is_ok());
        assert!(key.account_id().verify(b"challengE", &signature).is_err());
    }

    #[test]
    fn secrets_do_not_print() {
        let text = format!("{:?} {:?}", fixed(), FileKey::from_bytes([9; 32]));
        assert!(!text.contains("09"), "{text}");
        assert!(text.contains("<secret>"));
    }
}

//! Passphrase wrapping of the master secret: Argon2id derives a key from the passphrase,
//! AES-256-GCM seals the secret with it, and the Argon2 parameters travel beside the
//! wrapped secret so they can be raised later without breaking old homes.
//!
//! Format (version 1, 97 bytes):
//! `"CWS" | version u8 | m_cost u32 | t_cost u32 | p_cost u32 | salt[16] | nonce[12] | sealed secret[32+16]`.
//! Everything before the sealed secret is also its associated data, so the header cannot
//! be altered without the tag failing.

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::aead::{AeadKey, NONCE_LEN, TAG_LEN};
use crate::encoding::{DecodeError, Reader, Writer};
use crate::keys::MasterSecret;

const MAGIC: &[u8; 3] = b"CWS";
const VERSION: u8 = 1;
const SALT_LEN: usize = 16;
const HEADER_LEN: usize = 3 + 1 + 12 + SALT_LEN + NONCE_LEN;
/// Length of an encoded wrapped secret.
pub const WRAPPED_LEN: usize = HEADER_LEN + 32 + TAG_LEN;

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_cost: u32,
    /// Passes over memory.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl KdfParams {
    /// The default for new homes: 64 MiB, 3 passes, 1 lane (RFC 9106's second
    /// recommendation with one lane), about a quarter second on a laptop.
    pub const DEFAULT: Self = Self {
        m_cost: 64 * 1024,
        t_cost: 3,
        p_cost: 1,
    };

    /// Deliberately weak parameters for tests and throwaway local playgrounds.
    pub const INSECURE_FAST: Self = Self {
        m_cost: 64,
        t_cost: 1,
        p_cost: 1,
    };

    /// Upper bounds accepted when reading a wrapped secret, so a hostile file cannot make
    /// the client allocate without limit: 4 GiB, 64 passes, 16 lanes.
    const MAX: Self = Self {
        m_cost: 4 * 1024 * 1024,
        t_cost: 64,
        p_cost: 16,
    };

    pub(crate) fn argon2(&self) -> Result<argon2::Argon2<'static>, WrapError> {
        if self.m_cost > Self::MAX.m_cost
            || self.t_cost > Self::MAX.t_cost
            || self.p_cost > Self::MAX.p_cost
        {
            return Err(WrapError::Params(format!(
                "m_cost={} KiB, t_cost={}, p_cost={} exceed the limits",
                self.m_cost, self.t_cost, self.p_cost
            )));
        }
        let params = argon2::Params::new(self.m_cost, self.t_cost, self.p_cost, Some(32))
            .map_err(|e| WrapError::Params(e.to_string()))?;
        Ok(argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            params,
        ))
    }
}

/// Why a secret could not be wrapped or unwrapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WrapError {
    /// The passphrase does not open the wrapped secret.
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// The bytes are not a wrapped secret at all.
    #[error("this is not a Cairn wrapped secret (bad magic bytes)")]
    NotWrappedSecret,
    /// A newer Cairn wrote this file.
    #[error(
        "the wrapped secret has format version {0}, which this Cairn does not know; upgrade Cairn"
    )]
    UnknownVersion(u8),
    /// The file is cut short or has extra bytes.
    #[error("the wrapped secret is damaged: {0}")]
    Malformed(#[from] DecodeError),
    /// The Argon2 parameters are out of range.
    #[error("invalid Argon2 parameters: {0}")]
    Params(String),
}

/// The master secret sealed under a passphrase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedSecret {
    params: KdfParams,
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
    sealed: Vec<u8>,
}

impl WrappedSecret {
    /// Wraps `secret` under `passphrase` with a fresh salt and nonce.
    pub fn wrap(
        secret: &MasterSecret,
        passphrase: &[u8],
        params: KdfParams,
        rng: &mut impl CryptoRng,
    ) -> Result<Self, WrapError> {
        let mut salt = [0u8; SALT_LEN];
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut salt);
        rng.fill_bytes(&mut nonce);
        Self::wrap_with(secret, passphrase, params, salt, nonce)
    }

    /// Wraps with a given salt and nonce. Reusing them is a mistake; this exists for
    /// known-answer tests.
    pub fn wrap_with(
        secret: &MasterSecret,
        passphrase: &[u8],
        params: KdfParams,
        salt: [u8; SALT_LEN],
        nonce: [u8; NONCE_LEN],
    ) -> Result<Self, WrapError> {
        let mut wrapped = Self {
            params,
            salt,
            nonce,
            sealed: Vec::with_capacity(32 + TAG_LEN),
        };
        let key = wrapped.derive(passphrase)?;
        wrapped.sealed.extend_from_slice(secret.as_bytes());
        key.seal(nonce, &wrapped.header(), &mut wrapped.sealed);
        Ok(wrapped)
    }

    /// Recovers the master secret. A wrong passphrase is [`WrapError::WrongPassphrase`].
    pub fn unwrap_secret(&self, passphrase: &[u8]) -> Result<MasterSecret, WrapError> {
        let key = self.derive(passphrase)?;
        let mut buf = Zeroizing::new(self.sealed.clone());
        key.open(self.nonce, &self.header(), &mut buf)
            .map_err(|_| WrapError::WrongPassphrase)?;
        let bytes: [u8; 32] = buf
            .as_slice()
            .try_into()
            .map_err(|_| WrapError::Malformed(DecodeError::Truncated))?;
        Ok(MasterSecret::from_bytes(bytes))
    }

    /// The Argon2 parameters this secret is wrapped with.
    pub fn params(&self) -> KdfParams {
        self.params
    }

    /// The encoded form, to store in the client home.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(WRAPPED_LEN);
        w.bytes(&self.header()).bytes(&self.sealed);
        w.finish()
    }

    /// Parses the encoded form (untrusted: it comes from disk).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WrapError> {
        let mut r = Reader::new(bytes);
        if r.take(3)? != MAGIC {
            return Err(WrapError::NotWrappedSecret);
        }
        let version = r.u8()?;
        if version != VERSION {
            return Err(WrapError::UnknownVersion(version));
        }
        let params = KdfParams {
            m_cost: r.u32()?,
            t_cost: r.u32()?,
            p_cost: r.u32()?,
        };
        let salt = r.array()?;
        let nonce = r.array()?;
        let sealed = r.take(32 + TAG_LEN)?.to_vec();
        r.finish()?;
        params.argon2()?;
        Ok(Self {
            params,
            salt,
            nonce,
            sealed,
        })
    }

    fn header(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(HEADER_LEN);
        w.bytes(MAGIC)
            .u8(VERSION)
            .u32(self.params.m_cost)
            .u32(self.params.t_cost)
            .u32(self.params.p_cost)
            .bytes(&self.salt)
            .bytes(&self.nonce);
        w.finish()
    }

    fn derive(&self, passphrase: &[u8]) -> Result<AeadKey, WrapError> {
        let mut kek = Zeroizing::new([0u8; 32]);
        self.params
            .argon2()?
            .hash_password_into(passphrase, &self.salt, kek.as_mut())
            .map_err(|e| WrapError::Params(e.to_string()))?;
        Ok(AeadKey::new(&kek))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use data_encoding::HEXLOWER;
    use proptest::prelude::*;

    fn secret() -> MasterSecret {
        MasterSecret::from_bytes([0x42; 32])
    }

    #[test]
    fn round_trip_and_wrong_passphrase() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let wrapped = WrappedSecret::wrap(
            &secret(),
            b"correct horse",
            KdfParams::INSECURE_FAST,
            &mut rng,
        )
        .unwrap();
        let bytes = wrapped.to_bytes();
        assert_eq!(bytes.len(), WRAPPED_LEN);
        let parsed = WrappedSecret::from_bytes(&bytes).unwrap();
        assert_eq!(parsed.unwrap_secret(b"correct horse").unwrap(), secret());
        assert_eq!(
            parsed.unwrap_secret(b"correct horsE").unwrap_err(),
            WrapError::WrongPassphrase
        );
        assert_eq!(parsed.params(), KdfParams::INSECURE_FAST);
    }

    #[test]
    fn known_answer_vector() {
        let wrapped = WrappedSecret::wrap_with(
            &secret(),
            b"passphrase",
            KdfParams::INSECURE_FAST,
            [1; 16],
            [2; 12],
        )
        .unwrap();
        assert_eq!(
            HEXLOWER.encode(&wrapped.to_bytes()),
            "4357530100000040000000010000000101010101010101010101010101010101020202020202020202020202\
             eb6a7d30b91ef3358fbf304032a737f1681a19d726d0560734bb809ba15b755297ef2abd30c61b9975f8b542da79a62c"
        );
    }

    #[test]
    fn tampered_header_is_refused() {
        let wrapped =
            WrappedSecret::wrap_with(&secret(), b"pw", KdfParams::INSECURE_FAST, [1; 16], [2; 12])
                .unwrap();
        let bytes = wrapped.to_bytes();
        // Raising t_cost changes the derived key and the associated data: it no longer opens.
        let mut raised = bytes.clone();
        raised[11] = 2;
        let parsed = WrappedSecret::from_bytes(&raised).unwrap();
        assert_eq!(parsed.unwrap_secret(b"pw"), Err(WrapError::WrongPassphrase));
        let mut magic = bytes.clone();
        magic[0] = b'X';
        assert_eq!(
            WrappedSecret::from_bytes(&magic),
            Err(WrapError::NotWrappedSecret)
        );
        let mut version = bytes.clone();
        version[3] = 9;
        assert_eq!(
            WrappedSecret::from_bytes(&version),
            Err(WrapError::UnknownVersion(9))
        );
        let mut huge = bytes.clone();
        huge[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            WrappedSecret::from_bytes(&huge),
            Err(WrapError::Params(_))
        ));
        assert!(matches!(
            WrappedSecret::from_bytes(&bytes[..bytes.len() - 1]),
            Err(WrapError::Malformed(DecodeError::Truncated))
        ));
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(
            WrappedSecret::from_bytes(&long),
            Err(WrapError::Malformed(DecodeError::TrailingBytes(1)))
        ));
    }

    use rand_core::SeedableRng;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = WrappedSecret::from_bytes(&bytes);
        }

        #[test]
        fn decoding_mutations_never_panics(index in 16..WRAPPED_LEN, value in any::<u8>()) {
            // Bytes 4..16 are the Argon2 costs: mutating them can ask for gigabytes, which
            // `tampered_header_is_refused` covers with chosen values instead.
            let wrapped = WrappedSecret::wrap_with(&secret(), b"pw", KdfParams::INSECURE_FAST, [1; 16], [2; 12]).unwrap();
            let mut bytes = wrapped.to_bytes();
            bytes[index] = value;
            if let Ok(w) = WrappedSecret::from_bytes(&bytes) {
                let opened = w.unwrap_secret(b"pw");
                prop_assert!(opened.is_err() || value == wrapped.to_bytes()[index]);
            }
        }
    }
}

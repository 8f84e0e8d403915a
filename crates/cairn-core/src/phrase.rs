//! The recovery phrase: the master secret as 24 BIP39 English words, shown once at `init`.

use std::fmt;

use bip39::{Language, Mnemonic};
use zeroize::Zeroizing;

use crate::keys::MasterSecret;

/// Number of words in a recovery phrase (256 bits of entropy plus an 8-bit checksum).
pub const PHRASE_WORDS: usize = 24;

/// Why a recovery phrase was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhraseError {
    /// The phrase does not have 24 words.
    #[error(
        "a recovery phrase has {PHRASE_WORDS} words, but this one has {0}; check that none is missing"
    )]
    WordCount(usize),
    /// A word is not in the BIP39 English list.
    #[error(
        "word {position} of the recovery phrase (`{word}`) is not a recovery-phrase word; check its spelling"
    )]
    UnknownWord {
        /// 1-based position of the word.
        position: usize,
        /// The word as typed, shortened.
        word: String,
    },
    /// Every word is valid but the checksum does not match: a word is wrong or out of order.
    #[error("the recovery phrase's checksum does not match; a word is wrong or two are swapped")]
    Checksum,
}

/// A master secret written as words. Printing it shows the words: only do so on purpose.
pub struct RecoveryPhrase(Zeroizing<String>);

impl RecoveryPhrase {
    /// The phrase for a master secret.
    pub fn from_secret(secret: &MasterSecret) -> Self {
        // 32 bytes is a valid BIP39 entropy length, so this cannot fail; fall back to an
        // empty phrase rather than panicking if the library ever disagrees.
        let words = Mnemonic::from_entropy_in(Language::English, secret.as_bytes())
            .map(|m| m.to_string())
            .unwrap_or_default();
        Self(Zeroizing::new(words))
    }

    /// Parses typed words: case, extra spaces and line breaks do not matter.
    pub fn parse(text: &str) -> Result<Self, PhraseError> {
        let words: Vec<String> = text.split_whitespace().map(str::to_lowercase).collect();
        if words.len() != PHRASE_WORDS {
            return Err(PhraseError::WordCount(words.len()));
        }
        let list = Language::English.word_list();
        if let Some((i, word)) = words
            .iter()
            .enumerate()
            .find(|(_, w)| list.binary_search(&w.as_str()).is_err())
        {
            return Err(PhraseError::UnknownWord {
                position: i + 1,
                word: word.chars().take(32).collect(),
            });
        }
        let joined = Zeroizing::new(words.join(" "));
        Mnemonic::parse_in_normalized(Language::English, &joined)
            .map_err(|_| PhraseError::Checksum)?;
        Ok(Self(joined))
    }

    /// The master secret these words encode.
    pub fn to_secret(&self) -> Result<MasterSecret, PhraseError> {
        let mnemonic = Mnemonic::parse_in_normalized(Language::English, &self.0)
            .map_err(|_| PhraseError::Checksum)?;
        let (entropy, len) = mnemonic.to_entropy_array();
        let mut bytes = Zeroizing::new([0u8; 32]);
        match entropy.get(..len) {
            Some(e) if len == 32 => bytes.copy_from_slice(e),
            _ => return Err(PhraseError::WordCount(mnemonic.word_count())),
        }
        Ok(MasterSecret::from_bytes(*bytes))
    }

    /// The words, separated by single spaces.
    pub fn words(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RecoveryPhrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RecoveryPhrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryPhrase(<secret>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_answer_all_zero_secret() {
        // BIP39 reference vector for 32 zero bytes.
        let phrase = RecoveryPhrase::from_secret(&MasterSecret::from_bytes([0; 32]));
        assert_eq!(
            phrase.words(),
            "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon \
             abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon \
             abandon abandon abandon art"
        );
    }

    #[test]
    fn typing_is_forgiving() {
        let secret = MasterSecret::from_bytes([0xab; 32]);
        let phrase = RecoveryPhrase::from_secret(&secret);
        let messy = format!("  {}\n", phrase.words().to_uppercase().replace(' ', "   "));
        assert_eq!(
            RecoveryPhrase::parse(&messy).unwrap().to_secret().unwrap(),
            secret
        );
    }

    #[test]
    fn mistakes_are_named() {
        let phrase = RecoveryPhrase::from_secret(&MasterSecret::from_bytes([0x11; 32]));
        let mut words: Vec<&str> = phrase.words().split(' ').collect();
        assert_eq!(
            RecoveryPhrase::parse(&words[..23].join(" ")).unwrap_err(),
            PhraseError::WordCount(23)
        );
        words[4] = "cairnx";
        assert!(matches!(
            RecoveryPhrase::parse(&words.join(" ")),
            Err(PhraseError::UnknownWord { position: 5, .. })
        ));
        let mut words: Vec<&str> = phrase.words().split(' ').collect();
        words.swap(0, 1);
        if words[0] != words[1] {
            assert_eq!(
                RecoveryPhrase::parse(&words.join(" ")).unwrap_err(),
                PhraseError::Checksum
            );
        }
    }

    proptest! {
        #[test]
        fn round_trip(bytes in any::<[u8; 32]>()) {
            let secret = MasterSecret::from_bytes(bytes);
            let phrase = RecoveryPhrase::from_secret(&secret);
            prop_assert_eq!(phrase.words().split(' ').count(), PHRASE_WORDS);
            let parsed = RecoveryPhrase::parse(phrase.words()).unwrap();
            prop_assert_eq!(parsed.to_secret().unwrap(), secret);
        }

        #[test]
        fn garbage_never_panics(text in ".{0,300}") {
            if let Ok(p) = RecoveryPhrase::parse(&text) {
                let _ = p.to_secret();
            }
        }
    }
}

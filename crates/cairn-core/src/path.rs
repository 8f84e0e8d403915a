//! Remote paths and their encryption, one component at a time.
//!
//! Each name is padded to a multiple of 16 bytes (so only a coarse length leaks) and
//! encrypted with AES-256-SIV (RFC 5297): deterministic and authenticated. The same name
//! always encrypts to the same text under one path key, independent of its folder, so
//! the pool can list a folder by prefix on the ciphertext form, and a rename is a prefix
//! rewrite that needs no re-encryption of the things below it. Encrypted components are
//! base64url without padding, joined by `/`; the root is the empty string.

use std::fmt;
use std::str::FromStr;

use aes_siv::KeyInit;
use aes_siv::siv::Aes256Siv;
use data_encoding::BASE64URL_NOPAD;
use zeroize::Zeroizing;

use crate::keys::PathKey;

/// Longest name, in bytes of UTF-8.
pub const MAX_NAME_LEN: usize = 255;
/// Deepest path, in components.
pub const MAX_DEPTH: usize = 128;

const PATH_SIV_CONTEXT: &str = "cairn 2026-11-25 path component siv key v1";
const ASSOCIATED_DATA: &[u8] = b"cairn path component v1";
const PAD_BLOCK: usize = 16;
const SIV_TAG_LEN: usize = 16;
/// Longest encrypted component: a 255-byte name pads to 256 bytes, plus the SIV tag, in base64.
const MAX_COMPONENT_TEXT: usize = (MAX_NAME_LEN / PAD_BLOCK + 1) * PAD_BLOCK + SIV_TAG_LEN;

/// Why a name or path is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// A path component is empty (for example in `a//b`, which `parse` tolerates, this
    /// only arises when building a name directly).
    #[error("a file or folder name cannot be empty")]
    EmptyName,
    /// A name is longer than 255 bytes.
    #[error("the name `{name}` is {len} bytes long; names are limited to {MAX_NAME_LEN} bytes")]
    NameTooLong {
        /// The name, shortened.
        name: String,
        /// Its length in bytes.
        len: usize,
    },
    /// `.` or `..` used as a name.
    #[error("`{0}` cannot be used as a name; give the full path from `/` instead")]
    DotName(String),
    /// A name contains a `/`.
    #[error("the name `{0}` contains `/`, which separates folders and cannot be part of a name")]
    Slash(String),
    /// A name contains a control character.
    #[error(
        "the name `{0}` contains a control character (such as a newline or tab), which names cannot hold"
    )]
    ControlCharacter(String),
    /// Too many nested folders.
    #[error("the path has {0} levels; at most {MAX_DEPTH} are allowed")]
    TooDeep(usize),
}

/// Why an encrypted path could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathDecryptError {
    /// The text is not an encrypted path at all.
    #[error("`{0}` is not an encrypted path component")]
    NotEncrypted(String),
    /// The component does not authenticate under this path key.
    #[error("an encrypted name does not belong to this account (or was altered)")]
    Unauthentic,
    /// The decrypted bytes are not a valid name (padding, UTF-8 or name rules).
    #[error("an encrypted name decrypted to an invalid name")]
    InvalidName,
    /// Too many components.
    #[error(transparent)]
    Path(#[from] PathError),
}

/// One validated file or folder name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(String);

impl Name {
    /// Validates a single name.
    pub fn new(name: &str) -> Result<Self, PathError> {
        let short = || name.chars().take(64).collect::<String>();
        if name.is_empty() {
            return Err(PathError::EmptyName);
        }
        if name.len() > MAX_NAME_LEN {
            return Err(PathError::NameTooLong {
                name: short(),
                len: name.len(),
            });
        }
        if name == "." || name == ".." {
            return Err(PathError::DotName(name.to_owned()));
        }
        if name.contains('/') {
            return Err(PathError::Slash(short()));
        }
        if name.chars().any(char::is_control) {
            return Err(PathError::ControlCharacter(
                short().escape_default().to_string(),
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An absolute path in a user's drive, such as `/photos/2026/cat.jpg`. The root is `/`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RemotePath(Vec<Name>);

impl RemotePath {
    /// The root folder.
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// Parses a path. A leading `/` is optional; repeated and trailing slashes are ignored.
    pub fn parse(text: &str) -> Result<Self, PathError> {
        let names = text
            .split('/')
            .filter(|c| !c.is_empty())
            .map(Name::new)
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_names(names)
    }

    /// A path from validated names.
    pub fn from_names(names: Vec<Name>) -> Result<Self, PathError> {
        if names.len() > MAX_DEPTH {
            return Err(PathError::TooDeep(names.len()));
        }
        Ok(Self(names))
    }

    /// The names from the root down.
    pub fn names(&self) -> &[Name] {
        &self.0
    }

    /// Whether this is `/`.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The last name, unless this is the root.
    pub fn file_name(&self) -> Option<&Name> {
        self.0.last()
    }

    /// The containing folder, unless this is the root.
    pub fn parent(&self) -> Option<Self> {
        let (_, parent) = self.0.split_last()?;
        Some(Self(parent.to_vec()))
    }

    /// This path with `name` appended.
    pub fn join(&self, name: Name) -> Result<Self, PathError> {
        let mut names = self.0.clone();
        names.push(name);
        Self::from_names(names)
    }

    /// Whether `self` is `other` or lies below it.
    pub fn starts_with(&self, other: &RemotePath) -> bool {
        self.0.starts_with(&other.0)
    }
}

impl FromStr for RemotePath {
    type Err = PathError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for RemotePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("/");
        }
        for name in &self.0 {
            write!(f, "/{name}")?;
        }
        Ok(())
    }
}

/// A path as the pool sees it: encrypted components joined by `/`, the root being empty.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EncryptedPath(String);

impl EncryptedPath {
    /// The pool's text form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses the pool's text form, checking its shape only (untrusted input).
    pub fn parse(text: &str) -> Result<Self, PathDecryptError> {
        if text.is_empty() {
            return Ok(Self::default());
        }
        let mut depth = 0;
        for component in text.split('/') {
            depth += 1;
            let ok = !component.is_empty()
                && component.len() <= BASE64URL_NOPAD.encode_len(MAX_COMPONENT_TEXT)
                && BASE64URL_NOPAD.decode_len(component.len()).is_ok()
                && component
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                return Err(PathDecryptError::NotEncrypted(
                    component.chars().take(64).collect(),
                ));
            }
        }
        if depth > MAX_DEPTH {
            return Err(PathError::TooDeep(depth).into());
        }
        Ok(Self(text.to_owned()))
    }

    /// The prefix every direct or indirect child's encrypted path starts with.
    pub fn children_prefix(&self) -> String {
        if self.0.is_empty() {
            String::new()
        } else {
            format!("{}/", self.0)
        }
    }

    /// The encrypted components from the root down.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|c| !c.is_empty())
    }
}

impl fmt::Display for EncryptedPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Encrypts and decrypts paths with an account's path key.
pub struct PathCipher {
    key: Zeroizing<[u8; 64]>,
}

impl PathCipher {
    /// A cipher for `key`.
    pub fn new(key: &PathKey) -> Self {
        let mut siv_key = Zeroizing::new([0u8; 64]);
        let mut hasher = blake3::Hasher::new_derive_key(PATH_SIV_CONTEXT);
        hasher.update(key.as_bytes());
        hasher.finalize_xof().fill(siv_key.as_mut());
        Self { key: siv_key }
    }

    fn siv(&self) -> Aes256Siv {
        Aes256Siv::new(self.key.as_ref().into())
    }

    /// Encrypts one name into its component text.
    pub fn encrypt_name(&self, name: &Name) -> String {
        let bytes = name.as_str().as_bytes();
        let padded_len = (bytes.len() / PAD_BLOCK + 1) * PAD_BLOCK;
        let mut padded = Vec::with_capacity(padded_len);
        padded.extend_from_slice(bytes);
        padded.push(0x80);
        padded.resize(padded_len, 0);
        // SIV encryption fails only for more headers than the construction allows; we pass one.
        match self.siv().encrypt([ASSOCIATED_DATA], &padded) {
            Ok(sealed) => BASE64URL_NOPAD.encode(&sealed),
            Err(_) => unreachable!("AES-SIV with one header cannot fail"),
        }
    }

    /// Decrypts one component text back into a name.
    pub fn decrypt_name(&self, component: &str) -> Result<Name, PathDecryptError> {
        let not_encrypted = || PathDecryptError::NotEncrypted(component.chars().take(64).collect());
        if component.len() > BASE64URL_NOPAD.encode_len(MAX_COMPONENT_TEXT) {
            return Err(not_encrypted());
        }
        let sealed = BASE64URL_NOPAD
            .decode(component.as_bytes())
            .map_err(|_| not_encrypted())?;
        if sealed.len() < SIV_TAG_LEN + PAD_BLOCK
            || !(sealed.len() - SIV_TAG_LEN).is_multiple_of(PAD_BLOCK)
        {
            return Err(not_encrypted());
        }
        let padded = self
            .siv()
            .decrypt([ASSOCIATED_DATA], &sealed)
            .map_err(|_| PathDecryptError::Unauthentic)?;
        let end = padded
            .iter()
            .rposition(|&b| b != 0)
            .filter(|&i| padded.get(i) == Some(&0x80))
            .ok_or(PathDecryptError::InvalidName)?;
        let text = std::str::from_utf8(padded.get(..end).ok_or(PathDecryptError::InvalidName)?)
            .map_err(|_| PathDecryptError::InvalidName)?;
        Name::new(text).map_err(|_| PathDecryptError::InvalidName)
    }

    /// Encrypts a whole path.
    pub fn encrypt(&self, path: &RemotePath) -> EncryptedPath {
        let parts: Vec<String> = path.names().iter().map(|n| self.encrypt_name(n)).collect();
        EncryptedPath(parts.join("/"))
    }

    /// Decrypts a whole path.
    pub fn decrypt(&self, path: &EncryptedPath) -> Result<RemotePath, PathDecryptError> {
        let names = path
            .components()
            .map(|c| self.decrypt_name(c))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RemotePath::from_names(names)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cipher() -> PathCipher {
        PathCipher::new(&PathKey::from_bytes([4; 32]))
    }

    #[test]
    fn known_answer_vector() {
        let c = cipher();
        let name = Name::new("hello.txt").unwrap();
        // Cross-checked against Python `cryptography`'s AESSIV and `blake3`.
        assert_eq!(
            c.encrypt_name(&name),
            "M7xHw7f5sN9gIdN4C1dNwj8NCD5ThhrsGrlFUJbeu3I"
        );
    }

    #[test]
    fn folders_list_by_prefix_and_renames_are_prefix_rewrites() {
        let c = cipher();
        let dir = c.encrypt(&RemotePath::parse("/photos/2026").unwrap());
        let file = c.encrypt(&RemotePath::parse("/photos/2026/cat.jpg").unwrap());
        let other = c.encrypt(&RemotePath::parse("/photos/2025/cat.jpg").unwrap());
        assert!(file.as_str().starts_with(&dir.children_prefix()));
        assert!(!other.as_str().starts_with(&dir.children_prefix()));
        // The same name encrypts the same way in any folder.
        assert_eq!(file.components().last(), other.components().last());
        // Renaming /photos to /pictures rewrites only the first component.
        let renamed_dir = c.encrypt(&RemotePath::parse("/pictures").unwrap());
        let old_prefix = c
            .encrypt(&RemotePath::parse("/photos").unwrap())
            .children_prefix();
        let moved = format!(
            "{}{}",
            renamed_dir.children_prefix(),
            &file.as_str()[old_prefix.len()..]
        );
        let moved = EncryptedPath::parse(&moved).unwrap();
        assert_eq!(
            c.decrypt(&moved).unwrap().to_string(),
            "/pictures/2026/cat.jpg"
        );
        assert_eq!(EncryptedPath::default().children_prefix(), "");
    }

    #[test]
    fn names_are_validated() {
        assert_eq!(Name::new(""), Err(PathError::EmptyName));
        assert!(matches!(Name::new(".."), Err(PathError::DotName(_))));
        assert!(matches!(Name::new("a/b"), Err(PathError::Slash(_))));
        assert!(matches!(
            Name::new("a\nb"),
            Err(PathError::ControlCharacter(_))
        ));
        assert!(matches!(
            Name::new(&"é".repeat(128)),
            Err(PathError::NameTooLong { len: 256, .. })
        ));
        assert!(Name::new(&"x".repeat(255)).is_ok());
        assert!(Name::new("résumé 2026 (final).pdf").is_ok());
        assert_eq!(RemotePath::parse("//a///b/").unwrap().to_string(), "/a/b");
        assert_eq!(RemotePath::parse("a/b").unwrap().to_string(), "/a/b");
        assert!(RemotePath::parse("/").unwrap().is_root());
        assert!(matches!(
            RemotePath::parse("/a/./b"),
            Err(PathError::DotName(_))
        ));
        assert!(matches!(
            RemotePath::parse(&"/a".repeat(MAX_DEPTH + 1)),
            Err(PathError::TooDeep(_))
        ));
    }

    #[test]
    fn lengths_leak_only_coarsely() {
        let c = cipher();
        let a = c.encrypt_name(&Name::new("a").unwrap());
        let b = c.encrypt_name(&Name::new("fifteen-chars-x").unwrap());
        assert_eq!(a.len(), b.len());
        let longest = c.encrypt_name(&Name::new(&"y".repeat(MAX_NAME_LEN)).unwrap());
        assert!(c.decrypt_name(&longest).is_ok());
    }

    #[test]
    fn foreign_and_altered_components_are_refused() {
        let c = cipher();
        let enc = c.encrypt_name(&Name::new("secret").unwrap());
        let other = PathCipher::new(&PathKey::from_bytes([5; 32]));
        assert_eq!(other.decrypt_name(&enc), Err(PathDecryptError::Unauthentic));
        let mut altered = enc.clone().into_bytes();
        altered[3] = if altered[3] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        assert_eq!(c.decrypt_name(&altered), Err(PathDecryptError::Unauthentic));
        assert!(matches!(
            c.decrypt_name("!!"),
            Err(PathDecryptError::NotEncrypted(_))
        ));
        assert!(matches!(
            EncryptedPath::parse("a//b"),
            Err(PathDecryptError::NotEncrypted(_))
        ));
        assert!(matches!(
            EncryptedPath::parse("../x"),
            Err(PathDecryptError::NotEncrypted(_))
        ));
    }

    fn name_strategy() -> impl Strategy<Value = String> {
        "[^/\\p{Cc}]{1,60}".prop_filter("not a dot name", |s| {
            s != "." && s != ".." && s.len() <= MAX_NAME_LEN
        })
    }

    proptest! {
        #[test]
        fn round_trip(names in proptest::collection::vec(name_strategy(), 0..6)) {
            let c = cipher();
            let path = RemotePath::parse(&format!("/{}", names.join("/"))).unwrap();
            let enc = c.encrypt(&path);
            let reparsed = EncryptedPath::parse(enc.as_str()).unwrap();
            prop_assert_eq!(c.decrypt(&reparsed).unwrap(), path.clone());
            prop_assert_eq!(RemotePath::parse(&path.to_string()).unwrap(), path);
        }

        #[test]
        fn decrypting_garbage_never_panics(text in ".{0,500}", b64 in "[A-Za-z0-9_-]{0,400}") {
            let c = cipher();
            let _ = c.decrypt_name(&text);
            let _ = c.decrypt_name(&b64);
            if let Ok(p) = EncryptedPath::parse(&text) {
                let _ = c.decrypt(&p);
            }
            let _ = RemotePath::parse(&text);
        }
    }
}

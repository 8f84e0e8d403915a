//! Share links: a link names a pool and a share the pool keeps, and carries after `#` the
//! secret the pool must never see. From that secret — mixed, when the owner set one, with a
//! password stretched by Argon2id, so the password is useless without the link and the
//! link useless without it — come two keys: one seals the share's manifest (what the
//! recipient needs to fetch and open the shared files: their object ids, file keys and
//! layouts, never the account's keys), the other is the token the recipient shows the
//! pool, which keeps only its hash.
//!
//! Link: `BASE/s/SHARE_ID#SECRET`, or `BASE/s/SHARE_ID/POOL_ID#SECRET` for a pool on
//! `https` (its id, which the connection pins, is not secret); `SECRET` is 43 characters of
//! unpadded base64url, followed by `.pw` when the link needs a password.
//!
//! An owner's link secrets are not random: each is a keyed BLAKE3 of the share id under the
//! account's [`LinkKey`], so the owner's client can give a link again (the pool cannot: it
//! never holds that key). Each share also carries a label for the owner's list, sealed
//! under the same key: what it shares and whether it has a password.
//!
//! Label (version 1): `"CSL" | version u8 | nonce[12] | sealed(path | password u8)`, with the
//! magic, version and share id as associated data.
//!
//! Manifest (version 1): `"CSM" | version u8 | nonce[12] | sealed(body)`, with the magic,
//! version and share id as associated data; body: `name | folder u8 | files u32 | (path |
//! object[16] | metadata)* | folders u32 | path*`, every string and metadata `u32`-length
//! prefixed.

use std::fmt;

use data_encoding::BASE64URL_NOPAD;
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::aead::{AeadKey, NONCE_LEN};
use crate::encoding::{DecodeError, Reader, Writer};
use crate::id::{ObjectId, ShareId};
use crate::keys::{LinkKey, ShareSecret};
use crate::metadata::{MetadataError, ObjectMetadata};
use crate::wrap::{KdfParams, WrapError};

const SECRET_CONTEXT: &str = "cairn 2026-12-04 share key v1";
const PASSWORD_CONTEXT: &str = "cairn 2026-12-04 share key with password v1";
const MANIFEST_CONTEXT: &str = "cairn 2026-12-04 share manifest key v1";
const TOKEN_CONTEXT: &str = "cairn 2026-12-04 share token v1";
const TOKEN_HASH_CONTEXT: &str = "cairn 2026-12-04 share token hash v1";
const LINK_SECRET_CONTEXT: &str = "cairn 2026-12-05 share link secret v1";
const LABEL_CONTEXT: &str = "cairn 2026-12-05 share label key v1";

const LABEL_MAGIC: &[u8; 3] = b"CSL";

const MAGIC: &[u8; 3] = b"CSM";
const VERSION: u8 = 1;
/// What a link's fragment ends with when it needs a password.
const PASSWORD_MARK: &str = ".pw";
/// Files or folders a manifest holds at most.
pub const MAX_SHARED: u32 = 100_000;

/// How a share password is stretched: RFC 9106's second recommendation with one lane
/// (64 MiB, 3 passes), the share id as salt (fresh and random for every share).
pub const PASSWORD_KDF: KdfParams = KdfParams::DEFAULT;

/// Why a link or a share could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShareError {
    /// The text is not a Cairn share link.
    #[error("this is not a Cairn share link: {0}")]
    BadLink(String),
    /// The link's key (or the password) does not open the share, or it was altered.
    #[error("the link's key or the password does not open this share (or the share was altered)")]
    WrongKey,
    /// A newer Cairn made this share.
    #[error("the share has format version {0}, which this Cairn does not know; upgrade Cairn")]
    UnknownVersion(u8),
    /// The manifest opened but does not read as one.
    #[error("the share's contents are damaged: {0}")]
    Malformed(String),
    /// The password could not be stretched.
    #[error("the password cannot be used: {0}")]
    Password(#[from] WrapError),
    /// More files or folders than a share holds.
    #[error("a share holds at most {MAX_SHARED} files and folders")]
    TooMany,
}

impl From<DecodeError> for ShareError {
    fn from(e: DecodeError) -> Self {
        Self::Malformed(e.to_string())
    }
}

impl From<MetadataError> for ShareError {
    fn from(e: MetadataError) -> Self {
        Self::Malformed(e.to_string())
    }
}

/// A share link: where the share is, and the secret that opens it.
#[derive(Clone, PartialEq, Eq)]
pub struct Link {
    /// The pool's base URL (`scheme://host:port`).
    pub pool: String,
    /// The pool's identity, for a pool on `https` (64 hex digits).
    pub pool_id: Option<String>,
    /// The share's id at the pool.
    pub id: ShareId,
    /// The secret that opens it.
    pub secret: ShareSecret,
    /// Whether a password is needed as well.
    pub password: bool,
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("pool", &self.pool)
            .field("pool_id", &self.pool_id)
            .field("id", &self.id)
            .field("password", &self.password)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/s/{}", self.pool, self.id)?;
        if let Some(pool_id) = &self.pool_id {
            write!(f, "/{pool_id}")?;
        }
        write!(f, "#{}", BASE64URL_NOPAD.encode(self.secret.as_bytes()))?;
        if self.password {
            f.write_str(PASSWORD_MARK)?;
        }
        Ok(())
    }
}

impl Link {
    /// Reads a link as [`Link`]'s `Display` writes it.
    pub fn parse(text: &str) -> Result<Self, ShareError> {
        let bad = |why: &str| ShareError::BadLink(why.to_owned());
        let text = text.trim();
        let (address, fragment) = text
            .split_once('#')
            .ok_or_else(|| bad("it has no key (the part after `#`); copy the whole link"))?;
        let (secret, password) = match fragment.strip_suffix(PASSWORD_MARK) {
            Some(secret) => (secret, true),
            None => (fragment, false),
        };
        let secret: [u8; 32] = BASE64URL_NOPAD
            .decode(secret.as_bytes())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("its key is damaged; copy the whole link"))?;
        let (pool, rest) = address
            .rsplit_once("/s/")
            .ok_or_else(|| bad("it does not name a share (`/s/` is missing)"))?;
        if !(pool.starts_with("https://") || pool.starts_with("http://"))
            || pool.len() <= "https://".len()
        {
            return Err(bad(
                "it does not start with the pool's http:// or https:// address",
            ));
        }
        let (id, pool_id) = match rest.split_once('/') {
            Some((id, pool_id)) => (id, Some(pool_id)),
            None => (rest, None),
        };
        let id: ShareId = id.parse().map_err(|_| bad("its share id is damaged"))?;
        if let Some(pool_id) = pool_id
            && (pool_id.len() != 64 || !pool_id.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(bad("the pool's id in it is damaged"));
        }
        Ok(Self {
            pool: pool.to_owned(),
            pool_id: pool_id.map(str::to_ascii_lowercase),
            id,
            secret: ShareSecret::from_bytes(secret),
            password,
        })
    }

    /// The pool's address as the rest of Cairn writes it (`BASE` or `BASE#POOL_ID`).
    pub fn pool_address(&self) -> String {
        match &self.pool_id {
            Some(id) => format!("{}#{id}", self.pool),
            None => self.pool.clone(),
        }
    }
}

/// What the recipient shows the pool to open a share; the pool keeps only its hash.
#[derive(Clone, PartialEq, Eq)]
pub struct ShareToken([u8; 32]);

impl fmt::Debug for ShareToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ShareToken(<secret>)")
    }
}

impl fmt::Display for ShareToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&BASE64URL_NOPAD.encode(&self.0))
    }
}

impl std::str::FromStr for ShareToken {
    type Err = ShareError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BASE64URL_NOPAD
            .decode(s.as_bytes())
            .ok()
            .and_then(|b| b.try_into().ok())
            .map(Self)
            .ok_or_else(|| ShareError::BadLink("the token is not 32 bytes of base64url".into()))
    }
}

impl ShareToken {
    /// What the pool keeps and compares: a hash of the token.
    pub fn hash(&self) -> [u8; 32] {
        blake3::derive_key(TOKEN_HASH_CONTEXT, &self.0)
    }

    /// Whether this token is the one `hash` was made from (constant-time comparison).
    pub fn matches(&self, hash: &[u8; 32]) -> bool {
        blake3::Hash::from_bytes(self.hash()) == blake3::Hash::from_bytes(*hash)
    }
}

/// The keys of one share, derived from its link (and password).
pub struct ShareKeys {
    manifest: Zeroizing<[u8; 32]>,
    token: ShareToken,
}

impl ShareKeys {
    /// The keys of share `id` opened by `secret`, with `password` if it has one, stretched
    /// under `params` ([`PASSWORD_KDF`] outside tests).
    pub fn derive(
        id: ShareId,
        secret: &ShareSecret,
        password: Option<&[u8]>,
        params: KdfParams,
    ) -> Result<Self, ShareError> {
        let root = Zeroizing::new(match password {
            None => blake3::derive_key(SECRET_CONTEXT, secret.as_bytes()),
            Some(password) => {
                let mut stretched = Zeroizing::new([0u8; 32]);
                params
                    .argon2()?
                    .hash_password_into(password, id.as_bytes(), stretched.as_mut())
                    .map_err(|e| WrapError::Params(e.to_string()))?;
                let mut input = Zeroizing::new([0u8; 64]);
                input[..32].copy_from_slice(secret.as_bytes());
                input[32..].copy_from_slice(stretched.as_ref());
                blake3::derive_key(PASSWORD_CONTEXT, input.as_ref())
            }
        });
        Ok(Self {
            manifest: Zeroizing::new(blake3::derive_key(MANIFEST_CONTEXT, root.as_ref())),
            token: ShareToken(blake3::derive_key(TOKEN_CONTEXT, root.as_ref())),
        })
    }

    /// The token that opens the share at the pool.
    pub fn token(&self) -> &ShareToken {
        &self.token
    }
}

/// One file of a share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedFile {
    /// Where it is in the share: its name for a file share, its path under the shared
    /// folder (`/`-separated, no leading `/`) for a folder share.
    pub path: String,
    /// The object holding it.
    pub object: ObjectId,
    /// Its record, opened: what the recipient needs to fetch and decrypt it.
    pub metadata: ObjectMetadata,
}

/// What a share holds, as the owner's client sealed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The name of what was shared (a file's or a folder's).
    pub name: String,
    /// Whether a folder was shared.
    pub folder: bool,
    /// The files, in order.
    pub files: Vec<SharedFile>,
    /// Folders inside a shared folder (paths as for files), so empty ones are kept.
    pub folders: Vec<String>,
}

impl Manifest {
    /// The objects it shares, in order.
    pub fn objects(&self) -> Vec<ObjectId> {
        self.files.iter().map(|f| f.object).collect()
    }

    /// Seals the manifest of share `id` under `keys`.
    pub fn seal(
        &self,
        id: ShareId,
        keys: &ShareKeys,
        rng: &mut impl CryptoRng,
    ) -> Result<Vec<u8>, ShareError> {
        let count = |n: usize| u32::try_from(n).ok().filter(|n| *n <= MAX_SHARED);
        let (Some(files), Some(folders)) = (count(self.files.len()), count(self.folders.len()))
        else {
            return Err(ShareError::TooMany);
        };
        let mut body = Writer::default();
        text(&mut body, &self.name);
        body.u8(u8::from(self.folder)).u32(files);
        for file in &self.files {
            text(&mut body, &file.path);
            body.bytes(file.object.as_bytes());
            let metadata = file.metadata.encode()?;
            body.u32(metadata.len() as u32).bytes(&metadata);
        }
        body.u32(folders);
        for folder in &self.folders {
            text(&mut body, folder);
        }
        let mut sealed = Zeroizing::new(body.finish());
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        AeadKey::new(&keys.manifest).seal(nonce, &aad(id), &mut sealed);
        let mut out = Writer::with_capacity(MAGIC.len() + 1 + NONCE_LEN + sealed.len());
        out.bytes(MAGIC).u8(VERSION).bytes(&nonce).bytes(&sealed);
        Ok(out.finish())
    }

    /// Opens the sealed manifest of share `id` with `keys` (untrusted bytes, from the pool).
    pub fn open(id: ShareId, keys: &ShareKeys, bytes: &[u8]) -> Result<Self, ShareError> {
        let mut reader = Reader::new(bytes);
        if reader.take(MAGIC.len()).ok() != Some(MAGIC.as_slice()) {
            return Err(ShareError::Malformed("not a Cairn share manifest".into()));
        }
        let version = reader.u8()?;
        if version != VERSION {
            return Err(ShareError::UnknownVersion(version));
        }
        let nonce: [u8; NONCE_LEN] = reader.array()?;
        let mut body = Zeroizing::new(reader.rest().to_vec());
        AeadKey::new(&keys.manifest)
            .open(nonce, &aad(id), &mut body)
            .map_err(|_| ShareError::WrongKey)?;
        let mut r = Reader::new(&body);
        let name = read_text(&mut r)?;
        let folder = match r.u8()? {
            0 => false,
            1 => true,
            other => return Err(ShareError::Malformed(format!("kind {other}"))),
        };
        let files = bounded(r.u32()?)?;
        let mut shared = Vec::with_capacity(files.min(r.remaining() / 24));
        for _ in 0..files {
            let path = read_text(&mut r)?;
            let object = ObjectId::from_bytes(r.array()?);
            let len = r.u32()? as usize;
            let metadata = ObjectMetadata::decode(r.take(len)?)?;
            shared.push(SharedFile {
                path,
                object,
                metadata,
            });
        }
        let count = bounded(r.u32()?)?;
        let mut folders = Vec::with_capacity(count.min(r.remaining() / 4));
        for _ in 0..count {
            folders.push(read_text(&mut r)?);
        }
        r.finish()?;
        Ok(Self {
            name,
            folder,
            files: shared,
            folders,
        })
    }
}

impl LinkKey {
    /// The secret of the account's link to share `id`.
    pub fn secret_of(&self, id: ShareId) -> ShareSecret {
        let key = blake3::derive_key(LINK_SECRET_CONTEXT, self.as_bytes());
        ShareSecret::from_bytes(*blake3::keyed_hash(&key, id.as_bytes()).as_bytes())
    }

    fn label_key(&self) -> AeadKey {
        AeadKey::new(&blake3::derive_key(LABEL_CONTEXT, self.as_bytes()))
    }
}

/// What the owner's list says of one of its links, sealed under the account's [`LinkKey`]
/// so the pool keeps it without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// The drive path shared, as the owner's client writes it.
    pub path: String,
    /// Whether the link needs a password.
    pub password: bool,
}

impl Label {
    /// Seals the label of share `id` under `key`.
    pub fn seal(&self, id: ShareId, key: &LinkKey, rng: &mut impl CryptoRng) -> Vec<u8> {
        let mut body = Writer::default();
        text(&mut body, &self.path);
        body.u8(u8::from(self.password));
        let mut sealed = body.finish();
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        key.label_key()
            .seal(nonce, &aad_of(LABEL_MAGIC, id), &mut sealed);
        let mut out = Writer::with_capacity(LABEL_MAGIC.len() + 1 + NONCE_LEN + sealed.len());
        out.bytes(LABEL_MAGIC)
            .u8(VERSION)
            .bytes(&nonce)
            .bytes(&sealed);
        out.finish()
    }

    /// Opens the sealed label of share `id` (untrusted bytes, from the pool).
    pub fn open(id: ShareId, key: &LinkKey, bytes: &[u8]) -> Result<Self, ShareError> {
        let mut reader = Reader::new(bytes);
        if reader.take(LABEL_MAGIC.len()).ok() != Some(LABEL_MAGIC.as_slice()) {
            return Err(ShareError::Malformed("not a Cairn share label".into()));
        }
        let version = reader.u8()?;
        if version != VERSION {
            return Err(ShareError::UnknownVersion(version));
        }
        let nonce: [u8; NONCE_LEN] = reader.array()?;
        let mut body = reader.rest().to_vec();
        key.label_key()
            .open(nonce, &aad_of(LABEL_MAGIC, id), &mut body)
            .map_err(|_| ShareError::WrongKey)?;
        let mut r = Reader::new(&body);
        let path = read_text(&mut r)?;
        let password = match r.u8()? {
            0 => false,
            1 => true,
            other => return Err(ShareError::Malformed(format!("password flag {other}"))),
        };
        r.finish()?;
        Ok(Self { path, password })
    }
}

fn aad(id: ShareId) -> Vec<u8> {
    aad_of(MAGIC, id)
}

fn aad_of(magic: &[u8; 3], id: ShareId) -> Vec<u8> {
    let mut aad = Vec::with_capacity(magic.len() + 1 + ShareId::LEN);
    aad.extend_from_slice(magic);
    aad.push(VERSION);
    aad.extend_from_slice(id.as_bytes());
    aad
}

fn bounded(n: u32) -> Result<usize, ShareError> {
    if n > MAX_SHARED {
        return Err(ShareError::TooMany);
    }
    Ok(n as usize)
}

fn text(w: &mut Writer, text: &str) {
    w.u32(text.len() as u32).bytes(text.as_bytes());
}

fn read_text(r: &mut Reader<'_>) -> Result<String, ShareError> {
    let len = r.u32()? as usize;
    String::from_utf8(r.take(len)?.to_vec())
        .map_err(|_| ShareError::Malformed("a name is not UTF-8".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::FileKey;
    use crate::metadata::{SegmentRecord, Timestamp};
    use crate::policy::Redundancy;
    use crate::segment::SegmentLayout;
    use crate::{ContentHash, PieceHash};
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    /// A generator with a seed of its own at each call, so ids and keys differ.
    fn rng() -> ChaCha20Rng {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        ChaCha20Rng::seed_from_u64(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }

    fn metadata(n: u8) -> ObjectMetadata {
        ObjectMetadata {
            layout: SegmentLayout::new(1000 + u64::from(n), 4096).unwrap(),
            modified: Timestamp {
                secs: 1_700_000_000 + i64::from(n),
                nanos: 0,
            },
            content_hash: ContentHash::from_bytes([n; 32]),
            file_key: FileKey::generate(&mut rng()),
            redundancy: Redundancy::ec(2, 1).unwrap(),
            segments: vec![SegmentRecord {
                fragments: vec![
                    PieceHash::of(&[n]),
                    PieceHash::of(&[n, 1]),
                    PieceHash::of(&[n, 2]),
                ],
            }],
        }
    }

    fn manifest() -> Manifest {
        Manifest {
            name: "holiday".into(),
            folder: true,
            files: (0..3)
                .map(|n| SharedFile {
                    path: format!("day {n}/photo.jpg"),
                    object: ObjectId::random(&mut rng()),
                    metadata: metadata(n),
                })
                .collect(),
            folders: vec!["empty".into()],
        }
    }

    fn link(password: bool, pool_id: Option<&str>) -> Link {
        Link {
            pool: "https://203.0.113.5:7700".into(),
            pool_id: pool_id.map(str::to_owned),
            id: ShareId::random(&mut rng()),
            secret: ShareSecret::generate(&mut rng()),
            password,
        }
    }

    const POOL_ID: &str = "5ffab182a0a31e961f1dfa472087c394db643d4fdaf209504225dce399d00b86";

    #[test]
    fn link_secrets_come_from_the_account_and_the_share() {
        let key = LinkKey::from_bytes([3; 32]);
        let (a, b) = (ShareId::random(&mut rng()), ShareId::random(&mut rng()));
        assert_eq!(key.secret_of(a), key.secret_of(a));
        assert_ne!(key.secret_of(a), key.secret_of(b));
        assert_ne!(key.secret_of(a), LinkKey::from_bytes([4; 32]).secret_of(a));
        assert_ne!(key.secret_of(a).as_bytes(), key.as_bytes());
    }

    #[test]
    fn labels_open_only_under_their_key_and_share() {
        let key = LinkKey::from_bytes([3; 32]);
        let id = ShareId::random(&mut rng());
        let label = Label {
            path: "/Photos/ré sumé.pdf".into(),
            password: true,
        };
        let sealed = label.seal(id, &key, &mut rng());
        assert_eq!(Label::open(id, &key, &sealed).unwrap(), label);
        assert!(!sealed.windows(6).any(|w| w == b"Photos"));
        let other = ShareId::random(&mut rng());
        assert_eq!(Label::open(other, &key, &sealed), Err(ShareError::WrongKey));
        let stranger = LinkKey::from_bytes([4; 32]);
        assert_eq!(
            Label::open(id, &stranger, &sealed),
            Err(ShareError::WrongKey)
        );
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(Label::open(id, &key, &tampered), Err(ShareError::WrongKey));
        assert!(Label::open(id, &key, b"CSL").is_err());
        assert!(Label::open(id, &key, &sealed[..10]).is_err());
    }

    #[test]
    fn links_read_back_as_written() {
        for (password, pool_id) in [(false, None), (true, None), (true, Some(POOL_ID))] {
            let link = link(password, pool_id);
            let text = link.to_string();
            assert_eq!(Link::parse(&text).unwrap(), link, "{text}");
            assert_eq!(Link::parse(&format!("  {text}\n")).unwrap(), link);
        }
        let plain = Link::parse(&link(false, Some(POOL_ID)).to_string()).unwrap();
        assert_eq!(
            plain.pool_address(),
            format!("https://203.0.113.5:7700#{POOL_ID}")
        );
        let text = link(true, None).to_string();
        assert!(text.ends_with(".pw"));
        assert!(text.starts_with("https://203.0.113.5:7700/s/"));
        // The secret travels only after `#`.
        let (before, after) = text.split_once('#').unwrap();
        assert_eq!(after.len(), 43 + 3);
        assert!(!before.contains(&after[..43]));
    }

    #[test]
    fn damaged_links_say_what_is_wrong() {
        let good = link(false, Some(POOL_ID)).to_string();
        let (address, secret) = good.split_once('#').unwrap();
        for (bad, why) in [
            (address.to_owned(), "no key"),
            (format!("{address}#{}", &secret[..20]), "key is damaged"),
            (good.replace("/s/", "/x/"), "`/s/` is missing"),
            (good.replace("https://", "ftp://"), "http://"),
            (
                format!("{}#{secret}", address.replace(POOL_ID, "abc")),
                "pool's id",
            ),
            (good.replacen(&address[32..40], "zzzzzzzz", 1), "share id"),
            ("".to_owned(), "no key"),
        ] {
            match Link::parse(&bad) {
                Err(ShareError::BadLink(reason)) => {
                    assert!(reason.contains(why), "{bad}: {reason}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_manifest_opens_only_with_its_link_password_and_share() {
        let link = link(true, None);
        let derive = |password: &[u8]| {
            ShareKeys::derive(
                link.id,
                &link.secret,
                Some(password),
                KdfParams::INSECURE_FAST,
            )
            .unwrap()
        };
        let keys = derive(b"correct horse");
        let manifest = manifest();
        let sealed = manifest.seal(link.id, &keys, &mut rng()).unwrap();
        assert_eq!(Manifest::open(link.id, &keys, &sealed).unwrap(), manifest);
        assert_eq!(manifest.objects().len(), 3);
        // The wrong password, no password, another link's secret, another share's id.
        let wrong = derive(b"correct horse!");
        assert_eq!(
            Manifest::open(link.id, &wrong, &sealed),
            Err(ShareError::WrongKey)
        );
        let none =
            ShareKeys::derive(link.id, &link.secret, None, KdfParams::INSECURE_FAST).unwrap();
        assert_eq!(
            Manifest::open(link.id, &none, &sealed),
            Err(ShareError::WrongKey)
        );
        let other = ShareKeys::derive(
            link.id,
            &ShareSecret::generate(&mut rng()),
            Some(b"correct horse"),
            KdfParams::INSECURE_FAST,
        )
        .unwrap();
        assert_eq!(
            Manifest::open(link.id, &other, &sealed),
            Err(ShareError::WrongKey)
        );
        let elsewhere = ShareId::random(&mut rng());
        assert_eq!(
            Manifest::open(elsewhere, &keys, &sealed),
            Err(ShareError::WrongKey)
        );
        // Tokens differ with the password; the pool's hash matches only its token.
        assert_ne!(keys.token(), wrong.token());
        assert!(keys.token().matches(&keys.token().hash()));
        assert!(!wrong.token().matches(&keys.token().hash()));
        let text = keys.token().to_string();
        assert_eq!(&text.parse::<ShareToken>().unwrap(), keys.token());
    }

    #[test]
    fn a_tampered_manifest_is_refused() {
        let link = link(false, None);
        let keys =
            ShareKeys::derive(link.id, &link.secret, None, KdfParams::INSECURE_FAST).unwrap();
        let sealed = manifest().seal(link.id, &keys, &mut rng()).unwrap();
        for at in [0, 3, 4, 10, 16, sealed.len() / 2, sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[at] ^= 1;
            let opened = Manifest::open(link.id, &keys, &bad);
            assert!(opened.is_err(), "flipping byte {at} went unnoticed");
        }
        assert!(Manifest::open(link.id, &keys, &sealed[..sealed.len() - 1]).is_err());
        assert!(Manifest::open(link.id, &keys, b"").is_err());
        let mut newer = sealed.clone();
        newer[3] = 2;
        assert_eq!(
            Manifest::open(link.id, &keys, &newer),
            Err(ShareError::UnknownVersion(2))
        );
    }

    proptest::proptest! {
        #[test]
        fn opening_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let id = ShareId::from_bytes([3; 16]);
            let keys = ShareKeys::derive(id, &ShareSecret::from_bytes([4; 32]), None, KdfParams::INSECURE_FAST).unwrap();
            let _ = Manifest::open(id, &keys, &bytes);
            let _ = Link::parse(&String::from_utf8_lossy(&bytes));
        }
    }
}

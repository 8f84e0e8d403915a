//! What the client stores in the pool's metadata field, and how folders exist.
//!
//! Envelope, version 1: `version u8 (1) | kind u8` then, for a file (kind 1),
//! `object id [16] | sealed ObjectMetadata`; a folder marker (kind 2) has nothing more.
//! The object id travels here because the sealed metadata is bound to it (so a rename,
//! which moves the blob to another path, keeps it readable).
//!
//! Folders: the pool's index is flat, so a folder exists while anything is stored under its
//! encrypted prefix. An explicitly made folder holds a marker object whose last component is
//! [`FOLDER_MARKER`] — short enough that it can never be a name's ciphertext (those are at
//! least 43 characters) — so it moves with a folder rename and goes with a folder removal.

use cairn_core::{EncryptedPath, MetadataKey, ObjectId, ObjectMetadata, Redundancy};
use data_encoding::BASE64URL_NOPAD;
use rand::CryptoRng;

use crate::error::{ClientError, ClientResult};

/// The last component of a folder marker's encrypted path (a protocol constant: the pool
/// reports each sub-folder's marker in a one-level listing).
pub use cairn_proto::api::FOLDER_MARKER;

/// The redundancy a folder marker is begun with. A marker stores no pieces, but the pool
/// checks every upload's redundancy against the network, so ask for the narrowest one.
pub const FOLDER_REDUNDANCY: &str = "ec:2+1";

const VERSION: u8 = 1;
const KIND_FILE: u8 = 1;
const KIND_FOLDER: u8 = 2;
const KIND_LEDGER: u8 = 3;

/// A stored object, as the client reads the pool's metadata field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A file, with everything needed to read it.
    File {
        /// The object id its metadata and segments are bound to.
        object: ObjectId,
        /// Its opened metadata.
        metadata: Box<ObjectMetadata>,
    },
    /// A folder marker.
    Folder,
}

/// The encrypted path of the marker of folder `folder`.
pub fn marker_path(folder: &EncryptedPath) -> String {
    format!("{}{FOLDER_MARKER}", folder.children_prefix())
}

/// Seals a file's metadata into the pool's text form.
pub fn seal_file(
    key: &MetadataKey,
    object: ObjectId,
    metadata: &ObjectMetadata,
    rng: &mut impl CryptoRng,
) -> ClientResult<String> {
    let sealed = metadata.seal(key, object, rng)?;
    let mut bytes = Vec::with_capacity(2 + 16 + sealed.len());
    bytes.extend_from_slice(&[VERSION, KIND_FILE]);
    bytes.extend_from_slice(object.as_bytes());
    bytes.extend_from_slice(&sealed);
    Ok(BASE64URL_NOPAD.encode(&bytes))
}

/// The length in bytes of a file's entry ([`seal_file`] before base64url) for an object of
/// `segments` segments under `redundancy`: what the pool checks against
/// [`cairn_proto::limits::MAX_METADATA`], known before the upload starts.
pub fn file_entry_len(segments: u32, redundancy: Redundancy) -> usize {
    2 + 16 + ObjectMetadata::sealed_len(segments, redundancy)
}

/// A folder marker's text form.
pub fn seal_folder() -> String {
    BASE64URL_NOPAD.encode(&[VERSION, KIND_FOLDER])
}

/// A ledger object's text form (its entry is sealed in its pieces, not here).
pub fn seal_ledger() -> String {
    BASE64URL_NOPAD.encode(&[VERSION, KIND_LEDGER])
}

/// The object id a file's text form names, without opening it; `None` for a folder
/// marker, a ledger object or anything malformed.
pub fn object_of(text: &str) -> Option<ObjectId> {
    let bytes = BASE64URL_NOPAD.decode(text.as_bytes()).ok()?;
    match bytes.get(..18)? {
        [VERSION, KIND_FILE, id @ ..] => id.try_into().ok().map(ObjectId::from_bytes),
        _ => None,
    }
}

/// Opens the pool's text form (untrusted: it comes from the pool).
pub fn open(key: &MetadataKey, text: &str) -> ClientResult<Entry> {
    let bytes = BASE64URL_NOPAD
        .decode(text.as_bytes())
        .map_err(|_| ClientError::Undecryptable("metadata is not base64url".into()))?;
    match bytes.as_slice() {
        [VERSION, KIND_FOLDER] => Ok(Entry::Folder),
        [VERSION, KIND_FILE, rest @ ..] if rest.len() >= 16 => {
            let (id, sealed) = rest.split_at(16);
            let mut raw = [0u8; 16];
            raw.copy_from_slice(id);
            let object = ObjectId::from_bytes(raw);
            let metadata = ObjectMetadata::open(key, object, sealed)?;
            Ok(Entry::File {
                object,
                metadata: Box::new(metadata),
            })
        }
        [version, ..] if *version != VERSION => Err(ClientError::Undecryptable(format!(
            "entry format version {version} is unknown; upgrade Cairn"
        ))),
        _ => Err(ClientError::Undecryptable("the entry is malformed".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::{
        ContentHash, FileKey, MasterSecret, PathCipher, PathKey, RemotePath, SegmentLayout,
        SegmentRecord, Timestamp,
    };
    use proptest::prelude::*;

    fn metadata() -> ObjectMetadata {
        let redundancy = Redundancy::ec(2, 1).unwrap();
        ObjectMetadata {
            layout: SegmentLayout::new(10, 4096).unwrap(),
            modified: Timestamp { secs: 5, nanos: 6 },
            content_hash: ContentHash::from_bytes([3; 32]),
            file_key: FileKey::from_bytes([4; 32]),
            redundancy,
            segments: vec![SegmentRecord {
                fragments: vec![cairn_core::PieceHash::of(b"x"); 3],
            }],
        }
    }

    #[test]
    fn files_and_folders_round_trip() {
        let key = MasterSecret::from_bytes([1; 32]).metadata_key();
        let object = ObjectId::from_bytes([9; 16]);
        let text = seal_file(&key, object, &metadata(), &mut rand::rng()).unwrap();
        assert_eq!(
            open(&key, &text).unwrap(),
            Entry::File {
                object,
                metadata: Box::new(metadata())
            }
        );
        assert_eq!(open(&key, &seal_folder()).unwrap(), Entry::Folder);
        let other = MasterSecret::from_bytes([2; 32]).metadata_key();
        assert!(matches!(open(&other, &text), Err(ClientError::Metadata(_))));
    }

    #[test]
    fn markers_never_collide_with_names_and_parse() {
        let cipher = PathCipher::new(&PathKey::from_bytes([5; 32]));
        let folder = cipher.encrypt(&RemotePath::parse("/a").unwrap());
        let marker = marker_path(&folder);
        assert!(EncryptedPath::parse(&marker).is_ok());
        let one = cipher.encrypt(&RemotePath::parse("/f").unwrap());
        assert!(one.as_str().len() > FOLDER_MARKER.len());
        assert!(cipher.decrypt_name(FOLDER_MARKER).is_err());
    }

    proptest! {
        #[test]
        fn hostile_entries_are_errors_not_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let key = MasterSecret::from_bytes([1; 32]).metadata_key();
            let _ = open(&key, &BASE64URL_NOPAD.encode(&bytes));
        }
    }
}

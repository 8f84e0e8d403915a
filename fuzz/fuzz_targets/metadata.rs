//! Object metadata from the pool: the plaintext record decoder, and opening a sealed blob.

#![no_main]

use cairn_core::{MetadataKey, ObjectId, ObjectMetadata};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(metadata) = ObjectMetadata::decode(data) {
        // Canonical: a record that decodes re-encodes to the same bytes.
        assert_eq!(
            metadata
                .encode()
                .expect("a decoded record encodes")
                .as_slice(),
            data
        );
    }
    let key = MetadataKey::from_bytes([6; 32]);
    let _ = ObjectMetadata::open(&key, ObjectId::from_bytes([3; 16]), data);
});

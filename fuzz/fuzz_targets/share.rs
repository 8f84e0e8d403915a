//! Share links and manifests: a link as typed or pasted, and a sealed manifest as the
//! pool hands it back.

#![no_main]

use cairn_core::share::{Link, Manifest, ShareKeys};
use cairn_core::{KdfParams, ShareId, ShareSecret};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(link) = Link::parse(text)
    {
        // A link that parses writes back to one that parses to the same.
        assert_eq!(
            Link::parse(&link.to_string()).expect("a written link parses"),
            link
        );
    }
    let id = ShareId::from_bytes([3; 16]);
    let keys = ShareKeys::derive(
        id,
        &ShareSecret::from_bytes([4; 32]),
        None,
        KdfParams::INSECURE_FAST,
    )
    .expect("keys without a password");
    let _ = Manifest::open(id, &keys, data);
});

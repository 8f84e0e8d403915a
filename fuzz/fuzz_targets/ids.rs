//! Ids and policies from text: URL segments (`/v1/pieces/{hash}`), JSON fields, user input.

#![no_main]

use cairn_core::{AccountId, ObjectId, PeerId, PieceHash, PoolId, RedundancyPolicy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(hash) = text.parse::<PieceHash>() {
        // A piece name that parses is exactly 64 hex digits: it cannot name another file.
        assert!(text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(hash.to_string(), text.to_ascii_lowercase());
    }
    let _ = text.parse::<PeerId>();
    let _ = text.parse::<AccountId>();
    let _ = text.parse::<ObjectId>();
    let _ = text.parse::<PoolId>();
    if let Some(locator) = cairn_core::Locator::parse(text) {
        assert_eq!(locator.to_string(), text);
    }
    if let Ok(policy) = text.parse::<RedundancyPolicy>() {
        assert_eq!(policy.to_string(), text);
    }
});

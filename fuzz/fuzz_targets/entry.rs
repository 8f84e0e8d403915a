//! A listing entry's metadata text as the client receives it from the pool.

#![no_main]

use cairn_core::MasterSecret;
use data_encoding::BASE64URL_NOPAD;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = MasterSecret::from_bytes([1; 32]).metadata_key();
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = cairn_client::entry::open(&key, text);
    }
    let _ = cairn_client::entry::open(&key, &BASE64URL_NOPAD.encode(data));
});

//! Ledger pieces from peers: a piece's head, an entry's pieces opened, and the plaintext
//! entry decoder.

#![no_main]

use cairn_core::LedgerKey;
use cairn_core::ledger::{LedgerEntry, PieceHead};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = PieceHead::parse(data);
    let key = LedgerKey::from_bytes([7; 32]);
    let (a, b) = data.split_at(data.len() / 2);
    let _ = LedgerEntry::open(&key, &[data]);
    let _ = LedgerEntry::open(&key, &[a, b]);
    if let Ok(entry) = LedgerEntry::decode(data) {
        // Canonical: an entry that decodes re-encodes to the same bytes.
        assert_eq!(
            entry
                .encode()
                .expect("a decoded entry encodes")
                .as_slice(),
            data
        );
    }
});

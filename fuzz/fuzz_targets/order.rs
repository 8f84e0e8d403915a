//! Orders as a peer receives them: binary, header text and JSON, then the verifier.

#![no_main]

use cairn_core::{PeerId, PieceHash, PoolId};
use cairn_proto::{OrderAction, OrderVerifier, SignedOrder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut decoded = Vec::new();
    if let Ok(signed) = SignedOrder::from_bytes(data) {
        // Canonical: what decodes is the one encoding of what it decoded to.
        assert_eq!(signed.to_bytes(), data);
        decoded.push(signed);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(signed) = SignedOrder::from_header_value(text) {
            assert_eq!(signed.to_header_value(), text);
            decoded.push(signed);
        }
        if let Ok(signed) = serde_json::from_str::<SignedOrder>(text) {
            decoded.push(signed);
        }
    }
    for signed in decoded {
        let order = signed.order.clone();
        let mut verifier = OrderVerifier::new(order.pool, order.peer, 16);
        let _ = verifier.check(&signed, order.action, &order.piece, order.max_size, 0);
        let mut stranger = OrderVerifier::new(
            PoolId::from_bytes([0; 32]).unwrap_or(order.pool),
            PeerId::from_bytes([0; 32]).unwrap_or(order.peer),
            16,
        );
        let _ = stranger.check(
            &signed,
            OrderAction::Get,
            &PieceHash::of(b""),
            u64::MAX,
            u64::MAX,
        );
    }
});

//! Every wire error code a pool or a peer sends in an [`crate::ErrorBody`], in one place, so
//! senders and matchers share one spelling.
//!
//! A code is lowercase `snake_case` ASCII and keeps its meaning once published. "No such
//! thing" is always `*_not_found`; a code with another suffix means something else (for
//! example [`POOL_UNKNOWN`]: the peer has not yet learnt which pool it serves).

/// Declares the codes and [`ALL`], the list the uniqueness test checks.
macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $code:literal;)*) => {
        $($(#[$doc])* pub const $name: &str = $code;)*
        /// Every code above, for tests and documentation.
        pub const ALL: &[&str] = &[$($name),*];
    };
}

codes! {
    // Any endpoint.

    /// `400`: the request is malformed (a parameter, a path or the body does not parse).
    BAD_REQUEST = "bad_request";
    /// `404` made by the HTTP layer itself (a path parameter named nothing).
    NOT_FOUND = "not_found";
    /// `404`: no route serves this path (client and server may be different versions).
    UNKNOWN_ENDPOINT = "unknown_endpoint";
    /// `405`: the route exists but not with this method.
    METHOD_NOT_ALLOWED = "method_not_allowed";
    /// `408`: the request body arrived too slowly.
    REQUEST_TIMEOUT = "request_timeout";
    /// `400`: the request body was cut off before its declared end.
    REQUEST_INCOMPLETE = "request_incomplete";
    /// `411`: the request must declare its length.
    LENGTH_REQUIRED = "length_required";
    /// `413`: the request body is larger than the endpoint takes.
    REQUEST_TOO_LARGE = "request_too_large";
    /// `415`: the request body has the wrong content type.
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type";
    /// `500`: the server failed; the details are in its log.
    INTERNAL = "internal";

    // Signed requests (see [`crate::auth`]).

    /// `401`: a signed-request header is missing.
    AUTH_MISSING = "auth_missing";
    /// `401`: a signed-request header does not parse.
    AUTH_MALFORMED = "auth_malformed";
    /// `401`: the signing key is not a valid Ed25519 key.
    AUTH_BAD_KEY = "auth_bad_key";
    /// `401`: the request signature does not verify.
    AUTH_BAD_SIGNATURE = "auth_bad_signature";
    /// `401`: the request's time is too far from the server's clock.
    AUTH_CLOCK_SKEW = "auth_clock_skew";
    /// `409`: this signed request was already accepted once.
    AUTH_REPLAYED = "auth_replayed";

    // Load.

    /// `503`: the pool is too busy to remember another request or key; retry later.
    POOL_BUSY = "pool_busy";
    /// `503`: the peer is too busy (its order memory is full); retry later.
    PEER_BUSY = "peer_busy";
    /// `429`: this key sends requests faster than its rate; retry after `Retry-After`.
    RATE_LIMITED = "rate_limited";

    // Orders (see [`crate::order`]), checked by peers.

    /// `401`: the request carries no order.
    ORDER_MISSING = "order_missing";
    /// `400`: the order does not parse.
    ORDER_MALFORMED = "order_malformed";
    /// `400`: the order has a version this peer does not know.
    ORDER_UNKNOWN_VERSION = "order_unknown_version";
    /// `403`: the order names another signer than the one that signed it.
    ORDER_SIGNER_MISMATCH = "order_signer_mismatch";
    /// `403`: the order comes from another pool than the peer serves.
    ORDER_WRONG_POOL = "order_wrong_pool";
    /// `403`: the order's signature does not verify.
    ORDER_BAD_SIGNATURE = "order_bad_signature";
    /// `403`: the order has expired.
    ORDER_EXPIRED = "order_expired";
    /// `403`: the order would live longer than peers accept.
    ORDER_LIFETIME_TOO_LONG = "order_lifetime_too_long";
    /// `403`: the order is for another peer.
    ORDER_WRONG_PEER = "order_wrong_peer";
    /// `403`: the order allows another action.
    ORDER_WRONG_ACTION = "order_wrong_action";
    /// `403`: the order is for another piece.
    ORDER_WRONG_PIECE = "order_wrong_piece";
    /// `403`: the piece is larger than the order allows.
    ORDER_TOO_LARGE = "order_too_large";
    /// `409`: the order was already used.
    ORDER_REPLAYED = "order_replayed";

    // The pool.

    /// `404`: no open upload with this id (never begun, committed, aborted or expired).
    UPLOAD_NOT_FOUND = "upload_not_found";
    /// `404`: the account has no object at this path.
    OBJECT_NOT_FOUND = "object_not_found";
    /// `404`: the pool has no peer with this key; register first.
    PEER_NOT_FOUND = "peer_not_found";
    /// `404`: no repair job with this id for this peer (unknown, not its own, or timed out).
    REPAIR_NOT_FOUND = "repair_not_found";
    /// `404`: no such piece (on a peer: not stored; at the pool: none of the account's
    /// objects has it on that peer).
    PIECE_NOT_FOUND = "piece_not_found";
    /// `403`: the peer was disqualified after failed audits.
    PEER_DISQUALIFIED = "peer_disqualified";
    /// `403`: the placement would take the account past its quota.
    QUOTA_EXCEEDED = "quota_exceeded";
    /// `413`: more items in one batch request than the pool takes at once.
    TOO_MANY_AT_ONCE = "too_many_at_once";
    /// `400`: the redundancy policy does not parse or does not fit the request.
    BAD_REDUNDANCY = "bad_redundancy";
    /// `503`: too few suitable peers are online to place the pieces.
    NETWORK_TOO_SMALL = "network_too_small";
    /// `409`: a segment is committed before it was placed.
    SEGMENT_NOT_PLACED = "segment_not_placed";
    /// `400`: a segment commit's receipts do not match what was placed.
    BAD_COMMIT = "bad_commit";
    /// `409`: the object is committed before all its segments were.
    UPLOAD_INCOMPLETE = "upload_incomplete";
    /// `409`: the thing to create exists already.
    ALREADY_EXISTS = "already_exists";
    /// `409`: the change conflicts with another one made meanwhile; retry.
    CONFLICT = "conflict";
    /// `404`: no share has this id (for this account, when its owner asks).
    SHARE_NOT_FOUND = "share_not_found";
    /// `403`: the token does not open this share (the wrong link or password).
    SHARE_WRONG_TOKEN = "share_wrong_token";
    /// `410`: the share's owner revoked it.
    SHARE_REVOKED = "share_revoked";
    /// `410`: the share's time is over.
    SHARE_EXPIRED = "share_expired";
    /// `410`: the share was opened as many times as its owner allowed.
    SHARE_EXHAUSTED = "share_exhausted";

    // A peer.

    /// `503`: the peer has not yet learnt which pool it serves (it has not registered).
    POOL_UNKNOWN = "pool_unknown";
    /// `413`: more reads in one batch than the peer takes.
    TOO_MANY_READS = "too_many_reads";
    /// `413`: more writes in one batch than the peer takes.
    TOO_MANY_WRITES = "too_many_writes";
    /// `507`: the peer has no room for the piece.
    PEER_FULL = "peer_full";
    /// `400`: the piece's bytes do not hash to its name.
    PIECE_HASH_MISMATCH = "piece_hash_mismatch";
    /// `400`: the piece's bytes are not as long as declared.
    PIECE_WRONG_LENGTH = "piece_wrong_length";
    /// `400`: the piece's upload was cut off.
    PIECE_INTERRUPTED = "piece_interrupted";
    /// `400`: an audit asks for a range outside the piece.
    BAD_AUDIT_RANGE = "bad_audit_range";
    /// `416`: a read asks for a range outside the piece.
    BAD_RANGE = "bad_range";
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = HashSet::new();
        for code in ALL {
            assert!(seen.insert(code), "{code} is listed twice");
            assert!(!code.is_empty() && code.len() <= crate::error::MAX_DISPLAYED_CODE);
            assert!(
                code.split('_')
                    .all(|word| !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase())),
                "{code} is not snake_case"
            );
        }
    }

    #[test]
    fn no_thing_is_unknown_only_not_found() {
        for code in ALL {
            // `pool_unknown` is a peer's state (no pool learnt yet), not a missing record.
            if *code != POOL_UNKNOWN {
                assert!(
                    !code.ends_with("_unknown"),
                    "{code} should end in _not_found"
                );
            }
        }
    }
}

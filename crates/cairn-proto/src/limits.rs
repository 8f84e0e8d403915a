//! The protocol's size limits, shared by the pool that enforces them and the clients and
//! peers that can check a request against them before sending it.
//!
//! The pool's limits come first, then a peer's (its batch routes; [`crate::peer_api`]
//! re-exports those under their old names).
//!
//! Raising a limit is a protocol change: an older pool refuses what a newer client allows.

/// Largest piece the pool places: a 64 MiB segment cut in two, with room to spare.
pub const MAX_PIECE_SIZE: u64 = 256 * 1024 * 1024;

/// Largest sealed metadata blob (bytes, before base64url) the pool stores with an object.
pub const MAX_METADATA: usize = 1024 * 1024;

/// Most segments one object may have.
pub const MAX_SEGMENTS: u32 = 1 << 24;

/// Objects in a listing page when the request names no `limit`.
pub const DEFAULT_LIST_PAGE: u32 = 1000;

/// Most objects in one listing page; a larger `limit` is lowered to this.
pub const MAX_LIST_PAGE: u32 = 10_000;

/// Most uploads one batch begin or batch commit request may carry.
pub const MAX_AT_ONCE: usize = 256;

/// Most paths one batch sources request may ask for.
pub const MAX_SOURCES: usize = 256;

/// Ledger pieces found, or records given back, at most per request.
pub const MAX_IMPORT: usize = 256;

/// Most bytes a signed request body to the pool may have (a peer's inventory at
/// registration is the largest).
pub const MAX_SIGNED_BODY: usize = 64 * 1024 * 1024;

/// Most paths each list of an account health answer names.
pub const MAX_HEALTH_PATHS: usize = 1000;

/// Longest peer address (`http://host:port`) the pool registers.
pub const MAX_PEER_ADDRESS_LEN: usize = 256;

/// Longest zone name the pool registers.
pub const MAX_ZONE_LEN: usize = 64;

/// Most orders one batch read from a peer ([`crate::peer_api::READS`]) may carry.
pub const MAX_READS: usize = 256;

/// Most piece bytes one batch read answer from a peer may hold; a larger request is
/// refused whole.
pub const MAX_READ_BYTES: u64 = 16 << 20;

/// Most pieces one batch write to a peer ([`crate::peer_api::WRITES`]) may carry.
pub const MAX_WRITES: usize = 256;

/// Most body bytes one batch write to a peer may carry; a larger one is refused unread.
pub const MAX_WRITE_BYTES: u64 = 16 << 20;

/// Longest base64url text of [`MAX_METADATA`] bytes.
pub const MAX_METADATA_TEXT: usize = MAX_METADATA.div_ceil(3) * 4;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metadata_text_bound_holds_the_largest_blob() {
        let blob = vec![0xa5u8; MAX_METADATA];
        let text = data_encoding::BASE64URL_NOPAD.encode(&blob);
        assert!(text.len() <= MAX_METADATA_TEXT);
    }
}

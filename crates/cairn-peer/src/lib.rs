//! Cairn peer.

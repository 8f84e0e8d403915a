//! Cairn wire protocol.

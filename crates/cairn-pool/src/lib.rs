//! Cairn pool.

//! The states a peer moves through in the pool's registry (defined with the wire protocol,
//! since peers and status readers see them too).

pub use cairn_proto::peer_state::{PeerState, UnknownPeerState};

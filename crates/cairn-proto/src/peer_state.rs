//! The states a peer moves through in the pool's registry, and their stable text names
//! (on the wire, in the pool's store and in metrics).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a peer stands with the pool.
///
/// `online → suspect → offline → lost` follow from missed heartbeats (timers); a heartbeat
/// brings a timed-out peer back to `online`. `draining` is asked for by the peer (its pieces
/// move elsewhere), `left` ends a drain, and `disqualified` is the pool's verdict after
/// failed audits. Only `online` peers receive new pieces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerState {
    /// Heartbeating on time.
    Online,
    /// Missed a heartbeat or two; not given new pieces, still served from.
    Suspect,
    /// Silent longer than `--offline-after`.
    Offline,
    /// Silent longer than `--repair-after`: its pieces count as gone and are repaired.
    Lost,
    /// Leaving on purpose: serves its pieces while they move elsewhere.
    Draining,
    /// Has left the pool; holds nothing the pool relies on.
    Left,
    /// Refused by the pool (failed audits); its pieces are repaired elsewhere.
    Disqualified,
}

impl PeerState {
    /// Every state, in lifecycle order.
    pub const ALL: [Self; 7] = [
        Self::Online,
        Self::Suspect,
        Self::Offline,
        Self::Lost,
        Self::Draining,
        Self::Left,
        Self::Disqualified,
    ];

    /// The stable name used in the store, the API and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Suspect => "suspect",
            Self::Offline => "offline",
            Self::Lost => "lost",
            Self::Draining => "draining",
            Self::Left => "left",
            Self::Disqualified => "disqualified",
        }
    }

    /// Whether the health timers move this state (the rest change only on request).
    pub const fn is_timed(self) -> bool {
        matches!(
            self,
            Self::Online | Self::Suspect | Self::Offline | Self::Lost
        )
    }
}

impl fmt::Display for PeerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A peer state name that is not one of [`PeerState::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown peer state {0:?}")]
pub struct UnknownPeerState(pub String);

impl FromStr for PeerState {
    type Err = UnknownPeerState;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or_else(|| UnknownPeerState(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_pinned() {
        let names: Vec<&str> = PeerState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "online",
                "suspect",
                "offline",
                "lost",
                "draining",
                "left",
                "disqualified"
            ]
        );
        for state in PeerState::ALL {
            assert_eq!(state.to_string().parse::<PeerState>(), Ok(state));
            assert_eq!(
                serde_json::to_string(&state).ok(),
                Some(format!("\"{state}\""))
            );
        }
        assert!("Online".parse::<PeerState>().is_err());
    }
}

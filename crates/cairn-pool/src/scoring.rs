//! The pool's scoring judgements that a metadata store applies as data when it writes a
//! peer's scores (it stores; the pool decides): where a new peer's availability starts and
//! how far one audit moves the audit score. Its own module so that the store, below the
//! health logic, can take it without depending on that logic.

use crate::placement::ASSUMED_AVAILABILITY;

/// How much one audit moves a peer's audit score (an exponentially weighted average).
pub const AUDIT_SCORE_WEIGHT: f64 = 0.1;

/// The pool's scoring judgements that a metadata store applies as data when it writes a
/// peer's scores: where a new peer's availability starts, and how far one audit moves the
/// audit score (see [`crate::health::next_audit_score`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeerScoring {
    /// The availability a newly registered peer starts with, before any health tick has
    /// measured it.
    pub initial_availability: f64,
    /// The weight of each audit in the audit score, in `[0, 1]`.
    pub audit_weight: f64,
}

impl Default for PeerScoring {
    /// A new peer starts at [`ASSUMED_AVAILABILITY`] (a score of 0 would keep it from
    /// receiving pieces until measured), and each audit weighs [`AUDIT_SCORE_WEIGHT`].
    fn default() -> Self {
        Self {
            initial_availability: ASSUMED_AVAILABILITY,
            audit_weight: AUDIT_SCORE_WEIGHT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_scoring_starts_new_peers_at_the_assumed_availability() {
        let scoring = PeerScoring::default();
        assert_eq!(scoring.initial_availability, ASSUMED_AVAILABILITY);
        assert_eq!(scoring.audit_weight, AUDIT_SCORE_WEIGHT);
    }
}

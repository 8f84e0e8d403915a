//! The `auto` redundancy policy: the cheapest redundancy the current network can carry at the
//! pool's durability target, and the check that a fixed redundancy fits the network at all.

use std::collections::HashSet;

use cairn_core::policy::{PolicyError, Redundancy, RedundancyPolicy, choose_policy, most_durable};

use super::{Candidate, PlacementError};

/// Survival probability per segment that `auto` aims for when the operator sets none: six
/// nines, the probability that a segment is readable at a random moment (see
/// [`cairn_core::policy::segment_survival_probability`]). Repair restores lost pieces, so the
/// chance of losing data for good is far smaller.
pub const DEFAULT_DURABILITY_TARGET: f64 = 0.999_999;

/// Availability assumed when no candidate has a usable score yet (a new network). It is what
/// an always-on machine reaches (about 15 minutes away a day); a pool may also start a newly
/// registered peer's score here, since a score of 0 would keep it from receiving pieces until
/// the measured score catches up. At this value `auto` needs at least five peers for
/// [`DEFAULT_DURABILITY_TARGET`] (`ec:2+3`), and picks `ec:3+3` on six.
pub const ASSUMED_AVAILABILITY: f64 = 0.99;

/// The cheapest redundancy that `eligible_peers` distinct peers with mean availability
/// `mean_availability` can carry with a segment survival probability of at least `target`
/// (core's [`choose_policy`]). Errors say which input was invalid, or that no redundancy fits and
/// what to do about it.
pub fn auto_redundancy(
    eligible_peers: usize,
    mean_availability: f64,
    target: f64,
) -> Result<Redundancy, PlacementError> {
    Ok(choose_policy(eligible_peers, mean_availability, target)?)
}

/// Distinct candidates (first entry per id) that have any free space.
fn with_room(candidates: &[Candidate]) -> Vec<&Candidate> {
    let mut seen = HashSet::new();
    (candidates.iter())
        .filter(|c| seen.insert(c.id) && c.free > 0)
        .collect()
}

/// The mean availability of the distinct candidates with free space, counting each score
/// clamped to `[0, 1]` and skipping NaN and infinite ones; [`ASSUMED_AVAILABILITY`] when no
/// score is usable.
pub fn mean_availability(candidates: &[Candidate]) -> f64 {
    let scores: Vec<f64> = (with_room(candidates).into_iter())
        .map(|c| c.availability)
        .filter(|a| a.is_finite())
        .map(|a| a.clamp(0.0, 1.0))
        .collect();
    if scores.is_empty() {
        return ASSUMED_AVAILABILITY;
    }
    let mean = scores.iter().sum::<f64>() / scores.len() as f64;
    mean.clamp(0.0, 1.0)
}

/// What [`resolve_policy`] chose.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resolved {
    /// The redundancy new segments get.
    pub redundancy: Redundancy,
    /// For `auto` on a network too small for the target: the segment survival probability
    /// the chosen (most durable) redundancy reaches instead.
    pub below_target: Option<f64>,
}

/// The redundancy to use for new segments on this network.
///
/// `auto` becomes [`auto_redundancy`] over the distinct candidates with any free space and their
/// [`mean_availability`]; when no redundancy they can carry meets the target, the most durable
/// one they can ([`most_durable`], with [`Resolved::below_target`]) — never a dead end while
/// three peers have room. A fixed redundancy passes through unchanged if that many distinct
/// peers exist, else fails with [`PlacementError::PolicyTooWide`]. Whether each peer has room
/// for a particular piece is [`super::place`]'s check, since piece size depends on the
/// redundancy.
pub fn resolve_policy(
    policy: RedundancyPolicy,
    candidates: &[Candidate],
    target: f64,
) -> Result<Resolved, PlacementError> {
    let available = with_room(candidates).len();
    match policy {
        RedundancyPolicy::Auto => {
            let availability = mean_availability(candidates);
            match auto_redundancy(available, availability, target) {
                Ok(redundancy) => Ok(Resolved {
                    redundancy,
                    below_target: None,
                }),
                Err(PlacementError::Policy(PolicyError::NoPolicyMeetsTarget { .. })) => {
                    let (redundancy, survival) = most_durable(available, availability, target)?;
                    Ok(Resolved {
                        redundancy,
                        below_target: Some(survival),
                    })
                }
                Err(e) => Err(e),
            }
        }
        RedundancyPolicy::Fixed(redundancy) => {
            let needed = usize::from(redundancy.pieces());
            if available < needed {
                return Err(PlacementError::PolicyTooWide {
                    redundancy,
                    needed,
                    available,
                });
            }
            Ok(Resolved {
                redundancy,
                below_target: None,
            })
        }
    }
}

//! Per-peer scores the pool keeps: availability (an exponentially weighted share of time
//! online), a smoothed round-trip time and an audit score. Each is a plain function of the
//! previous value and a new observation, and survives garbage input. The judgements a
//! metadata store applies when it writes scores are [`crate::scoring::PeerScoring`].

use std::time::Duration;

use crate::state::PeerState;

/// Time constant of the availability score: about how far back it remembers. A week covers
/// daily and weekly rhythms (home machines switched off at night or at weekends), so the score
/// says how often a peer is up rather than whether it was up this afternoon; a peer that is
/// gone for good is caught much sooner by the health timers (`lost`).
pub const DEFAULT_AVAILABILITY_WINDOW: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Weight of each new round-trip sample in [`next_rtt`].
pub const RTT_ALPHA: f64 = 0.25;

/// Whether a peer in `state` counts as up for its availability score: `online` or `draining`
/// (a draining peer still serves its pieces). `suspect` counts as down: it has missed
/// heartbeats.
pub const fn counts_as_up(state: PeerState) -> bool {
    matches!(state, PeerState::Online | PeerState::Draining)
}

/// The availability score after one health tick of length `tick`, during which the peer was
/// `online` or not, for a score remembering about `window`:
///
/// `previous + α · (observed − previous)`, with `α = 1 − e^(−tick / window)` and `observed` 1
/// or 0.
///
/// Because `α` follows the tick's length, ticks of any rhythm give the same score over the same
/// history. The result is always in `[0, 1]`: a previous value outside it is clamped, and a NaN
/// one is forgotten (the score restarts from the observation). A zero `tick` changes nothing;
/// a zero `window` makes the score the latest observation.
pub fn next_availability(previous: f64, online: bool, tick: Duration, window: Duration) -> f64 {
    let observed = if online { 1.0 } else { 0.0 };
    let previous = if previous.is_nan() {
        observed
    } else {
        previous.clamp(0.0, 1.0)
    };
    let alpha = if tick.is_zero() {
        0.0
    } else if window.is_zero() {
        1.0
    } else {
        // 1 - e^(-x), accurate for the tiny x of a short tick over a long window.
        -(-tick.as_secs_f64() / window.as_secs_f64()).exp_m1()
    };
    (previous + alpha * (observed - previous)).clamp(0.0, 1.0)
}

/// The smoothed round-trip time after a new sample, in milliseconds: the sample itself when
/// there is no usable previous value, else `previous + RTT_ALPHA · (sample − previous)`.
///
/// A sample that is not a finite, non-negative number is ignored (the previous value is
/// returned), and so is a previous value that is not; so the result is `None` only when both
/// are unusable.
pub fn next_rtt(previous: Option<f64>, sample_ms: f64) -> Option<f64> {
    let usable = |value: f64| value.is_finite() && value >= 0.0;
    let previous = previous.filter(|&p| usable(p));
    if !usable(sample_ms) {
        return previous;
    }
    Some(match previous {
        None => sample_ms,
        Some(previous) => previous + RTT_ALPHA * (sample_ms - previous),
    })
}

pub use crate::scoring::{AUDIT_SCORE_WEIGHT, PeerScoring};

/// The audit score after one audit that `passed` or not: `previous · (1 − weight) + weight`
/// on a pass, `previous · (1 − weight)` on a failure. A store computes the same in its own
/// transaction (so concurrent audits of one peer are not lost).
pub fn next_audit_score(previous: f64, passed: bool, weight: f64) -> f64 {
    let observed = if passed { 1.0 } else { 0.0 };
    previous * (1.0 - weight) + observed * weight
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);
    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn an_audit_moves_the_score_by_its_weight() {
        assert!((next_audit_score(1.0, true, 0.1) - 1.0).abs() < 1e-12);
        assert!((next_audit_score(1.0, false, 0.1) - 0.9).abs() < 1e-12);
        assert!((next_audit_score(0.5, true, 0.2) - 0.6).abs() < 1e-12);
        assert_eq!(next_audit_score(0.7, false, 0.0), 0.7);
    }

    #[test]
    fn which_states_count_as_up() {
        let up: Vec<_> = PeerState::ALL
            .into_iter()
            .filter(|&s| counts_as_up(s))
            .collect();
        assert_eq!(up, [PeerState::Online, PeerState::Draining]);
    }

    #[test]
    fn availability_converges_to_the_truth() {
        // Online for a window's worth of minute ticks from 0 reaches 1 - 1/e.
        let mut score = 0.0;
        for _ in 0..60 {
            score = next_availability(score, true, MINUTE, HOUR);
        }
        assert!((score - (1.0 - (-1.0f64).exp())).abs() < 1e-12, "{score}");
        // Many windows online: essentially 1; many offline: essentially 0.
        for _ in 0..60 * 40 {
            score = next_availability(score, true, MINUTE, HOUR);
        }
        assert!(score > 1.0 - 1e-12 && score <= 1.0, "{score}");
        for _ in 0..60 * 40 {
            score = next_availability(score, false, MINUTE, HOUR);
        }
        assert!((0.0..1e-12).contains(&score), "{score}");
        // Up half the time, alternating, settles near one half.
        for i in 0..60 * 40 {
            score = next_availability(score, i % 2 == 0, MINUTE, HOUR);
        }
        assert!((score - 0.5).abs() < 0.01, "{score}");
    }

    #[test]
    fn availability_edge_cases() {
        assert_eq!(next_availability(0.3, true, Duration::ZERO, HOUR), 0.3);
        assert_eq!(next_availability(0.3, false, MINUTE, Duration::ZERO), 0.0);
        assert_eq!(
            next_availability(0.3, true, Duration::ZERO, Duration::ZERO),
            0.3
        );
        assert_eq!(next_availability(f64::NAN, true, MINUTE, HOUR), 1.0);
        assert_eq!(next_availability(f64::NAN, false, MINUTE, HOUR), 0.0);
        assert_eq!(next_availability(f64::INFINITY, true, MINUTE, HOUR), 1.0);
        assert_eq!(next_availability(-3.0, false, MINUTE, HOUR), 0.0);
        assert_eq!(next_availability(0.5, true, Duration::MAX, HOUR), 1.0);
        // One tick of a whole window moves the score 1 - 1/e of the way.
        let one = next_availability(0.0, true, HOUR, HOUR);
        assert!((one - 0.632_120_558_828_557_7).abs() < 1e-15, "{one}");
    }

    #[test]
    fn tick_length_does_not_matter() {
        let (mut fine, mut coarse) = (0.2, 0.2);
        for _ in 0..120 {
            fine = next_availability(fine, true, Duration::from_secs(30), HOUR);
        }
        coarse = next_availability(coarse, true, HOUR, HOUR);
        assert!((fine - coarse).abs() < 1e-12, "{fine} vs {coarse}");
    }

    #[test]
    fn rtt_smoothing() {
        assert_eq!(next_rtt(None, 40.0), Some(40.0));
        assert_eq!(next_rtt(Some(40.0), 80.0), Some(50.0));
        assert_eq!(next_rtt(Some(40.0), 0.0), Some(30.0));
        for bad in [f64::NAN, -1.0, f64::INFINITY, -f64::INFINITY] {
            assert_eq!(next_rtt(Some(40.0), bad), Some(40.0));
            assert_eq!(next_rtt(None, bad), None);
            assert_eq!(next_rtt(Some(bad), 10.0), Some(10.0));
        }
        let mut rtt = None;
        for _ in 0..100 {
            rtt = next_rtt(rtt.or(Some(500.0)), 20.0);
        }
        assert!((rtt.unwrap() - 20.0).abs() < 1e-9);
    }

    proptest! {
        #[test]
        fn availability_stays_a_probability(
            start in prop_oneof![any::<f64>(), 0.0..=1.0f64],
            steps in proptest::collection::vec((any::<bool>(), 0..10_000u64), 0..200),
            window in 0..100_000u64,
        ) {
            let window = Duration::from_secs(window);
            let mut score = start;
            for (online, tick) in steps {
                let before = if score.is_nan() { None } else { Some(score.clamp(0.0, 1.0)) };
                score = next_availability(score, online, Duration::from_secs(tick), window);
                prop_assert!((0.0..=1.0).contains(&score), "{score}");
                // Never moves away from what was observed.
                if let Some(before) = before {
                    if online {
                        prop_assert!(score >= before);
                    } else {
                        prop_assert!(score <= before);
                    }
                }
            }
        }

        #[test]
        fn rtt_stays_between_previous_and_sample(
            previous in proptest::option::of(0.0..1e6f64),
            sample in prop_oneof![0.0..1e6f64, any::<f64>()],
        ) {
            let next = next_rtt(previous, sample);
            match (previous, sample.is_finite() && sample >= 0.0) {
                (_, true) => {
                    let next = next.unwrap();
                    let low = previous.unwrap_or(sample).min(sample);
                    let high = previous.unwrap_or(sample).max(sample);
                    prop_assert!(low <= next && next <= high);
                }
                (previous, false) => prop_assert_eq!(next, previous),
            }
        }
    }
}

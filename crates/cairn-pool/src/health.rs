//! Peer health, pure: the timers that move a silent peer `online → suspect → offline → lost`,
//! and one health tick that turns snapshots of the registry into state and score updates. The
//! pool's health loop reads the clock and the store; this module only does the arithmetic.
//! Segment health (which recorded pieces still count) is in `health/segment.rs`.

mod score;
mod segment;

use std::fmt;
use std::time::Duration;

use cairn_core::PeerId;

use crate::state::PeerState;

pub use score::{
    AUDIT_SCORE_WEIGHT, DEFAULT_AVAILABILITY_WINDOW, PeerScoring, RTT_ALPHA, counts_as_up,
    next_audit_score, next_availability, next_rtt,
};
pub use segment::{
    ObjectCondition, is_readable, object_condition, object_health, piece_state, segment_health,
};

/// How many heartbeat intervals of silence make a peer `suspect`: three, so one late
/// heartbeat on a busy machine (the peer sleeps an interval after each answer) does not
/// take a healthy peer out of placement.
pub const SUSPECT_AFTER_HEARTBEATS: u32 = 3;

/// The health timers, as the operator configures them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthTimers {
    /// How often peers heartbeat (`--heartbeat-interval`); silence longer than
    /// [`SUSPECT_AFTER_HEARTBEATS`] intervals makes a peer `suspect`.
    pub heartbeat_interval: Duration,
    /// Silence after which a peer is `offline` (`--offline-after`).
    pub offline_after: Duration,
    /// Silence after which a peer is `lost` and its pieces are repaired (`--repair-after`).
    pub repair_after: Duration,
}

impl Default for HealthTimers {
    /// Heartbeats every 10 s, offline after 5 minutes, repair after an hour.
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_secs(10),
            offline_after: Duration::from_secs(5 * 60),
            repair_after: Duration::from_secs(60 * 60),
        }
    }
}

/// Why a set of [`HealthTimers`] makes no sense.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimersError {
    /// The heartbeat interval is zero.
    #[error("the heartbeat interval must be longer than zero; try 10s")]
    ZeroHeartbeat,
    /// `offline_after` is not longer than the heartbeat interval.
    #[error(
        "--offline-after ({}) must be longer than the heartbeat interval ({}), or peers would go offline between heartbeats",
        Human(*.offline_after), Human(*.heartbeat_interval)
    )]
    OfflineTooSoon {
        /// The configured `offline_after`.
        offline_after: Duration,
        /// The configured heartbeat interval.
        heartbeat_interval: Duration,
    },
    /// `repair_after` is shorter than `offline_after`.
    #[error(
        "--repair-after ({}) must be at least --offline-after ({}): a peer is repaired only after it is offline",
        Human(*.repair_after), Human(*.offline_after)
    )]
    RepairTooSoon {
        /// The configured `repair_after`.
        repair_after: Duration,
        /// The configured `offline_after`.
        offline_after: Duration,
    },
}

impl HealthTimers {
    /// Checks that the heartbeat interval is not zero, `offline_after > heartbeat_interval` and
    /// `repair_after >= offline_after`. (When `offline_after` is at most two intervals, a peer
    /// goes straight from `online` to `offline`; that is allowed.)
    pub fn validate(&self) -> Result<(), TimersError> {
        if self.heartbeat_interval.is_zero() {
            return Err(TimersError::ZeroHeartbeat);
        }
        if self.offline_after <= self.heartbeat_interval {
            return Err(TimersError::OfflineTooSoon {
                offline_after: self.offline_after,
                heartbeat_interval: self.heartbeat_interval,
            });
        }
        if self.repair_after < self.offline_after {
            return Err(TimersError::RepairTooSoon {
                repair_after: self.repair_after,
                offline_after: self.offline_after,
            });
        }
        Ok(())
    }
}

/// A duration for people: `250ms`, `1500ms`, `10s`, `5m`, `1h 30m`, `2d 3h`.
struct Human(Duration);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs();
        // Whole seconds read best in units; anything finer is shown in milliseconds.
        if secs == 0 || self.0.subsec_nanos() != 0 {
            return write!(f, "{}ms", self.0.as_millis());
        }
        let units = [(86_400, "d"), (3600, "h"), (60, "m"), (1, "s")];
        let mut rest = secs;
        let mut first = true;
        for (size, name) in units {
            if rest >= size {
                if !first {
                    f.write_str(" ")?;
                }
                write!(f, "{}{name}", rest / size)?;
                rest %= size;
                first = false;
            }
        }
        Ok(())
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Order of the timed states along the timers, for "never backwards".
const fn rank(state: PeerState) -> u8 {
    match state {
        PeerState::Online => 0,
        PeerState::Suspect => 1,
        PeerState::Offline => 2,
        _ => 3,
    }
}

/// The state a peer should be in now, judged by its silence `now_ms - last_heartbeat_ms`
/// (milliseconds on the pool's clock; a heartbeat "in the future" counts as no silence):
///
/// - more than [`SUSPECT_AFTER_HEARTBEATS`] × `heartbeat_interval` → `suspect`,
/// - more than `offline_after` → `offline`,
/// - more than `repair_after` → `lost`,
/// - otherwise `online`.
///
/// Silence exactly at a threshold does not cross it. A timed state ([`PeerState::is_timed`])
/// only moves forward here — a `lost` peer stays `lost` however recent `last_heartbeat_ms`
/// claims to be — because coming back is the heartbeat handler's decision, not the timers'.
/// States the timers do not govern (`draining`, `left`, `disqualified`) are returned unchanged,
/// even when the peer is silent: a draining peer that stops answering still shows up in its
/// availability score, and its pieces are moved by the drain.
pub fn timed_state(
    current: PeerState,
    last_heartbeat_ms: u64,
    now_ms: u64,
    timers: &HealthTimers,
) -> PeerState {
    if !current.is_timed() {
        return current;
    }
    let silence = now_ms.saturating_sub(last_heartbeat_ms);
    let suspect_after =
        millis(timers.heartbeat_interval).saturating_mul(u64::from(SUSPECT_AFTER_HEARTBEATS));
    let due = if silence > millis(timers.repair_after) {
        PeerState::Lost
    } else if silence > millis(timers.offline_after) {
        PeerState::Offline
    } else if silence > suspect_after {
        PeerState::Suspect
    } else {
        PeerState::Online
    };
    if rank(due) > rank(current) {
        due
    } else {
        current
    }
}

/// What the health loop knows about one peer before a tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeerSnapshot {
    /// The peer.
    pub id: PeerId,
    /// Its state in the registry.
    pub state: PeerState,
    /// When it entered that state, in ms on the pool's clock.
    pub state_since_ms: u64,
    /// When its last heartbeat arrived (or it registered, if it never heartbeat), in ms.
    pub last_heartbeat_ms: u64,
    /// Its availability score before this tick.
    pub availability: f64,
}

/// What one tick decided for one peer: the values to write back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeerUpdate {
    /// The peer.
    pub id: PeerId,
    /// Its state after the timers.
    pub state: PeerState,
    /// When it entered that state: unchanged, or the tick's `now_ms` if the state changed.
    pub state_since_ms: u64,
    /// Its availability score after this tick.
    pub availability: f64,
}

/// A state change made by a tick, for the log and for triggering repair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthChange {
    /// The peer.
    pub id: PeerId,
    /// Its state before the tick.
    pub from: PeerState,
    /// Its state after the tick.
    pub to: PeerState,
}

/// The result of one health tick.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TickOutcome {
    /// One update per snapshot that is still part of the network (not `left` or
    /// `disqualified`), in input order.
    pub updates: Vec<PeerUpdate>,
    /// The updates whose state changed, in the same order.
    pub changes: Vec<HealthChange>,
}

/// One health tick at `now_ms`, the previous one having run at `last_tick_ms`.
///
/// For each peer, the timers give its new state ([`timed_state`]); its availability then
/// moves by the time since the last tick ([`next_availability`] over `window`), counting the
/// peer as up if its new state [`counts_as_up`] — so a peer that turns `suspect` in this tick
/// counts as down for it. `left` and `disqualified` peers are skipped: no longer part of the
/// network, their state and score stay as they are. If the clock went backwards
/// (`now_ms < last_tick_ms`), scores stay put. `timers` should have passed
/// [`HealthTimers::validate`]; invalid ones give odd states, never a panic.
pub fn tick(
    peers: &[PeerSnapshot],
    now_ms: u64,
    last_tick_ms: u64,
    timers: &HealthTimers,
    window: Duration,
) -> TickOutcome {
    let elapsed = Duration::from_millis(now_ms.saturating_sub(last_tick_ms));
    let mut outcome = TickOutcome::default();
    for peer in peers {
        if matches!(peer.state, PeerState::Left | PeerState::Disqualified) {
            continue;
        }
        let state = timed_state(peer.state, peer.last_heartbeat_ms, now_ms, timers);
        let changed = state != peer.state;
        if changed {
            outcome.changes.push(HealthChange {
                id: peer.id,
                from: peer.state,
                to: state,
            });
        }
        outcome.updates.push(PeerUpdate {
            id: peer.id,
            state,
            state_since_ms: if changed { now_ms } else { peer.state_since_ms },
            availability: next_availability(
                peer.availability,
                counts_as_up(state),
                elapsed,
                window,
            ),
        });
    }
    outcome
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use ed25519_dalek::SigningKey;
    use proptest::prelude::*;

    use super::PeerState::*;
    use super::*;

    const SEC: u64 = 1000;

    fn peer(n: u8) -> PeerId {
        PeerId::from_verifying_key(&SigningKey::from_bytes(&[n; 32]).verifying_key())
    }

    /// 1 s heartbeats, offline after 10 s, lost after 60 s.
    fn timers() -> HealthTimers {
        HealthTimers {
            heartbeat_interval: Duration::from_secs(1),
            offline_after: Duration::from_secs(10),
            repair_after: Duration::from_secs(60),
        }
    }

    #[test]
    fn silence_moves_a_peer_down_the_states() {
        let t = timers();
        let at =
            |silence_ms: u64, current| timed_state(current, 1_000_000, 1_000_000 + silence_ms, &t);
        // Each threshold exactly is not yet crossed; a millisecond more is.
        for (silence, expected) in [
            (0, Online),
            (3 * SEC, Online),
            (3 * SEC + 1, Suspect),
            (10 * SEC, Suspect),
            (10 * SEC + 1, Offline),
            (60 * SEC, Offline),
            (60 * SEC + 1, Lost),
            (u64::MAX - 1_000_000, Lost),
        ] {
            assert_eq!(at(silence, Online), expected, "after {silence} ms");
        }
        // The whole walk, one tick at a time.
        let mut state = Online;
        let mut seen = vec![state];
        for second in 0..=61 {
            let next = timed_state(state, 0, second * SEC + 1, &t);
            if next != state {
                seen.push(next);
            }
            state = next;
        }
        assert_eq!(seen, [Online, Suspect, Offline, Lost]);
    }

    #[test]
    fn timed_states_never_move_back_and_others_never_move() {
        let t = timers();
        for current in PeerState::ALL {
            for (last, now) in [(0, 0), (0, 3 * SEC), (0, 30 * SEC), (0, 3600 * SEC), (5, 0)] {
                let next = timed_state(current, last, now, &t);
                if current.is_timed() {
                    assert!(rank(next) >= rank(current), "{current} -> {next}");
                    assert!(next.is_timed());
                } else {
                    assert_eq!(next, current);
                }
            }
        }
        // A fresh heartbeat does not revive a lost peer here; the heartbeat handler does.
        assert_eq!(timed_state(Lost, 100 * SEC, 100 * SEC, &t), Lost);
        assert_eq!(timed_state(Suspect, 100 * SEC, 100 * SEC, &t), Suspect);
        // A heartbeat stamped after `now` (clock skew) is no silence at all.
        assert_eq!(timed_state(Online, 200 * SEC, 100 * SEC, &t), Online);
    }

    #[test]
    fn short_offline_timer_skips_suspect() {
        let t = HealthTimers {
            heartbeat_interval: Duration::from_secs(10),
            offline_after: Duration::from_secs(15),
            repair_after: Duration::from_secs(15),
        };
        assert_eq!(t.validate(), Ok(()));
        assert_eq!(timed_state(Online, 0, 15 * SEC, &t), Online);
        assert_eq!(timed_state(Online, 0, 15 * SEC + 1, &t), Lost);
    }

    #[test]
    fn timers_validation() {
        assert_eq!(HealthTimers::default().validate(), Ok(()));
        assert_eq!(timers().validate(), Ok(()));
        let with = |hb: u64, off: u64, repair: u64| HealthTimers {
            heartbeat_interval: Duration::from_secs(hb),
            offline_after: Duration::from_secs(off),
            repair_after: Duration::from_secs(repair),
        };
        assert_eq!(with(0, 10, 10).validate(), Err(TimersError::ZeroHeartbeat));
        assert!(matches!(
            with(10, 10, 60).validate(),
            Err(TimersError::OfflineTooSoon { .. })
        ));
        assert!(matches!(
            with(10, 5, 60).validate(),
            Err(TimersError::OfflineTooSoon { .. })
        ));
        assert!(matches!(
            with(1, 60, 59).validate(),
            Err(TimersError::RepairTooSoon { .. })
        ));
        assert_eq!(with(1, 60, 60).validate(), Ok(()));
        assert_eq!(
            with(10, 10, 60).validate().unwrap_err().to_string(),
            "--offline-after (10s) must be longer than the heartbeat interval (10s), or peers would go offline between heartbeats"
        );
        assert_eq!(
            with(10, 300, 5430).validate().map_err(|e| e.to_string()),
            Ok(())
        );
        assert_eq!(
            with(10, 5430, 300).validate().unwrap_err().to_string(),
            "--repair-after (5m) must be at least --offline-after (1h 30m 30s): a peer is repaired only after it is offline"
        );
        for (duration, text) in [
            (Duration::from_millis(250), "250ms"),
            (Duration::from_millis(1500), "1500ms"),
            (Duration::from_secs(1), "1s"),
            (Duration::from_secs(90_061), "1d 1h 1m 1s"),
            (Duration::from_secs(7200), "2h"),
        ] {
            assert_eq!(Human(duration).to_string(), text);
        }
    }

    fn snapshot(n: u8, state: PeerState, last_heartbeat_ms: u64) -> PeerSnapshot {
        PeerSnapshot {
            id: peer(n),
            state,
            state_since_ms: 7,
            last_heartbeat_ms,
            availability: 0.5,
        }
    }

    #[test]
    fn one_tick() {
        let t = timers();
        let now = 10_000 * SEC;
        let peers = [
            snapshot(1, Online, now - SEC),     // on time: stays online, scores up
            snapshot(2, Online, now - 5 * SEC), // turns suspect, scores down
            snapshot(3, Suspect, now - 61 * SEC), // jumps to lost
            snapshot(4, Draining, now - 3600 * SEC), // silent but draining: unchanged, scores up
            snapshot(5, Left, 0),               // skipped
            snapshot(6, Disqualified, 0),       // skipped
            snapshot(7, Lost, now),             // stays lost until a heartbeat handler says so
        ];
        let window = Duration::from_secs(60);
        let outcome = tick(&peers, now, now - 60 * SEC, &t, window);
        let states: Vec<_> = outcome.updates.iter().map(|u| (u.id, u.state)).collect();
        assert_eq!(
            states,
            [
                (peer(1), Online),
                (peer(2), Suspect),
                (peer(3), Lost),
                (peer(4), Draining),
                (peer(7), Lost),
            ]
        );
        assert_eq!(
            outcome.changes,
            [
                HealthChange {
                    id: peer(2),
                    from: Online,
                    to: Suspect
                },
                HealthChange {
                    id: peer(3),
                    from: Suspect,
                    to: Lost
                },
            ]
        );
        let since: Vec<_> = outcome.updates.iter().map(|u| u.state_since_ms).collect();
        assert_eq!(since, [7, now, now, 7, 7]);
        // One whole window since the last tick: 0.5 moves 1 - 1/e of the way to 1 or to 0.
        let up = 0.5 + 0.5 * (1.0 - (-1.0f64).exp());
        let down = 0.5 * (-1.0f64).exp();
        let scores: Vec<_> = outcome.updates.iter().map(|u| u.availability).collect();
        for (score, expected) in scores.iter().zip([up, down, down, up, down]) {
            assert!((score - expected).abs() < 1e-12, "{scores:?}");
        }
        // A clock that went backwards moves no score.
        let back = tick(&peers[..1], now, now + SEC, &t, window);
        assert_eq!(back.updates[0].availability, 0.5);
        assert_eq!(tick(&[], now, 0, &t, window), TickOutcome::default());
    }

    proptest! {
        #[test]
        fn ticks_never_panic_and_stay_in_bounds(
            state in proptest::sample::select(PeerState::ALL.to_vec()),
            last in any::<u64>(),
            now in any::<u64>(),
            last_tick in any::<u64>(),
            availability in any::<f64>(),
            hb in 0..u64::MAX, off in 0..u64::MAX, repair in 0..u64::MAX,
        ) {
            let timers = HealthTimers {
                heartbeat_interval: Duration::from_millis(hb),
                offline_after: Duration::from_millis(off),
                repair_after: Duration::from_millis(repair),
            };
            let peers = [PeerSnapshot {
                id: peer(1),
                state,
                state_since_ms: 0,
                last_heartbeat_ms: last,
                availability,
            }];
            let outcome = tick(&peers, now, last_tick, &timers, DEFAULT_AVAILABILITY_WINDOW);
            for update in &outcome.updates {
                prop_assert!((0.0..=1.0).contains(&update.availability));
                prop_assert!(update.state.is_timed() == state.is_timed());
            }
            prop_assert!(outcome.changes.len() <= outcome.updates.len());
        }
    }
}

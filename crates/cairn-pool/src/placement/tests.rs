//! Tests of placement: fixed examples, error sentences, and properties over random networks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};

use cairn_core::PolicyError;
use cairn_core::policy::{Redundancy, RedundancyPolicy};
use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::*;

const MIB: u64 = 1 << 20;

fn peer(n: u8) -> PeerId {
    PeerId::from_verifying_key(&SigningKey::from_bytes(&[n; 32]).verifying_key())
}

fn candidate(n: u8, domain: &str, free: u64) -> Candidate {
    Candidate {
        id: peer(n),
        domain: domain.to_owned(),
        free,
        availability: 1.0,
        rtt_ms: Some(20.0),
    }
}

fn request(pieces: usize, piece_size: u64, spares: usize) -> PlacementRequest {
    PlacementRequest {
        pieces,
        piece_size,
        spares,
    }
}

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// How often each peer lands in `peers` over `trials` placements with one seeded stream.
fn counts(candidates: &[Candidate], pieces: usize, trials: usize) -> HashMap<PeerId, usize> {
    let mut rng = rng(7);
    let mut counts = HashMap::new();
    for _ in 0..trials {
        for id in place(candidates, &request(pieces, 1, 0), &mut rng)
            .unwrap()
            .peers
        {
            *counts.entry(id).or_default() += 1;
        }
    }
    counts
}

#[test]
fn spreads_over_domains_before_reusing_them() {
    // Three zones holding 1, 2 and 5 peers; six pieces must use all three zones, and the
    // first three draws take one peer from each.
    let zones = ["a", "b", "b", "c", "c", "c", "c", "c"];
    let candidates: Vec<_> = (zones.iter().enumerate())
        .map(|(i, zone)| candidate(i as u8, &failure_domain(Some(zone), ""), MIB))
        .collect();
    let domain_of = |id: &PeerId| &candidates.iter().find(|c| c.id == *id).unwrap().domain;
    for seed in 0..50 {
        let placement = place(&candidates, &request(6, MIB, 2), &mut rng(seed)).unwrap();
        let first: HashSet<_> = placement.peers[..3].iter().map(domain_of).collect();
        assert_eq!(first.len(), 3);
        assert_eq!(placement.spares.len(), 2);
        let all: HashSet<_> = (placement.peers.iter())
            .chain(&placement.spares)
            .copied()
            .collect();
        assert_eq!(all.len(), 8);
    }
}

#[test]
fn skips_peers_without_room_and_counts_duplicates_once() {
    let candidates = [
        candidate(1, "net:a", MIB),
        candidate(2, "net:b", MIB - 1),
        candidate(3, "net:c", 0),
        candidate(4, "net:d", 5 * MIB),
        // A second entry for peer 1 with a different domain does not make it two peers.
        candidate(1, "net:e", 9 * MIB),
    ];
    let placement = place(&candidates, &request(2, MIB, 5), &mut rng(1)).unwrap();
    let mut chosen = placement.peers.clone();
    chosen.sort();
    let mut expected = vec![peer(1), peer(4)];
    expected.sort();
    assert_eq!(chosen, expected);
    assert!(placement.spares.is_empty());
    assert_eq!(
        place(&candidates, &request(3, MIB, 0), &mut rng(1)),
        Err(PlacementError::NotEnoughPeers {
            needed: 3,
            piece_size: MIB,
            eligible: 2,
            online: 4,
        })
    );
}

#[test]
fn error_sentences() {
    let short = PlacementError::NotEnoughPeers {
        needed: 6,
        piece_size: MIB,
        eligible: 4,
        online: 4,
    };
    assert_eq!(
        short.to_string(),
        "this segment needs 6 peers with 1.0 MiB free each, but the network has only 4 online peers; add peers or choose a policy with fewer pieces"
    );
    let full = PlacementError::NotEnoughPeers {
        needed: 3,
        piece_size: 1536 * 1024,
        eligible: 1,
        online: 9,
    };
    assert_eq!(
        full.to_string(),
        "this segment needs 3 peers with 1.5 MiB free each, but only 1 of the 9 online peers have that much room; add peers or free space, or choose a policy with fewer pieces"
    );
    let one = PlacementError::NotEnoughPeers {
        needed: 1,
        piece_size: 100,
        eligible: 1,
        online: 1,
    };
    assert!(
        one.to_string()
            .contains("needs 1 peer with 100 B free each, but the network has only 1 online peer;")
    );
    let wide = resolve_policy(
        RedundancyPolicy::Fixed(Redundancy::ec(4, 2).unwrap()),
        &[candidate(1, "a", 1), candidate(2, "b", 1)],
        DEFAULT_DURABILITY_TARGET,
    )
    .unwrap_err();
    assert_eq!(
        wide.to_string(),
        "the redundancy policy ec:4+2 needs 6 peers with free space, but the network has only 2 online peers; add peers or choose a policy with fewer pieces"
    );
    for (bytes, text) in [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (64 * MIB, "64.0 MiB"),
        (3 << 40, "3.0 TiB"),
        (u64::MAX, "16.0 EiB"),
    ] {
        assert_eq!(Bytes(bytes).to_string(), text);
    }
}

#[test]
fn garbage_scores_never_panic() {
    let mut candidates = Vec::new();
    let scores = [f64::NAN, f64::INFINITY, -f64::INFINITY, -1.0, 2.0, 0.0];
    let rtts = [
        None,
        Some(f64::NAN),
        Some(f64::INFINITY),
        Some(-5.0),
        Some(0.0),
    ];
    for (i, availability) in scores.into_iter().enumerate() {
        for (j, rtt_ms) in rtts.into_iter().enumerate() {
            candidates.push(Candidate {
                id: peer((i * rtts.len() + j) as u8),
                domain: format!("d{i}"),
                free: if j == 0 { 0 } else { u64::MAX },
                availability,
                rtt_ms,
            });
        }
    }
    for c in &candidates {
        let w = weight(c, u64::MAX);
        assert!((0.0..=1.0).contains(&w), "{c:?} {w}");
    }
    for piece_size in [0, 1, u64::MAX] {
        for seed in 0..20 {
            let request = request(candidates.len() / 2, piece_size, 100);
            let placement = place(&candidates, &request, &mut rng(seed)).unwrap();
            assert_eq!(placement.peers.len(), candidates.len() / 2);
        }
    }
    // Nothing is asked, nothing is chosen.
    let empty = place(&[], &request(0, 1, 3), &mut rng(0)).unwrap();
    assert_eq!(
        empty,
        Placement {
            peers: vec![],
            spares: vec![]
        }
    );
}

#[test]
fn weight_formula() {
    let c = |free, availability, rtt_ms| Candidate {
        id: peer(1),
        domain: String::new(),
        free,
        availability,
        rtt_ms,
    };
    assert_eq!(weight(&c(10, 1.0, Some(0.0)), 10), 1.0);
    assert_eq!(weight(&c(5, 1.0, Some(0.0)), 10), 0.5);
    assert_eq!(weight(&c(10, 0.5, Some(0.0)), 10), 0.25);
    assert_eq!(weight(&c(10, 1.0, Some(100.0)), 10), 0.5);
    assert_eq!(weight(&c(10, 1.0, None), 10), 0.5);
    assert_eq!(weight(&c(10, 1.0, Some(300.0)), 10), 0.25);
    assert_eq!(weight(&c(10, f64::NAN, None), 10), 0.0);
    assert_eq!(weight(&c(0, 1.0, None), 0), 0.0);
}

#[test]
fn more_free_space_is_chosen_more_often() {
    // One roomy peer and ten with a tenth of its space, each in its own domain, one piece per
    // segment: the roomy one should get about 10 / 20 of the pieces, each small one 1 / 20.
    let mut candidates = vec![candidate(0, "big", 100 * MIB)];
    candidates.extend((1..=10).map(|i| candidate(i, &format!("small{i}"), 10 * MIB)));
    let counts = counts(&candidates, 1, 4000);
    let big = counts[&peer(0)];
    let small_mean = (1..=10).map(|i| counts[&peer(i)]).sum::<usize>() / 10;
    assert!(
        big > 1500 && big < 2500,
        "big peer chosen {big} of 4000 times"
    );
    assert!(big > 5 * small_mean, "{big} vs {small_mean}");
}

#[test]
fn availability_and_latency_lower_the_odds() {
    let mut reliable = candidate(0, "a", MIB);
    reliable.rtt_ms = Some(0.0);
    let mut flaky = candidate(1, "b", MIB);
    flaky.availability = 0.5; // weight × 0.25
    flaky.rtt_ms = Some(0.0);
    let mut far = candidate(2, "c", MIB);
    far.rtt_ms = Some(300.0); // weight × 0.25
    let counts = counts(&[reliable, flaky, far], 1, 3000);
    // Expected shares 2/3, 1/6, 1/6: 2000, 500, 500.
    assert!(counts[&peer(0)] > 1700, "{counts:?}");
    assert!(
        counts[&peer(1)] < 700 && counts[&peer(2)] < 700,
        "{counts:?}"
    );
}

#[test]
fn auto_and_fixed_policies() {
    let ec = |k, m| Redundancy::ec(k, m).unwrap();
    let network = |n: u8, availability: f64| -> Vec<Candidate> {
        (0..n)
            .map(|i| Candidate {
                availability,
                ..candidate(i, &format!("d{i}"), MIB)
            })
            .collect()
    };
    let target = DEFAULT_DURABILITY_TARGET;
    // With no usable score, the assumed availability decides: five peers carry ec:2+3, six ec:3+3.
    let unmeasured = network(6, f64::NAN);
    assert_eq!(mean_availability(&unmeasured), ASSUMED_AVAILABILITY);
    assert_eq!(
        resolve_policy(RedundancyPolicy::Auto, &unmeasured, target).map(|r| r.redundancy),
        Ok(ec(3, 3))
    );
    let five = network(5, f64::NAN);
    assert_eq!(
        resolve_policy(RedundancyPolicy::Auto, &five, target).map(|r| r.redundancy),
        Ok(ec(2, 3))
    );
    assert_eq!(auto_redundancy(6, 0.99, target), Ok(ec(3, 3)));
    // Peers without room, and repeated entries, do not count.
    let mut crowded = network(6, 0.99);
    crowded[5].free = 0;
    crowded.push(crowded[0].clone());
    assert_eq!(
        resolve_policy(RedundancyPolicy::Auto, &crowded, target).map(|r| r.redundancy),
        Ok(ec(2, 3))
    );
    // Four peers cannot meet the target: the most durable redundancy they carry, and how
    // far it falls short. Two cannot carry any.
    let small = resolve_policy(RedundancyPolicy::Auto, &network(4, 0.99), target).unwrap();
    let (best, survival) = cairn_core::policy::most_durable(4, 0.99, target).unwrap();
    assert_eq!(small.redundancy, best);
    assert_eq!(small.below_target, Some(survival));
    assert!(survival < target);
    assert_eq!(
        resolve_policy(RedundancyPolicy::Auto, &network(2, 0.99), target),
        Err(PlacementError::Policy(PolicyError::NoPolicyMeetsTarget {
            peers: 2,
            availability: cairn_core::policy::Float(0.99),
            target: cairn_core::policy::Float(target),
        }))
    );
    assert!(matches!(
        auto_redundancy(6, 0.99, 1.0),
        Err(PlacementError::Policy(PolicyError::InvalidTarget(_)))
    ));
    assert!(matches!(
        auto_redundancy(6, f64::NAN, target),
        Err(PlacementError::Policy(PolicyError::InvalidAvailability(_)))
    ));
    // Scores are clamped and garbage is skipped in the mean.
    let mut mixed = network(3, 1.0);
    mixed[0].availability = 2.0;
    mixed[1].availability = f64::INFINITY;
    mixed[2].availability = 0.5;
    assert_eq!(mean_availability(&mixed), 0.75);
    // A fixed redundancy passes through when enough distinct peers exist.
    let redundancy = ec(4, 2);
    assert_eq!(
        resolve_policy(redundancy.into(), &network(6, 0.1), target),
        Ok(Resolved {
            redundancy,
            below_target: None
        })
    );
    assert_eq!(
        resolve_policy(redundancy.into(), &crowded, target),
        Err(PlacementError::PolicyTooWide {
            redundancy,
            needed: 6,
            available: 5,
        })
    );
    let request = PlacementRequest::for_redundancy(Redundancy::rep(2, 3).unwrap(), 10, 2);
    assert_eq!(request, self::request(6, 10, 2));
}

/// One generated peer: which id (small, so ids repeat), its zone or subnet number, and its
/// free space, availability and round trip.
type PeerSpec = (u8, u8, u64, f64, Option<f64>);

fn network() -> impl Strategy<Value = (Vec<PeerSpec>, Option<u8>)> {
    let free = prop_oneof![Just(0u64), 0..2 * MIB, Just(MIB), MIB..100 * MIB];
    let availability = prop_oneof![0.0..=1.0f64, Just(0.0), Just(1.0)];
    let rtt = proptest::option::of(0.0..500.0f64);
    let spec = (0..48u8, 0..8u8, free, availability, rtt);
    (
        proptest::collection::vec(spec, 0..40),
        proptest::option::of(1..8u8),
    )
}

fn build(specs: &[PeerSpec], zones: Option<u8>) -> Vec<Candidate> {
    (specs.iter())
        .map(|&(id, place, free, availability, rtt_ms)| {
            let domain = match zones {
                Some(zones) => failure_domain(Some(&format!("z{}", place % zones)), ""),
                None => failure_domain(None, &format!("http://10.0.{place}.{id}:7000")),
            };
            Candidate {
                id: peer(id),
                domain,
                free,
                availability,
                rtt_ms,
            }
        })
        .collect()
}

proptest! {
    #[test]
    fn placements_respect_the_invariants(
        (specs, zones) in network(),
        pieces in 0..12usize,
        spares in 0..4usize,
        seed in any::<u64>(),
    ) {
        let candidates = build(&specs, zones);
        let request = request(pieces, MIB, spares);
        // The reference view: first entry per id, then those with room.
        let mut seen = HashSet::new();
        let distinct: Vec<_> = candidates.iter().filter(|c| seen.insert(c.id)).collect();
        let eligible: HashMap<PeerId, &str> = (distinct.iter())
            .filter(|c| c.free >= MIB)
            .map(|c| (c.id, c.domain.as_str()))
            .collect();
        let eligible_domains: HashSet<&str> = eligible.values().copied().collect();

        let result = place(&candidates, &request, &mut rng(seed));
        let again = place(&candidates, &request, &mut rng(seed));
        prop_assert_eq!(&result, &again, "a seeded rng gives the same placement");
        let placement = match result {
            Err(error) => {
                prop_assert!(eligible.len() < pieces);
                prop_assert_eq!(error, PlacementError::NotEnoughPeers {
                    needed: pieces,
                    piece_size: MIB,
                    eligible: eligible.len(),
                    online: distinct.len(),
                });
                return Ok(());
            }
            Ok(placement) => placement,
        };
        prop_assert!(eligible.len() >= pieces);
        prop_assert_eq!(placement.peers.len(), pieces);
        prop_assert_eq!(placement.spares.len(), spares.min(eligible.len() - pieces));
        let all: Vec<PeerId> = placement.peers.iter().chain(&placement.spares).copied().collect();
        let unique: HashSet<PeerId> = all.iter().copied().collect();
        prop_assert_eq!(unique.len(), all.len(), "peers and spares are all distinct");
        prop_assert!(all.iter().all(|id| eligible.contains_key(id)));
        let domains = |ids: &[PeerId]| ids.iter().map(|id| eligible[id]).collect::<HashSet<_>>();
        prop_assert_eq!(domains(&placement.peers).len(), pieces.min(eligible_domains.len()));
        prop_assert_eq!(domains(&all).len(), all.len().min(eligible_domains.len()));
    }
}

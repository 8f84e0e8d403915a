//! Audits and corruption reports with real processes: a peer whose disk is damaged fails the
//! pool's audits, its pieces are marked corrupt, it is disqualified and its pieces are rebuilt
//! elsewhere; a client that reads a damaged piece still gets its exact file back, and the
//! piece is found corrupt and rebuilt.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn_proto::PeerState;
use cairn_testkit::wait_until;

mod common;
use common::*;

/// Long enough for a few audit rounds and a report's audit.
const FOUND: Duration = Duration::from_secs(45);

/// Every data piece file under a peer's data directory (`pieces/ab/<hash>`).
fn piece_files(peer_dir: &Path) -> Vec<PathBuf> {
    data_pieces(peer_dir)
}

fn status_of(client: &Client, path: &str) -> serde_json::Value {
    serde_json::from_str(&client.ok(&["status", path, "--json"])).unwrap()
}

/// The states of `path`'s pieces on `peer` (its id as text), as `(fragment, state)`.
fn pieces_on(client: &Client, path: &str, peer: &str) -> Vec<(u64, String)> {
    status_of(client, path)["segments"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["pieces"].as_array().unwrap().clone())
        .filter(|p| p["peer"] == peer)
        .map(|p| {
            (
                p["fragment"].as_u64().unwrap(),
                p["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The value of counter `name` in the pool's `/metrics`.
async fn counter(pool: &str, name: &str) -> u64 {
    let text = reqwest::get(format!("{pool}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

#[tokio::test]
async fn a_peer_whose_pieces_are_garbage_is_disqualified() {
    // Seven peers: six hold each segment, so there is always one to rebuild onto.
    let net = Network::start(7, &["--audit-interval", "200ms", "--disqualify-after", "2"]).await;
    let (client, _) = Client::init(net.root.join("home"), net.pool.url());
    let local = random_file(&net.root, "data", 3 * 65536 + 777);
    client.put_coded(&local, None, "ec:4+2");
    let victim = status_of(&client, "/data")["segments"][0]["pieces"][0]["peer"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut at = 0;
    for (i, peer) in net.peers.iter().enumerate() {
        if peer_info(peer.url()).await.peer.to_string() == victim {
            at = i;
        }
    }
    let peer_dir = net.root.join(format!("peer{at}"));
    let files = piece_files(&peer_dir);
    assert!(!files.is_empty());
    assert_eq!(pieces_on(&client, "/data", &victim).len(), files.len());
    // Every piece it holds turns to garbage, the account's ledger pieces too (an intact one
    // passing an audit would break the run of failures that disqualifies).
    for file in &all_pieces(&peer_dir) {
        let len = std::fs::metadata(file).unwrap().len() as usize;
        std::fs::write(file, vec![0x5a; len]).unwrap();
    }

    wait_until("the damaged peer disqualified", FOUND, || async {
        let network = status(net.pool.url()).await;
        network
            .peers
            .iter()
            .any(|p| p.peer.to_string() == victim && p.state == PeerState::Disqualified)
            .then_some(())
    })
    .await
    .unwrap();
    // Its pieces are rebuilt on the other peers: full redundancy, nothing left on it.
    wait_until(
        "the damaged peer's pieces rebuilt elsewhere",
        FOUND,
        || async {
            let status = status_of(&client, "/data");
            (status["full_redundancy"] == true && pieces_on(&client, "/data", &victim).is_empty())
                .then_some(())
        },
    )
    .await
    .unwrap();
    assert!(counter(net.pool.url(), "cairn_pieces_rebuilt_total").await >= files.len() as u64);
    let pool = net.pool.url();
    assert!(counter(pool, "cairn_audits_failed_total").await >= 2);
    assert!(counter(pool, "cairn_pieces_marked_corrupt_total").await >= 2);
    assert_eq!(counter(pool, "cairn_peers_disqualified_total").await, 1);
    let network = status(pool).await;
    let record = network
        .peers
        .iter()
        .find(|p| p.peer.to_string() == victim)
        .unwrap();
    assert!(record.audits_failed >= 2 && record.audit_score < 1.0);
    // The healthy peers passed theirs.
    assert!(counter(pool, "cairn_audits_passed_total").await > 0);

    // The file still reads, byte for byte.
    let back = net.root.join("back");
    client.ok(&["get", "/data", back.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(&back).unwrap(),
        std::fs::read(&local).unwrap()
    );
}

#[tokio::test]
async fn a_damaged_piece_is_read_around_and_found_corrupt() {
    let net = Network::start(7, &["--audit-interval", "300ms", "--disqualify-after", "5"]).await;
    let (client, _) = Client::init(net.root.join("home"), net.pool.url());
    // One segment, so each peer holds exactly one piece of it.
    let local = random_file(&net.root, "one", 50_000);
    client.put_coded(&local, None, "ec:4+2");
    // Damage one byte of data fragment 0, which a download reads first.
    let holder = status_of(&client, "/one")["segments"][0]["pieces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["fragment"] == 0)
        .unwrap()["peer"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut at = None;
    for (i, peer) in net.peers.iter().enumerate() {
        if peer_info(peer.url()).await.peer.to_string() == holder {
            at = Some(i);
        }
    }
    let at = at.unwrap();
    let files = piece_files(&net.root.join(format!("peer{at}")));
    assert_eq!(files.len(), 1);
    let mut bytes = std::fs::read(&files[0]).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&files[0], &bytes).unwrap();

    let back = net.root.join("back");
    client.ok(&["get", "/one", back.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(&back).unwrap(),
        std::fs::read(&local).unwrap()
    );

    let pool = net.pool.url();
    wait_until(
        "the damaged piece found and rebuilt elsewhere",
        FOUND,
        || async {
            let marked = counter(pool, "cairn_pieces_marked_corrupt_total").await >= 1;
            let moved = pieces_on(&client, "/one", &holder).is_empty();
            let full = status_of(&client, "/one")["full_redundancy"] == true;
            (marked && moved && full).then_some(())
        },
    )
    .await
    .unwrap();
    // One bad piece is not enough to disqualify its peer.
    let network = status(pool).await;
    let record = network
        .peers
        .iter()
        .find(|p| p.peer.to_string() == holder)
        .unwrap();
    assert_ne!(record.state, PeerState::Disqualified);
    assert_eq!(counter(pool, "cairn_peers_disqualified_total").await, 0);

    // A second read still returns the exact bytes, now without touching the bad piece.
    std::fs::remove_file(&back).unwrap();
    client.ok(&["get", "/one", back.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(&back).unwrap(),
        std::fs::read(&local).unwrap()
    );
}

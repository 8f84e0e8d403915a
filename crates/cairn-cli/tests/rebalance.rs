//! Rebalancing with real processes: new peers fill up until utilisation evens out, a peer
//! whose capacity shrinks sheds pieces and one that grows attracts them, a new zone widens
//! every segment's spread — and files read and write correctly throughout, with every
//! segment's pieces on distinct peers.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use cairn_testkit::wait_until;

mod common;
use common::*;

const TOLERANCE: f64 = 0.1;
const SETTLED: Duration = Duration::from_secs(60);

/// A pool (tolerance 0.1) and peers of the given capacities and zones.
async fn network(peers: &[(&str, &str)]) -> Network {
    let dirs = tempfile::tempdir().unwrap();
    let root = dirs.path().to_owned();
    let pool = start_pool(
        &root.join("pool"),
        "127.0.0.1:0",
        &["--rebalance-tolerance", "0.1"],
    );
    let peers: Vec<_> = peers
        .iter()
        .enumerate()
        .map(|(i, (capacity, zone))| {
            start_peer(
                pool.url(),
                &root.join(format!("peer{i}")),
                capacity,
                Some(zone),
            )
        })
        .collect();
    wait_online(pool.url(), peers.len()).await;
    Network {
        _dirs: dirs,
        root,
        pool,
        peers,
    }
}

/// Puts `count` files of `size` bytes; returns `(remote, local)` pairs.
fn fill(
    client: &Client,
    root: &Path,
    count: usize,
    size: usize,
    policy: &str,
) -> Vec<(String, std::path::PathBuf)> {
    (0..count)
        .map(|i| {
            let local = random_file(root, &format!("file{i}"), size);
            let remote = format!("/file{i}");
            client.put_coded(&local, Some(&remote), policy);
            (remote, local)
        })
        .collect()
}

/// Every file reads back byte for byte, and every segment's pieces sit on distinct peers.
fn check_files(
    client: &Client,
    root: &Path,
    files: &[(String, std::path::PathBuf)],
    pieces: usize,
) {
    for (remote, local) in files {
        let back = root.join("back");
        client.ok(&["get", remote, back.to_str().unwrap()]);
        assert!(
            std::fs::read(&back).unwrap() == std::fs::read(local).unwrap(),
            "{remote}"
        );
        let status: serde_json::Value =
            serde_json::from_str(&client.ok(&["status", remote, "--json"])).unwrap();
        for segment in status["segments"].as_array().unwrap() {
            let peers: HashSet<&str> = segment["pieces"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["peer"].as_str().unwrap())
                .collect();
            assert_eq!(peers.len(), pieces, "{remote}: {segment}");
        }
    }
}

/// Online peers' `(id, used / capacity)` from the pool, as heartbeats report them.
async fn utilisation(pool: &str) -> Vec<(String, f64)> {
    status(pool)
        .await
        .peers
        .iter()
        .filter(|p| p.state == cairn_proto::PeerState::Online)
        .map(|p| (p.peer.to_string(), p.used as f64 / p.capacity as f64))
        .collect()
}

fn spread(list: &[(String, f64)]) -> f64 {
    let max = list.iter().map(|(_, u)| *u).fold(f64::MIN, f64::max);
    let min = list.iter().map(|(_, u)| *u).fold(f64::MAX, f64::min);
    max - min
}

#[tokio::test]
async fn joining_peers_fill_until_utilisation_evens_out() {
    let mut net = network(&[("4MiB", "a"); 6]).await;
    let (client, _) = Client::init(net.root.join("home"), net.pool.url());
    // 8 files × 1 MiB under ec:4+2 store 12 MiB: half of the 24 MiB offered.
    let files = fill(&client, &net.root, 8, 1 << 20, "ec:4+2");
    for i in 6..9 {
        let dir = net.root.join(format!("peer{i}"));
        net.peers
            .push(start_peer(net.pool.url(), &dir, "4MiB", Some("a")));
    }
    wait_online(net.pool.url(), 9).await;
    let newcomers: Vec<String> = {
        let mut ids = Vec::new();
        for peer in &net.peers[6..] {
            ids.push(peer_info(peer.url()).await.peer.to_string());
        }
        ids
    };
    // While pieces move, clients keep writing and reading.
    let extra = random_file(&net.root, "during", 200_000);
    client.put_coded(&extra, Some("/during"), "ec:4+2");
    check_files(&client, &net.root, &[("/during".to_owned(), extra)], 6);
    let pool = net.pool.url().to_owned();
    wait_until("utilisation within the tolerance", SETTLED, || async {
        let list = utilisation(&pool).await;
        let fed = newcomers
            .iter()
            .all(|id| list.iter().any(|(p, u)| p == id && *u > 0.0));
        (fed && spread(&list) <= TOLERANCE + 0.02).then_some(())
    })
    .await
    .unwrap();
    let network: serde_json::Value =
        serde_json::from_str(&client.ok(&["network", "--json"])).unwrap();
    assert!(network["peers"][0]["utilisation"].as_f64().is_some());
    assert!(network["migrations_in_flight"].as_u64().is_some());
    check_files(&client, &net.root, &files, 6);
}

#[tokio::test]
async fn a_shrunk_peer_sheds_pieces_and_a_grown_one_attracts_them() {
    // Eight peers for six-piece segments, so every piece has somewhere to go.
    let mut net = network(&[("4MiB", "a"); 8]).await;
    let (client, _) = Client::init(net.root.join("home"), net.pool.url());
    let files = fill(&client, &net.root, 4, 1 << 20, "ec:4+2");
    let dir = net.root.join("peer0");
    let before = peer_info(net.peers[0].url()).await.used;
    assert!(before > 512 * 1024, "peer 0 holds {before} bytes");
    // Restarted with less room than it uses: it sheds the excess.
    assert!(net.peers[0].stop(Duration::from_secs(10)));
    net.peers[0] = start_peer(net.pool.url(), &dir, "512KiB", Some("a"));
    let url = net.peers[0].url().to_owned();
    wait_until("the shrunk peer to shed its excess", SETTLED, || async {
        (peer_info(&url).await.used <= 512 * 1024).then_some(())
    })
    .await
    .unwrap();
    check_files(&client, &net.root, &files, 6);
    let shrunk = peer_info(&url).await.used;
    // Restarted with plenty of room: it attracts pieces until it is as full as the rest.
    assert!(net.peers[0].stop(Duration::from_secs(10)));
    net.peers[0] = start_peer(net.pool.url(), &dir, "8MiB", Some("a"));
    let url = net.peers[0].url().to_owned();
    wait_until("the grown peer to attract pieces", SETTLED, || async {
        let used = peer_info(&url).await.used;
        (used > shrunk + 256 * 1024).then_some(())
    })
    .await
    .unwrap();
    check_files(&client, &net.root, &files, 6);
}

#[tokio::test]
async fn a_new_zone_widens_every_segment() {
    // Two zones for three-piece segments: some zone always holds two pieces.
    let mut net = network(&[
        ("64MiB", "a"),
        ("64MiB", "a"),
        ("64MiB", "b"),
        ("64MiB", "b"),
    ])
    .await;
    let (client, _) = Client::init(net.root.join("home"), net.pool.url());
    let files = fill(&client, &net.root, 3, 200_000, "ec:2+1");
    let dir = net.root.join("peer4");
    net.peers
        .push(start_peer(net.pool.url(), &dir, "64MiB", Some("c")));
    wait_online(net.pool.url(), 5).await;
    let pool = net.pool.url().to_owned();
    wait_until("every segment in three zones", SETTLED, || async {
        let zones: HashMap<String, String> = status(&pool)
            .await
            .peers
            .iter()
            .map(|p| (p.peer.to_string(), p.zone.clone().unwrap_or_default()))
            .collect();
        let spread_everywhere = files.iter().all(|(remote, _)| {
            let status: serde_json::Value =
                serde_json::from_str(&client.ok(&["status", remote, "--json"])).unwrap();
            status["segments"]
                .as_array()
                .unwrap()
                .iter()
                .all(|segment| {
                    let used: HashSet<&String> = segment["pieces"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| &zones[p["peer"].as_str().unwrap()])
                        .collect();
                    used.len() == 3
                })
        });
        spread_everywhere.then_some(())
    })
    .await
    .unwrap();
    check_files(&client, &net.root, &files, 3);
}

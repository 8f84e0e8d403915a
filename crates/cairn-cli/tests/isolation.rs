//! Invariant 2, fragment isolation, with real processes: no peer ever holds two pieces of
//! one segment — checked in the pool's records (`cairn status --json` and the signed
//! `GET /v1/object` answer, which names each piece's hash) and on the peers' disks (every
//! recorded piece is on its peer, whole, under `pieces/ab/HASH`, and no peer's disk,
//! including a dead peer's, holds two of a segment's pieces) after uploads, after a repair
//! and after rebalancing onto new peers.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn_client::Home;
use cairn_client::pool::PoolClient;
use cairn_core::{PathCipher, RemotePath};
use cairn_proto::PeerState;
use cairn_testkit::wait_until;

mod common;
use common::*;

/// Long enough for a dead peer to count as lost (3 s) and its pieces to be rebuilt, or for
/// rebalancing to settle.
const SETTLED: Duration = Duration::from_secs(90);
/// Utilisation spread the pool is started with.
const TOLERANCE: f64 = 0.1;

/// The account's view of the pool, signed with the home's own key, and its path cipher.
struct Account {
    pool: PoolClient,
    paths: PathCipher,
}

impl Account {
    fn open(home: &Path, pool: &str) -> Self {
        let secret = Home::open(home).unwrap().unlock(None).unwrap();
        Self {
            pool: PoolClient::new(pool, secret.account_key()).unwrap(),
            paths: PathCipher::new(&secret.path_key()),
        }
    }

    /// The pool's record of `path`: per segment, its piece size and `(fragment, peer, hash)`.
    async fn pieces(&self, path: &str) -> Vec<(u64, Vec<(u16, String, String)>)> {
        let encrypted = self.paths.encrypt(&RemotePath::parse(path).unwrap());
        let sources = self.pool.object(encrypted.as_str()).await.unwrap().unwrap();
        sources
            .segments
            .iter()
            .map(|s| {
                let pieces = s
                    .pieces
                    .iter()
                    .map(|p| (p.fragment, p.peer.to_string(), p.hash.to_string()))
                    .collect();
                (s.piece_size, pieces)
            })
            .collect()
    }
}

/// Every piece hash a peer's data directory holds, from its files.
fn on_disk(dir: &Path) -> HashSet<String> {
    let mut out = HashSet::new();
    let Ok(first) = std::fs::read_dir(dir.join("pieces")) else {
        return out;
    };
    for first in first {
        for file in std::fs::read_dir(first.unwrap().path()).unwrap() {
            out.insert(file.unwrap().file_name().to_string_lossy().into_owned());
        }
    }
    out
}

fn piece_path(dir: &Path, hash: &str) -> PathBuf {
    dir.join("pieces").join(&hash[..2]).join(hash)
}

/// The network under test: the pool, its peers and where each peer id keeps its data.
struct Cluster {
    net: Network,
    dirs: HashMap<String, PathBuf>,
    zones: usize,
}

impl Cluster {
    async fn start(peers: usize) -> Self {
        let dirs = tempfile::tempdir().unwrap();
        let root = dirs.path().to_owned();
        let pool = start_pool(
            &root.join("pool"),
            "127.0.0.1:0",
            &["--rebalance-tolerance", &TOLERANCE.to_string()],
        );
        let mut cluster = Self {
            net: Network {
                _dirs: dirs,
                root,
                pool,
                peers: Vec::new(),
            },
            dirs: HashMap::new(),
            zones: 0,
        };
        for _ in 0..peers {
            cluster.add_peer();
        }
        wait_online(cluster.net.pool.url(), peers).await;
        cluster.learn_ids().await;
        cluster
    }

    /// Starts one more peer (4 MiB, in a zone of its own); returns its index.
    fn add_peer(&mut self) -> usize {
        let i = self.zones;
        self.zones += 1;
        let dir = self.net.root.join(format!("peer{i}"));
        let peer = start_peer(
            self.net.pool.url(),
            &dir,
            "4MiB",
            Some(&format!("zone-{i}")),
        );
        self.net.peers.push(peer);
        i
    }

    /// Learns the ids of peers started since the last call (once they are online).
    async fn learn_ids(&mut self) {
        for (i, peer) in self.net.peers.iter().enumerate() {
            let dir = self.net.root.join(format!("peer{i}"));
            if !self.dirs.values().any(|d| *d == dir) {
                let id = peer_info(peer.url()).await.peer.to_string();
                self.dirs.insert(id, dir);
            }
        }
    }

    fn peer_id(&self, index: usize) -> String {
        let dir = self.net.root.join(format!("peer{index}"));
        self.dirs
            .iter()
            .find(|(_, d)| **d == dir)
            .map(|(id, _)| id.clone())
            .unwrap()
    }
}

fn status_json(client: &Client, path: &str) -> serde_json::Value {
    serde_json::from_str(&client.ok(&["status", path, "--json"])).unwrap()
}

/// Asserts fragment isolation for every file (`(path, pieces per segment)`), in the pool's
/// records and on every peer's disk, the dead peers' included.
async fn assert_isolated(
    cluster: &Cluster,
    client: &Client,
    account: &Account,
    files: &[(String, usize)],
    when: &str,
) {
    let disks: HashMap<&String, HashSet<String>> = cluster
        .dirs
        .iter()
        .map(|(id, dir)| (id, on_disk(dir)))
        .collect();
    for (path, width) in files {
        // The records as `cairn status` shows them: one peer per piece.
        let status = status_json(client, path);
        let shown: Vec<Vec<(u16, String)>> = status["segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                s["pieces"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| {
                        let fragment = u16::try_from(p["fragment"].as_u64().unwrap()).unwrap();
                        (fragment, p["peer"].as_str().unwrap().to_owned())
                    })
                    .collect()
            })
            .collect();
        // The records with hashes, from the signed object answer.
        let segments = account.pieces(path).await;
        assert_eq!(segments.len(), shown.len(), "{when}: {path}");
        for (index, ((piece_size, pieces), shown)) in segments.iter().zip(&shown).enumerate() {
            let at = format!("{when}: {path} segment {index}");
            let peers: HashSet<&String> = pieces.iter().map(|(_, peer, _)| peer).collect();
            assert_eq!(pieces.len(), *width, "{at}: {pieces:?}");
            assert_eq!(
                peers.len(),
                *width,
                "{at}: two pieces on one peer: {pieces:?}"
            );
            let mut recorded: Vec<(u16, String)> = pieces
                .iter()
                .map(|(fragment, peer, _)| (*fragment, peer.clone()))
                .collect();
            let mut shown = shown.clone();
            recorded.sort();
            shown.sort();
            assert_eq!(recorded, shown, "{at}: status and object records differ");
            // Every recorded piece is on its peer's disk, whole.
            for (fragment, peer, hash) in pieces {
                let dir = &cluster.dirs[peer];
                let bytes = std::fs::read(piece_path(dir, hash)).unwrap_or_else(|e| {
                    panic!("{at}: fragment {fragment} is not on its peer {peer}: {e}")
                });
                assert_eq!(bytes.len() as u64, *piece_size, "{at}: fragment {fragment}");
                assert_eq!(blake3::hash(&bytes).to_hex().as_str(), hash, "{at}");
            }
            // No disk holds two of the segment's pieces.
            let hashes: HashSet<&String> = pieces.iter().map(|(_, _, hash)| hash).collect();
            for (peer, held) in &disks {
                let mine: Vec<&String> = hashes
                    .iter()
                    .copied()
                    .filter(|h| held.contains(*h))
                    .collect();
                assert!(
                    mine.len() <= 1,
                    "{at}: peer {peer} holds {} of its pieces: {mine:?}",
                    mine.len()
                );
            }
        }
    }
}

/// Waits until every file is at full redundancy with no piece on a peer in `dead`.
async fn wait_full(client: &Client, files: &[(String, usize)], dead: &[String], what: &str) {
    wait_until(what, SETTLED, || async {
        let done = files.iter().all(|(path, _)| {
            let status = status_json(client, path);
            let on_dead = status["segments"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|s| s["pieces"].as_array().unwrap().clone())
                .any(|p| dead.iter().any(|d| d == p["peer"].as_str().unwrap()));
            status["full_redundancy"] == true && !on_dead
        });
        done.then_some(())
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn no_peer_holds_two_pieces_of_a_segment_after_upload_repair_and_rebalancing() {
    let mut cluster = Cluster::start(8).await;
    let root = cluster.net.root.clone();
    let pool = cluster.net.pool.url().to_owned();
    let (client, _) = Client::init(root.join("home"), &pool);
    let account = Account::open(&client.home, &pool);

    // Erasure-coded and replicated files of several segments: about a quarter of the
    // 32 MiB the peers offer.
    let mut files = Vec::new();
    for (i, (policy, size)) in [
        ("ec:4+2", 1 << 20),
        ("ec:4+2", 900_000),
        ("ec:3+2", 700_000),
        ("rep:2x3", 600_000),
        ("rep:3x2", 500_000),
    ]
    .into_iter()
    .enumerate()
    {
        let local = random_file(&root, &format!("file{i}"), size);
        let remote = format!("/file{i}");
        client.ok(&[
            "put",
            local.to_str().unwrap(),
            &remote,
            "--redundancy",
            policy,
            "--segment-size",
            "256KiB",
        ]);
        let width = match policy {
            "ec:4+2" | "rep:2x3" | "rep:3x2" => 6,
            _ => 5,
        };
        files.push((remote, width));
    }
    assert_isolated(&cluster, &client, &account, &files, "after upload").await;

    // The peer holding the most pieces dies; peers rebuild its pieces elsewhere.
    let used = status(&pool).await;
    let victim_id = used
        .peers
        .iter()
        .max_by_key(|p| p.piece_count)
        .unwrap()
        .peer
        .to_string();
    let victim = (0..cluster.net.peers.len())
        .find(|&i| cluster.peer_id(i) == victim_id)
        .unwrap();
    cluster.net.peers[victim].kill();
    wait_full(
        &client,
        &files,
        std::slice::from_ref(&victim_id),
        "repair of the dead peer's pieces",
    )
    .await;
    assert_isolated(&cluster, &client, &account, &files, "after repair").await;

    // Three empty peers join: pieces migrate to them until utilisation evens out.
    let mut added = Vec::new();
    for _ in 0..3 {
        added.push(cluster.add_peer());
    }
    wait_online(&pool, 10).await;
    cluster.learn_ids().await;
    let newcomers: Vec<String> = added.iter().map(|&i| cluster.peer_id(i)).collect();
    wait_until("rebalancing to settle", SETTLED, || async {
        let network = status(&pool).await;
        let online: Vec<f64> = network
            .peers
            .iter()
            .filter(|p| p.state == PeerState::Online)
            .map(|p| p.used as f64 / p.capacity as f64)
            .collect();
        let fed = newcomers.iter().all(|id| {
            network
                .peers
                .iter()
                .any(|p| p.peer.to_string() == *id && p.used > 0)
        });
        let max = online.iter().copied().fold(f64::MIN, f64::max);
        let min = online.iter().copied().fold(f64::MAX, f64::min);
        let quiet = network.migrations_in_flight == 0 && network.repairs_in_flight == 0;
        (fed && quiet && max - min <= TOLERANCE + 0.02).then_some(())
    })
    .await
    .unwrap();
    wait_full(
        &client,
        &files,
        std::slice::from_ref(&victim_id),
        "full redundancy after rebalancing",
    )
    .await;
    // The newcomers now hold pieces the records name.
    let mut placed_on_newcomers = 0;
    for (path, _) in &files {
        for (_, pieces) in account.pieces(path).await {
            placed_on_newcomers += pieces
                .iter()
                .filter(|(_, peer, _)| newcomers.contains(peer))
                .count();
        }
    }
    assert!(placed_on_newcomers > 0, "nothing migrated to the new peers");
    assert_isolated(&cluster, &client, &account, &files, "after rebalancing").await;

    // And every file still reads back.
    for (i, (path, _)) in files.iter().enumerate() {
        let back = root.join("back");
        client.ok(&["get", path, back.to_str().unwrap()]);
        assert!(
            std::fs::read(&back).unwrap() == std::fs::read(root.join(format!("file{i}"))).unwrap(),
            "{path}"
        );
    }
}

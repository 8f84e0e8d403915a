//! Self-repair with real processes: peers die, the pool notices, healthy peers rebuild the
//! lost pieces on others, and files stay whole; a peer that comes back sheds its surplus.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use cairn_testkit::wait_until;

mod common;
use common::*;

/// Long enough for peers to be declared lost (3 s in the test pool) and for the repair.
const HEAL: Duration = Duration::from_secs(45);

/// Peer id (text) → index in `net.peers`.
async fn peer_index(net: &Network) -> HashMap<String, usize> {
    let mut map = HashMap::new();
    for (i, peer) in net.peers.iter().enumerate() {
        map.insert(peer_info(peer.url()).await.peer.to_string(), i);
    }
    map
}

fn status_of(client: &Client, path: &str) -> serde_json::Value {
    serde_json::from_str(&client.ok(&["status", path, "--json"])).unwrap()
}

/// Indexes of the peers holding a piece of segment 0 of `path`.
fn holders(client: &Client, path: &str, index: &HashMap<String, usize>) -> Vec<usize> {
    let status = status_of(client, path);
    let mut out: Vec<usize> = status["segments"][0]["pieces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| index[p["peer"].as_str().unwrap()])
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Waits until `path` is at full redundancy with no piece on any of `dead`.
async fn wait_repaired(
    client: &Client,
    path: &str,
    dead: &[usize],
    index: &HashMap<String, usize>,
) {
    wait_until(&format!("{path} repaired"), HEAL, || async {
        let status = status_of(client, path);
        let on_dead = status["segments"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["pieces"].as_array().unwrap().clone())
            .any(|p| dead.contains(&index[p["peer"].as_str().unwrap()]));
        (status["full_redundancy"] == true && !on_dead).then_some(())
    })
    .await
    .unwrap();
}

fn same_bytes(a: &Path, b: &Path) -> bool {
    std::fs::read(a).unwrap() == std::fs::read(b).unwrap()
}

async fn survives_repeated_loss(policy: &str) {
    let mut net = Network::start(8, &[]).await;
    let (client, _) = Client::init(net.root.join("home"), net.pool.url());
    let local = random_file(&net.root, "data", 5 * 65536 + 99);
    client.put_coded(&local, None, policy);
    let index = peer_index(&net).await;
    let first = holders(&client, "/data", &index);
    assert_eq!(first.len(), 6, "every piece of a segment on its own peer");
    let dead = vec![first[0], first[1]];
    for &i in &dead {
        net.peers[i].kill();
    }
    wait_repaired(&client, "/data", &dead, &index).await;
    // Each lost piece was rebuilt once: no segment has more pieces than its redundancy.
    for segment in status_of(&client, "/data")["segments"].as_array().unwrap() {
        assert_eq!(segment["pieces"].as_array().unwrap().len(), 6, "{segment}");
    }
    let metrics = reqwest::get(format!("{}/metrics", net.pool.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("cairn_pieces_rebuilt_total ") && !l.ends_with(" 0")),
        "{metrics}"
    );
    // Two more holders go: the rebuilt redundancy carries the file.
    let now = holders(&client, "/data", &index);
    let more: Vec<usize> = now
        .iter()
        .copied()
        .filter(|i| !dead.contains(i))
        .take(2)
        .collect();
    for &i in &more {
        net.peers[i].kill();
    }
    let back = net.root.join("back");
    client.ok(&["get", "/data", back.to_str().unwrap()]);
    assert!(same_bytes(&back, &local));
}

#[tokio::test]
async fn ec_lost_pieces_are_rebuilt_and_the_file_survives_further_loss() {
    survives_repeated_loss("ec:4+2").await;
}

#[tokio::test]
async fn rep_lost_copies_are_restored_and_the_file_survives_further_loss() {
    survives_repeated_loss("rep:2x3").await;
}

#[tokio::test]
async fn a_returning_peer_sheds_its_surplus_pieces() {
    let mut net = Network::start(7, &[]).await;
    let (client, _) = Client::init(net.root.join("home"), net.pool.url());
    let local = random_file(&net.root, "data", 3 * 65536);
    client.put_coded(&local, None, "ec:4+2");
    let index = peer_index(&net).await;
    let victim = holders(&client, "/data", &index)[0];
    let dir = net.root.join(format!("peer{victim}"));
    net.peers[victim].kill();
    wait_repaired(&client, "/data", &[victim], &index).await;
    // It comes back with its old pieces, which the network no longer needs.
    net.peers[victim] = start_peer(
        net.pool.url(),
        &dir,
        "1GiB",
        Some(&format!("zone-{victim}")),
    );
    let url = net.peers[victim].url().to_owned();
    wait_until("the returning peer to shed its pieces", HEAL, || async {
        (peer_info(&url).await.piece_count == 0).then_some(())
    })
    .await
    .unwrap();
    wait_repaired(&client, "/data", &[victim], &index).await;
    let back = net.root.join("back");
    client.ok(&["get", "/data", back.to_str().unwrap()]);
    assert!(same_bytes(&back, &local));
}

#[tokio::test]
async fn clients_read_and_write_while_the_network_repairs() {
    let mut net = Network::start(8, &[]).await;
    let (client, _) = Client::init(net.root.join("home"), net.pool.url());
    let local = random_file(&net.root, "data", 4 * 65536);
    let put = |path: &str, file: &Path| {
        client.put_coded(file, Some(path), "ec:4+2");
    };
    put("/data", &local);
    let index = peer_index(&net).await;
    let dead: Vec<usize> = holders(&client, "/data", &index)
        .into_iter()
        .take(2)
        .collect();
    for &i in &dead {
        net.peers[i].kill();
    }
    // From the loss until the repair lands (at least the 3 s until the peers count as
    // lost), keep writing new files and reading every file back.
    let mut written = vec![("/data".to_owned(), local.clone())];
    let mut round = 0;
    loop {
        round += 1;
        let file = random_file(&net.root, &format!("f{round}"), 50_000 + round * 7);
        let path = format!("/f{round}");
        put(&path, &file);
        written.push((path, file));
        for (path, file) in &written {
            let back = net.root.join("back");
            client.ok(&["get", path, back.to_str().unwrap()]);
            assert!(same_bytes(&back, file), "{path}");
        }
        let status = status_of(&client, "/data");
        if status["full_redundancy"] == true || round >= 60 {
            break;
        }
    }
    wait_repaired(&client, "/data", &dead, &index).await;
}

#[tokio::test]
async fn pieces_a_peer_lost_from_its_disk_are_rebuilt_when_it_registers() {
    let mut net = Network::start(7, &[]).await;
    let (client, _) = Client::init(net.root.join("home"), net.pool.url());
    let local = random_file(&net.root, "data", 2 * 65536);
    client.put_coded(&local, None, "ec:4+2");
    let index = peer_index(&net).await;
    let victim = holders(&client, "/data", &index)[0];
    let dir = net.root.join(format!("peer{victim}"));
    // Stopped, its disk loses every piece; it comes back within the repair window, so only
    // its own inventory tells the pool.
    assert!(net.peers[victim].stop(Duration::from_secs(10)));
    std::fs::remove_dir_all(dir.join("pieces")).unwrap();
    net.peers[victim] = start_peer(
        net.pool.url(),
        &dir,
        "1GiB",
        Some(&format!("zone-{victim}")),
    );
    wait_repaired(&client, "/data", &[victim], &index).await;
    let back = net.root.join("back");
    client.ok(&["get", "/data", back.to_str().unwrap()]);
    assert!(same_bytes(&back, &local));
}

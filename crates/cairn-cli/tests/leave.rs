//! `cairn peer leave` with real processes: a running peer drains, the pool moves every
//! piece it held to other peers, the peer deletes them and is let go, and every file still
//! reads back byte for byte once the peer is stopped. Also the command's one-line errors.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cairn_proto::PeerState;
use cairn_testkit::wait_until;

mod common;
use common::*;

/// How long a drain of a few small files may take (migration runs at the pool's pace).
const LEAVE: Duration = Duration::from_secs(180);

/// Waits for `child` to exit, polling until `timeout`; kills it and fails past that.
async fn wait_for_exit(
    child: &mut Child,
    timeout: Duration,
    log: &Path,
) -> std::process::ExitStatus {
    let exited = wait_until("`cairn peer leave` to finish", timeout, || {
        let status = child.try_wait().unwrap();
        async move { status }
    })
    .await;
    exited.unwrap_or_else(|e| {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "{e}; its stderr: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        )
    })
}

#[tokio::test]
async fn a_peer_leaves_gracefully_and_every_file_survives() {
    let mut net = Network::start(7, &[]).await;
    let (client, _) = Client::init(net.root.join("home"), net.pool.url());
    let mut files = Vec::new();
    for (i, len) in [3 * 65536 + 17, 65536, 5 * 65536 + 4321, 1000]
        .into_iter()
        .enumerate()
    {
        let name = format!("file{i}");
        let local = random_file(&net.root, &name, len);
        client.put_coded(&local, None, "ec:4+2");
        files.push((format!("/{name}"), local));
    }
    let leaving = peer_info(net.peers[0].url()).await.peer;
    let dir = net.root.join("peer0");
    // The peer holds something and the pool has heard so, or the test proves nothing.
    wait_until("peer 0 reports its pieces", SETTLE, || async {
        let s = status(net.pool.url()).await;
        s.peers
            .iter()
            .any(|p| p.peer == leaving && p.piece_count > 0)
            .then_some(())
    })
    .await
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("pool.url")).unwrap(),
        net.pool.url(),
        "the peer remembers where its pool is"
    );

    let out = net.root.join("leave.out");
    let err = net.root.join("leave.err");
    let mut child = Command::new(cairn())
        .args(["peer", "leave", "--data", dir.to_str().unwrap()])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let exit = wait_for_exit(&mut child, LEAVE, &err).await;
    let stdout = std::fs::read_to_string(&out).unwrap();
    let stderr = std::fs::read_to_string(&err).unwrap();
    assert!(exit.success(), "leave failed: {stderr}");
    assert!(
        stdout.contains("has left the pool")
            && stdout.contains(&format!("delete its data directory {}", dir.display())),
        "closing sentence: {stdout:?}"
    );

    let network = status(net.pool.url()).await;
    let me = network.peers.iter().find(|p| p.peer == leaving).unwrap();
    assert_eq!((me.state, me.piece_count), (PeerState::Left, 0), "{me:?}");
    assert_eq!(peer_info(net.peers[0].url()).await.piece_count, 0);

    assert!(net.peers[0].stop(READY));
    // Asking again once gone is no new drain, just the same answer.
    let again = client.ok(&["peer", "leave", "--data", dir.to_str().unwrap()]);
    assert!(again.contains("has left the pool"), "{again}");
    for (remote, local) in &files {
        // Every piece moved: full redundancy without the departed peer, not a loss. (Full
        // redundancy also needs every holder online at that moment; on a loaded machine a
        // late heartbeat makes a peer suspect for a beat, so wait for it.)
        let health: serde_json::Value = wait_until("full redundancy", SETTLE, || async {
            let health: serde_json::Value =
                serde_json::from_str(&client.ok(&["status", remote, "--json"])).unwrap();
            (health["full_redundancy"] == true).then_some(health)
        })
        .await
        .unwrap();
        let on_departed = health["segments"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["pieces"].as_array().unwrap())
            .any(|p| p["peer"].as_str() == Some(leaving.to_string().as_str()));
        assert!(
            !on_departed,
            "{remote} still has pieces on the departed peer"
        );
        let back = net
            .root
            .join(format!("back-{}", remote.trim_start_matches('/')));
        client.ok(&["get", remote, back.to_str().unwrap()]);
        assert!(
            std::fs::read(&back).unwrap() == std::fs::read(local).unwrap(),
            "{remote} reads back whole without the peer that left"
        );
    }
}

#[test]
fn leaving_from_a_directory_without_a_peer_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let client = Client::at(dir.path().join("home"));
    let err = client.fails(&["peer", "leave", "--data", data.to_str().unwrap()]);
    assert!(
        err.contains("no peer identity in") && err.contains("is it a peer's data directory?"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(&data).unwrap().count(),
        0,
        "leave creates nothing in the directory"
    );
}

#[test]
fn running_a_peer_without_its_pool_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let client = Client::at(dir.path().join("home"));
    let data = dir.path().join("peer");
    let err = client.fails(&[
        "peer",
        "--data",
        data.to_str().unwrap(),
        "--capacity",
        "1GiB",
    ]);
    assert!(err.contains("--pool"), "{err}");
    assert!(!data.exists(), "nothing started");
}

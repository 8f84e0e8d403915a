//! Transport security with real processes: a pool and peers serving HTTPS with
//! certificates made from their identities, clients and peers pinning those identities —
//! files go up and come back, audits run over TLS, and a wrong identity or plain HTTP gets
//! nowhere.

use cairn_proto::PeerState;
use cairn_proto::api::NetworkStatus;
use cairn_testkit::{Daemon, wait_until};

mod common;
use common::*;

async fn status_over_tls(pool: &str) -> Option<NetworkStatus> {
    let endpoint = cairn_net::Endpoint::parse(pool).unwrap();
    let client = cairn_net::pinned_client(endpoint.identity?, reqwest::Client::builder()).ok()?;
    client
        .get(format!("{}/v1/status", endpoint.base))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
}

#[tokio::test]
async fn a_network_over_pinned_tls_stores_reads_and_audits() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let pool = start_pool(
        &root.join("pool"),
        "127.0.0.1:0",
        &["--tls", "--audit-interval", "200ms"],
    );
    let url = pool.url().to_owned();
    assert!(
        url.starts_with("https://127.0.0.1:") && url.contains('#'),
        "{url}"
    );
    let _peers: Vec<Daemon> = (0..6)
        .map(|i| {
            let dir = root.join(format!("peer{i}"));
            let args = peer_args(&url, &dir, "1GiB", None, &["--tls"]);
            Daemon::start(&cairn(), &args, READY).unwrap()
        })
        .collect();
    wait_until("6 peers online over TLS", SETTLE, || async {
        let status = status_over_tls(&url).await?;
        (status
            .peers
            .iter()
            .filter(|p| p.state == PeerState::Online)
            .count()
            == 6)
            .then_some(())
    })
    .await
    .unwrap();
    let (client, _) = Client::init(root.join("home"), &url);
    let local = random_file(root, "data", 300_000);
    client.put_coded(&local, None, "ec:4+2");
    let back = root.join("back");
    client.ok(&["get", "/data", back.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(&back).unwrap(),
        std::fs::read(&local).unwrap()
    );
    // Peers serve HTTPS too, and the pool's audits reach them through their pins.
    wait_until("audits over TLS", SETTLE, || async {
        let status = status_over_tls(&url).await?;
        let all_https = status
            .peers
            .iter()
            .all(|p| p.address.starts_with("https://"));
        let audited = status.peers.iter().map(|p| p.audits_passed).sum::<u64>() > 0;
        let failed = status.peers.iter().map(|p| p.audits_failed).sum::<u64>();
        assert_eq!(failed, 0);
        (all_https && audited).then_some(())
    })
    .await
    .unwrap();

    // Another identity in the address: no connection, one clear line.
    let (base, _) = url.split_once('#').unwrap();
    let impostor = format!("{base}#{}", "ab".repeat(32));
    let stranger = Client::at(root.join("stranger"));
    let err = stranger.fails(&["init", "--pool", &impostor, "--no-passphrase"]);
    assert!(err.contains("cannot reach the pool"), "{err}");
    assert!(!root.join("stranger").join("client.json").exists());
    // An https address without the identity is refused before dialling.
    let err = stranger.fails(&["init", "--pool", base, "--no-passphrase"]);
    assert!(err.contains("does not say whose it is"), "{err}");
    // Plain HTTP to the TLS port gets no answer.
    let plain = base.replace("https://", "http://");
    let run = stranger.run(&["network", "--pool", &plain]);
    assert!(!run.ok, "{}", run.stdout);
}

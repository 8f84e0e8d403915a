//! The client end to end through the real `cairn` binary: a real pool and real peers as
//! processes, client homes in temp dirs, files compared byte for byte.

use std::path::Path;
use std::time::Duration;

use cairn_testkit::{Daemon, wait_until};

mod common;
use common::*;

/// Small segments, so segment boundaries and many-segment files stay cheap to test.
const SEGMENT: usize = 64 * 1024;
const SEGMENT_ARG: &str = "64KiB";

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[tokio::test]
async fn put_and_get_are_byte_identical_for_every_size_and_policy() {
    let net = Network::start(6, &[]).await;
    let (client, _) = Client::init(net.root.join("home"), net.pool.url());
    let files = net.root.join("files");
    std::fs::create_dir_all(&files).unwrap();
    let sizes = [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 5 * SEGMENT + 123];
    for policy in ["ec:4+2", "rep:3x2", "auto"] {
        for size in sizes {
            let name = format!("{}-{size}", policy.replace(':', "_"));
            let local = random_file(&files, &name, size);
            let remote = format!("/{name}");
            client.put_coded(&local, Some(&remote), policy);
            let back = net.root.join(format!("{name}.back"));
            client.ok(&["get", &remote, back.to_str().unwrap()]);
            assert_eq!(read(&back), read(&local), "{policy}, {size} bytes");
            // Full redundancy needs every holder online at that moment; a heartbeat late
            // on a loaded machine makes a peer suspect for a beat, so wait for it.
            let status: serde_json::Value = wait_until("full redundancy", SETTLE, || async {
                let status: serde_json::Value =
                    serde_json::from_str(&client.ok(&["status", &remote, "--json"])).unwrap();
                (status["full_redundancy"] == true).then_some(status)
            })
            .await
            .unwrap();
            assert_eq!(status["size"], size as u64);
            let segments = status["segments"].as_array().unwrap();
            assert_eq!(
                segments.len(),
                size.div_ceil(SEGMENT).max(1),
                "{policy} {size}"
            );
            if policy != "auto" {
                assert_eq!(status["redundancy"], policy);
                for segment in segments {
                    let pieces = segment["pieces"].as_array().unwrap();
                    assert_eq!(pieces.len(), 6);
                    let peers: std::collections::HashSet<_> =
                        pieces.iter().map(|p| p["peer"].as_str().unwrap()).collect();
                    assert_eq!(peers.len(), 6, "every piece on a different peer");
                    assert!(pieces.iter().all(|p| p["state"] == "healthy"));
                }
            }
        }
    }
    // Standard output carries the bytes and nothing else.
    for name in ["ec_4+2-1", "rep_3x2-65537"] {
        let out = std::process::Command::new(cairn())
            .args(["get", &format!("/{name}"), "-"])
            .env("CAIRN_HOME", &client.home)
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, read(&files.join(name)));
    }
    assert_eq!(client.ls("/").len(), 3 * sizes.len());
}

#[tokio::test]
async fn a_tree_of_200_files_goes_up_and_comes_back() {
    let net = Network::start(6, &[]).await;
    let (client, _) = Client::init(net.root.join("home"), net.pool.url());
    let source = net.root.join("photos");
    for d in 0..10 {
        let dir = source.join(format!("album {d}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..20 {
            random_file(&dir, &format!("img-{f}.raw"), (d * 997 + f * 131) % 5000);
        }
    }
    std::fs::create_dir_all(source.join("empty")).unwrap();
    let out = client.ok(&["put", "-r", source.to_str().unwrap()]);
    assert!(out.contains("200 files"), "{out}");
    let top = client.ls("/photos");
    assert_eq!(top.len(), 11);
    assert!(top.iter().all(|(_, kind, _)| kind == "folder"));
    assert_eq!(client.ls("/photos/album 3").len(), 20);
    // A reader that stops early (`| head`) ends the listing quietly, not with a panic.
    let piped = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -o pipefail; '{}' ls '/photos/album 3' | head -c 0",
            cairn().display()
        ))
        .env("CAIRN_HOME", &client.home)
        .output()
        .unwrap();
    assert!(piped.status.success(), "{piped:?}");
    assert!(
        piped.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&piped.stderr)
    );
    let back = net.root.join("back");
    client.ok(&["get", "-r", "/photos", back.to_str().unwrap()]);
    assert_eq!(files_under(&back), files_under(&source));
    assert!(back.join("empty").is_dir(), "empty folders come back too");
}

#[tokio::test]
async fn get_works_with_m_piece_holders_dead() {
    let mut net = Network::start(6, &[]).await;
    let (client, _) = Client::init(net.root.join("home"), net.pool.url());
    let local = random_file(&net.root, "data", 5 * SEGMENT + 7);
    client.put_coded(&local, None, "ec:4+2");
    // Kill two peers outright: the pool still believes them online, so the client meets
    // refused connections and must fall back to the other pieces.
    net.peers[0].kill();
    net.peers[3].kill();
    let back = net.root.join("back");
    client.ok(&["get", "/data", back.to_str().unwrap()]);
    assert_eq!(read(&back), read(&local));
    // A third loss is beyond ec:4+2: a clear error, and no partial file.
    net.peers[5].kill();
    let gone = net.root.join("gone");
    let err = client.fails(&["get", "/data", gone.to_str().unwrap()]);
    assert!(err.contains("cannot be read now"), "{err}");
    assert!(!gone.exists());
    let leftovers = std::fs::read_dir(&net.root)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("cairn-partial")
        })
        .count();
    assert_eq!(leftovers, 0, "a failed get leaves no partial file");
}

#[tokio::test]
async fn put_moves_pieces_from_a_dead_peer_to_spares() {
    let mut net = Network::start(8, &[]).await;
    let (client, _) = Client::init(net.root.join("home"), net.pool.url());
    // The pool still believes this peer online, so it keeps placing pieces on it: each
    // segment has 6 targets and 2 spares among 8 peers, and every segment that lands a
    // piece on the dead peer can only be stored through a spare.
    net.peers[2].kill();
    let local = random_file(&net.root, "data", 8 * SEGMENT);
    client.put_coded(&local, None, "ec:4+2");
    let status: serde_json::Value =
        serde_json::from_str(&client.ok(&["status", "/data", "--json"])).unwrap();
    for segment in status["segments"].as_array().unwrap() {
        assert_eq!(segment["pieces"].as_array().unwrap().len(), 6);
    }
    let back = net.root.join("back");
    client.ok(&["get", "/data", back.to_str().unwrap()]);
    assert_eq!(read(&back), read(&local));
}

#[tokio::test]
async fn folders_moves_and_removals_behave_like_a_drive() {
    let net = Network::start(6, &[]).await;
    let (c, _) = Client::init(net.root.join("home"), net.pool.url());
    let f = random_file(&net.root, "f", 100);
    let f = f.to_str().unwrap();
    c.ok(&["mkdir", "/a"]);
    assert!(c.fails(&["mkdir", "/a"]).contains("already exists"));
    c.ok(&["mkdir", "-p", "/a"]);
    assert!(c.fails(&["mkdir", "/x/y"]).contains("/x does not exist"));
    c.ok(&["mkdir", "-p", "/x/y"]);
    assert_eq!(c.ls("/x"), vec![("/x/y".into(), "folder".into(), 0)]);
    assert_eq!(c.ls("/x/y"), vec![]);
    c.ok(&["put", f, "/a"]);
    assert_eq!(c.ls("/a"), vec![("/a/f".into(), "file".into(), 100)]);
    assert_eq!(c.ls("/a/f"), vec![("/a/f".into(), "file".into(), 100)]);
    c.ok(&["mv", "/a/f", "/a/g"]);
    assert!(
        c.fails(&["mv", "/missing", "/z"])
            .contains("/missing does not exist")
    );
    c.ok(&["put", f, "/b"]);
    assert!(
        c.fails(&["mv", "/b", "/a/g"])
            .contains("/a/g already exists")
    );
    c.ok(&["mv", "/b", "/a"]);
    assert_eq!(
        c.ls("/a"),
        vec![
            ("/a/b".into(), "file".into(), 100),
            ("/a/g".into(), "file".into(), 100)
        ]
    );
    assert!(c.fails(&["mv", "/a", "/a/inside"]).contains("into itself"));
    c.ok(&["mv", "/a", "/renamed"]);
    assert!(c.fails(&["ls", "/a"]).contains("/a does not exist"));
    assert_eq!(c.ls("/renamed").len(), 2);
    assert!(
        c.fails(&["put", f, "/renamed/g/under-a-file"])
            .contains("/renamed/g is a file")
    );
    assert!(c.fails(&["mkdir", "/renamed/g"]).contains("already exists"));
    let deeper = c.fails(&["put", f, "/renamed/g/deeper/still"]);
    assert!(deeper.contains("/renamed/g is a file"), "{deeper}");
    c.ok(&["put", f, "/renamed/new/"]);
    assert_eq!(
        c.ls("/renamed/new"),
        vec![("/renamed/new/f".into(), "file".into(), 100)]
    );
    assert!(c.fails(&["get", "/renamed", "-"]).contains("is a folder"));
    assert!(c.fails(&["rm", "/renamed"]).contains("not empty"));
    assert!(
        c.fails(&["rm", "/nothing"])
            .contains("/nothing does not exist")
    );
    assert!(
        c.fails(&["ls", "/nothing"])
            .contains("/nothing does not exist")
    );
    assert!(
        c.fails(&["get", "/nothing", "-"])
            .contains("/nothing does not exist")
    );
    assert!(
        c.fails(&["put", "/no/such/local/file"])
            .contains("cannot read")
    );
    assert!(
        c.fails(&["put", f, "/bad\u{1}name"])
            .contains("control character")
    );
    c.ok(&["rm", "/x/y"]);
    assert_eq!(c.ls("/x"), vec![], "a folder outlives its last entry");
    c.ok(&["rm", "-r", "/renamed"]);
    c.ok(&["rm", "-r", "/x"]);
    assert_eq!(c.ls("/"), vec![]);
    // Everything removed is collected from the peers (the account's ledger stays).
    wait_until("peers to delete every piece", SETTLE, || async {
        let total: usize = (0..net.peers.len())
            .map(|i| data_pieces(&net.root.join(format!("peer{i}"))).len())
            .sum();
        (total == 0).then_some(())
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn accounts_are_isolated_and_a_wrong_passphrase_is_refused() {
    let net = Network::start(6, &[]).await;
    let alice = Client::at(net.root.join("alice")).with_env("CAIRN_PASSPHRASE", "correct horse");
    let out = alice.ok(&["init", "--pool", net.pool.url()]);
    phrase_in(&out);
    let (bob, _) = Client::init(net.root.join("bob"), net.pool.url());
    let f = random_file(&net.root, "secret.txt", 1000);
    alice.ok(&["put", f.to_str().unwrap()]);
    assert_eq!(alice.ls("/").len(), 1);
    assert_eq!(bob.ls("/"), vec![]);
    assert!(
        bob.fails(&["get", "/secret.txt", "-"])
            .contains("does not exist")
    );
    assert!(bob.fails(&["rm", "/secret.txt"]).contains("does not exist"));
    let wrong = Client::at(alice.home.clone()).with_env("CAIRN_PASSPHRASE", "wrong horse");
    let err = wrong.fails(&["ls"]);
    assert!(err.contains("passphrase is wrong"), "{err}");
    let none = Client::at(alice.home.clone());
    assert!(none.fails(&["ls"]).contains("CAIRN_PASSPHRASE"));
    let file = net.root.join("pass");
    std::fs::write(&file, "correct horse\n").unwrap();
    let by_file = Client::at(alice.home.clone());
    let run = by_file.run(&["--passphrase-file", file.to_str().unwrap(), "ls", "--json"]);
    assert!(run.ok, "{}", run.stderr);
    assert!(
        alice
            .fails(&["init", "--pool", net.pool.url()])
            .contains("already holds")
    );
    // The secret on disk is wrapped, not plain.
    let wrapped = std::fs::read(alice.home.join("secret")).unwrap();
    assert_eq!(wrapped.len(), cairn_core::wrap::WRAPPED_LEN);
}

#[tokio::test]
async fn a_policy_the_network_cannot_carry_is_refused_and_auto_stores_below_target() {
    let net = Network::start(3, &[]).await;
    let (c, _) = Client::init(net.root.join("home"), net.pool.url());
    let f = random_file(&net.root, "f", 5000);
    let err = c.fails(&["put", f.to_str().unwrap(), "--redundancy", "ec:4+2"]);
    assert!(err.contains("peers"), "{err}");
    let err = c.fails(&["put", f.to_str().unwrap(), "--redundancy", "ec:1+1"]);
    assert!(err.contains("k must be at least 2"), "{err}");
    assert_eq!(c.ls("/"), vec![]);
    let s = status(net.pool.url()).await;
    assert_eq!((s.objects, s.open_uploads), (0, 0));
    for peer in &net.peers {
        assert_eq!(peer_info(peer.url()).await.piece_count, 0);
    }
    // Three peers cannot carry the pool's target under `auto`: not a dead end, the most
    // durable redundancy they can, said plainly in percentages.
    let out = c.ok(&["put", f.to_str().unwrap()]);
    assert!(out.contains("stored /f (4.9 KiB)"), "{out}");
    assert!(
        out.contains("— below this pool's target of 99.9999%: the network has too few peers"),
        "{out}"
    );
    let shown = out.split("stored at ").nth(1).unwrap();
    assert!(shown.starts_with("99.") && !shown.contains("e-"), "{out}");
    assert_eq!(c.ls("/").len(), 1);
    // Its status says so too, for people and for scripts.
    let status = c.ok(&["status", "/f"]);
    assert!(
        status.contains("durable 99.") && status.contains(", below this pool's target of 99.9999%"),
        "{status}"
    );
    let json: serde_json::Value = serde_json::from_str(&c.ok(&["status", "/f", "--json"])).unwrap();
    assert_eq!(json["durability"]["below_target"], true, "{json}");
    assert!(json["durability"]["survival"].as_f64().unwrap() < 0.999_999);
    let back = net.root.join("back");
    c.ok(&["get", "/f", back.to_str().unwrap()]);
    assert_eq!(std::fs::read(&back).unwrap(), std::fs::read(&f).unwrap());
}

#[tokio::test]
async fn a_client_killed_mid_upload_leaves_nothing() {
    let net = Network::start(4, &["--upload-ttl", "2s"]).await;
    let (c, _) = Client::init(net.root.join("home"), net.pool.url());
    let big = random_file(&net.root, "big", 400 * SEGMENT);
    let mut put = std::process::Command::new(cairn())
        .args([
            "put",
            big.to_str().unwrap(),
            "--redundancy",
            "ec:2+2",
            "--segment-size",
            SEGMENT_ARG,
        ])
        .env("CAIRN_HOME", &c.home)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until("pieces to reach the peers", SETTLE, || async {
        let mut total = 0;
        for peer in &net.peers {
            total += peer_info(peer.url()).await.piece_count;
        }
        (total > 0).then_some(())
    })
    .await
    .unwrap();
    put.kill().unwrap();
    let _ = put.wait();
    assert_eq!(c.ls("/"), vec![], "nothing uncommitted is listed");
    wait_until("the abandoned upload to be collected", SETTLE, || async {
        let s = status(net.pool.url()).await;
        let mut total = 0;
        for peer in &net.peers {
            total += peer_info(peer.url()).await.piece_count;
        }
        (s.open_uploads == 0 && total == 0).then_some(())
    })
    .await
    .unwrap();
    assert_eq!(c.ls("/"), vec![]);
}

#[tokio::test]
async fn init_recover_on_a_fresh_home_sees_the_same_files() {
    let net = Network::start(6, &[]).await;
    let (first, phrase) = Client::init(net.root.join("first"), net.pool.url());
    let f = random_file(&net.root, "f", 3 * SEGMENT);
    first.ok(&[
        "put",
        f.to_str().unwrap(),
        "/kept/f",
        "--segment-size",
        SEGMENT_ARG,
    ]);
    let bad = Client::at(net.root.join("bad")).with_env("CAIRN_RECOVERY_PHRASE", "not a phrase");
    let err = bad.fails(&[
        "init",
        "--pool",
        net.pool.url(),
        "--recover",
        "--no-passphrase",
    ]);
    assert!(err.contains("recovery phrase"), "{err}");
    assert!(!bad.home.join("client.json").exists());
    let second = Client::at(net.root.join("second")).with_env("CAIRN_RECOVERY_PHRASE", &phrase);
    second.ok(&[
        "init",
        "--pool",
        net.pool.url(),
        "--recover",
        "--no-passphrase",
    ]);
    assert_eq!(second.ls("/kept"), first.ls("/kept"));
    let back = net.root.join("back");
    second.ok(&["get", "/kept/f", back.to_str().unwrap()]);
    assert_eq!(read(&back), read(&f));
}

#[tokio::test]
async fn cairn_local_runs_a_network_and_resumes_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("net");
    let start = || {
        Daemon::start(
            &cairn(),
            &args(&[
                "local",
                "--dir",
                data.to_str().unwrap(),
                "--capacity",
                "64MiB",
            ]),
            Duration::from_secs(60),
        )
        .unwrap()
    };
    let mut local = start();
    let c = Client::at(data.join("home"));
    let f = random_file(dir.path(), "f", 100_000);
    c.ok(&["put", f.to_str().unwrap()]);
    let network: serde_json::Value = serde_json::from_str(&c.ok(&["network", "--json"])).unwrap();
    assert_eq!(network["peers"].as_array().unwrap().len(), 6);
    assert_eq!(network["totals"]["online"], 6);
    assert!(
        local.stop(Duration::from_secs(20)),
        "cairn local stops on SIGTERM"
    );
    let _local = start();
    assert_eq!(c.ls("/"), vec![("/f".into(), "file".into(), 100_000)]);
    let back = dir.path().join("back");
    c.ok(&["get", "/f", back.to_str().unwrap()]);
    assert_eq!(read(&back), read(&f));
    let summary = c.ok(&["status"]);
    assert!(
        summary.contains("1 stored, 1 at full redundancy"),
        "{summary}"
    );
}

/// The client's peak resident memory so far, from `/proc` (Linux), in bytes.
#[cfg(target_os = "linux")]
fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Runs `cairn args...` for `client`, sampling its peak memory until it exits.
#[cfg(target_os = "linux")]
fn run_measured(client: &Client, args: &[&str]) -> u64 {
    let mut child = std::process::Command::new(cairn())
        .args(args)
        .env("CAIRN_HOME", &client.home)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut peak = 0;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "cairn {args:?} failed");
            return peak;
        }
        peak = peak.max(peak_rss(child.id()).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Memory stays flat however large the file: a file larger than the bound goes up and
/// comes back with the client's peak memory under it.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_file_larger_than_the_memory_bound_streams_through() {
    const BOUND: u64 = 256 * 1024 * 1024;
    // 320 MiB through a debug build fills both cores: no peer counts as gone here (the
    // test is about memory, not health).
    let net = Network::start(6, &["--offline-after", "60s", "--repair-after", "120s"]).await;
    let (client, _) = Client::init(net.root.join("home"), net.pool.url());
    let size = 320 * 1024 * 1024;
    let local = random_file(&net.root, "large", size);
    let put = run_measured(
        &client,
        &["put", local.to_str().unwrap(), "--redundancy", "ec:4+2"],
    );
    assert!(put > 0 && put < BOUND, "put peaked at {put} bytes");
    let back = net.root.join("back");
    let get = run_measured(&client, &["get", "/large", back.to_str().unwrap()]);
    assert!(get > 0 && get < BOUND, "get peaked at {get} bytes");
    assert_eq!(std::fs::metadata(&back).unwrap().len(), size as u64);
    assert!(read(&back) == read(&local));
}

//! The network as separate processes: a real `cairn pool` and real `cairn peer`s on
//! 127.0.0.1:0 with SQLite and data directories in temp dirs. The test plays the client's
//! part by hand (signed requests, erasure coding, piece uploads with orders), so every
//! rule the pool and peers enforce is exercised over the wire.

use cairn_proto::codes;
use std::path::PathBuf;
use std::time::Duration;

use cairn_core::{ErasureCodec, PieceHash};
use cairn_proto::api::{
    self, BeginUpload, CommitSegment, CommitUpload, CommittedPiece, FragmentInfo, LastSegment,
    ObjectList, ObjectSources, PlaceSegment, Rename, Renamed, SegmentPlaced, UploadBegun,
    UploadCommitted,
};
use cairn_proto::order::ORDER_HEADER;
use cairn_proto::peer_api::piece_path;
use cairn_proto::{PeerState, Receipt};
use cairn_testkit::{Daemon, SignedClient, files_under, wait_until};
use ed25519_dalek::SigningKey;
use rand::RngCore;

mod common;
use common::*;

/// A fake encrypted path component (the pool only checks the shape).
fn enc(text: &str) -> String {
    data_encoding::BASE64URL_NOPAD.encode(text.as_bytes())
}

/// Uploads one segment of `data` under `ec:2+2` and commits it; returns the placement
/// answer and the fragments.
async fn upload_segment(
    client: &SignedClient,
    upload: &str,
    index: u32,
    data: &[u8],
) -> (SegmentPlaced, Vec<Vec<u8>>) {
    let (placed, fragments, pieces) = store_segment(client, upload, index, data).await;
    let () = client
        .call(
            "POST",
            &api::commit_segment_path(upload, index),
            Some(&CommitSegment { pieces }),
        )
        .await
        .unwrap();
    (placed, fragments)
}

/// Places one segment of `data` under `ec:2+2` and stores its pieces, without committing
/// it; returns the placement answer, the fragments and the peers' receipts.
async fn store_segment(
    client: &SignedClient,
    upload: &str,
    index: u32,
    data: &[u8],
) -> (SegmentPlaced, Vec<Vec<u8>>, Vec<CommittedPiece>) {
    let fragments = ErasureCodec::new(2, 2).unwrap().encode(data).unwrap();
    let placed: SegmentPlaced = client
        .call(
            "POST",
            &api::place_segment_path(upload, index),
            Some(&place_body(&fragments)),
        )
        .await
        .unwrap();
    let pieces = store_pieces(&placed, &fragments).await;
    (placed, fragments, pieces)
}

/// The placement request for these fragments.
fn place_body(fragments: &[Vec<u8>]) -> PlaceSegment {
    PlaceSegment {
        piece_size: fragments[0].len() as u64,
        fragments: fragments
            .iter()
            .enumerate()
            .map(|(i, f)| FragmentInfo {
                fragment: i as u16,
                hash: PieceHash::of(f),
            })
            .collect(),
    }
}

/// Stores every placed target's fragment on its peer; returns the receipts.
async fn store_pieces(placed: &SegmentPlaced, fragments: &[Vec<u8>]) -> Vec<CommittedPiece> {
    let http = reqwest::Client::new();
    let mut pieces = Vec::new();
    for target in &placed.targets {
        let bytes = fragments[usize::from(target.fragment)].clone();
        let response = http
            .put(format!(
                "{}{}",
                target.address,
                piece_path(&PieceHash::of(&bytes))
            ))
            .header(ORDER_HEADER, target.order.to_header_value())
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status().as_u16(),
            201,
            "{:?}",
            response.text().await
        );
        let receipt: Receipt = response.json().await.unwrap();
        pieces.push(CommittedPiece {
            fragment: target.fragment,
            receipt,
        });
    }
    pieces
}

async fn begin(client: &SignedClient, path: &str, redundancy: &str) -> UploadBegun {
    client
        .call(
            "POST",
            api::UPLOADS,
            Some(&BeginUpload {
                path: path.to_owned(),
                redundancy: redundancy.to_owned(),
                first_segment: None,
                object: None,
            }),
        )
        .await
        .unwrap()
}

async fn list(client: &SignedClient, prefix: &str) -> ObjectList {
    client
        .call::<(), _>("GET", &format!("{}?prefix={prefix}", api::OBJECTS), None)
        .await
        .unwrap()
}

async fn fetch(client: &SignedClient, path: &str) -> ObjectSources {
    client
        .call::<(), _>("GET", &format!("{}?path={path}", api::OBJECT), None)
        .await
        .unwrap()
}

async fn total_pieces(peers: &[Daemon]) -> u64 {
    let mut total = 0;
    for peer in peers {
        total += peer_info(peer.url()).await.piece_count;
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_register_and_move_through_every_timed_state() {
    let net = Network::start(2, &[]).await;
    let first = wait_online(net.pool.url(), 2).await;
    assert!(first.peers.iter().all(|p| p.zone.is_some()));
    let mut net = net;
    let victim = net.peers[0].url().to_owned();
    let victim_id = first
        .peers
        .iter()
        .find(|p| p.address == victim)
        .unwrap()
        .peer;
    // The pool measures a round-trip time once a peer registers.
    wait_until("a round-trip time", SETTLE, || async {
        status(net.pool.url())
            .await
            .peers
            .iter()
            .any(|p| p.peer == victim_id && p.rtt_ms.is_some())
            .then_some(())
    })
    .await
    .unwrap();

    net.peers[0].kill();
    for expected in [PeerState::Suspect, PeerState::Offline, PeerState::Lost] {
        wait_until(&format!("peer {expected}"), SETTLE, || async {
            let s = status(net.pool.url()).await;
            let p = s.peers.iter().find(|p| p.peer == victim_id)?;
            (p.state == expected).then_some(())
        })
        .await
        .unwrap();
    }
    // The other peer kept heartbeating throughout.
    let s = status(net.pool.url()).await;
    assert!(
        s.peers
            .iter()
            .any(|p| p.peer != victim_id && p.state == PeerState::Online)
    );

    // Restarted with its data directory, the peer comes back with the same identity.
    let dir = net.root.join("peer0");
    net.peers[0] = start_peer(net.pool.url(), &dir, "64MiB", Some("zone-0"));
    wait_until("peer back online", SETTLE, || async {
        let s = status(net.pool.url()).await;
        let p = s.peers.iter().find(|p| p.peer == victim_id)?;
        (p.state == PeerState::Online).then_some(())
    })
    .await
    .unwrap();

    // A peer proves its key to drain.
    let seed: [u8; 32] = std::fs::read(dir.join("peer.key"))
        .unwrap()
        .try_into()
        .unwrap();
    let as_peer = SignedClient::new(net.pool.url(), SigningKey::from_bytes(&seed));
    let () = as_peer
        .call::<(), _>("POST", api::PEER_DRAIN, None)
        .await
        .unwrap();
    let s = status(net.pool.url()).await;
    assert_eq!(
        s.peers.iter().find(|p| p.peer == victim_id).unwrap().state,
        PeerState::Draining
    );
    // Someone else's key cannot drain it: an unknown key is an unknown peer.
    let stranger = net.account(9);
    let err = stranger
        .call::<(), ()>("POST", api::PEER_DRAIN, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(codes::PEER_NOT_FOUND));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_commit_list_read_rename_delete() {
    let net = Network::start(6, &[]).await;
    let alice = net.account(1);
    let bob = net.account(2);
    let path = format!("{}/{}", enc("docs"), enc("report.pdf"));
    let upload = begin(&alice, &path, "ec:2+2").await;
    assert_eq!(upload.redundancy, "ec:2+2");

    let mut data = vec![0u8; 300_000];
    rand::rng().fill_bytes(&mut data);
    let (placed, fragments) = upload_segment(&alice, &upload.upload, 0, &data).await;
    let peers: std::collections::HashSet<_> = placed.targets.iter().map(|t| t.peer).collect();
    assert_eq!(peers.len(), 4, "every piece on a different peer");
    assert_eq!(placed.spares.len(), 2);

    // Nothing uncommitted is listed.
    assert!(list(&alice, "").await.objects.is_empty());
    // Another account cannot touch the upload.
    let err = bob
        .call::<_, UploadCommitted>(
            "POST",
            &api::commit_upload_path(&upload.upload),
            Some(&CommitUpload {
                metadata: enc("sealed"),
                size: data.len() as u64,
                segment_count: 1,
                last_segment: None,
            }),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(codes::UPLOAD_NOT_FOUND));
    // Committing more segments than were stored is refused.
    let err = alice
        .call::<_, UploadCommitted>(
            "POST",
            &api::commit_upload_path(&upload.upload),
            Some(&CommitUpload {
                metadata: enc("sealed"),
                size: data.len() as u64,
                segment_count: 2,
                last_segment: None,
            }),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(codes::UPLOAD_INCOMPLETE));

    let committed: UploadCommitted = alice
        .call(
            "POST",
            &api::commit_upload_path(&upload.upload),
            Some(&CommitUpload {
                metadata: enc("sealed"),
                size: data.len() as u64,
                segment_count: 1,
                last_segment: None,
            }),
        )
        .await
        .unwrap();
    assert_eq!(committed.path, path);
    assert!(!committed.replaced);

    let listed = list(&alice, &format!("{}/", enc("docs"))).await;
    assert_eq!(listed.objects.len(), 1);
    assert_eq!(listed.objects[0].metadata, enc("sealed"));
    assert!(
        list(&alice, &format!("{}/", enc("other")))
            .await
            .objects
            .is_empty()
    );
    assert!(
        list(&bob, "").await.objects.is_empty(),
        "accounts are isolated"
    );

    // Read back every piece with its get order and check it.
    let sources = fetch(&alice, &path).await;
    assert_eq!(sources.segments.len(), 1);
    assert_eq!(sources.segments[0].pieces.len(), 4);
    let http = reqwest::Client::new();
    for piece in &sources.segments[0].pieces {
        let bytes = http
            .get(format!("{}{}", piece.address, piece_path(&piece.hash)))
            .header(ORDER_HEADER, piece.order.to_header_value())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(&bytes[..], &fragments[usize::from(piece.fragment)][..]);
    }
    let err = bob
        .call::<(), ObjectSources>("GET", &format!("{}?path={path}", api::OBJECT), None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(codes::OBJECT_NOT_FOUND));

    // Folder rename moves the object; the old path is gone.
    let renamed: Renamed = alice
        .call(
            "POST",
            api::RENAME,
            Some(&Rename {
                from: format!("{}/", enc("docs")),
                to: format!("{}/", enc("archive")),
            }),
        )
        .await
        .unwrap();
    assert_eq!(renamed.objects, 1);
    let moved = format!("{}/{}", enc("archive"), enc("report.pdf"));
    assert_eq!(fetch(&alice, &moved).await.segments[0].pieces.len(), 4);

    // Delete: the peers are told to drop the pieces (spares were never used).
    assert_eq!(total_pieces(&net.peers).await, 4);
    let () = alice
        .call::<(), _>("DELETE", &format!("{}?path={moved}", api::OBJECT), None)
        .await
        .unwrap();
    assert!(list(&alice, "").await.objects.is_empty());
    wait_until("peers to delete the pieces", SETTLE, || async {
        (total_pieces(&net.peers).await == 0).then_some(())
    })
    .await
    .unwrap();
}

/// A small file's only segment commits with the object in one call (its receipts checked
/// as a segment commit's are; a refused commit records nothing), and is placed by `begin`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_file_takes_begin_with_placement_and_commit() {
    let net = Network::start(6, &[]).await;
    let alice = net.account(1);
    let path = enc("small.txt");
    let upload = begin(&alice, &path, "ec:2+2").await;
    let mut data = vec![0u8; 4096];
    rand::rng().fill_bytes(&mut data);
    let (placed, _, pieces) = store_segment(&alice, &upload.upload, 0, &data).await;
    let commit = |pieces: Vec<CommittedPiece>| CommitUpload {
        metadata: enc("sealed"),
        size: 4096,
        segment_count: 1,
        last_segment: Some(LastSegment { index: 0, pieces }),
    };
    let url = api::commit_upload_path(&upload.upload);
    // Fragments swapped between receipts: refused, nothing listed, the upload still open.
    let mut swapped = pieces.clone();
    swapped[0].fragment = pieces[1].fragment;
    swapped[1].fragment = pieces[0].fragment;
    let err = alice
        .call::<_, UploadCommitted>("POST", &url, Some(&commit(swapped)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(codes::BAD_COMMIT), "{err}");
    // One receipt short: refused too.
    let err = alice
        .call::<_, UploadCommitted>("POST", &url, Some(&commit(pieces[1..].to_vec())))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(codes::BAD_COMMIT), "{err}");
    assert!(list(&alice, "").await.objects.is_empty());
    let committed: UploadCommitted = alice
        .call("POST", &url, Some(&commit(pieces)))
        .await
        .unwrap();
    assert_eq!(committed.path, path);
    let object = fetch(&alice, &path).await;
    assert_eq!(object.segments.len(), 1);
    let holders: std::collections::HashSet<_> =
        object.segments[0].pieces.iter().map(|p| p.peer).collect();
    let placed: std::collections::HashSet<_> = placed.targets.iter().map(|t| t.peer).collect();
    assert_eq!(holders, placed);

    // Begin can place segment 0 too: a small file in two calls.
    let path = enc("smaller.txt");
    let fragments = ErasureCodec::new(2, 2).unwrap().encode(&data).unwrap();
    let begin_with = |redundancy: &str| BeginUpload {
        path: path.clone(),
        redundancy: redundancy.to_owned(),
        first_segment: Some(place_body(&fragments)),
        object: None,
    };
    // Only under a concrete redundancy: `auto` is resolved by the pool first.
    let err = alice
        .call::<_, UploadBegun>("POST", api::UPLOADS, Some(&begin_with("auto")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(codes::BAD_REDUNDANCY), "{err}");
    let begun: UploadBegun = alice
        .call("POST", api::UPLOADS, Some(&begin_with("ec:2+2")))
        .await
        .unwrap();
    let placed = begun.placed.expect("segment 0 placed with begin");
    assert_eq!(placed.targets.len(), 4);
    let pieces = store_pieces(&placed, &fragments).await;
    let committed: UploadCommitted = alice
        .call(
            "POST",
            &api::commit_upload_path(&begun.upload),
            Some(&commit(pieces)),
        )
        .await
        .unwrap();
    assert_eq!(committed.path, path);
    assert_eq!(fetch(&alice, &path).await.segments[0].pieces.len(), 4);
    assert_eq!(list(&alice, "").await.objects.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_uploads_are_collected() {
    // Short, but long enough that the put orders (which expire with the upload, in whole
    // seconds) outlive the piece uploads on a busy machine.
    let net = Network::start(4, &["--upload-ttl", "3s"]).await;
    let alice = net.account(1);
    let upload = begin(&alice, &enc("draft"), "ec:2+2").await;
    let mut data = vec![0u8; 10_000];
    rand::rng().fill_bytes(&mut data);
    upload_segment(&alice, &upload.upload, 0, &data).await;
    assert_eq!(total_pieces(&net.peers).await, 4);
    wait_until("abandoned pieces to be deleted", SETTLE, || async {
        (total_pieces(&net.peers).await == 0).then_some(())
    })
    .await
    .unwrap();
    let err = alice
        .call::<_, UploadCommitted>(
            "POST",
            &api::commit_upload_path(&upload.upload),
            Some(&CommitUpload {
                metadata: enc("sealed"),
                size: 10_000,
                segment_count: 1,
                last_segment: None,
            }),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(codes::UPLOAD_NOT_FOUND));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_too_small_for_the_policy_is_a_clear_error() {
    let net = Network::start(3, &[]).await;
    let alice = net.account(1);
    // `auto` is never refused while three peers have room: it takes the most durable
    // redundancy they carry and says how far it falls short of the target.
    let begun = alice
        .call::<_, UploadBegun>(
            "POST",
            api::UPLOADS,
            Some(&BeginUpload {
                path: enc("small"),
                redundancy: "auto".to_owned(),
                first_segment: None,
                object: None,
            }),
        )
        .await
        .unwrap();
    let short = begun.below_target.expect("below the target");
    assert!(short.survival < short.target, "{short:?}");
    for redundancy in ["ec:4+2", "rep:2x2"] {
        let err = alice
            .call::<_, UploadBegun>(
                "POST",
                api::UPLOADS,
                Some(&BeginUpload {
                    path: enc("big"),
                    redundancy: redundancy.to_owned(),
                    first_segment: None,
                    object: None,
                }),
            )
            .await
            .unwrap_err();
        assert_eq!(
            err.code(),
            Some(codes::NETWORK_TOO_SMALL),
            "{redundancy}: {err}"
        );
    }
    let err = alice
        .call::<_, UploadBegun>(
            "POST",
            api::UPLOADS,
            Some(&BeginUpload {
                path: enc("big"),
                redundancy: "ec:1+1".to_owned(),
                first_segment: None,
                object: None,
            }),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(codes::BAD_REDUNDANCY));
    let err = alice
        .call::<_, UploadBegun>(
            "POST",
            api::UPLOADS,
            Some(&BeginUpload {
                path: "not a path!".to_owned(),
                redundancy: "ec:2+1".to_owned(),
                first_segment: None,
                object: None,
            }),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(codes::BAD_REQUEST));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_requests_cannot_be_replayed_or_forged() {
    let net = Network::start(1, &[]).await;
    let key = SigningKey::from_bytes(&[5; 32]);
    let http = reqwest::Client::new();
    let path = format!("{}?prefix=", api::OBJECTS);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let auth = cairn_proto::RequestAuth::sign(&key, "GET", &path, b"", now, [1; 16]);
    let send = |auth: cairn_proto::RequestAuth| {
        let mut request = http.get(format!("{}{path}", net.pool.url()));
        for (name, value) in auth.headers() {
            request = request.header(name, value);
        }
        request.send()
    };
    assert_eq!(send(auth.clone()).await.unwrap().status().as_u16(), 200);
    let replay = send(auth.clone()).await.unwrap();
    assert_eq!(replay.status().as_u16(), 409);
    let mut forged = auth.clone();
    forged.nonce = [2; 16];
    assert_eq!(send(forged).await.unwrap().status().as_u16(), 401);
    let unsigned = http
        .get(format!("{}{path}", net.pool.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status().as_u16(), 401);
}

/// `--requests-per-second` and `--request-burst` reach the pool: past the burst a key is
/// told to wait, another key is still served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_rate_flags_limit_each_key() {
    let dir = tempfile::tempdir().unwrap();
    let pool = start_pool(
        dir.path(),
        "127.0.0.1:0",
        &["--requests-per-second", "1", "--request-burst", "3"],
    );
    let list = format!("{}?prefix=", api::OBJECTS);
    let busy = SignedClient::new(pool.url(), SigningKey::from_bytes(&[7; 32]));
    for _ in 0..3 {
        let (status, _) = busy.send_raw("GET", &list, Vec::new()).await.unwrap();
        assert_eq!(status, 200);
    }
    let (status, body) = busy.send_raw("GET", &list, Vec::new()).await.unwrap();
    assert_eq!(status, 429, "{}", String::from_utf8_lossy(&body));
    let calm = SignedClient::new(pool.url(), SigningKey::from_bytes(&[8; 32]));
    let (status, _) = calm.send_raw("GET", &list, Vec::new()).await.unwrap();
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_pool_keeps_peers_objects_and_placements() {
    let mut net = Network::start(4, &[]).await;
    let alice = net.account(1);
    let path = enc("keep");
    let upload = begin(&alice, &path, "ec:2+2").await;
    let mut data = vec![0u8; 50_000];
    rand::rng().fill_bytes(&mut data);
    upload_segment(&alice, &upload.upload, 0, &data).await;
    let _: UploadCommitted = alice
        .call(
            "POST",
            &api::commit_upload_path(&upload.upload),
            Some(&CommitUpload {
                metadata: enc("sealed"),
                size: 50_000,
                segment_count: 1,
                last_segment: None,
            }),
        )
        .await
        .unwrap();
    let before = fetch(&alice, &path).await;
    let peers_before: Vec<_> = status(net.pool.url())
        .await
        .peers
        .iter()
        .map(|p| p.peer)
        .collect();
    let pool_id = status(net.pool.url()).await.pool;

    let listen = net.pool.url().trim_start_matches("http://").to_owned();
    assert!(
        net.pool.stop(Duration::from_secs(10)),
        "the pool stops cleanly on SIGTERM"
    );
    net.pool = start_pool(&net.root.join("pool"), &listen, &[]);
    let after_status = wait_online(net.pool.url(), 4).await;
    assert_eq!(after_status.pool, pool_id, "same identity");
    let peers_after: Vec<_> = after_status.peers.iter().map(|p| p.peer).collect();
    assert_eq!(peers_after, peers_before);
    let after = fetch(&alice, &path).await;
    let placement = |s: &ObjectSources| {
        s.segments
            .iter()
            .flat_map(|seg| {
                seg.pieces
                    .iter()
                    .map(|p| (seg.index, p.fragment, p.hash, p.peer))
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(placement(&after), placement(&before));
    assert_eq!(after.metadata, before.metadata);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_killed_mid_write_leaves_no_partial_piece() {
    let mut net = Network::start(4, &[]).await;
    let alice = net.account(1);
    let upload = begin(&alice, &enc("big"), "ec:2+2").await;
    // Pieces over 1 MiB stream to a file as they arrive (smaller ones are received in
    // memory and written only when whole): 2 MB fragments take the streamed path.
    let data = vec![3u8; 4_000_000];
    let fragments = ErasureCodec::new(2, 2).unwrap().encode(&data).unwrap();
    let placed: SegmentPlaced = alice
        .call(
            "POST",
            &api::place_segment_path(&upload.upload, 0),
            Some(&place_body(&fragments)),
        )
        .await
        .unwrap();
    let target = &placed.targets[0];
    let victim = net
        .peers
        .iter()
        .position(|p| p.url() == target.address)
        .unwrap();
    let dir = net.root.join(format!("peer{victim}"));

    // Send half the piece, then stall.
    let bytes = fragments[usize::from(target.fragment)].clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(1);
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, std::io::Error>(chunk), rx))
    });
    let request = reqwest::Client::new()
        .put(format!(
            "{}{}",
            target.address,
            piece_path(&PieceHash::of(&bytes))
        ))
        .header(ORDER_HEADER, target.order.to_header_value())
        .header("content-length", bytes.len().to_string())
        .body(reqwest::Body::wrap_stream(body))
        .send();
    let pending = tokio::spawn(request);
    tx.send(bytes[..bytes.len() / 2].to_vec()).await.unwrap();
    wait_until("the partial piece on disk", SETTLE, || async {
        (files_under(&dir.join("tmp")) == 1).then_some(())
    })
    .await
    .unwrap();

    net.peers[victim].kill();
    drop(tx);
    let _ = pending.await;
    assert_eq!(
        files_under(&dir.join("pieces")),
        0,
        "nothing partial is visible"
    );

    net.peers[victim] = start_peer(
        net.pool.url(),
        &dir,
        "64MiB",
        Some(&format!("zone-{victim}")),
    );
    let info = peer_info(net.peers[victim].url()).await;
    assert_eq!((info.piece_count, info.used), (0, 0));
    assert_eq!(
        files_under(&dir.join("tmp")),
        0,
        "the partial write is cleaned up"
    );
    assert_eq!(files_under(&dir.join("pieces")), 0);
}

/// Issue 14: `cairn pool 2>log` and `cairn peer 2>log` wrote colour escape sequences into
/// the file; a log that is not a terminal carries plain text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_written_to_a_file_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let pool_log = dir.path().join("pool.log");
    let peer_log = dir.path().join("peer.log");
    let pool = start_pool_logged(&dir.path().join("pool"), &[], "info", &pool_log);
    let _peer = start_peer_logged(
        pool.url(),
        &dir.path().join("peer"),
        None,
        &[],
        "info",
        &peer_log,
    );
    wait_online(pool.url(), 1).await;
    // Both have logged something by now (the pool a registration, the peer its start).
    let logs = wait_until("both logs written", SETTLE, || async {
        let pool = std::fs::read(&pool_log).unwrap_or_default();
        let peer = std::fs::read(&peer_log).unwrap_or_default();
        let logged = |log: &[u8]| log.split(|b| *b == b'\n').count() > 2;
        (logged(&pool) && logged(&peer)).then_some((pool, peer))
    })
    .await
    .unwrap();
    for (name, log) in [("pool", logs.0), ("peer", logs.1)] {
        assert!(
            !log.contains(&0x1b),
            "the {name} log has escape sequences:\n{}",
            String::from_utf8_lossy(&log)
        );
    }
}

/// An account with a history, made through the real binary: a folder tree put, an empty
/// folder made, a file moved, one put and removed, one put.
struct History {
    client: Client,
    phrase: String,
    /// `/tree/inner/deep`.
    deep: PathBuf,
    /// `/tree/renamed` (put as `/tree/top`).
    top: PathBuf,
    /// `/photo`.
    photo: PathBuf,
}

impl History {
    fn make(net: &Network) -> Self {
        let (client, phrase) = Client::init(net.root.join("home"), net.pool.url());
        let tree = net.root.join("tree");
        std::fs::create_dir_all(tree.join("inner")).unwrap();
        let deep = random_file(&tree.join("inner"), "deep", 70_000);
        let top = random_file(&tree, "top", 3_000);
        let photo = random_file(&net.root, "photo", 300_000);
        client.ok(&["put", "-r", tree.to_str().unwrap(), "/tree"]);
        client.ok(&["mkdir", "/empty"]);
        client.ok(&["mv", "/tree/top", "/tree/renamed"]);
        client.ok(&["put", photo.to_str().unwrap(), "/gone"]);
        client.ok(&["rm", "/gone"]);
        client.ok(&["put", photo.to_str().unwrap(), "/photo"]);
        Self {
            client,
            phrase,
            deep,
            top,
            photo,
        }
    }
}

/// What `c` lists at `/`, `/tree` and `/tree/inner`.
fn listing(c: &Client) -> Vec<(String, String, u64)> {
    let mut all = c.ls("/");
    all.extend(c.ls("/tree"));
    all.extend(c.ls("/tree/inner"));
    all
}

/// Issue 16: a peer whose pool is gone for good (its `pool.key` lost with its disk) joins a
/// new pool only on the operator's word (`--join-new-pool`), keeping every piece it held;
/// without it the peer refuses, says what to do, and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_joins_a_new_pool_only_when_told_and_keeps_its_pieces() {
    let mut net = Network::start(4, &[]).await;
    let alice = net.account(1);
    let upload = begin(&alice, &enc("kept"), "ec:2+2").await;
    let mut data = vec![0u8; 20_000];
    rand::rng().fill_bytes(&mut data);
    upload_segment(&alice, &upload.upload, 0, &data).await;
    let held = peer_info(net.peers[0].url()).await.piece_count;
    assert_eq!(held, 1);
    assert!(net.pool.stop(Duration::from_secs(10)));
    assert!(net.peers[0].stop(Duration::from_secs(10)));

    let new_pool = start_pool(&net.root.join("pool-new"), "127.0.0.1:0", &[]);
    let peer_dir = net.root.join("peer0");
    let pool_file = peer_dir.join("pool.id");
    let before = std::fs::read_to_string(&pool_file).unwrap();
    let mut refused = std::process::Command::new(cairn())
        .args(peer_args(new_pool.url(), &peer_dir, "1GiB", None, &[]))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let exited = wait_until("the peer to refuse the new pool", SETTLE, || {
        let exited = refused.try_wait().unwrap();
        async move { exited }
    })
    .await;
    let exit = exited.unwrap_or_else(|e| {
        let _ = refused.kill();
        panic!("{e}")
    });
    assert!(!exit.success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut refused.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("--join-new-pool"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&pool_file).unwrap(), before);

    let joined = Daemon::start(
        &cairn(),
        &peer_args(
            new_pool.url(),
            &peer_dir,
            "1GiB",
            None,
            &["--join-new-pool"],
        ),
        READY,
    )
    .unwrap();
    let online = wait_online(new_pool.url(), 1).await;
    assert_ne!(std::fs::read_to_string(&pool_file).unwrap(), before);
    assert_eq!(
        std::fs::read_to_string(&pool_file).unwrap(),
        online.pool.to_string()
    );
    // Registered and heard from since: whatever it would delete, it has.
    let registered = cairn_proto::clock::now_ms();
    wait_until("a heartbeat after joining", SETTLE, || async {
        let s = status(new_pool.url()).await;
        s.peers
            .iter()
            .all(|p| p.last_heartbeat_ms > registered)
            .then_some(())
    })
    .await
    .unwrap();
    assert_eq!(peer_info(joined.url()).await.piece_count, held);
    assert_eq!(status(new_pool.url()).await.peers[0].piece_count, held);
}

/// Issue 16, with real processes: the pool's data directory is emptied but for `pool.key`
/// seconds after an upload, and the pool restarted on it. The peers come back with every
/// piece; the owner's next command gives the pool its records back from the account's
/// ledger on the peers, and a fresh home made from the recovery phrase alone finds every
/// file, folder, move and removal as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_pool_store_is_recovered_by_its_owners() {
    let mut net = Network::start(6, &[]).await;
    let History {
        client,
        phrase,
        deep,
        top,
        photo,
    } = History::make(&net);
    let before = listing(&client);

    // The disk is lost; the operator kept pool.key and starts the pool on the same address.
    let listen = net.pool.url().trim_start_matches("http://").to_owned();
    assert!(net.pool.stop(Duration::from_secs(10)));
    for file in ["pool.sqlite", "pool.sqlite-wal", "pool.sqlite-shm"] {
        let _ = std::fs::remove_file(net.root.join("pool").join(file));
    }
    net.pool = start_pool(&net.root.join("pool"), &listen, &[]);
    let back = wait_online(net.pool.url(), 6).await;
    assert_eq!(back.objects, 0, "the new store knows no file");

    // The owner's next command gives the pool its records back first.
    let run = client.run(&["ls", "/", "--json"]);
    assert!(run.ok, "{}", run.stderr);
    assert!(
        run.stderr.contains("the pool had lost records"),
        "{}",
        run.stderr
    );
    assert_eq!(listing(&client), before);
    let got = net.root.join("got");
    client.ok(&["get", "/tree/inner/deep", got.to_str().unwrap()]);
    assert_eq!(std::fs::read(&got).unwrap(), std::fs::read(&deep).unwrap());

    // A new device with the phrase alone sees the same drive.
    let fresh = Client::at(net.root.join("fresh")).with_env("CAIRN_RECOVERY_PHRASE", &phrase);
    let out = fresh.ok(&[
        "init",
        "--recover",
        "--pool",
        net.pool.url(),
        "--no-passphrase",
    ]);
    assert!(out.contains("restored account"), "{out}");
    assert_eq!(listing(&fresh), before);
    for (remote, local) in [("/photo", &photo), ("/tree/renamed", &top)] {
        let got = net.root.join("got");
        let _ = std::fs::remove_file(&got);
        fresh.ok(&["get", remote, got.to_str().unwrap()]);
        assert_eq!(std::fs::read(&got).unwrap(), std::fs::read(local).unwrap());
    }
    let summary = fresh.ok(&["status"]);
    assert!(summary.contains("0 degraded, 0 unreadable"), "{summary}");
}

/// Issue 16, the worst case: the pool's disk is lost with its `pool.key`. The operator
/// starts a new pool (new identity, new address) and re-points every peer at it with
/// `--join-new-pool`; the peers keep every piece, and an owner with nothing but the
/// recovery phrase (`cairn init --recover --pool NEW_URL` on a fresh home; the old home
/// and the old pool's address are gone) gets the same drive back: every file, folder,
/// move and removal, byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_lost_with_its_key_is_replaced_and_owners_recover_on_the_new_one() {
    let mut net = Network::start(6, &[]).await;
    let old_pool = status(net.pool.url()).await.pool;
    let History {
        client,
        phrase,
        deep,
        top,
        photo,
    } = History::make(&net);
    let before = listing(&client);
    let mut peers_before: Vec<_> = status(net.pool.url())
        .await
        .peers
        .iter()
        .map(|p| p.peer)
        .collect();
    peers_before.sort();

    // Everything stops; the pool's whole data directory (pool.key too) and the owner's
    // device are lost.
    assert!(net.pool.stop(Duration::from_secs(10)));
    for peer in &mut net.peers {
        assert!(peer.stop(Duration::from_secs(10)));
    }
    std::fs::remove_dir_all(net.root.join("pool")).unwrap();
    let peer_dir = |i: usize| net.root.join(format!("peer{i}"));
    let held: Vec<_> = (0..6).map(|i| all_pieces(&peer_dir(i))).collect();
    assert!(held.iter().all(|pieces| !pieces.is_empty()));
    std::fs::remove_dir_all(&client.home).unwrap();

    // The operator starts a new pool elsewhere and re-points every peer at it.
    net.pool = start_pool(&net.root.join("pool-new"), "127.0.0.1:0", &[]);
    let new_url = net.pool.url().to_owned();
    net.peers = (0..6)
        .map(|i| {
            Daemon::start(
                &cairn(),
                &peer_args(
                    &new_url,
                    &peer_dir(i),
                    "1GiB",
                    Some(&format!("zone-{i}")),
                    &["--join-new-pool"],
                ),
                READY,
            )
            .unwrap()
        })
        .collect();
    let joined = wait_online(&new_url, 6).await;
    assert_ne!(joined.pool, old_pool, "a new pool, with a new key");
    assert_eq!(joined.objects, 0, "the new pool knows no file");
    let mut peers_after: Vec<_> = joined.peers.iter().map(|p| p.peer).collect();
    peers_after.sort();
    assert_eq!(peers_after, peers_before, "the same peers joined");
    for (i, peer) in net.peers.iter().enumerate() {
        assert_eq!(
            std::fs::read_to_string(peer_dir(i).join("pool.id")).unwrap(),
            joined.pool.to_string()
        );
        assert_eq!(
            all_pieces(&peer_dir(i)),
            held[i],
            "peer{i} kept every piece"
        );
        assert_eq!(
            peer_info(peer.url()).await.piece_count,
            held[i].len() as u64
        );
    }

    // A new device with the phrase alone (the old home and the old pool are gone) recovers
    // the drive on the new pool.
    let fresh = Client::at(net.root.join("fresh")).with_env("CAIRN_RECOVERY_PHRASE", &phrase);
    let out = fresh.ok(&["init", "--recover", "--pool", &new_url, "--no-passphrase"]);
    assert!(out.contains("restored account"), "{out}");
    assert!(
        out.contains("the pool had lost records"),
        "init --recover gave the new pool nothing back: {out}"
    );
    assert_eq!(listing(&fresh), before);
    for (remote, local) in [
        ("/photo", &photo),
        ("/tree/renamed", &top),
        ("/tree/inner/deep", &deep),
    ] {
        let got = net.root.join("got");
        let _ = std::fs::remove_file(&got);
        fresh.ok(&["get", remote, got.to_str().unwrap()]);
        assert_eq!(std::fs::read(&got).unwrap(), std::fs::read(local).unwrap());
    }
    let tree_back = net.root.join("tree-back");
    fresh.ok(&["get", "-r", "/tree", tree_back.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(tree_back.join("inner").join("deep")).unwrap(),
        std::fs::read(&deep).unwrap()
    );
    assert_eq!(
        std::fs::read(tree_back.join("renamed")).unwrap(),
        std::fs::read(&top).unwrap()
    );
    assert!(!tree_back.join("top").exists());
    let summary = fresh.ok(&["status"]);
    assert!(summary.contains("0 degraded, 0 unreadable"), "{summary}");
    // Nothing is left to give back on the next command.
    let again = fresh.run(&["ls", "/", "--json"]);
    assert!(again.ok, "{}", again.stderr);
    assert!(!again.stderr.contains("lost records"), "{}", again.stderr);
}

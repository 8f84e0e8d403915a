//! A pool that loses its store (its data directory emptied but for `pool.key`), or has it
//! restored from an older copy, and starts again on the same address gets its peers back,
//! and they delete none of the pieces it no longer knows, even with no grace period for
//! pieces the pool does not know; the account's files come back from its ledger on the
//! peers — on a fresh device from the secret alone, and on the device that made the
//! changes when it next connects — with a peer that was offline folded in when it returns.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use cairn_client::pool::PoolClient;
use cairn_client::{Drive, DriveOptions, Home, Progress, Protection};
use cairn_core::{MasterSecret, Redundancy, RedundancyPolicy, RemotePath};
use cairn_peer::{PeerConfig, RunningPeer};
use cairn_pool::{PoolConfig, RunningPool};
use cairn_testkit::proxy::Proxy;
use cairn_testkit::wait_until;
use common::PEERS;

const DEADLINE: Duration = Duration::from_secs(30);

/// Piece files under every peer's data directory.
fn piece_files(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for i in 0..PEERS {
        let pieces = dir.join(format!("peer{i}")).join("pieces");
        for fan in std::fs::read_dir(&pieces).unwrap() {
            for file in std::fs::read_dir(fan.unwrap().path()).unwrap() {
                names.push(file.unwrap().file_name().to_string_lossy().into_owned());
            }
        }
    }
    names.sort();
    names
}

/// The index generation each peer remembers having seen (`pool-index`:
/// `{index} {generation} {since}`).
fn generations(dir: &Path) -> Vec<u64> {
    (0..PEERS)
        .map(|i| {
            let text = std::fs::read_to_string(
                dir.join(format!("peer{i}"))
                    .join(cairn_peer::orphans::INDEX_FILE),
            )
            .unwrap();
            text.split_whitespace().nth(1).unwrap().parse().unwrap()
        })
        .collect()
}

/// Starts the pool on `config`, retrying while its old socket still holds the port.
async fn start_pool(config: &PoolConfig) -> RunningPool {
    wait_until("the pool to start again", DEADLINE, || async {
        RunningPool::start(config.clone()).await.ok()
    })
    .await
    .unwrap()
}

/// Waits until `peers` peers have registered with the pool at `url` and heartbeated since
/// (a peer decides what to delete between registering and its first heartbeat).
async fn wait_settled(url: &str, peers: usize) {
    let pool = PoolClient::anonymous(url).unwrap();
    let online = pool.wait_for_online(peers, DEADLINE).await.unwrap();
    assert!(online >= peers, "the peers came back");
    let registered = cairn_proto::clock::now_ms();
    wait_until("the peers to heartbeat", DEADLINE, || async {
        let status = pool.network().await.ok()?;
        let fresh = (status.peers.iter())
            .filter(|p| p.last_heartbeat_ms > registered)
            .count();
        (fresh >= peers).then_some(())
    })
    .await
    .unwrap();
}

/// A peer of the test network, running until stopped.
struct Peer {
    task: tokio::task::JoinHandle<()>,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl Peer {
    /// Starts peer `i` of the network in `dir` on the pool at `url`.
    async fn start(dir: &Path, i: usize, url: &str) -> Self {
        Self::start_with_window(dir, i, url, cairn_peer::DEFAULT_RECOVERY_WINDOW).await
    }

    /// Starts peer `i`, keeping pieces for recovery `window` long after a lost store.
    async fn start_with_window(dir: &Path, i: usize, url: &str, window: Duration) -> Self {
        let mut config = PeerConfig::new(
            url.to_owned(),
            dir.join(format!("peer{i}")),
            SocketAddr::from(([127, 0, 0, 1], 0)),
            64 << 20,
        );
        // Pieces the pool does not know would go at once.
        config.orphan_grace = Duration::ZERO;
        config.recovery_window = window;
        let peer = RunningPeer::start(config).await.unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = peer
                .run_until(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Self { task, stop }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap();
    }
}

/// Bytes in the home's journals of changes not yet in the ledger.
fn journaled(home: &Path) -> u64 {
    std::fs::read_dir(home.join("ledger-intents")).map_or(0, |dir| {
        dir.map(|e| e.unwrap().metadata().unwrap().len()).sum()
    })
}

/// The SQLite files of the pool's store.
const STORE_FILES: [&str; 3] = ["pool.sqlite", "pool.sqlite-wal", "pool.sqlite-shm"];

/// A pool on a fixed address, [`PEERS`] peers that delete unknown pieces at once, and an
/// account's drive on it.
struct Fleet {
    dir: tempfile::TempDir,
    config: PoolConfig,
    pool: Option<RunningPool>,
    url: String,
    peers: Vec<Peer>,
    secret: MasterSecret,
    drive: Drive,
}

impl Fleet {
    async fn start() -> Self {
        Self::start_with(PEERS).await
    }

    /// A fleet of `count` peers.
    async fn start_with(count: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = PoolConfig::new(
            dir.path().join("pool"),
            SocketAddr::from(([127, 0, 0, 1], 0)),
        );
        config.timers.heartbeat_interval = Duration::from_millis(100);
        let pool = RunningPool::start(config.clone()).await.unwrap();
        config.listen = pool.local_addr();
        let url = pool.url().to_owned();
        let mut peers = Vec::new();
        for i in 0..count {
            peers.push(Peer::start(dir.path(), i, &url).await);
        }
        wait_settled(&url, count).await;
        let secret = MasterSecret::generate(&mut rand::rng());
        let drive = common::drive_at(&url, &secret);
        drive.register().await.unwrap();
        Self {
            dir,
            config,
            pool: Some(pool),
            url,
            peers,
            secret,
            drive,
        }
    }

    /// The bytes at `path`, read through `drive`.
    async fn read(drive: &Drive, path: &str) -> Vec<u8> {
        drive
            .read_range(&RemotePath::parse(path).unwrap(), 0..u64::MAX)
            .await
            .unwrap()
    }

    /// Whether `drive` finds anything at `path`.
    async fn exists(drive: &Drive, path: &str) -> bool {
        drive
            .stat(&RemotePath::parse(path).unwrap())
            .await
            .unwrap()
            .is_some()
    }

    /// Uploads 100,000 bytes of `byte` to `path`.
    async fn put(&self, path: &str, byte: u8) {
        let local = self.dir.path().join(format!("local-{byte}"));
        std::fs::write(&local, vec![byte; 100_000]).unwrap();
        let path = RemotePath::parse(path).unwrap();
        self.drive
            .put(&local, &path, &Progress::silent())
            .await
            .unwrap();
    }

    /// The pool's index generation now.
    async fn generation(&self) -> u64 {
        let status = PoolClient::anonymous(&self.url)
            .unwrap()
            .network()
            .await
            .unwrap();
        status.index.unwrap().generation
    }

    /// Piece files under every peer's data directory.
    fn pieces(&self) -> Vec<String> {
        piece_files(self.dir.path())
    }

    /// Stops the pool, does `meanwhile` to its data directory, starts it again on the same
    /// address and waits for the peers to settle with it.
    async fn restart_pool(&mut self, meanwhile: impl FnOnce(&Path)) {
        if let Some(pool) = self.pool.take() {
            pool.shutdown().await;
        }
        // Its store closed (the last connection removes the write-ahead log), so the files
        // are whole and nothing writes them behind the test's back.
        let wal = self.config.data_dir.join("pool.sqlite-wal");
        wait_until("the pool's store to close", DEADLINE, || async {
            (!wal.exists()).then_some(())
        })
        .await
        .unwrap();
        meanwhile(&self.config.data_dir);
        self.pool = Some(start_pool(&self.config).await);
        wait_settled(&self.url, self.peers.len()).await;
    }

    /// The pool loses its store (`pool.key` kept) and starts again on the same address.
    async fn lose_store(&mut self) {
        self.restart_pool(|data| {
            for file in STORE_FILES {
                let _ = std::fs::remove_file(data.join(file));
            }
        })
        .await;
    }

    /// Stops every peer and starts it again, so each registers anew.
    async fn restart_peers(&mut self) {
        self.restart_peers_with_window(cairn_peer::DEFAULT_RECOVERY_WINDOW)
            .await;
    }

    /// Stops every peer and starts it again keeping pieces for recovery `window` long.
    async fn restart_peers_with_window(&mut self, window: Duration) {
        for peer in self.peers.drain(..) {
            peer.stop().await;
        }
        for i in 0..PEERS {
            self.peers
                .push(Peer::start_with_window(self.dir.path(), i, &self.url, window).await);
        }
        wait_settled(&self.url, PEERS).await;
    }

    async fn stop(mut self) {
        if let Some(pool) = self.pool.take() {
            pool.shutdown().await;
        }
        for peer in self.peers.drain(..) {
            peer.stop().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_keep_the_pieces_of_a_pool_that_lost_its_store() {
    let mut fleet = Fleet::start().await;
    fleet.put("/photo", 7).await;
    let stored = fleet.pieces();
    assert!(!stored.is_empty());

    // Restarted on its own store, the pool knows every piece: nothing changes.
    fleet.restart_pool(|_| {}).await;
    assert_eq!(fleet.pieces(), stored);

    // The store is lost; pool.key is kept. The pool comes back knowing no piece.
    fleet.lose_store().await;
    let status = PoolClient::anonymous(&fleet.url)
        .unwrap()
        .network()
        .await
        .unwrap();
    assert_eq!(status.objects, 0, "the new store knows no file");
    assert_eq!(
        fleet.pieces(),
        stored,
        "the peers kept every piece the pool forgot"
    );
    // Peers restarted register with it again, and still keep them.
    fleet.restart_peers().await;
    assert_eq!(fleet.pieces(), stored);
    fleet.stop().await;
}

/// The recovery window ends: pieces of an account whose owner came back are kept, those
/// nobody claimed go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pieces_nobody_claimed_go_once_the_recovery_window_is_over() {
    let mut fleet = Fleet::start().await;
    fleet.put("/mine", 3).await;
    let mine = fleet.pieces();
    // Another account's file, whose owner never comes back.
    let stranger = common::drive_at(&fleet.url, &MasterSecret::generate(&mut rand::rng()));
    stranger.register().await.unwrap();
    let local = fleet.dir.path().join("theirs");
    std::fs::write(&local, vec![9u8; 100_000]).unwrap();
    let theirs_path = RemotePath::parse("/theirs").unwrap();
    stranger
        .put(&local, &theirs_path, &Progress::silent())
        .await
        .unwrap();
    let theirs: Vec<String> = (fleet.pieces().into_iter())
        .filter(|p| !mine.contains(p))
        .collect();
    assert!(!theirs.is_empty());

    fleet.lose_store().await;
    let recovered = fleet.drive.catch_up().await.unwrap().unwrap();
    assert_eq!(recovered.given_back, 1);
    let before = fleet.pieces();

    // Within the window, nothing goes; past it, what nobody claimed does.
    fleet.restart_peers().await;
    assert_eq!(fleet.pieces(), before);
    fleet.restart_peers_with_window(Duration::ZERO).await;
    let expected: Vec<String> = (before.iter())
        .filter(|p| !theirs.contains(p))
        .cloned()
        .collect();
    assert!(mine.iter().all(|p| expected.contains(p)));
    assert_eq!(
        fleet.pieces(),
        expected,
        "only the pieces nobody claimed went"
    );
    assert_eq!(Fleet::read(&fleet.drive, "/mine").await, vec![3u8; 100_000]);
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_gets_its_files_back_from_the_peers_after_the_pool_lost_its_store() {
    let mut fleet = Fleet::start().await;
    let drive = &fleet.drive;
    let path = |p: &str| RemotePath::parse(p).unwrap();
    fleet.put("/photo", 7).await;
    drive.mkdir(&path("/docs/empty"), true).await.unwrap();
    fleet.put("/docs/a", 1).await;
    fleet.put("/docs/b", 2).await;
    drive.mv(&path("/docs/b"), &path("/docs/c")).await.unwrap();
    fleet.put("/gone", 3).await;
    drive.rm(&path("/gone"), false).await.unwrap();
    fleet.put("/photo", 8).await; // replaced, seconds before the loss

    // The store is lost (pool.key kept), and one peer is away until the owner recovered.
    let away = fleet.peers.pop().unwrap();
    away.stop().await;
    fleet.lose_store().await;
    assert!(
        !Fleet::exists(&fleet.drive, "/photo").await,
        "the pool forgot"
    );

    // A fresh device with only the secret gets every file back as it was last.
    let fresh = common::drive_at(&fleet.url, &fleet.secret);
    let recovered = fresh.recover().await.unwrap();
    assert!(recovered.entries > 0, "{recovered:?}");
    assert_eq!(recovered.given_back, recovered.objects, "{recovered:?}");
    assert!(
        recovered.awaited > 0,
        "the away peer's pieces wait: {recovered:?}"
    );
    assert_eq!(Fleet::read(&fresh, "/photo").await, vec![8u8; 100_000]);
    assert_eq!(Fleet::read(&fresh, "/docs/a").await, vec![1u8; 100_000]);
    assert_eq!(Fleet::read(&fresh, "/docs/c").await, vec![2u8; 100_000]);
    assert!(!Fleet::exists(&fresh, "/docs/b").await, "moved away");
    assert!(!Fleet::exists(&fresh, "/gone").await, "deleted");
    assert!(
        Fleet::exists(&fresh, "/docs/empty").await,
        "the empty folder"
    );
    let top: Vec<String> = fresh
        .list(&path("/"))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.path.to_string())
        .collect();
    assert_eq!(top, ["/docs", "/photo"], "the ledger is not listed");

    // Asked again, nothing is left to give back; the device that made the changes finds
    // the pool knows its last change now.
    let again = fresh.recover().await.unwrap();
    assert_eq!((again.given_back, again.moved, again.removed), (0, 0, 0));
    assert!(fleet.drive.catch_up().await.unwrap().is_none());

    // The away peer returns: its pieces are folded in, and every file is whole again.
    fleet
        .peers
        .push(Peer::start(fleet.dir.path(), PEERS - 1, &fleet.url).await);
    wait_settled(&fleet.url, PEERS).await;
    for file in ["/photo", "/docs/a", "/docs/c"] {
        let status = fresh.status(&path(file)).await.unwrap();
        assert!(status.full_redundancy(), "{file}: {status:?}");
    }
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_keep_the_pieces_of_a_pool_restored_from_an_older_copy() {
    let mut fleet = Fleet::start().await;
    fleet.put("/old", 1).await;

    // A copy of the store is kept, and the network goes on: a newer file, heard of by every
    // peer's heartbeats.
    let backup = fleet.dir.path().join("backup");
    fleet
        .restart_pool(|data| {
            std::fs::create_dir(&backup).unwrap();
            for file in STORE_FILES {
                if data.join(file).exists() {
                    std::fs::copy(data.join(file), backup.join(file)).unwrap();
                }
            }
        })
        .await;
    // (Against the copy's own generation: a peer's memory may lag a heartbeat behind.)
    let copied = fleet.generation().await;
    fleet.put("/new", 2).await;
    wait_until("the peers to hear of the newer file", DEADLINE, || async {
        let seen = generations(fleet.dir.path());
        seen.iter().all(|seen| *seen > copied).then_some(())
    })
    .await
    .unwrap();
    let stored = fleet.pieces();

    // The store is restored from the copy, and the peers restart (so they register again
    // and weigh what the pool does not know).
    fleet
        .restart_pool(|data| {
            for file in STORE_FILES {
                let _ = std::fs::remove_file(data.join(file));
                if backup.join(file).exists() {
                    std::fs::copy(backup.join(file), data.join(file)).unwrap();
                }
            }
        })
        .await;
    fleet.restart_peers().await;
    let drive = &fleet.drive;
    assert!(
        drive
            .stat(&RemotePath::parse("/new").unwrap())
            .await
            .unwrap()
            .is_none(),
        "the older copy does not know the newer file"
    );
    let back = drive
        .read_range(&RemotePath::parse("/old").unwrap(), 0..u64::MAX)
        .await
        .unwrap();
    assert_eq!(back, vec![1u8; 100_000], "the older file reads as before");
    assert_eq!(
        fleet.pieces(),
        stored,
        "the peers kept the newer file's pieces the restored pool does not know"
    );

    // The device that wrote the newer file finds the pool forgot its last change, and
    // gives back what the copy lacks; the older file is left as it was.
    let recovered = drive.catch_up().await.unwrap().expect("a recovery");
    assert_eq!(recovered.given_back, 1, "{recovered:?}");
    assert_eq!(Fleet::read(drive, "/new").await, vec![2u8; 100_000]);
    assert_eq!(Fleet::read(drive, "/old").await, vec![1u8; 100_000]);
    assert!(drive.catch_up().await.unwrap().is_none());
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_ledger_is_folded_and_recovery_reads_the_snapshot() {
    let mut fleet = Fleet::start().await;
    let files = 70u8;
    for n in 0..files {
        fleet.put(&format!("/f{n}"), n).await;
    }
    fleet
        .drive
        .rm(&RemotePath::parse("/f0").unwrap(), false)
        .await
        .unwrap();
    // Every change wrote an entry (71); folding leaves a snapshot and what came after it
    // (a write may have folded the ledger already, once it passed 64 entries).
    fleet.drive.fold_ledger().await.unwrap();
    let entries = PoolClient::new(&fleet.url, fleet.secret.account_key())
        .unwrap()
        .list_page("ledger/", None, None)
        .await
        .unwrap()
        .objects
        .len();
    assert!(entries <= 8, "{entries} ledger entries after folding");
    assert_eq!(fleet.drive.fold_ledger().await.unwrap(), None, "short now");

    fleet.lose_store().await;
    let fresh = common::drive_at(&fleet.url, &fleet.secret);
    let recovered = fresh.recover().await.unwrap();
    // (Pieces of folded entries that peers had not deleted yet when the store was lost
    // are found too; the snapshot covers them, so none counts as unreadable.)
    assert_eq!(recovered.unreadable, 0, "{recovered:?}");
    assert_eq!(
        recovered.given_back,
        usize::from(files) - 1,
        "{recovered:?}"
    );
    assert!(!Fleet::exists(&fresh, "/f0").await);
    for n in [1u8, 35, 69] {
        assert_eq!(
            Fleet::read(&fresh, &format!("/f{n}")).await,
            vec![n; 100_000]
        );
    }
    // The device that wrote them finds the pool knows its last entry (the snapshot).
    assert!(fleet.drive.catch_up().await.unwrap().is_none());
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_made_while_the_network_was_too_small_reaches_the_ledger_later() {
    // Three peers: room for files under ec:2+1, too few for a ledger (rep:2x2 needs four).
    let mut fleet = Fleet::start_with(3).await;
    let home_dir = fleet.dir.path().join("home");
    Home::create(
        &home_dir,
        &fleet.url,
        &fleet.secret,
        Protection::Playground,
        &mut rand::rng(),
    )
    .unwrap();
    let home = Home::open(&home_dir).unwrap();
    let narrow = DriveOptions {
        redundancy: RedundancyPolicy::Fixed(Redundancy::ec(2, 1).unwrap()),
        ..common::options()
    };
    let local = fleet.dir.path().join("local");
    std::fs::write(&local, vec![5u8; 50_000]).unwrap();
    {
        let drive = Drive::open(&home, None, narrow.clone()).unwrap();
        (drive.put(
            &local,
            &RemotePath::parse("/kept").unwrap(),
            &Progress::silent(),
        ))
        .await
        .unwrap();
    }
    assert!(
        journaled(&home_dir) > 0,
        "the change waits in the home's journal for a ledger"
    );

    // A fourth peer joins; the next time the drive opens, the change is written.
    fleet
        .peers
        .push(Peer::start(fleet.dir.path(), 3, &fleet.url).await);
    wait_settled(&fleet.url, 4).await;
    let drive = Drive::open(&home, None, narrow).unwrap();
    assert!(drive.catch_up().await.unwrap().is_none());
    assert_eq!(journaled(&home_dir), 0, "written");

    // So the file survives the loss of the pool's store.
    fleet.lose_store().await;
    let recovered = drive.catch_up().await.unwrap().expect("a recovery");
    assert_eq!(recovered.given_back, 1, "{recovered:?}");
    assert_eq!(Fleet::read(&drive, "/kept").await, vec![5u8; 50_000]);
    fleet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_made_on_a_pool_that_lost_its_store_does_not_hide_the_loss() {
    let mut fleet = Fleet::start().await;
    fleet.put("/before", 1).await;
    // The drive notes the pool's index as it is.
    assert!(fleet.drive.catch_up().await.unwrap().is_none());
    fleet.lose_store().await;
    // The drive goes on writing before anything checks (a drive page left open): its last
    // ledger entry is now one the new pool knows.
    fleet.put("/after", 2).await;
    let recovered = fleet.drive.catch_up().await.unwrap().expect("a recovery");
    assert_eq!(recovered.given_back, 1, "{recovered:?}");
    assert_eq!(
        Fleet::read(&fleet.drive, "/before").await,
        vec![1u8; 100_000]
    );
    assert_eq!(
        Fleet::read(&fleet.drive, "/after").await,
        vec![2u8; 100_000]
    );
    assert!(fleet.drive.catch_up().await.unwrap().is_none());
    fleet.stop().await;
}

/// A process killed after the pool took a change and before the ledger had it loses
/// nothing: the change was journaled in the home first, and the next process writes what
/// the pool took to the ledger — or, when the pool has lost its store meanwhile, gives
/// the pool back the journaled changes with the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_the_pool_took_just_before_the_process_died_is_not_lost() {
    let mut fleet = Fleet::start().await;
    let proxy = Proxy::start(&fleet.url).await;
    let home_dir = fleet.dir.path().join("home");
    Home::create(
        &home_dir,
        &proxy.url,
        &fleet.secret,
        Protection::Playground,
        &mut rand::rng(),
    )
    .unwrap();
    let home = Home::open(&home_dir).unwrap();
    let open = || Drive::open(&home, None, common::options()).unwrap();
    let local = |byte: u8| {
        let local = fleet.dir.path().join(format!("local-{byte}"));
        std::fs::write(&local, vec![byte; 60_000]).unwrap();
        local
    };
    let (a, b, old) = (local(1), local(2), local(3));
    let path = |p: &str| RemotePath::parse(p).unwrap();
    let drive = open();
    assert!(drive.catch_up().await.unwrap().is_none());
    (drive.put(&old, &path("/old"), &Progress::silent()))
        .await
        .unwrap();

    // Runs `change` in a process that is killed once the pool has taken it, as its
    // ledger entry goes out (held at the proxy).
    let killed_after_the_pool_took = |change: tokio::task::JoinHandle<()>| {
        let proxy = &proxy;
        async move {
            wait_until("the ledger write to go out", DEADLINE, || async {
                (proxy.held() > 0).then_some(())
            })
            .await
            .unwrap();
            change.abort();
            assert!(change.await.unwrap_err().is_cancelled());
        }
    };
    let held_before = proxy.held();
    assert_eq!(held_before, 0);
    proxy.hold_containing("\"ledger/");
    let drive = std::sync::Arc::new(drive);
    let putting = {
        let (drive, a) = (drive.clone(), a.clone());
        tokio::spawn(async move {
            let _ = drive.put(&a, &path("/a"), &Progress::silent()).await;
        })
    };
    killed_after_the_pool_took(putting).await;
    proxy.open();
    drop(drive);
    assert!(journaled(&home_dir) > 0, "journaled");

    // The next process finds the change the pool took and writes it to the ledger.
    let drive = open();
    assert!(drive.catch_up().await.unwrap().is_none());
    assert_eq!(journaled(&home_dir), 0, "settled");
    assert_eq!(Fleet::read(&drive, "/a").await, vec![1u8; 60_000]);

    // Twice more, killed the same way: a put, then a delete...
    let before = proxy.held();
    proxy.hold_containing("\"ledger/");
    let drive = std::sync::Arc::new(drive);
    let putting = {
        let (drive, b) = (drive.clone(), b.clone());
        tokio::spawn(async move {
            let _ = drive.put(&b, &path("/b"), &Progress::silent()).await;
        })
    };
    wait_until("the second ledger write to go out", DEADLINE, || async {
        (proxy.held() > before).then_some(())
    })
    .await
    .unwrap();
    putting.abort();
    let _ = putting.await;
    proxy.open();
    let before = proxy.held();
    proxy.hold_containing("\"ledger/");
    let deleting = {
        let drive = drive.clone();
        tokio::spawn(async move {
            let _ = drive.rm(&path("/old"), false).await;
        })
    };
    wait_until("the third ledger write to go out", DEADLINE, || async {
        (proxy.held() > before).then_some(())
    })
    .await
    .unwrap();
    deleting.abort();
    let _ = deleting.await;
    proxy.open();
    drop(drive);

    // ...and the pool loses its store before any process opens the home again. The
    // journal is all that knows of those two changes; the next process gives them back.
    fleet.lose_store().await;
    let drive = open();
    let recovered = drive.catch_up().await.unwrap().expect("a recovery");
    assert_eq!(recovered.given_back, 2, "{recovered:?}");
    assert_eq!(Fleet::read(&drive, "/a").await, vec![1u8; 60_000]);
    assert_eq!(Fleet::read(&drive, "/b").await, vec![2u8; 60_000]);
    assert!(
        !Fleet::exists(&drive, "/old").await,
        "deleted stays deleted"
    );
    assert_eq!(journaled(&home_dir), 0, "settled");
    // A fresh device from the secret alone sees the same drive.
    let fresh = common::drive_at(&fleet.url, &fleet.secret);
    let listed: Vec<String> = (fresh.list(&RemotePath::root()).await.unwrap())
        .into_iter()
        .map(|e| e.path.to_string())
        .collect();
    assert_eq!(listed, ["/a", "/b"]);
    fleet.stop().await;
}

/// The proxy's pick for a ledger entry's commit (its pool record is a fixed mark).
fn ledger_commit(_: &str, uri: &str, body: &[u8]) -> bool {
    let mark = format!("\"metadata\":\"{}\"", cairn_client::entry::seal_ledger());
    uri.ends_with("/commit") && body.windows(mark.len()).any(|w| w == mark.as_bytes())
}

/// Waits until the proxy holds more than `before` requests.
async fn wait_held(proxy: &Proxy, before: usize) {
    wait_until("a request to be held", DEADLINE, || async {
        (proxy.held() > before).then_some(())
    })
    .await
    .unwrap();
}

/// The pool dies (and loses its store) while a ledger entry is written: its pieces are
/// on the peers, its commit never arrives. The change it carried is not lost: the client
/// keeps it, and recovery finds the entry by its locator as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_dying_while_a_ledger_entry_is_written_loses_nothing() {
    let mut fleet = Fleet::start().await;
    fleet.put("/before", 1).await;
    let proxy = Proxy::start(&fleet.url).await;
    let drive = std::sync::Arc::new(common::drive_at(&proxy.url, &fleet.secret));
    // As the command line and the drive page do on opening: the drive notes the pool's
    // index as it is.
    assert!(drive.catch_up().await.unwrap().is_none());
    let local = fleet.dir.path().join("during");
    std::fs::write(&local, vec![2u8; 80_000]).unwrap();
    proxy.hold_when(ledger_commit);
    let putting = {
        let drive = drive.clone();
        tokio::spawn(async move {
            (drive.put(
                &local,
                &RemotePath::parse("/during").unwrap(),
                &Progress::silent(),
            ))
            .await
        })
    };
    wait_held(&proxy, 0).await;
    fleet.lose_store().await;
    proxy.open();
    let put = putting.await.unwrap();
    // The file was committed, its ledger write was not: the caller is told so.
    let err = put.expect_err("the ledger write failed with the pool");
    assert!(
        err.to_string()
            .contains("the copy of this change on the peers"),
        "{err}"
    );

    let recovered = drive.catch_up().await.unwrap().expect("a recovery");
    assert_eq!(recovered.unreadable, 0, "{recovered:?}");
    assert_eq!(recovered.given_back, 2, "{recovered:?}");
    assert_eq!(Fleet::read(&drive, "/during").await, vec![2u8; 80_000]);
    assert_eq!(Fleet::read(&drive, "/before").await, vec![1u8; 100_000]);
    // What the client kept is in the ledger now: a fresh device sees the same drive
    // after the store is lost once more.
    fleet.lose_store().await;
    let fresh = common::drive_at(&fleet.url, &fleet.secret);
    let again = fresh.recover().await.unwrap();
    assert_eq!(again.given_back, 2, "{again:?}");
    assert_eq!(Fleet::read(&fresh, "/during").await, vec![2u8; 80_000]);
    fleet.stop().await;
}

/// The pool dies (and loses its store) while the ledger is folded into a snapshot: once
/// while the entries the snapshot covers are deleted, once with the snapshot's pieces
/// stored and its commit not yet arrived. Recovery gives back every file both times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_dying_while_the_ledger_is_folded_loses_nothing() {
    let mut fleet = Fleet::start().await;
    let proxy = Proxy::start(&fleet.url).await;
    let drive = std::sync::Arc::new(common::drive_at(&proxy.url, &fleet.secret));
    let pool = PoolClient::new(&fleet.url, fleet.secret.account_key()).unwrap();
    let entries = || async {
        (pool.list_page("ledger/", None, None).await.unwrap())
            .objects
            .len()
    };
    // Enough changes for the ledger to be long (a write may fold it on the way).
    let mut files = 0u8;
    while entries().await <= 64 {
        fleet.put(&format!("/f{files}"), files).await;
        files += 1;
    }
    let check = |drive: std::sync::Arc<Drive>| async move {
        let listed = drive.list(&RemotePath::root()).await.unwrap();
        assert_eq!(listed.len(), usize::from(files));
        for n in [0, files / 2, files - 1] {
            assert_eq!(
                Fleet::read(&drive, &format!("/f{n}")).await,
                vec![n; 100_000]
            );
        }
    };

    // 1. The snapshot is written; the pool dies while the entries it covers go.
    proxy.hold_when(|method, uri, _| method == "DELETE" && uri.contains("path=ledger/"));
    let folding = {
        let drive = drive.clone();
        tokio::spawn(async move { drive.fold_ledger().await })
    };
    wait_held(&proxy, 0).await;
    fleet.lose_store().await;
    let held = proxy.held();
    proxy.open();
    let _ = folding.await.unwrap();
    let fresh = std::sync::Arc::new(common::drive_at(&fleet.url, &fleet.secret));
    let recovered = fresh.recover().await.unwrap();
    assert_eq!(recovered.unreadable, 0, "{recovered:?}");
    assert_eq!(recovered.given_back, usize::from(files), "{recovered:?}");
    check(fresh).await;

    // 2. The ledger (the snapshot and the entries it covers, all given back) is folded
    // again; the pool dies with the new snapshot's pieces stored, before its commit.
    assert!(entries().await > 64);
    proxy.hold_when(ledger_commit);
    let folding = {
        let drive = drive.clone();
        tokio::spawn(async move { drive.fold_ledger().await })
    };
    wait_held(&proxy, held).await;
    fleet.lose_store().await;
    proxy.open();
    assert!(
        folding.await.unwrap().is_err(),
        "the snapshot was not written"
    );
    let fresh = std::sync::Arc::new(common::drive_at(&fleet.url, &fleet.secret));
    let recovered = fresh.recover().await.unwrap();
    assert_eq!(recovered.unreadable, 0, "{recovered:?}");
    assert_eq!(recovered.given_back, usize::from(files), "{recovered:?}");
    check(fresh).await;
    fleet.stop().await;
}

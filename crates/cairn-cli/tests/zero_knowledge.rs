//! Invariant 1, zero knowledge, with real processes: a random canary in folder names, file
//! names and file contents goes through put, mkdir, ls, get, status, mv and rm, a repair,
//! audits, and a recovery of the account's records after the pool lost its store (so
//! the ledger the client keeps on the peers, and what recovery gives back) — and appears nowhere the pool and the peers wrote or received: not in their
//! data directories (SQLite databases with their `-wal`/`-shm` files, keys, pieces,
//! `pool.id`, `pool.url`), not in their debug logs, and not in any byte that crossed the
//! wire to or from them (every connection passes a recording relay); neither plain (in any
//! letter case), nor as hex, nor as standard or URL-safe base64 at any alignment.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use cairn_testkit::wait_until;
use data_encoding::{BASE64, BASE64URL, BASE64URL_NOPAD, HEXLOWER};
use rand::Rng;

mod common;
use common::*;

/// The canary's length: 16 random letters and digits.
const CANARY_LEN: usize = 16;
/// Long enough for the killed peer to count as lost (3 s) and its pieces to be rebuilt.
const HEAL: Duration = Duration::from_secs(45);

/// A random text and every form in which a leak of it could show up in bytes.
struct Canary {
    text: String,
    /// `(what, bytes, compared ignoring ASCII case)`.
    forms: Vec<(String, Vec<u8>, bool)>,
}

impl Canary {
    fn random() -> Self {
        let text: String = rand::rng()
            .sample_iter(rand::distr::Alphanumeric)
            .take(CANARY_LEN)
            .map(char::from)
            .collect();
        Self::new(&text)
    }

    fn new(text: &str) -> Self {
        Self::of_bytes(text, text.as_bytes())
    }

    /// A canary of any bytes (a key), named `text` in reports.
    fn of_bytes(text: &str, bytes: &[u8]) -> Self {
        let mut forms = vec![
            // Letter case ignored: catches the text lowercased or uppercased, and hex in
            // either case.
            ("plain".to_owned(), bytes.to_ascii_lowercase(), true),
            ("hex".to_owned(), HEXLOWER.encode(bytes).into_bytes(), true),
        ];
        // Base64 of the canary depends on where it starts modulo 3 bytes. Prefix 0, 1 or 2
        // bytes and keep only the characters made of canary bits alone: that middle is the
        // same whatever surrounds the canary, padded or not.
        for shift in 0..3 {
            let mut shifted = vec![0u8; shift];
            shifted.extend_from_slice(bytes);
            let first = (8 * shift).div_ceil(6);
            let last = 8 * (shift + bytes.len()) / 6;
            for (name, encoding) in [("base64", &BASE64), ("base64url", &BASE64URL)] {
                let full = encoding.encode(&shifted);
                let middle = full.as_bytes()[first..last].to_vec();
                forms.push((format!("{name} at offset {shift}"), middle, false));
            }
        }
        Self {
            text: text.to_owned(),
            forms,
        }
    }

    /// The first form of the canary found in `bytes`, if any.
    fn find_in(&self, bytes: &[u8]) -> Option<&str> {
        let lower = bytes.to_ascii_lowercase();
        self.forms.iter().find_map(|(what, needle, fold)| {
            let haystack = if *fold { &lower } else { bytes };
            haystack
                .windows(needle.len())
                .any(|w| w == needle.as_slice())
                .then_some(what.as_str())
        })
    }
}

/// What one scan found: every file it read, and each leak as `(file, form)`.
#[derive(Debug, Default)]
struct Scan {
    files: Vec<PathBuf>,
    leaks: Vec<(PathBuf, String)>,
}

impl Scan {
    /// Whether a scanned file's name ends with `suffix`.
    fn saw(&self, suffix: &str) -> bool {
        self.files
            .iter()
            .any(|f| f.to_string_lossy().ends_with(suffix))
    }
}

/// Reads every file under `roots` (recursively, symlinks not followed) and looks for the
/// canary in its bytes and in its path below the root.
fn scan(roots: &[PathBuf], canary: &Canary) -> Scan {
    let mut out = Scan::default();
    let mut stack: Vec<(PathBuf, PathBuf)> = roots.iter().map(|r| (r.clone(), r.clone())).collect();
    while let Some((root, dir)) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            // A daemon's temp dir may vanish between listing and reading.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => panic!("cannot list {}: {e}", dir.display()),
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let relative = path.strip_prefix(&root).unwrap().to_string_lossy();
            if let Some(form) = canary.find_in(relative.as_bytes()) {
                out.leaks
                    .push((path.clone(), format!("{form} in the file name")));
            }
            let kind = match std::fs::symlink_metadata(&path) {
                Ok(meta) => meta.file_type(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => panic!("cannot stat {}: {e}", path.display()),
            };
            if kind.is_dir() {
                stack.push((root.clone(), path));
            } else if kind.is_file() {
                let bytes = match std::fs::read(&path) {
                    Ok(bytes) => bytes,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => panic!("cannot read {}: {e}", path.display()),
                };
                if let Some(form) = canary.find_in(&bytes) {
                    out.leaks.push((path.clone(), form.to_owned()));
                }
                out.files.push(path);
            }
        }
    }
    out
}

/// A TCP relay in front of one daemon that records every byte it passes on: each
/// direction of each connection in its own file (`NAME-N-in`, `NAME-N-out`) under a
/// directory, so a scan sees exactly what went over the wire to and from the daemon.
struct Tap {
    addr: SocketAddr,
    backend: Arc<(Mutex<Option<SocketAddr>>, Condvar)>,
}

impl Tap {
    fn start(dir: &Path, name: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let backend = Arc::new((Mutex::new(None::<SocketAddr>), Condvar::new()));
        let (dir, name, shared) = (dir.to_owned(), name.to_owned(), backend.clone());
        std::thread::spawn(move || {
            for (n, client) in listener.incoming().enumerate() {
                let Ok(client) = client else { continue };
                let (dir, name, shared) = (dir.clone(), name.clone(), shared.clone());
                std::thread::spawn(move || {
                    // The daemon's address is set once it is listening; a connection that
                    // comes sooner (the pool probing a peer) waits for it.
                    let (lock, ready) = &*shared;
                    let guard = ready
                        .wait_timeout_while(lock.lock().unwrap(), READY, |b| b.is_none())
                        .unwrap()
                        .0;
                    let Some(target) = *guard else { return };
                    drop(guard);
                    let Ok(server) = TcpStream::connect(target) else {
                        return;
                    };
                    let record =
                        |way: &str| std::fs::File::create(dir.join(format!("{name}-{n}-{way}")));
                    let (Ok(inbound), Ok(outbound)) = (record("in"), record("out")) else {
                        return;
                    };
                    let (client2, server2) =
                        (client.try_clone().unwrap(), server.try_clone().unwrap());
                    std::thread::spawn(move || relay(client2, server2, inbound));
                    relay(server, client, outbound);
                });
            }
        });
        Self { addr, backend }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Points the relay at the daemon listening at `url` (`http://HOST:PORT`).
    fn connect_to(&self, url: &str) {
        let addr: SocketAddr = url.trim_start_matches("http://").parse().unwrap();
        let (lock, ready) = &*self.backend;
        *lock.lock().unwrap() = Some(addr);
        ready.notify_all();
    }
}

/// Copies `from` to `to`, recording each byte, until either side closes.
fn relay(mut from: TcpStream, mut to: TcpStream, mut record: std::fs::File) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if record.write_all(&buf[..n]).is_err() || to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// What the scan reads: the pool's directory, every log, every byte the relays saw, and
/// every peer's directory.
fn scanned_roots(root: &Path, logs: &Path, wire: &Path) -> Vec<PathBuf> {
    let mut scanned: Vec<PathBuf> = vec![root.join("pool"), logs.to_owned(), wire.to_owned()];
    scanned.extend((0..7).map(|i| root.join(format!("peer{i}"))));
    scanned
}

/// Text of about `len` bytes that carries the canary every few dozen bytes, at every
/// offset modulo 3.
fn canary_text(canary: &str, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut line = 0usize;
    while out.len() < len {
        out.extend_from_slice(
            format!("{line} {} secret {canary}\n", "-".repeat(line % 3)).as_bytes(),
        );
        line += 1;
    }
    out
}

fn status_json(client: &Client, path: &str) -> serde_json::Value {
    serde_json::from_str(&client.ok(&["status", path, "--json"])).unwrap()
}

/// The peers (ids) holding pieces of `path`, and how many pieces it has in all.
fn pieces_of(client: &Client, path: &str) -> (Vec<String>, usize) {
    let status = status_json(client, path);
    let pieces: Vec<String> = status["segments"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["pieces"].as_array().unwrap().clone())
        .map(|p| p["peer"].as_str().unwrap().to_owned())
        .collect();
    let count = pieces.len();
    (pieces, count)
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn no_name_or_content_reaches_the_pool_or_a_peer() {
    let canary = Canary::random();
    let c = canary.text.clone();
    let dirs = tempfile::tempdir().unwrap();
    let root = dirs.path().to_owned();
    let (logs, wire, local) = (root.join("logs"), root.join("wire"), root.join("local"));
    for dir in [&logs, &wire, &local] {
        std::fs::create_dir_all(dir).unwrap();
    }

    // A pool and seven peers logging everything (`trace`, a superset of `debug`), every connection to each of them relayed
    // and recorded; audits every 300 ms so they run too.
    let pool_tap = Tap::start(&wire, "pool");
    let mut pool = start_pool_logged(
        &root.join("pool"),
        &["--audit-interval", "300ms"],
        "trace",
        &logs.join("pool.log"),
    );
    pool_tap.connect_to(pool.url());
    let pool_url = pool_tap.url();
    let mut peers = Vec::new();
    let mut index = HashMap::new();
    for i in 0..7 {
        let tap = Tap::start(&wire, &format!("peer{i}"));
        let peer = start_peer_logged(
            &pool_url,
            &root.join(format!("peer{i}")),
            Some(&format!("zone-{i}")),
            &["--advertise", &tap.url()],
            "trace",
            &logs.join(format!("peer{i}.log")),
        );
        tap.connect_to(peer.url());
        peers.push((peer, tap));
    }
    wait_online(&pool_url, 7).await;
    for (i, (peer, _)) in peers.iter().enumerate() {
        index.insert(peer_info(peer.url()).await.peer.to_string(), i);
    }

    // The canary in folder names, file names and contents, one file of several segments.
    let tree = local.join(format!("Folder-{c}"));
    std::fs::create_dir_all(tree.join(format!("sub-{c}"))).unwrap();
    std::fs::write(tree.join(format!("file-{c}.txt")), canary_text(&c, 3000)).unwrap();
    std::fs::write(tree.join(format!("big-{c}.txt")), canary_text(&c, 200_000)).unwrap();
    std::fs::write(
        tree.join(format!("sub-{c}")).join(format!("deep-{c}.txt")),
        canary_text(&c, 100),
    )
    .unwrap();
    let note = local.join(format!("note-{c}.txt"));
    std::fs::write(&note, canary_text(&c, 500)).unwrap();

    let (client, _) = Client::init(root.join("home"), &pool_url);
    let redundancy = ["--redundancy", "ec:4+2", "--segment-size", "64KiB"];
    let folder = format!("/Folder-{c}");
    let mut put = vec!["put", "-r", tree.to_str().unwrap(), &folder];
    put.extend(redundancy);
    client.ok(&put);
    let note_remote = format!("/note-{c}.txt");
    let mut put = vec!["put", note.to_str().unwrap(), &note_remote];
    put.extend(redundancy);
    client.ok(&put);
    client.ok(&["mkdir", &format!("/empty-{c}")]);

    // The client sees the names (so they really went up as names)...
    let listed: Vec<String> = client.ls("/").into_iter().map(|e| e.0).collect();
    for name in [&folder, &note_remote, &format!("/empty-{c}")] {
        assert!(
            listed.iter().any(|p| p.trim_end_matches('/') == name),
            "{listed:?}"
        );
    }
    let inside: Vec<String> = client.ls(&folder).into_iter().map(|e| e.0).collect();
    assert_eq!(inside.len(), 3, "{inside:?}");
    let big = format!("{folder}/big-{c}.txt");
    let back = root.join("back");
    client.ok(&["get", &big, back.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(&back).unwrap(),
        std::fs::read(tree.join(format!("big-{c}.txt"))).unwrap()
    );
    assert!(
        status_json(&client, &big)["segments"]
            .as_array()
            .unwrap()
            .len()
            > 1
    );

    // ...renames, removals...
    let moved = format!("/moved-{c}");
    client.ok(&["mv", &folder, &moved]);
    let note_moved = format!("{moved}/note2-{c}.txt");
    client.ok(&["mv", &note_remote, &note_moved]);
    client.ok(&["rm", &format!("{moved}/file-{c}.txt")]);
    client.ok(&["rm", "-r", &format!("{moved}/sub-{c}")]);
    let big = format!("{moved}/big-{c}.txt");

    // ...a repair: a holder of the big file dies and its pieces are rebuilt by peers...
    let (holders, _) = pieces_of(&client, &big);
    let victim = index[&holders[0]];
    peers[victim].0.kill();
    wait_until("the big file repaired", HEAL, || async {
        let status = status_json(&client, &big);
        let on_dead = pieces_of(&client, &big)
            .0
            .iter()
            .any(|p| index[p] == victim);
        (status["full_redundancy"] == true && !on_dead).then_some(())
    })
    .await
    .unwrap();

    // ...audits, and the removed files' pieces deleted from the live peers.
    let expected: usize = [&big, &note_moved]
        .iter()
        .map(|p| pieces_of(&client, p).1)
        .sum();
    let live: Vec<PathBuf> = (0..peers.len())
        .filter(|i| *i != victim)
        .map(|i| root.join(format!("peer{i}")))
        .collect();
    let direct = pool.url().to_owned();
    wait_until("audits and deletions done", HEAL, || async {
        // (The account's ledger pieces are not files' pieces: they stay.)
        let held: usize = live.iter().map(|dir| data_pieces(dir).len()).sum();
        let metrics = reqwest::get(format!("{direct}/metrics"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        (held == expected && metric(&metrics, "cairn_audits_passed_total") >= 6).then_some(())
    })
    .await
    .unwrap();
    client.ok(&["get", &big, back.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(&back).unwrap(),
        std::fs::read(tree.join(format!("big-{c}.txt"))).unwrap()
    );

    // ...and a recovery: the pool loses its store (pool.key kept), comes back behind the
    // same relay, and the client's next command gives it the records back from the
    // account's ledger on the peers.
    assert!(pool.stop(Duration::from_secs(10)));
    for file in ["pool.sqlite", "pool.sqlite-wal", "pool.sqlite-shm"] {
        let _ = std::fs::remove_file(root.join("pool").join(file));
    }
    pool = start_pool_logged(
        &root.join("pool"),
        &["--audit-interval", "300ms"],
        "trace",
        &logs.join("pool.log"),
    );
    pool_tap.connect_to(pool.url());
    wait_online(&pool_url, 6).await;
    let run = client.run(&["ls", &moved, "--json"]);
    assert!(
        run.stderr.contains("the pool had lost records"),
        "{}",
        run.stderr
    );
    client.ok(&["get", &big, back.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(&back).unwrap(),
        std::fs::read(tree.join(format!("big-{c}.txt"))).unwrap()
    );

    // ...and sharing: a link to a file, and one with a password (the canary in it too), each
    // opened with no client home. The link's key, and the password, reach no one but the
    // recipient.
    let link = client.ok(&["share", &big]);
    let key = link.trim().split_once('#').unwrap().1;
    let link_canary = Canary::of_bytes(key, &BASE64URL_NOPAD.decode(key.as_bytes()).unwrap());
    let nobody = Client::at(root.join("nobody"));
    let shared = root.join("shared-copy");
    nobody.ok(&["get", link.trim(), shared.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(&shared).unwrap(),
        std::fs::read(tree.join(format!("big-{c}.txt"))).unwrap()
    );
    let password = format!("pw-{c}");
    let guarded = (client.clone())
        .with_env("CAIRN_SHARE_PASSWORD", &password)
        .ok(&["share", &moved, "--password"]);
    let guarded_key = guarded
        .trim()
        .split_once('#')
        .unwrap()
        .1
        .trim_end_matches(".pw");
    let guarded_canary = Canary::of_bytes(
        guarded_key,
        &BASE64URL_NOPAD.decode(guarded_key.as_bytes()).unwrap(),
    );
    (nobody.clone())
        .with_env("CAIRN_SHARE_PASSWORD", &password)
        .ok(&[
            "get",
            guarded.trim(),
            root.join("shared-folder").to_str().unwrap(),
        ]);
    let keys_clean = |when: &str| {
        for key in [&link_canary, &guarded_canary] {
            let found = scan(&scanned_roots(&root, &logs, &wire), key);
            assert!(
                found.leaks.is_empty(),
                "{when}: a link's key leaked: {:#?}",
                found.leaks
            );
        }
    };

    let scanned = scanned_roots(&root, &logs, &wire);
    let assert_clean = |when: &str, found: &Scan| {
        assert!(
            found.leaks.is_empty(),
            "{when}: the canary {c} leaked: {:#?}",
            found.leaks
        );
        for must in [
            "pool.key",
            "pool.sqlite",
            "pool.url",
            "peer.key",
            "index.sqlite",
            "pool.log",
            "peer0.log",
            "-in",
            "-out",
        ] {
            assert!(found.saw(must), "{when}: no {must} scanned");
        }
        let pieces = found
            .files
            .iter()
            .filter(|f| f.components().any(|c| c.as_os_str() == "pieces"))
            .count();
        assert!(
            pieces >= expected,
            "{when}: only {pieces} piece files scanned"
        );
    };
    // While everything runs (write-ahead logs in place)...
    let found = scan(&scanned, &canary);
    assert!(found.saw("-wal"), "no SQLite write-ahead log scanned");
    // The relays saw the data path (every piece went through them) and the logs are at
    // the most verbose level.
    let size_under = |dir: &Path, pick: &dyn Fn(&Path) -> bool| -> u64 {
        found
            .files
            .iter()
            .filter(|f| f.starts_with(dir) && pick(f))
            .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
            .sum()
    };
    let piece_bytes: u64 = (0..7)
        .map(|i| {
            size_under(&root.join(format!("peer{i}")), &|f| {
                f.components().any(|c| c.as_os_str() == "pieces")
            })
        })
        .sum();
    let wire_bytes = size_under(&wire, &|_| true);
    assert!(
        piece_bytes > 200_000 && wire_bytes > piece_bytes,
        "{wire_bytes} bytes on the wire, {piece_bytes} in pieces"
    );
    let pool_log = std::fs::read_to_string(logs.join("pool.log")).unwrap();
    assert!(pool_log.contains("DEBUG") || pool_log.contains("TRACE"));
    assert_clean("running", &found);
    keys_clean("running");
    // ...and after a clean stop, with every shutdown line logged.
    assert!(pool.stop(Duration::from_secs(10)));
    for (i, (peer, _)) in peers.iter_mut().enumerate() {
        if i != victim {
            assert!(peer.stop(Duration::from_secs(10)));
        }
    }
    let found = scan(&scanned, &canary);
    assert_clean("stopped", &found);
    keys_clean("stopped");

    // The scan would have caught a leak: each form planted in random bytes, deep in a
    // peer's piece tree, in a log and in the pool's directory, is found there.
    let plants = [
        root.join("peer1/pieces/zz/zz/planted"),
        logs.join("planted.log"),
        root.join("pool/planted"),
    ];
    for (n, (what, needle, _)) in canary.forms.iter().enumerate() {
        let plant = &plants[n % plants.len()];
        std::fs::create_dir_all(plant.parent().unwrap()).unwrap();
        let mut bytes = vec![0u8; 100 + n];
        rand::rng().fill(&mut bytes[..]);
        bytes.extend_from_slice(needle);
        bytes.extend_from_slice(b"tail");
        std::fs::write(plant, &bytes).unwrap();
        let found = scan(&scanned, &canary);
        assert!(
            found.leaks.iter().any(|(file, _)| file == plant),
            "a planted {what} canary in {} went unnoticed",
            plant.display()
        );
        std::fs::remove_file(plant).unwrap();
    }
}

#[test]
fn the_scanner_finds_the_canary_in_every_form_and_nothing_else() {
    let canary = Canary::new("Zq3kP9xLm2Tb7VwR");
    let text = canary.text.as_bytes();
    let noise: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
    assert_eq!(canary.find_in(&noise), None);
    let wrapped = |inner: &[u8]| {
        let mut bytes = noise.clone();
        bytes.extend_from_slice(inner);
        bytes.extend_from_slice(&noise);
        canary.find_in(&bytes).map(str::to_owned)
    };
    assert_eq!(wrapped(text).as_deref(), Some("plain"));
    assert_eq!(
        wrapped(text.to_ascii_uppercase().as_slice()).as_deref(),
        Some("plain")
    );
    assert_eq!(
        wrapped(text.to_ascii_lowercase().as_slice()).as_deref(),
        Some("plain")
    );
    assert_eq!(
        wrapped(HEXLOWER.encode(text).as_bytes()).as_deref(),
        Some("hex")
    );
    assert_eq!(
        wrapped(data_encoding::HEXUPPER.encode(text).as_bytes()).as_deref(),
        Some("hex")
    );
    // Base64 of the canary inside other bytes, at every offset, in all four encodings.
    for before in 0..6 {
        let mut bytes: Vec<u8> = (0..before as u8).map(|b| b.wrapping_mul(91)).collect();
        bytes.extend_from_slice(text);
        bytes.extend_from_slice(b"!?");
        for encoding in [
            &BASE64,
            &BASE64URL,
            &data_encoding::BASE64_NOPAD,
            &data_encoding::BASE64URL_NOPAD,
        ] {
            let encoded = encoding.encode(&bytes);
            assert!(
                wrapped(encoded.as_bytes()).is_some_and(|f| f.starts_with("base64")),
                "{encoded} at {before}"
            );
        }
    }
    // One character changed and it is gone.
    let mut near = text.to_vec();
    near[7] ^= 0x01;
    assert_eq!(wrapped(&near), None);
}

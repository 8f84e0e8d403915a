//! What the process-level tests share: a real `cairn pool` and real `cairn peer`s on
//! 127.0.0.1:0 with data in a temp dir, and waiting on their state with deadlines.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn_proto::PeerState;
use cairn_proto::api::{self, NetworkStatus};
use cairn_proto::peer_api::{PEER_STATUS, PeerInfo};
use cairn_testkit::{Daemon, SignedClient, wait_until};
use ed25519_dalek::SigningKey;

pub const READY: Duration = Duration::from_secs(30);
pub const SETTLE: Duration = Duration::from_secs(20);

pub fn cairn() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cairn"))
}

pub fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

pub fn start_pool(dir: &Path, listen: &str, extra: &[&str]) -> Daemon {
    Daemon::start(&cairn(), &pool_args(dir, listen, extra), READY).unwrap()
}

pub fn start_peer(pool: &str, dir: &Path, capacity: &str, zone: Option<&str>) -> Daemon {
    Daemon::start(&cairn(), &peer_args(pool, dir, capacity, zone, &[]), READY).unwrap()
}

pub async fn status(pool: &str) -> NetworkStatus {
    reqwest::get(format!("{pool}{}", api::STATUS))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub async fn peer_info(peer: &str) -> PeerInfo {
    reqwest::get(format!("{peer}{PEER_STATUS}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Waits until `count` peers are online.
pub async fn wait_online(pool: &str, count: usize) -> NetworkStatus {
    wait_until(&format!("{count} peers online"), SETTLE, || async {
        let s = status(pool).await;
        (s.peers
            .iter()
            .filter(|p| p.state == PeerState::Online)
            .count()
            == count)
            .then_some(s)
    })
    .await
    .unwrap()
}

/// A pool and `n` peers, each in its own zone, all online.
pub struct Network {
    pub _dirs: tempfile::TempDir,
    pub root: PathBuf,
    pub pool: Daemon,
    pub peers: Vec<Daemon>,
}

impl Network {
    pub async fn start(n: usize, pool_extra: &[&str]) -> Self {
        let dirs = tempfile::tempdir().unwrap();
        let root = dirs.path().to_owned();
        let pool = start_pool(&root.join("pool"), "127.0.0.1:0", pool_extra);
        let peers = (0..n)
            .map(|i| {
                start_peer(
                    pool.url(),
                    &root.join(format!("peer{i}")),
                    "1GiB",
                    Some(&format!("zone-{i}")),
                )
            })
            .collect();
        wait_online(pool.url(), n).await;
        Self {
            _dirs: dirs,
            root,
            pool,
            peers,
        }
    }

    pub fn account(&self, seed: u8) -> SignedClient {
        SignedClient::new(self.pool.url(), SigningKey::from_bytes(&[seed; 32]))
    }
}

/// What one `cairn` command did.
#[derive(Debug)]
pub struct Run {
    /// Whether it exited 0.
    pub ok: bool,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// A client home, driven through the real `cairn` binary.
#[derive(Debug, Clone)]
pub struct Client {
    /// The home directory.
    pub home: PathBuf,
    /// Extra environment (e.g. the passphrase).
    pub env: Vec<(String, String)>,
}

impl Client {
    /// A client on `home` (not initialised yet).
    pub fn at(home: PathBuf) -> Self {
        Self {
            home,
            env: Vec::new(),
        }
    }

    /// Initialises a passphrase-less (loopback playground) home on `pool`; returns the
    /// client and its recovery phrase.
    pub fn init(home: PathBuf, pool: &str) -> (Self, String) {
        let client = Self::at(home);
        let out = client.ok(&["init", "--pool", pool, "--no-passphrase"]);
        (client, phrase_in(&out))
    }

    /// The same home with `name=value` in the environment.
    pub fn with_env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Runs `cairn args...` against this home with no terminal and no inherited secrets.
    pub fn run(&self, args: &[&str]) -> Run {
        let output = self.output(args);
        Run {
            ok: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// [`Self::run`], its output as bytes.
    pub fn output(&self, args: &[&str]) -> std::process::Output {
        let mut command = std::process::Command::new(cairn());
        command
            .args(args)
            .env("CAIRN_HOME", &self.home)
            .env_remove("CAIRN_PASSPHRASE")
            .env_remove("CAIRN_RECOVERY_PHRASE")
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null());
        for (name, value) in &self.env {
            command.env(name, value);
        }
        command.output().unwrap()
    }

    /// Runs a command that must succeed; returns its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert!(run.ok, "cairn {args:?} failed: {}", run.stderr);
        run.stdout
    }

    /// Runs a command that must fail with one clear line; returns its standard error.
    pub fn fails(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert!(!run.ok, "cairn {args:?} should have failed: {}", run.stdout);
        assert!(
            run.stderr.trim().starts_with("error: ") && run.stderr.trim().lines().count() == 1,
            "cairn {args:?} should explain itself in one line: {:?}",
            run.stderr
        );
        run.stderr
    }

    /// `cairn put LOCAL [REMOTE] --redundancy POLICY` in 64 KiB segments (so a small file
    /// has several), which must succeed.
    pub fn put_coded(&self, local: &Path, remote: Option<&str>, policy: &str) -> String {
        let local = local.to_str().unwrap();
        let mut a = vec!["put", local];
        a.extend(remote);
        a.extend(["--redundancy", policy, "--segment-size", "64KiB"]);
        self.ok(&a)
    }

    /// `cairn ls DIR --json`, as `(path, kind, size)` triples.
    pub fn ls(&self, dir: &str) -> Vec<(String, String, u64)> {
        let json: serde_json::Value =
            serde_json::from_str(&self.ok(&["ls", dir, "--json"])).unwrap();
        json.as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["path"].as_str().unwrap().to_owned(),
                    e["kind"].as_str().unwrap().to_owned(),
                    e["size"].as_u64().unwrap(),
                )
            })
            .collect()
    }
}

/// The 24-word recovery phrase in `cairn init`'s output.
pub fn phrase_in(output: &str) -> String {
    output
        .lines()
        .map(str::trim)
        .find(|line| line.split_whitespace().count() == 24)
        .unwrap_or_else(|| panic!("no recovery phrase in {output:?}"))
        .to_owned()
}

/// Writes `len` random bytes to `dir/name`.
pub fn random_file(dir: &Path, name: &str, len: usize) -> PathBuf {
    use rand::RngCore;
    let mut bytes = vec![0u8; len];
    rand::rng().fill_bytes(&mut bytes);
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A pool's arguments with fast test timers, plus `extra`.
/// The tests' pool arguments; a flag in `extra` the tests already set (`--offline-after 60s`)
/// replaces their value, any other is added.
pub fn pool_args(dir: &Path, listen: &str, extra: &[&str]) -> Vec<String> {
    let mut a = args(&[
        "pool",
        "--data",
        dir.to_str().unwrap(),
        "--listen",
        listen,
        "--heartbeat-interval",
        "200ms",
        // Fifteen heartbeats: two cores running a debug build's tests in parallel can
        // starve a peer for more than a second (1.5 s here left a peer "offline" just
        // after the network came up, in CI).
        "--offline-after",
        "3s",
        // Past offline, so a lost peer is seen offline first.
        "--repair-after",
        "5s",
    ]);
    let mut rest = extra.iter();
    while let Some(arg) = rest.next() {
        match a.iter().position(|have| have == arg) {
            Some(at) if at + 1 < a.len() && !a[at + 1].starts_with("--") => {
                a[at + 1] = rest.next().map(|v| (*v).to_owned()).unwrap_or_default();
            }
            _ => a.push((*arg).to_owned()),
        }
    }
    a
}

/// A peer's arguments, plus `extra`.
pub fn peer_args(
    pool: &str,
    dir: &Path,
    capacity: &str,
    zone: Option<&str>,
    extra: &[&str],
) -> Vec<String> {
    let mut a = args(&[
        "peer",
        "--pool",
        pool,
        "--data",
        dir.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--capacity",
        capacity,
    ]);
    if let Some(zone) = zone {
        a.extend(args(&["--zone", zone]));
    }
    a.extend(args(extra));
    a
}

/// Like [`start_pool`] on `127.0.0.1:0`, but with `RUST_LOG=filter` and everything the
/// pool prints appended to the file `log`.
pub fn start_pool_logged(dir: &Path, extra: &[&str], filter: &str, log: &Path) -> Daemon {
    let a = pool_args(dir, "127.0.0.1:0", extra);
    Daemon::start_logged(&cairn(), &a, READY, filter, log).unwrap()
}

/// Like [`start_peer`] (plus `extra` arguments), but with `RUST_LOG=filter` and everything
/// the peer prints appended to the file `log`.
pub fn start_peer_logged(
    pool: &str,
    dir: &Path,
    zone: Option<&str>,
    extra: &[&str],
    filter: &str,
    log: &Path,
) -> Daemon {
    let a = peer_args(pool, dir, "1GiB", zone, extra);
    Daemon::start_logged(&cairn(), &a, READY, filter, log).unwrap()
}

/// Whether the piece file at `path` is a ledger piece (an account's copy of its records,
/// which outlives the files it records): it starts with the ledger's magic.
pub fn is_ledger_piece(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; cairn_core::ledger::MAGIC.len()];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| head == cairn_core::ledger::MAGIC)
}

/// The piece files under a peer's data directory (`pieces/ab/HASH`) that hold files' data,
/// leaving out ledger pieces.
pub fn data_pieces(peer_dir: &Path) -> Vec<PathBuf> {
    let mut out = all_pieces(peer_dir);
    out.retain(|path| !is_ledger_piece(path));
    out
}

/// Every piece file under a peer's data directory (`pieces/ab/HASH`), ledger pieces too.
pub fn all_pieces(peer_dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&peer_dir.join("pieces"), &mut out);
    out.sort();
    out
}

/// A pool (the tests' flags, with `flags` set or added), `peers` peers of 4 GiB and a
/// client home with an account, all real processes.
pub struct World {
    pub dir: tempfile::TempDir,
    pub pool: Daemon,
    pub peers: Vec<Daemon>,
    pub client: Client,
}

impl World {
    pub fn start(peers: usize, flags: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let extra: Vec<&str> = flags
            .iter()
            .flat_map(|(flag, value)| [*flag, *value])
            .collect();
        let args = pool_args(&dir.path().join("pool"), "127.0.0.1:0", &extra);
        let pool = Daemon::start(&cairn(), &args, READY).unwrap();
        let peers = (0..peers)
            .map(|i| {
                start_peer(
                    pool.url(),
                    &dir.path().join(format!("peer{i}")),
                    "4GiB",
                    None,
                )
            })
            .collect();
        let (client, _) = Client::init(dir.path().join("home"), pool.url());
        Self {
            dir,
            pool,
            peers,
            client,
        }
    }
}

impl World {
    /// Piece bytes every peer took in and sent out since it started, summed: what moved.
    pub async fn traffic(&self) -> (u64, u64) {
        let mut total = (0, 0);
        for peer in &self.peers {
            let info = peer_info(peer.url()).await;
            total.0 += info.received;
            total.1 += info.served;
        }
        total
    }
}

/// Every regular file under `dir`, by path relative to it, with its bytes, in path order.
pub fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else {
                let rel = entry.path().strip_prefix(dir).unwrap().to_owned();
                out.push((rel, std::fs::read(entry.path()).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// The BLAKE3 hash of the file at `path`, read in a stream.
pub fn hash_file(path: &Path) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new();
    hasher
        .update_reader(std::fs::File::open(path).unwrap())
        .unwrap();
    hasher.finalize()
}

/// `cairn ARGS` on `home` (no passphrase in its environment), and what follows `prefix`
/// on the first line it prints (`drive at `, `webdav at `).
pub fn start_printing(args: &[&str], home: &Path, prefix: &str) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(cairn())
        .args(args)
        .env("CAIRN_HOME", home)
        .env_remove("CAIRN_PASSPHRASE")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = std::io::BufReader::new(stdout)
        .lines()
        .next()
        .expect("the command printed a line")
        .unwrap();
    let rest = line
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("the first line is `{prefix}…`, not {line:?}"))
        .to_owned();
    (child, rest)
}

/// Peak and current resident memory of process `pid`, bytes.
pub fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap()
            * 1024
    };
    (field("VmHWM:"), field("VmRSS:"))
}

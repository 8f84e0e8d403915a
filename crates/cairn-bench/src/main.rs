//! `cairn-bench`: the end-to-end benchmark. Starts a whole network on this machine (a pool
//! and six peers on loopback, as `cairn local` does), drives the client library through
//! puts, gets, a listing and first-byte reads, runs the real `cairn` binary to see its
//! peak memory, and prints every figure beside the disk's floor measured in the same run.
//!
//! `cargo build --release && cargo run --release -p cairn-bench [-- --quick] [-- --json]`

#[allow(dead_code)]
mod child;
mod floor;
mod network;
mod report;

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use cairn_client::{Drive, DriveOptions, Home, Progress, Protection};
use cairn_core::{MasterSecret, Redundancy, RedundancyPolicy, RemotePath};
use clap::Parser;
use rand::RngCore;

use crate::network::LocalNetwork;
use crate::report::{ChildRun, Latency, Recovery, Report, Transfer, Unit, format_size};

/// Measure Cairn end to end on this machine against the disk's floor.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// A smoke run: 10 MiB and 50 MiB files and a 100-file tree.
    #[arg(long)]
    quick: bool,
    /// Print one JSON object with every figure instead of the table.
    #[arg(long)]
    json: bool,
    /// Where the temporary directory goes (default: the system's); the full run needs
    /// about 8 GiB free.
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// Data fragments per segment.
const K: u16 = 4;
/// Parity fragments per segment.
const M: u16 = 2;
/// Peers in the network: one per fragment.
const PEERS: usize = 6;
/// Bytes of each file in the tree.
const TREE_FILE: u64 = 4096;
/// Tries whose median a latency figure reports.
const TRIES: usize = 5;

/// What one run moves.
struct Sizes {
    small: u64,
    large: u64,
    tree_files: u64,
}

impl Sizes {
    fn of(quick: bool) -> Self {
        if quick {
            Self {
                small: 10 << 20,
                large: 50 << 20,
                tree_files: 100,
            }
        } else {
            Self {
                small: 100 << 20,
                large: 1 << 30,
                tree_files: 1000,
            }
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cairn = child::cairn_binary()?;
    let sizes = Sizes::of(args.quick);
    let temp = match &args.dir {
        Some(dir) => tempfile::Builder::new()
            .prefix("cairn-bench-")
            .tempdir_in(dir),
        None => tempfile::Builder::new().prefix("cairn-bench-").tempdir(),
    }
    .context("cannot create a temporary directory")?;
    let root = temp.path().to_owned();
    progress(&format!("working in {}", root.display()));

    let report = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(run(&root, &sizes, args.quick, &cairn))?;

    let mut stdout = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut stdout, &report)?;
        writeln!(stdout)?;
    } else {
        write!(stdout, "{}", report.table())?;
    }
    drop(stdout);
    progress("removing the temporary directory");
    temp.close()
        .context("cannot remove the temporary directory")?;
    Ok(())
}

/// A progress line on standard error.
fn progress(line: &str) {
    eprintln!("cairn-bench: {line}");
}

/// Seconds `work` took, started on a settled disk.
async fn timed<T, F: Future<Output = anyhow::Result<T>>>(work: F) -> anyhow::Result<(T, f64)> {
    floor::settle();
    let start = Instant::now();
    let out = work.await?;
    Ok((out, start.elapsed().as_secs_f64()))
}

/// The median of `TRIES` runs of `work`, in seconds.
async fn median<F, Fut>(mut work: F) -> anyhow::Result<f64>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let mut times = Vec::with_capacity(TRIES);
    for _ in 0..TRIES {
        times.push(timed(work()).await?.1);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[TRIES / 2])
}

fn remote(text: &str) -> anyhow::Result<RemotePath> {
    RemotePath::parse(text).with_context(|| format!("{text} is not a drive path"))
}

async fn run(root: &Path, sizes: &Sizes, quick: bool, cairn: &Path) -> anyhow::Result<Report> {
    let data = root.join("data");
    let out = root.join("out");
    for dir in [&data, &out] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let small = data.join("small");
    let large = data.join("large");
    let tree = data.join("tree");
    progress(&format!(
        "writing random sources: {}, {}, {} × {}",
        format_size(sizes.small),
        format_size(sizes.large),
        sizes.tree_files,
        format_size(TREE_FILE)
    ));
    write_random(&small, sizes.small)?;
    write_random(&large, sizes.large)?;
    std::fs::create_dir_all(&tree).with_context(|| format!("cannot create {}", tree.display()))?;
    let tree_sources: Vec<PathBuf> = (0..sizes.tree_files)
        .map(|i| tree.join(format!("f{i:05}")))
        .collect();
    for file in &tree_sources {
        write_random(file, TREE_FILE)?;
    }

    progress("measuring the floor (plain reads, and writes with fsync)");
    let single = |source: &PathBuf| -> anyhow::Result<floor::Floor> {
        let scratch = root.join("floor");
        let floor = floor::measure(std::slice::from_ref(source), K, M, &scratch)?;
        std::fs::remove_dir_all(&scratch)
            .with_context(|| format!("cannot remove {}", scratch.display()))?;
        Ok(floor)
    };
    let floor_small = single(&small)?;
    let floor_large = single(&large)?;
    // The tree floor's 2,000 files stay until the run ends: deleting thousands of files
    // just before Cairn's phases slowed the file creations after them (ext4 without a
    // journal skips recently freed inodes) — Cairn's, not the floor's.
    let floor_tree = floor::measure(&tree_sources, K, M, &root.join("floor-tree"))?;

    progress(&format!("starting a pool and {PEERS} peers on loopback"));
    let capacity = (sizes.large * 4).max(2 << 30);
    let mut network = LocalNetwork::start(&root.join("network"), PEERS, capacity).await?;
    let result = measure(
        &mut network,
        root,
        sizes,
        quick,
        cairn,
        [floor_small, floor_large, floor_tree],
    )
    .await;
    progress("stopping the peers and the pool");
    network.shutdown().await;
    result
}

async fn measure(
    network: &mut LocalNetwork,
    root: &Path,
    sizes: &Sizes,
    quick: bool,
    cairn: &Path,
    [floor_small, floor_large, floor_tree]: [floor::Floor; 3],
) -> anyhow::Result<Report> {
    let url = network.url().to_owned();
    let url = url.as_str();
    let redundancy = Redundancy::ec(K, M)?;
    let options = DriveOptions {
        redundancy: RedundancyPolicy::Fixed(redundancy),
        ..DriveOptions::default()
    };
    let segment_size = options.segment_size;
    let secret = MasterSecret::generate(&mut rand::rng());
    let drive = Drive::new(url, &secret, options)?;
    drive.register().await?;
    let silent = Progress::silent();
    let data = root.join("data");
    let out = root.join("out");
    let mut transfers = Vec::new();
    // Every put of this account, to set its recovery beside.
    let mut put_total = 0.0;

    for (name, size, floor) in [
        ("small", sizes.small, floor_small),
        ("large", sizes.large, floor_large),
    ] {
        let local = data.join(name);
        let path = remote(&format!("/{name}"))?;
        let label = format!("{} file", format_size(size));
        progress(&format!("put {label}"));
        let (_, put) = timed(async { Ok(drive.put(&local, &path, &silent).await?) }).await?;
        put_total += put;
        transfers.push(Transfer::new(
            format!("put {label}"),
            size,
            1,
            put,
            floor.put,
            Unit::MbPerS,
        ));
        progress(&format!("get {label}"));
        let target = out.join(name);
        let (_, get) = timed(async { Ok(drive.get(&path, &target, &silent).await?) }).await?;
        transfers.push(Transfer::new(
            format!("get {label}"),
            size,
            1,
            get,
            floor.get,
            Unit::MbPerS,
        ));
        std::fs::remove_file(&target)
            .with_context(|| format!("cannot remove {}", target.display()))?;
    }

    let tree_label = format!("{} × {} tree", sizes.tree_files, format_size(TREE_FILE));
    let tree_remote = remote("/tree")?;
    progress(&format!("put {tree_label}"));
    let (report, put) = timed(async {
        Ok(drive
            .put_tree(&data.join("tree"), &tree_remote, &silent)
            .await?
            .into_result()?)
    })
    .await?;
    put_total += put;
    transfers.push(Transfer::new(
        format!("put {tree_label}"),
        report.bytes,
        report.files,
        put,
        floor_tree.put,
        Unit::FilesPerS,
    ));
    progress(&format!("get {tree_label}"));
    let (report, get) = timed(async {
        Ok(drive
            .get_tree(&tree_remote, &out.join("tree"), &silent)
            .await?
            .into_result()?)
    })
    .await?;
    transfers.push(Transfer::new(
        format!("get {tree_label}"),
        report.bytes,
        report.files,
        get,
        floor_tree.get,
        Unit::FilesPerS,
    ));

    let mut latencies = Vec::new();
    progress("list and time to first byte");
    let listed = drive.list(&tree_remote).await?.len();
    if listed as u64 != sizes.tree_files {
        progress(&format!(
            "warning: /tree lists {listed} entries, not {}",
            sizes.tree_files
        ));
    }
    let seconds = median(|| async {
        drive.list(&tree_remote).await?;
        Ok(())
    })
    .await?;
    latencies.push(Latency {
        name: format!("list a folder of {listed} entries"),
        seconds,
        tries: TRIES,
    });
    for (name, path) in [
        (
            format!("first byte of the {} file", format_size(sizes.large)),
            remote("/large")?,
        ),
        (
            format!("first byte of a {} file", format_size(TREE_FILE)),
            remote("/tree/f00000")?,
        ),
    ] {
        let seconds = median(|| async {
            drive.read_range(&path, 0..1).await?;
            Ok(())
        })
        .await?;
        latencies.push(Latency {
            name,
            seconds,
            tries: TRIES,
        });
    }

    let child_runs = child_runs(url, root, sizes.large, cairn).await?;

    progress("the pool loses its store; the account's records come back from its ledger");
    network.lose_store().await?;
    let (recovered, seconds) = timed(async { Ok(drive.recover().await?) }).await?;
    let recovery = Recovery {
        records: recovered.given_back,
        entries: recovered.entries,
        seconds,
        put_seconds: put_total,
        ratio: seconds / put_total,
    };
    Ok(Report {
        recovery: Some(recovery),
        quick,
        redundancy: redundancy.to_string(),
        peers: PEERS,
        segment_size,
        transfers,
        latencies,
        child_runs,
    })
}

/// Puts and gets the large file through the `cairn` binary with a playground home of its
/// own, watching the child's peak memory.
async fn child_runs(
    url: &str,
    root: &Path,
    size: u64,
    cairn: &Path,
) -> anyhow::Result<Vec<ChildRun>> {
    let secret = MasterSecret::generate(&mut rand::rng());
    Drive::new(url, &secret, DriveOptions::default())?
        .register()
        .await?;
    let home = root.join("home");
    Home::create(
        &home,
        url,
        &secret,
        Protection::Playground,
        &mut rand::rng(),
    )?;
    let local = root.join("data").join("large");
    let target = root.join("out").join("large-cli");
    let redundancy = Redundancy::ec(K, M)?.to_string();
    let label = format_size(size);
    let mut runs = Vec::new();

    let commands: [(String, Vec<&OsStr>); 2] = [
        (
            format!("cairn put {label}"),
            vec![
                OsStr::new("put"),
                local.as_os_str(),
                OsStr::new("/large-cli"),
                OsStr::new("--redundancy"),
                OsStr::new(&redundancy),
            ],
        ),
        (
            format!("cairn get {label}"),
            vec![
                OsStr::new("get"),
                OsStr::new("/large-cli"),
                target.as_os_str(),
            ],
        ),
    ];
    for (name, args) in commands {
        progress(&name);
        let cairn = cairn.to_owned();
        let home = home.clone();
        let args: Vec<std::ffi::OsString> = args.into_iter().map(OsStr::to_owned).collect();
        floor::settle();
        let measured = tokio::task::spawn_blocking(move || {
            let args: Vec<&OsStr> = args.iter().map(|a| a.as_os_str()).collect();
            child::run_cairn(&cairn, &home, &args)
        })
        .await
        .context("the thread running `cairn` failed")??;
        if measured.peak_rss == 0 {
            progress("warning: no /proc/<pid>/status to read; peak RSS shows as 0");
        }
        runs.push(ChildRun {
            name,
            bytes: size,
            seconds: measured.seconds,
            rate: report::mb_per_s(size, measured.seconds),
            peak_rss: measured.peak_rss,
        });
    }
    std::fs::remove_file(&target).with_context(|| format!("cannot remove {}", target.display()))?;
    Ok(runs)
}

/// Writes `len` random bytes to a new file at `path`.
fn write_random(path: &Path, len: u64) -> anyhow::Result<()> {
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
    );
    let mut buf = vec![0u8; floor::CHUNK.min(usize::try_from(len).unwrap_or(floor::CHUNK))];
    let mut rng = rand::rng();
    let mut left = len;
    while left > 0 {
        let n = usize::try_from(left).map_or(buf.len(), |l| l.min(buf.len()));
        rng.fill_bytes(&mut buf[..n]);
        file.write_all(&buf[..n])
            .with_context(|| format!("cannot write {}", path.display()))?;
        left -= n as u64;
    }
    file.into_inner()
        .map_err(|e| e.into_error())
        .and_then(|f| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

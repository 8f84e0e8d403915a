//! Interrupted transfers finish when the command is run again, with real `cairn pool`,
//! `cairn peer` and `cairn` processes: a `put -r` of a thousand files and a 1 GiB `put`
//! killed (SIGKILL) half way land, on the second run, byte-identical at the paths of one
//! clean run (no nested copy), sending at most what was missing plus a segment (counted at
//! the peers); a completed `put -r` run again sends no piece; a file changed between the
//! runs is uploaded again; the same for `get -r` and a 1 GiB `get`.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cairn_testkit::wait_until;
use common::{World, cairn, files_under, hash_file, wait_online};

/// The policy of these tests: every piece byte counted is half a plaintext byte, 3 times.
const POLICY: &str = "ec:2+1";
/// Stored bytes per plaintext byte under [`POLICY`] (before per-segment overhead).
const OVERHEAD: f64 = 1.5;
const SEGMENT: u64 = 16 << 20;
/// Pool timers for a machine busy with a gigabyte and a thousand files at once: a peer is
/// suspect (and out of placement) only after three silent seconds, never offline here.
const PATIENT: &[(&str, &str)] = &[
    ("--heartbeat-interval", "1s"),
    ("--offline-after", "60s"),
    ("--repair-after", "120s"),
];

/// `cairn ARGS` on the world's home, started in `dir` and left running.
fn spawn(world: &World, dir: &Path, args: &[&str]) -> Child {
    Command::new(cairn())
        .args(args)
        .current_dir(dir)
        .env("CAIRN_HOME", &world.client.home)
        .env_remove("CAIRN_PASSPHRASE")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Kills `child` with SIGKILL (no chance to clean up) and reaps it.
fn kill_hard(child: &mut Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

/// How many files are under `dir` now (while a get writes there).
fn count_files(dir: &Path) -> usize {
    let mut count = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).into_iter().flatten().flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(entry.path()),
                Ok(_) => count += 1,
                Err(_) => {}
            }
        }
    }
    count
}

/// A tree of `count` files of 1 to 24 KiB in a few folders.
fn make_tree(dir: &Path, count: usize) -> u64 {
    let mut total = 0;
    for i in 0..count {
        let sub = dir.join(format!("d{}", i % 7));
        std::fs::create_dir_all(&sub).unwrap();
        let len = 1024 + (i * 7919) % (23 * 1024);
        common::random_file(&sub, &format!("f{i:04}.bin"), len);
        total += len as u64;
    }
    total
}

/// Files listed at every depth under `dir` in the drive, by `cairn ls --json`.
fn listed_files(world: &World, dir: &str) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(at) = stack.pop() {
        let json = world.client.ok(&["ls", &at, "--json"]);
        let entries: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
        for entry in entries {
            let path = entry["path"].as_str().unwrap().to_owned();
            match entry["kind"].as_str().unwrap() {
                "folder" => stack.push(path),
                _ => out.push((path, entry["size"].as_u64().unwrap())),
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_tree_put_and_get_finish_when_run_again() {
    // Four peers: enough for the account's ledger, whose entries count as sent too.
    let world = World::start(4, PATIENT);
    wait_online(world.pool.url(), 4).await;
    let root = world.dir.path();
    let tree = root.join("tree");
    let total = make_tree(&tree, 1000);
    std::fs::create_dir_all(tree.join("empty")).unwrap();
    let tree_arg = tree.to_str().unwrap();
    let put = ["put", "-r", tree_arg, "/backup", "--redundancy", POLICY];

    // Killed once the peers have taken about a third of it.
    let mut first = spawn(&world, root, &put);
    wait_until(
        "a third of the tree stored",
        Duration::from_secs(60),
        || async {
            (world.traffic().await.0 as f64 >= total as f64 * OVERHEAD / 3.0).then_some(())
        },
    )
    .await
    .unwrap();
    kill_hard(&mut first);
    let done_before = listed_files(&world, "/backup");
    assert!(
        !done_before.is_empty() && done_before.len() < 1000,
        "{} files committed before the kill",
        done_before.len()
    );
    // One file that was already stored changes before the second run.
    let (changed_path, _) = &done_before[0];
    let changed_local = tree.join(changed_path.strip_prefix("/backup/").unwrap());
    common::random_file(
        changed_local.parent().unwrap(),
        changed_local.file_name().unwrap().to_str().unwrap(),
        3000,
    );
    let missing: u64 = 3000
        + files_under(&tree)
            .iter()
            .filter(|(rel, _)| {
                let remote = format!("/backup/{}", rel.display());
                !done_before.iter().any(|(p, _)| *p == remote)
            })
            .map(|(_, bytes)| bytes.len() as u64)
            .sum::<u64>();

    let (received, _) = world.traffic().await;
    let out = world.client.ok(&put);
    let sent = world.traffic().await.0 - received;
    let already = done_before.len() - 1;
    let uploaded = 1000 - already;
    assert!(
        out.contains(&format!(
            "{uploaded} uploaded, {already} already there under /backup"
        )),
        "{out}"
    );
    // The missing files, coded, plus their records in the account's ledger.
    let bound = (missing as f64 * OVERHEAD * 1.1) as u64 + (256 << 10);
    eprintln!(
        "put -r: {} committed before the kill; sent {sent} for {missing} missing",
        done_before.len()
    );
    assert!(
        sent <= bound,
        "the second run sent {sent} piece bytes for {missing} missing bytes (bound {bound})"
    );
    // Landed where one clean run lands it, no nested copy.
    let listed = listed_files(&world, "/backup");
    assert_eq!(listed.len(), 1000, "{:?}", &listed[..3]);
    assert!(listed.iter().all(|(p, _)| !p.starts_with("/backup/tree")));

    // Run again once complete: not a piece moves.
    let (received, _) = world.traffic().await;
    let out = world.client.ok(&put);
    assert!(
        out.contains("0 uploaded, 1,000 already there under /backup"),
        "{out}"
    );
    assert_eq!(
        world.traffic().await.0,
        received,
        "a completed put sent pieces"
    );

    // Down, killed part way, then run again: identical to the tree, only the rest fetched.
    let back = root.join("back");
    let get = ["get", "-r", "/backup", back.to_str().unwrap()];
    let (_, served) = world.traffic().await;
    let mut first = spawn(&world, root, &get);
    wait_until(
        "part of the tree written",
        Duration::from_secs(60),
        || async { (count_files(&back) >= 200).then_some(()) },
    )
    .await
    .unwrap();
    kill_hard(&mut first);
    let written = count_files(&back);
    assert!(written < 1000, "the get finished before it was killed");
    let (_, served_first) = world.traffic().await;
    let out = world.client.ok(&get);
    assert!(out.contains("already there"), "{out}");
    eprintln!("get -r: {written} files before the kill; {out}");
    let served_again = world.traffic().await.1 - served_first;
    eprintln!(
        "get -r: served {} then {served_again} for {total}",
        served_first - served
    );
    assert!(
        served_again + (served_first - served) <= (total as f64 * 1.3) as u64 + (1 << 20),
        "{served_again} + {} piece bytes served for a tree of {total}",
        served_first - served
    );
    assert_eq!(files_under(&back), files_under(&tree));
    // A file changed on the disk is fetched again; the rest stay.
    let (_, served) = world.traffic().await;
    std::fs::write(
        back.join(changed_path.strip_prefix("/backup/").unwrap()),
        b"local edit",
    )
    .unwrap();
    let out = world.client.ok(&get);
    assert!(out.contains("1 downloaded, 999 already there in "), "{out}");
    assert!(world.traffic().await.1 - served < 64 << 10);
    assert_eq!(files_under(&back), files_under(&tree));
}

/// Writes `len` bytes of a repeatable pattern to `path`.
fn big_file(path: &Path, len: u64) {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut block = vec![0u8; 1 << 20];
    for i in 0..len >> 20 {
        for (j, b) in block.iter_mut().enumerate() {
            *b = (i as usize * 31 + j * 7 + (j >> 11)) as u8;
        }
        out.write_all(&block).unwrap();
    }
    out.flush().unwrap();
}

/// The size printed just before `marker` in `out` ("416.0 MiB were already stored"), bytes.
fn size_before(out: &str, marker: &str) -> u64 {
    let head = &out[..out
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker:?} in {out}"))];
    let mut words = head.rsplit(' ');
    let unit = words.next().unwrap();
    let number: f64 = words.next().unwrap().parse().unwrap();
    let scale = match unit {
        "B" => 1u64,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => panic!("unit {other:?} in {out}"),
    };
    (number * scale as f64) as u64
}

/// The size of the partial file a get of `name` is writing in `dir`, if any.
fn partial_len(dir: &Path, name: &str) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with(&format!(".{name}.cairn-partial-")) && !n.ends_with(".sums")
        })
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_gigabyte_put_and_get_go_on_from_where_they_stopped() {
    const SIZE: u64 = 1 << 30;
    let world = World::start(3, PATIENT);
    wait_online(world.pool.url(), 3).await;
    let root = world.dir.path();
    let big = root.join("big.bin");
    big_file(&big, SIZE);
    let put = [
        "put",
        big.to_str().unwrap(),
        "/big.bin",
        "--redundancy",
        POLICY,
    ];

    let mut first = spawn(&world, root, &put);
    wait_until(
        "40% of the file stored",
        Duration::from_secs(120),
        || async { (world.traffic().await.0 as f64 >= SIZE as f64 * OVERHEAD * 0.4).then_some(()) },
    )
    .await
    .unwrap();
    kill_hard(&mut first);
    let (sent_first, _) = world.traffic().await;
    assert!(
        listed_files(&world, "/").is_empty(),
        "a half upload is listed"
    );

    let out = world.client.ok(&put);
    let sent_again = world.traffic().await.0 - sent_first;
    assert!(
        out.contains("were already stored by the interrupted upload"),
        "{out}"
    );
    // At most what was missing (not committed) plus a segment, never the whole.
    let whole = SIZE as f64 * OVERHEAD;
    let resumed = size_before(&out, " were already stored");
    eprintln!("put: sent {sent_first} then {sent_again} of {whole}; {out}");
    assert!(resumed >= SIZE / 4, "{out}");
    let bound = (SIZE - resumed + SEGMENT) as f64 * OVERHEAD * 1.001;
    assert!(
        (sent_again as f64) <= bound,
        "the second run sent {sent_again} piece bytes for {} missing (bound {bound})",
        SIZE - resumed
    );
    assert!(
        ((sent_first + sent_again) as f64) < whole + (3 * SEGMENT) as f64 * OVERHEAD + 1e6,
        "{sent_first} + {sent_again} piece bytes for one {whole}"
    );
    assert_eq!(
        listed_files(&world, "/"),
        vec![("/big.bin".to_owned(), SIZE)]
    );

    // Down, killed at about half, then again: only the rest is fetched.
    let down = root.join("down");
    std::fs::create_dir(&down).unwrap();
    let get = ["get", "/big.bin", "copy.bin"];
    let (_, served) = world.traffic().await;
    let mut first = spawn(&world, &down, &get);
    wait_until(
        "half the file written",
        Duration::from_secs(120),
        || async { (partial_len(&down, "copy.bin") >= SIZE / 2).then_some(()) },
    )
    .await
    .unwrap();
    kill_hard(&mut first);
    // The whole segments written before the kill (the last may not be hashed yet).
    let written = partial_len(&down, "copy.bin") / SEGMENT * SEGMENT;
    let (_, served_first) = world.traffic().await;
    let out = Command::new(cairn())
        .args(get)
        .current_dir(&down)
        .env("CAIRN_HOME", &world.client.home)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let served_again = world.traffic().await.1 - served_first;
    eprintln!(
        "get: served {} then {served_again} of {SIZE}",
        served_first - served
    );
    assert!(
        served_again <= SIZE - written + 2 * SEGMENT,
        "the second get read {served_again} piece bytes with {written} of {SIZE} written"
    );
    assert!(
        served_again + (served_first - served) < SIZE + 4 * SEGMENT,
        "{} + {served_again} piece bytes read for {SIZE}",
        served_first - served
    );
    assert_eq!(hash_file(&down.join("copy.bin")), hash_file(&big));
    assert_eq!(partial_len(&down, "copy.bin"), 0, "a partial file is left");

    // Changed after an interrupted upload: the second run starts over, and stores the
    // new bytes (never the old segments under the same key).
    let mut first = spawn(
        &world,
        root,
        &[
            "put",
            big.to_str().unwrap(),
            "/again.bin",
            "--redundancy",
            POLICY,
        ],
    );
    let (received, _) = world.traffic().await;
    wait_until(
        "a fifth of the file stored",
        Duration::from_secs(120),
        || async { (world.traffic().await.0 - received >= SIZE * 3 / 10).then_some(()) },
    )
    .await
    .unwrap();
    kill_hard(&mut first);
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut file = std::fs::OpenOptions::new().write(true).open(&big).unwrap();
        file.seek(SeekFrom::Start(12345)).unwrap();
        file.write_all(b"changed").unwrap();
    }
    let out = world.client.ok(&[
        "put",
        big.to_str().unwrap(),
        "/again.bin",
        "--redundancy",
        POLICY,
    ]);
    assert!(!out.contains("already stored"), "{out}");
    world.client.ok(&[
        "get",
        "/again.bin",
        down.join("again.bin").to_str().unwrap(),
    ]);
    assert_eq!(hash_file(&down.join("again.bin")), hash_file(&big));
}

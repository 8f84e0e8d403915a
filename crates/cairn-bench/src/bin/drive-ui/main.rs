//! `drive-ui`: the web drive measured the way a person uses it — a real Chromium uploading
//! and downloading through the page served by `cairn ui` — beside `cairn put` and
//! `cairn get` of the same file in the same run, with the peak memory of the client and of
//! the browser, and how long the first screen of a folder of 10,000 files takes.
//!
//! Everything runs as separate processes, as users deploy it: `cairn local` (pool and
//! peers), `cairn ui`, `cairn put`/`get`, chromedriver and Chromium (Debian's `chromium`
//! and `chromium-driver`).
//!
//! `cargo build --release && cargo run --release -p cairn-bench --bin drive-ui [-- --quick] [-- --json]`

#[allow(dead_code)]
#[path = "../../child.rs"]
mod child;
#[allow(dead_code)]
#[path = "../../report.rs"]
mod report;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cairn_testkit::browser::{self, Browser};
use clap::Parser;
use serde::Serialize;

use crate::report::{format_ratio, format_seconds, format_size, mb_per_s};

/// Measure the web drive against the command line on this machine.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// A smoke run: a 100 MiB file and a folder of 1,000 files.
    #[arg(long)]
    quick: bool,
    /// Print one JSON object with every figure instead of the table.
    #[arg(long)]
    json: bool,
    /// Where the temporary directory goes (default: the system's); the full run needs
    /// about 6 GiB free.
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// How long a transfer through the page may take before the run gives up.
const PATIENCE: Duration = Duration::from_secs(1800);
/// Loads of the big folder whose median is reported.
const TRIES: usize = 5;

/// CPU seconds (user + system) the browser's processes have used so far.
fn browser_cpu(marker: &str) -> f64 {
    let ticks: u64 = browser::pids_matching_pub(marker)
        .into_iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|stat| {
            // The fields after the command name (which may hold spaces) follow ") ".
            let rest = stat.rsplit_once(") ")?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .sum();
    ticks as f64 / 100.0
}

/// The highest summed PSS of the browser's processes while it runs.
struct Sampler {
    peak: Arc<AtomicU64>,
    on: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    fn start(marker: String) -> Self {
        let (peak, on) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(true)));
        let thread = {
            let (peak, on) = (peak.clone(), on.clone());
            std::thread::spawn(move || {
                while on.load(Ordering::Relaxed) {
                    peak.fetch_max(browser::pss_of(&marker), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(250));
                }
            })
        };
        Self {
            peak,
            on,
            thread: Some(thread),
        }
    }

    fn stop(mut self) -> u64 {
        self.on.store(false, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.peak.load(Ordering::Relaxed)
    }
}

/// Uploads `file` to `path` the way the page does — announce, then 8 MiB chunks, a few
/// in flight — but from this process, to tell the server's share from the browser's.
async fn upload_by_protocol(url: &str, file: &Path, path: &str) -> anyhow::Result<f64> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    const CHUNK: u64 = 8 << 20;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let base = url.split("/login").next().unwrap_or(url).to_owned();
    let login = http.get(url).send().await?;
    let cookie = login
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|c| c.to_str().ok())
        .and_then(|c| c.split(';').next())
        .context("no session cookie")?
        .to_owned();
    let size = std::fs::metadata(file)?.len();
    let started = Instant::now();
    let begun: serde_json::Value = http
        .post(format!("{base}/api/uploads"))
        .header("cookie", &cookie)
        .header("origin", &base)
        .json(&serde_json::json!({ "path": path, "size": size }))
        .send()
        .await?
        .json()
        .await?;
    let id = begun["id"].as_u64().context("no upload id")?;
    let mut offset = 0;
    let mut in_flight = futures_util::stream::FuturesOrdered::new();
    let mut stored = false;
    while offset < size || !in_flight.is_empty() {
        while offset < size && in_flight.len() < 2 {
            let len = CHUNK.min(size - offset);
            let mut source = tokio::fs::File::open(file).await?;
            source.seek(std::io::SeekFrom::Start(offset)).await?;
            let mut chunk = vec![0u8; len as usize];
            source.read_exact(&mut chunk).await?;
            let request = http
                .put(format!("{base}/api/uploads/{id}?offset={offset}"))
                .header("cookie", &cookie)
                .header("origin", &base)
                .body(chunk)
                .send();
            in_flight.push_back(request);
            offset += len;
        }
        if let Some(answer) = futures_util::StreamExt::next(&mut in_flight).await {
            let body: serde_json::Value = answer?.json().await?;
            if let Some(error) = body.get("error") {
                bail!("the upload was refused: {error}");
            }
            stored |= body["stored"] == true;
        }
    }
    if !stored {
        bail!("the upload ended without being stored");
    }
    Ok(started.elapsed().as_secs_f64())
}

#[derive(Debug, Serialize)]
struct Leg {
    /// Seconds through the page.
    page_seconds: f64,
    /// Seconds with the command line.
    cli_seconds: f64,
    /// page / cli.
    ratio: f64,
    /// Peak resident memory of `cairn ui` by the end of this leg.
    ui_peak_rss: u64,
    /// Peak resident memory of the `cairn put` or `cairn get`.
    cli_peak_rss: u64,
    /// Peak summed PSS of the browser's processes during this leg.
    browser_peak_pss: u64,
}

#[derive(Debug, Serialize)]
struct Results {
    file_bytes: u64,
    /// Seconds to upload the file with the page's protocol from a plain HTTP client.
    protocol_upload_seconds: f64,
    /// CPU seconds the browser's processes spent during the page's upload.
    browser_upload_cpu_seconds: f64,
    upload: Leg,
    download: Leg,
    folder_files: u64,
    /// Median time to the first screen of the big folder (navigation to `load`), seconds.
    folder_first_screen: f64,
    /// Median time to the last byte of its HTML, seconds.
    folder_html: f64,
    /// Bytes of its HTML.
    folder_html_bytes: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    let results = runtime.block_on(run(&args))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
        return Ok(());
    }
    let size = format_size(results.file_bytes);
    println!("The web drive against the command line (same machine, same run; separate processes)");
    for (name, leg, cli) in [
        ("upload", &results.upload, "cairn put"),
        ("download", &results.download, "cairn get"),
    ] {
        println!(
            "  {size} {name}: page {} ({:.0} MB/s), {cli} {} ({:.0} MB/s) — page/cli {} (target ≤ 1.30×)",
            format_seconds(leg.page_seconds),
            mb_per_s(results.file_bytes, leg.page_seconds),
            format_seconds(leg.cli_seconds),
            mb_per_s(results.file_bytes, leg.cli_seconds),
            format_ratio(leg.ratio),
        );
        println!(
            "    peak memory: cairn ui {} MiB, {cli} {} MiB, browser {} MiB (PSS)",
            leg.ui_peak_rss >> 20,
            leg.cli_peak_rss >> 20,
            leg.browser_peak_pss >> 20
        );
    }
    println!(
        "  the browser's processes used {:.1} CPU seconds during the page's upload ({:.0}% of one core)",
        results.browser_upload_cpu_seconds,
        100.0 * results.browser_upload_cpu_seconds / results.upload.page_seconds,
    );
    println!(
        "  {size} upload with the page's protocol from a plain HTTP client (no browser): {} ({:.0} MB/s) — {} of cairn put",
        format_seconds(results.protocol_upload_seconds),
        mb_per_s(results.file_bytes, results.protocol_upload_seconds),
        format_ratio(results.protocol_upload_seconds / results.upload.cli_seconds),
    );
    println!(
        "  first screen of a folder of {} files: {} median of {TRIES} (HTML {} in {}; target < 300 ms)",
        results.folder_files,
        format_seconds(results.folder_first_screen),
        format_size(results.folder_html_bytes),
        format_seconds(results.folder_html),
    );
    Ok(())
}

async fn run(args: &Args) -> anyhow::Result<Results> {
    let cairn = child::cairn_binary()?;
    let tmp = match &args.dir {
        Some(dir) => tempfile::tempdir_in(dir)?,
        None => tempfile::tempdir()?,
    };
    let dir = tmp.path();
    let (size, folder_files) = if args.quick {
        (100u64 << 20, 1_000u64)
    } else {
        (1u64 << 30, 10_000u64)
    };

    let local = dir.join("local");
    let (_network, _) = child::start_printing(
        "drive at ",
        &cairn,
        &["local", "--dir", &local.to_string_lossy(), "--no-open"],
        None,
    )?;
    let home = local.join("home");
    let (ui, url) = child::start_printing("drive at ", &cairn, &["ui", "--no-open"], Some(&home))?;
    let base = url.split("/login").next().unwrap_or(&url).to_owned();
    let ui_pid = ui.0.id();

    let big = dir.join("big.bin");
    child::write_random(&big, size, b"drive-ui bench")?;
    eprintln!("cairn put and get of {}…", format_size(size));
    let put = tokio::task::block_in_place(|| {
        child::run_cairn(
            &cairn,
            &home,
            &["put".as_ref(), big.as_os_str(), "/cli.bin".as_ref()],
        )
    })?;
    let got = dir.join("cli-out.bin");
    let get = tokio::task::block_in_place(|| {
        child::run_cairn(
            &cairn,
            &home,
            &["get".as_ref(), "/cli.bin".as_ref(), got.as_os_str()],
        )
    })?;
    std::fs::remove_file(&got)?;

    eprintln!("the page's upload protocol without a browser…");
    let protocol_seconds = {
        // A server of its own: the first one's sign-in address is the browser's.
        let (_plain, plain_url) =
            child::start_printing("drive at ", &cairn, &["ui", "--no-open"], Some(&home))?;
        upload_by_protocol(&plain_url, &big, "/protocol.bin").await?
    };

    let downloads = dir.join("downloads");
    std::fs::create_dir_all(&downloads)?;
    let browser = Browser::start(&downloads).await;
    browser.goto(&url).await;
    browser
        .wait_for("[data-dir=\"/\"]", Duration::from_secs(30))
        .await;

    eprintln!("the same through the page…");
    let sampler = Sampler::start(browser.marker());
    let cpu_before = browser_cpu(&browser.marker());
    let started = Instant::now();
    browser
        .upload_files("#upload-files", &[big.as_path()])
        .await;
    browser
        .wait_for(
            "#transfer-list li[data-transfer=\"/big.bin\"][data-state=\"done\"]",
            PATIENCE,
        )
        .await;
    let up_seconds = started.elapsed().as_secs_f64();
    let up_browser_cpu = browser_cpu(&browser.marker()) - cpu_before;
    let up_browser = sampler.stop();
    let up_ui = child::peak_rss(ui_pid);

    browser.goto(&format!("{base}/drive/")).await;
    let link = browser
        .wait_for(
            "tr[data-path=\"/big.bin\"] a[download]",
            Duration::from_secs(30),
        )
        .await;
    let sampler = Sampler::start(browser.marker());
    let started = Instant::now();
    link.click()
        .await
        .context("cannot click the download link")?;
    let downloaded = browser.wait_download("big.bin", PATIENCE).await;
    let down_seconds = started.elapsed().as_secs_f64();
    let down_browser = sampler.stop();
    let down_ui = child::peak_rss(ui_pid);
    if child::hash_file(&downloaded)? != child::hash_file(&big)? {
        bail!("the page's download differs from the file uploaded");
    }
    std::fs::remove_file(&downloaded)?;

    eprintln!("a folder of {folder_files} files…");
    let many = dir.join("many");
    std::fs::create_dir_all(&many)?;
    for i in 0..folder_files {
        std::fs::write(many.join(format!("photo-{i:05}.jpg")), format!("file {i}"))?;
    }
    tokio::task::block_in_place(|| {
        child::run_cairn(
            &cairn,
            &home,
            &[
                "put".as_ref(),
                "-r".as_ref(),
                many.as_os_str(),
                "/many".as_ref(),
            ],
        )
    })?;
    let mut screens = Vec::new();
    let mut htmls = Vec::new();
    let mut html_bytes = 0;
    for _ in 0..TRIES {
        browser.goto(&format!("{base}/drive/many/")).await;
        browser.wait_for("tr.entry", Duration::from_secs(60)).await;
        let timing = browser
            .eval(
                "const n = performance.getEntriesByType('navigation')[0];
                 return [n.loadEventEnd - n.startTime, n.responseEnd - n.startTime, n.encodedBodySize];",
            )
            .await;
        screens.push(timing[0].as_f64().unwrap_or(f64::NAN) / 1e3);
        htmls.push(timing[1].as_f64().unwrap_or(f64::NAN) / 1e3);
        html_bytes = timing[2].as_u64().unwrap_or(0);
    }
    browser.close().await;
    drop(ui);
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Ok(Results {
        file_bytes: size,
        protocol_upload_seconds: protocol_seconds,
        browser_upload_cpu_seconds: up_browser_cpu,
        upload: Leg {
            page_seconds: up_seconds,
            cli_seconds: put.seconds,
            ratio: up_seconds / put.seconds,
            ui_peak_rss: up_ui,
            cli_peak_rss: put.peak_rss,
            browser_peak_pss: up_browser,
        },
        download: Leg {
            page_seconds: down_seconds,
            cli_seconds: get.seconds,
            ratio: down_seconds / get.seconds,
            ui_peak_rss: down_ui,
            cli_peak_rss: get.peak_rss,
            browser_peak_pss: down_browser,
        },
        folder_files,
        folder_first_screen: median(screens),
        folder_html: median(htmls),
        folder_html_bytes: html_bytes,
    })
}

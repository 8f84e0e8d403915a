//! A headless Chromium for tests and benchmarks: Debian's `chromium` driven by
//! `chromedriver` through the `fantoccini` WebDriver client, its processes found, measured
//! and cleaned up by the private directory every one of them names.
//!
//! Requirements: Debian packages `chromium` and `chromium-driver` (`apt-get install -y chromium
//! chromium-driver`). A missing binary PANICS (never skips), naming those packages.
//! Override the paths with `CAIRN_CHROMEDRIVER` / `CAIRN_CHROMIUM` if needed.
//!
//! # What was measured / learned
//!
//! Chromium + chromedriver 148.0.7778.167, Debian bookworm, 2 cores, root, no display; proven
//! against a small axum server on 127.0.0.1:0 while this module was written.
//!
//! * Timings: chromedriver answers `/status` ready in < 0.1 s; `Browser::start` (driver +
//!   chromium session) takes 0.6-1.0 s alone, 1.6-2.2 s when two tests start browsers at once
//!   on 2 cores. `close()` 0.3-0.8 s, `Drop` 0.1-0.6 s. A small download lands in ~0.1 s,
//!   3 MiB attachment ~0.2-0.3 s. `Browser::startup` holds the measured start time.
//! * Running as root: chromium refuses to start without `--no-sandbox`.
//! * `/usr/bin/chromium` is Debian's shell wrapper: it sources /etc/chromium.d/* (adds
//!   `--enable-remote-extensions`, `--load-extension=`, ...) then `exec`s
//!   /usr/lib/chromium/chromium (same PID). On this machine /etc/chromium.d/dev-shm prints a
//!   harmless `[: ...: unexpected operator` on stderr; we pass `--disable-dev-shm-usage` anyway.
//! * chromedriver pitfall: its HTTP replies say `Connection:close` but it does not close the
//!   socket, so a naive read-to-EOF on `/status` hangs (see `driver_ready`).
//! * Process tree per session (~10 processes): browser, 2 zygotes, gpu-process, network and
//!   storage utilities, renderers, and TWO `chrome_crashpad_handler` daemons (reparented to
//!   PID 1). The crashpad handlers do NOT carry `--user-data-dir`; their `--database=` is
//!   `$XDG_CONFIG_HOME/chromium/Crash Reports` (default /root/.config/...). So chromedriver (and
//!   so chromium) runs with `XDG_CONFIG_HOME=<root>/xdg`, `HOME=<root>`, `<root>` being this
//!   browser's private temp dir `$TMPDIR/cairn-browser-<test pid>-XXXX`: EVERY process of this
//!   browser (and chromedriver, via `--log-path=<root>/chromedriver.log`) then has `<root>`
//!   in its cmdline. `chromium_pids`/`chromium_rss_bytes`/cleanup match on that, and nothing is
//!   written to /root/.config.
//! * chromedriver drives chromium over `--remote-debugging-port=0`, not a pipe: killing
//!   chromedriver does NOT stop chromium. Ending the session (`Client::close` = DELETE
//!   /session) makes chromium and crashpad exit; SIGKILL of the browser main process also
//!   takes children + crashpad down within ~1-2 s. `close()`: end session -> SIGTERM
//!   chromedriver -> wait (5 s) for all `<root>` processes to go -> SIGKILL leftovers -> delete
//!   `<root>`. `Drop` (test panicked / no close) does chromedriver kill + SIGKILL of all
//!   `<root>` processes synchronously. Both verified: nothing of the browser survives.
//! * PID 1 on these machines reaps orphans lazily: for a few seconds after a test,
//!   `pgrep -af chromium` may list `[chromium] <defunct>` zombies (no memory, empty cmdline).
//!   They vanish within ~5 s. In a CI check use `pgrep -r R,S,D -f chromium` (skips zombies)
//!   or wait a few seconds.
//! * A test process killed by SIGKILL cannot clean up; the next `Browser::start` (any test
//!   process) kills processes of `cairn-browser-<pid>-*` roots whose <pid> is gone and removes
//!   those dirs (verified with a SIGKILLed test binary).
//! * Memory, one session on a small page after uploads/downloads: 10 processes, summed VmRSS
//!   ~800 MiB (shared pages counted once per process) vs summed PSS ~350 MiB
//!   (`chromium_pss_bytes`, the fair number). Bound PSS, or RSS generously (e.g. < 1.5 GiB).
//! * Origin header: headless Chrome SENDS `Origin: http://127.0.0.1:<port>` on a same-origin
//!   `<form method=post enctype=multipart/form-data>` submit AND on a same-origin
//!   `fetch(url, {method: "POST", body: FormData})`. A server may require Origin == its own
//!   origin on state-changing requests.
//! * Multiple files: `upload_files` = one send_keys of newline-joined absolute paths on an
//!   `<input type=file multiple>`: all arrive (3 files incl. a 100 kB one named
//!   "with space ü.bin" and an empty one; multipart and fetch). A second send_keys APPENDS to
//!   the selection (clear() the element to replace it). More than one path on an input
//!   without `multiple` fails: "invalid argument: the element can not hold multiple files".
//!   Paths must exist, so `upload_files` canonicalizes and panics early.
//! * Folder upload: `send_keys(<directory path>)` on `<input type=file webkitdirectory>`
//!   WORKS in chromedriver 148 (`upload_dir`): the input gets all files recursively,
//!   `webkitRelativePath` = "tree/sub/deeper/low.bin" etc., `change` fires once, a FormData
//!   fetch carries them (multipart filename = basename only; send webkitRelativePath as an
//!   extra field if the server needs the tree). Sending a FILE path to a webkitdirectory
//!   input returns Ok but silently selects NOTHING. Fallback if a driver ever refuses dirs:
//!   `remove_attribute_and_upload` strips `webkitdirectory` via script, sets `multiple` and
//!   sends the files; they arrive with webkitRelativePath "" (relative paths must then be
//!   transported another way).
//! * Downloads: prefs `download.default_directory` + `download.prompt_for_download: false`
//!   suffice in headless=new (no CDP `Browser.setDownloadBehavior` needed): both
//!   `<a download>` and `Content-Disposition: attachment` land in download_dir. Chrome writes
//!   `<name>.crdownload` and renames on completion, so `wait_download` waits for the final name
//!   with no `*.crdownload` left. An existing same-named file makes Chrome save `name (1).ext`:
//!   use a fresh download dir per test.
//! * Cookies: `Set-Cookie: c=1; HttpOnly; SameSite=Strict; Path=/` on a 303 from
//!   `/login?secret=...` (the one-time-secret exchange) is stored and sent on the redirected
//!   GET and on later `goto`s, clicked links, and same-origin fetch POSTs. WebDriver's cookie
//!   API lists HttpOnly cookies (`cookie_names` == ["c"]); page JS sees `document.cookie == ""`.
//!   Cookies on host 127.0.0.1 work.
//! * Window size: headless=new keeps a virtual browser frame: `--window-size=1280,900` gives
//!   viewport 1280x761 (139 px less in height). `set_window` sets the outer size;
//!   `set_viewport(w, h)` compensates so innerWidth/innerHeight (= screenshot size) are exact.
//! * Runtime: fantoccini's Client runs a task on the tokio runtime; `#[tokio::test]` of either
//!   flavor works. Call `close().await` at the end of each test (Drop is the panic fallback).
//!   Browsers in parallel tests are independent (own port, profile, download dir) but each
//!   costs ~0.35 GB PSS and CPU on 2 cores. Free-port pick has a tiny race: start() retries
//!   3 times when chromedriver exits at once.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use rustix::process::{Pid, Signal, kill_process};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends `signal` to the process `pid`, if it still exists.
fn signal(pid: i32, signal: Signal) {
    if let Some(pid) = Pid::from_raw(pid) {
        let _ = kill_process(pid, signal);
    }
}

const DEFAULT_CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";
const ROOT_PREFIX: &str = "cairn-browser-";
const START_DEADLINE: Duration = Duration::from_secs(30);

/// A running headless chromium session. End it with [`Browser::close`]; dropping it (e.g. on
/// panic) kills chromedriver and chromium with SIGKILL.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    /// Absolute download directory given to chromium.
    pub download_dir: PathBuf,
    /// chromedriver's port on 127.0.0.1.
    pub driver_port: u16,
    /// Time `start` took (driver spawn + ready + session).
    pub startup: Duration,
    procs: Procs,
}

/// Owns chromedriver and the temp root; its Drop is the last-resort cleanup. Kept separate from
/// `Browser` so that `close(self)` can destructure `Browser` (which therefore has no Drop).
struct Procs {
    driver: Option<Child>,
    /// Marker string present in the cmdline of every process of this browser.
    marker: String,
    root: Option<tempfile::TempDir>,
}

fn bin_path(env: &str, default: &str) -> PathBuf {
    std::env::var_os(env)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

fn require_binaries() -> (PathBuf, PathBuf) {
    let driver = bin_path("CAIRN_CHROMEDRIVER", DEFAULT_CHROMEDRIVER);
    let chromium = bin_path("CAIRN_CHROMIUM", DEFAULT_CHROMIUM);
    require_binaries_at(&driver, &chromium);
    (driver, chromium)
}

/// Panics (never skips) when a binary is missing, naming the Debian packages.
pub fn require_binaries_at(driver: &Path, chromium: &Path) {
    for (what, p, pkg) in [
        ("chromedriver", driver, "chromium-driver"),
        ("chromium", chromium, "chromium"),
    ] {
        if !p.is_file() {
            panic!(
                "browser tests need {what} at {} but it is missing: install the Debian packages \
                 `chromium` and `chromium-driver` (apt-get install -y chromium chromium-driver; \
                 this one is in `{pkg}`), or set CAIRN_CHROMEDRIVER / CAIRN_CHROMIUM",
                p.display()
            );
        }
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

/// One `GET /status`; true when chromedriver says `"ready": true`.
/// Pitfall: chromedriver answers `Connection:close` but does NOT close the socket, so
/// read_to_end() would hang: read until the body (Content-Length, no space after the colon)
/// parses as JSON instead.
async fn driver_ready(port: u16) -> bool {
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        let req =
            format!("GET /status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = s.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf);
            if let Some((_, body)) = text.split_once("\r\n\r\n")
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(body.trim())
            {
                return v["value"]["ready"].as_bool();
            }
        }
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), attempt).await,
        Ok(Some(true))
    )
}

fn log_tail(root: &Path) -> String {
    let log = std::fs::read_to_string(root.join("chromedriver.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

impl Browser {
    /// Start chromedriver + a headless chromium session that downloads into `download_dir`
    /// (created if missing). Panics with a clear message on any failure.
    pub async fn start(download_dir: &Path) -> Browser {
        let t0 = Instant::now();
        let (driver_bin, chromium_bin) = require_binaries();
        reap_orphans_of_dead_runs();

        std::fs::create_dir_all(download_dir).expect("create download dir");
        let download_dir = download_dir
            .canonicalize()
            .expect("canonicalize download dir");
        let root = tempfile::Builder::new()
            .prefix(&format!("{ROOT_PREFIX}{}-", std::process::id()))
            .tempdir()
            .expect("create browser temp dir");
        let root_path = root.path().to_path_buf();
        let profile = root_path.join("profile");
        let xdg = root_path.join("xdg");
        std::fs::create_dir_all(&xdg).unwrap();
        let mut procs = Procs {
            driver: None,
            marker: root_path.to_string_lossy().into_owned(),
            root: Some(root),
        };

        // Spawn chromedriver and poll /status; retry on a port race (driver exits at once).
        let deadline = t0 + START_DEADLINE;
        let mut port = 0;
        'attempts: for attempt in 1..=3 {
            port = free_port();
            let mut log_arg = OsString::from("--log-path=");
            log_arg.push(root_path.join("chromedriver.log"));
            let child = Command::new(&driver_bin)
                .arg(format!("--port={port}"))
                .arg(log_arg)
                .env("XDG_CONFIG_HOME", &xdg)
                .env("HOME", &root_path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {}: {e}", driver_bin.display()));
            procs.driver = Some(child);
            loop {
                if driver_ready(port).await {
                    break 'attempts;
                }
                if let Ok(Some(status)) = procs.driver.as_mut().unwrap().try_wait() {
                    procs.driver = None;
                    if attempt == 3 {
                        panic!(
                            "chromedriver exited with {status} before ready; log:\n{}",
                            log_tail(&root_path)
                        );
                    }
                    continue 'attempts;
                }
                if Instant::now() > deadline {
                    panic!(
                        "chromedriver on port {port} not ready within {START_DEADLINE:?}; log:\n{}",
                        log_tail(&root_path)
                    );
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }

        let caps = json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "goog:chromeOptions": {
                "binary": chromium_bin,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-dev-shm-usage",
                    "--disable-gpu",
                    format!("--user-data-dir={}", profile.display()),
                    "--window-size=1280,900",
                    "--no-first-run",
                    "--no-default-browser-check",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-features=Translate,OptimizationHints,MediaRouter",
                    "--password-store=basic",
                ],
                "prefs": {
                    "download.default_directory": download_dir,
                    "download.prompt_for_download": false,
                    "download.directory_upgrade": true,
                    "safebrowsing.enabled": false,
                    "profile.default_content_setting_values.automatic_downloads": 1,
                }
            }
        });
        let caps = match caps {
            serde_json::Value::Object(m) => m,
            _ => unreachable!(),
        };
        let url = format!("http://127.0.0.1:{port}");
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(caps);
        let connect = builder.connect(&url);
        let client =
            match tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), connect)
                .await
            {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => panic!(
                    "chromedriver could not start chromium: {e}; log:\n{}",
                    log_tail(&root_path)
                ),
                Err(_) => panic!(
                    "chromium session not created within {START_DEADLINE:?}; log:\n{}",
                    log_tail(&root_path)
                ),
            };
        Browser {
            client,
            download_dir,
            driver_port: port,
            startup: t0.elapsed(),
            procs,
        }
    }

    /// End the session (chromium quits), stop chromedriver, make sure no process of this
    /// browser is left (SIGKILL after 5 s), delete the temp profile.
    pub async fn close(self) {
        let Browser {
            client, mut procs, ..
        } = self;
        let _ = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
        if let Some(mut d) = procs.driver.take() {
            signal(d.id() as i32, Signal::TERM);
            let t = Instant::now();
            while d.try_wait().ok().flatten().is_none() {
                if t.elapsed() > Duration::from_secs(2) {
                    let _ = d.kill();
                    let _ = d.wait();
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let t = Instant::now();
        while !pids_matching(&procs.marker).is_empty() && t.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Drop of `procs` SIGKILLs anything still there and removes the temp dir.
    }

    /// The string (this browser's temp root) present in the cmdline of all its processes.
    pub fn marker(&self) -> String {
        self.procs.marker.clone()
    }

    /// PIDs of this browser's processes (chromium, its helpers, crashpad), chromedriver excluded.
    pub fn chromium_pids(&self) -> Vec<i32> {
        let driver = self.procs.driver.as_ref().map(|c| c.id() as i32);
        pids_matching(&self.procs.marker)
            .into_iter()
            .filter(|p| Some(*p) != driver)
            .collect()
    }

    /// Sum of VmRSS over this browser's processes (shared pages counted once per process, so
    /// this overestimates; see `chromium_pss_bytes`).
    pub fn chromium_rss_bytes(&self) -> u64 {
        self.chromium_pids()
            .into_iter()
            .map(|p| proc_kb(&format!("/proc/{p}/status"), "VmRSS:") * 1024)
            .sum()
    }

    /// Sum of PSS (proportional set size) over this browser's processes: the fair share.
    pub fn chromium_pss_bytes(&self) -> u64 {
        pss_of(&self.procs.marker)
    }

    /// Write a PNG screenshot of the viewport to `path` (parent dirs created).
    pub async fn screenshot(&self, path: &Path) {
        let png = self.client.screenshot().await.expect("screenshot");
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n"),
            "screenshot is not a PNG"
        );
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Resize the OUTER window. headless=new keeps a virtual browser frame: the viewport is
    /// the same width but ~139 px shorter (1280x900 -> innerHeight 761). See `set_viewport`.
    pub async fn set_window(&self, width: u32, height: u32) {
        self.client
            .set_window_size(width, height)
            .await
            .expect("set window size");
    }

    /// Resize so that the page viewport (innerWidth x innerHeight, = screenshot size) is
    /// exactly `width` x `height`.
    pub async fn set_viewport(&self, width: u32, height: u32) {
        let d = self
            .eval("return [outerWidth - innerWidth, outerHeight - innerHeight]")
            .await;
        let dw = d[0].as_u64().unwrap_or(0) as u32;
        let dh = d[1].as_u64().unwrap_or(0) as u32;
        self.set_window(width + dw, height + dh).await;
    }

    /// Navigates to `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    /// Run JS (`return ...` to get a value).
    pub async fn eval(&self, script: &str) -> serde_json::Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Poll (50 ms) for an element matching `css`; panics with the URL on timeout.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Element {
        let t = Instant::now();
        loop {
            match self.client.find(Locator::Css(css)).await {
                Ok(e) => return e,
                Err(e) if e.is_no_such_element() => {}
                Err(e) => panic!("find {css}: {e}"),
            }
            if t.elapsed() > timeout {
                let url = self
                    .client
                    .current_url()
                    .await
                    .map(|u| u.to_string())
                    .unwrap_or_default();
                panic!("element {css:?} did not appear within {timeout:?} on {url}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Poll until the element's text contains `needle`; returns the text.
    pub async fn wait_for_text(&self, css: &str, needle: &str, timeout: Duration) -> String {
        let t = Instant::now();
        loop {
            if let Ok(e) = self.client.find(Locator::Css(css)).await
                && let Ok(txt) = e.text().await
                && txt.contains(needle)
            {
                return txt;
            }
            if t.elapsed() > timeout {
                panic!("{css:?} did not contain {needle:?} within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Select `files` in the `<input type=file multiple>` matching `css` (one send_keys with
    /// newline-joined absolute paths). Adds to any existing selection.
    pub async fn upload_files(&self, css: &str, files: &[&Path]) {
        let paths: Vec<String> = files
            .iter()
            .map(|f| {
                f.canonicalize()
                    .unwrap_or_else(|e| panic!("upload file {}: {e}", f.display()))
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        let input = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("find {css}: {e}"));
        input
            .send_keys(&paths.join("\n"))
            .await
            .unwrap_or_else(|e| panic!("send_keys files to {css}: {e}"));
    }

    /// Select a whole directory in an `<input type=file webkitdirectory>` (works directly in
    /// chromedriver 148: files are added recursively with webkitRelativePath set).
    pub async fn upload_dir(&self, css: &str, dir: &Path) {
        let dir = dir
            .canonicalize()
            .unwrap_or_else(|e| panic!("upload dir {}: {e}", dir.display()));
        let input = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("find {css}: {e}"));
        input
            .send_keys(&dir.to_string_lossy())
            .await
            .unwrap_or_else(|e| panic!("send_keys dir to {css}: {e}"));
    }

    /// Fallback for a driver that rejects directories: strip `webkitdirectory`, ensure
    /// `multiple`, send the files. (webkitRelativePath is "" then.)
    pub async fn remove_attribute_and_upload(&self, css: &str, files: &[&Path]) {
        let input = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("find {css}: {e}"));
        let arg = serde_json::to_value(&input).unwrap();
        self.client
            .execute(
                "arguments[0].removeAttribute('webkitdirectory'); arguments[0].multiple = true;",
                vec![arg],
            )
            .await
            .expect("strip webkitdirectory");
        self.upload_files(css, files).await;
    }

    /// Names of all cookies of the current page's origin (HttpOnly ones included).
    pub async fn cookie_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .client
            .get_all_cookies()
            .await
            .expect("get cookies")
            .iter()
            .map(|c| c.name().to_string())
            .collect();
        v.sort();
        v
    }

    /// `wait_download(self.download_dir, name, timeout)`.
    pub async fn wait_download(&self, name: &str, timeout: Duration) -> PathBuf {
        wait_download(&self.download_dir, name, timeout).await
    }
}

/// Wait until `dir/name` exists and no in-progress download (`*.crdownload`,
/// `.com.google.Chrome.*`) is left in `dir`; returns the path. Panics with the dir listing.
pub async fn wait_download(dir: &Path, name: &str, timeout: Duration) -> PathBuf {
    let target = dir.join(name);
    let t = Instant::now();
    loop {
        let entries: Vec<String> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let partial = entries
            .iter()
            .any(|n| n.ends_with(".crdownload") || n.starts_with(".com.google.Chrome."));
        if target.is_file() && !partial {
            return target;
        }
        if t.elapsed() > timeout {
            panic!(
                "download {name:?} not complete in {} within {timeout:?}; dir has {entries:?}",
                dir.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// PIDs whose /proc/<pid>/cmdline contains `marker` (zombies have an empty cmdline: skipped).
fn pids_matching(marker: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let needle = marker.as_bytes();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    rd.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| c.windows(needle.len()).any(|w| w == needle))
                .unwrap_or(false)
        })
        .collect()
}

/// PIDs (chromedriver included) whose cmdline contains `marker` (see `Browser::marker`).
pub fn pids_matching_pub(marker: &str) -> Vec<i32> {
    pids_matching(marker)
}

fn proc_kb(file: &str, key: &str) -> u64 {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with(key)).and_then(|l| {
                l[key.len()..]
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .ok()
            })
        })
        .unwrap_or(0)
}

/// Summed PSS of every process whose command line holds `marker` (a browser's root), for
/// sampling from another thread.
pub fn pss_of(marker: &str) -> u64 {
    pids_matching(marker)
        .into_iter()
        .map(|p| proc_kb(&format!("/proc/{p}/smaps_rollup"), "Pss:") * 1024)
        .sum()
}

fn kill_matching(marker: &str) {
    for pid in pids_matching(marker) {
        signal(pid, Signal::KILL);
    }
}

/// Kill processes left by test processes that died without cleanup (their temp root carries
/// `cairn-browser-<pid>-` and that pid is gone).
fn reap_orphans_of_dead_runs() {
    let tmp = std::env::temp_dir();
    let Ok(rd) = std::fs::read_dir(&tmp) else {
        return;
    };
    for e in rd.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(ROOT_PREFIX) else {
            continue;
        };
        let Some(owner) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if Path::new(&format!("/proc/{owner}")).exists() {
            continue;
        }
        let marker = tmp.join(&name).to_string_lossy().into_owned();
        kill_matching(&marker);
        let _ = std::fs::remove_dir_all(tmp.join(&name));
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        if let Some(mut d) = self.driver.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
        let t = Instant::now();
        loop {
            let left = pids_matching(&self.marker);
            if left.is_empty() {
                break;
            }
            for pid in left {
                signal(pid, Signal::KILL);
            }
            if t.elapsed() > Duration::from_secs(5) {
                eprintln!(
                    "browser: processes matching {} survived SIGKILL for 5 s",
                    self.marker
                );
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Some(root) = self.root.take() {
            let _ = root.close();
        }
    }
}

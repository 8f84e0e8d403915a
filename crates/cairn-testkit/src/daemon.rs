//! A `cairn` daemon (pool or peer) as a child process: started with its arguments, ready
//! once it prints `listening on http://HOST:PORT`, killed when dropped.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Why a daemon could not be started.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The process could not be spawned.
    #[error("cannot start {program}: {source}")]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// It exited or stayed silent instead of announcing its address.
    #[error("{0}")]
    NotReady(String),
}

/// A running daemon process.
#[derive(Debug)]
pub struct Daemon {
    child: Child,
    url: String,
    args: Vec<String>,
    program: PathBuf,
}

impl Daemon {
    /// Starts `program args...` (stderr inherited so logs show in test output) and waits up
    /// to `timeout` for its `listening on` line.
    pub fn start(program: &Path, args: &[String], timeout: Duration) -> Result<Self, DaemonError> {
        let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_owned());
        Self::spawn(program, args, timeout, &filter, None)
    }

    /// Starts `program args...` like [`start`](Self::start), but with `RUST_LOG=filter` and
    /// everything it prints — stderr, and stdout line by line — appended to the file `log`
    /// (created if missing), so a test can read every byte the daemon logged.
    pub fn start_logged(
        program: &Path,
        args: &[String],
        timeout: Duration,
        filter: &str,
        log: &Path,
    ) -> Result<Self, DaemonError> {
        Self::spawn(program, args, timeout, filter, Some(log))
    }

    fn spawn(
        program: &Path,
        args: &[String],
        timeout: Duration,
        filter: &str,
        log: Option<&Path>,
    ) -> Result<Self, DaemonError> {
        let spawn_error = |source| DaemonError::Spawn {
            program: program.to_owned(),
            source,
        };
        let open_log = |log: &Path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .map_err(spawn_error)
        };
        let (stderr, mut stdout_copy) = match log {
            Some(log) => (Stdio::from(open_log(log)?), Some(open_log(log)?)),
            None => (Stdio::inherit(), None),
        };
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .env("RUST_LOG", filter)
            .spawn()
            .map_err(spawn_error)?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            return Err(DaemonError::NotReady("no stdout".to_owned()));
        };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(copy) = &mut stdout_copy {
                    let _ = writeln!(copy, "{line}");
                }
                if let Some(url) = line.strip_prefix("listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        match rx.recv_timeout(timeout) {
            Ok(url) => Ok(Self {
                child,
                url,
                args: args.to_vec(),
                program: program.to_owned(),
            }),
            Err(_) => {
                let status = child.try_wait().ok().flatten();
                let _ = child.kill();
                let _ = child.wait();
                Err(DaemonError::NotReady(format!(
                    "{} {} did not print `listening on` within {timeout:?} (exit: {status:?})",
                    program.display(),
                    args.join(" ")
                )))
            }
        }
    }

    /// The daemon's base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The arguments it was started with.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// The program it runs.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process at once (SIGKILL: no chance to clean up) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Asks the process to stop (SIGTERM on unix) and waits for it, killing it if it does
    /// not stop within `timeout`. Returns whether it stopped by itself.
    pub fn stop(&mut self, timeout: Duration) -> bool {
        #[cfg(unix)]
        {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
            let deadline = std::time::Instant::now() + timeout;
            while std::time::Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = timeout;
        self.kill();
        false
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

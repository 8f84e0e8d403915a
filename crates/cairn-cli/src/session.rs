//! What every client command shares: the home directory, the passphrase, the drive, the
//! async runtime, and progress bars that show only on a terminal.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use cairn_client::{Drive, DriveOptions, Home, Progress, Recovered};
use indicatif::{ProgressBar, ProgressStyle};
use zeroize::Zeroizing;

/// Options every client command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// Client home: the pool's address and the wrapped master secret (default: the user's
    /// config directory, `cairn` in it).
    #[arg(long, env = "CAIRN_HOME", global = true)]
    pub home: Option<PathBuf>,
    /// Read the passphrase from this file (else CAIRN_PASSPHRASE, else a prompt on a
    /// terminal).
    #[arg(long, global = true)]
    pub passphrase_file: Option<PathBuf>,
}

impl Global {
    /// The home directory in use.
    pub fn home_dir(&self) -> anyhow::Result<PathBuf> {
        match &self.home {
            Some(dir) => Ok(dir.clone()),
            None => dirs::config_dir()
                .map(|d| d.join("cairn"))
                .context("cannot find a config directory for the client home; pass --home DIR"),
        }
    }

    /// The passphrase, if one was given or can be asked for; `prompt` is shown on a
    /// terminal.
    pub fn passphrase(&self, prompt: &str) -> anyhow::Result<Option<Zeroizing<String>>> {
        if let Some(file) = &self.passphrase_file {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read the passphrase file {}", file.display()))?;
            let text = text.strip_suffix('\n').unwrap_or(&text);
            let text = text.strip_suffix('\r').unwrap_or(text);
            return Ok(Some(Zeroizing::new(text.to_owned())));
        }
        if let Ok(text) = std::env::var("CAIRN_PASSPHRASE") {
            return Ok(Some(Zeroizing::new(text)));
        }
        if std::io::stdin().is_terminal() {
            let text = rpassword::prompt_password(prompt).context("cannot read the passphrase")?;
            return Ok(Some(Zeroizing::new(text)));
        }
        Ok(None)
    }

    /// The initialised home.
    pub fn open_home(&self) -> anyhow::Result<Home> {
        Ok(Home::open(&self.home_dir()?)?)
    }

    /// The user's drive, unlocked, with options adjusted by `configure`.
    pub fn drive(&self, configure: impl FnOnce(&mut DriveOptions)) -> anyhow::Result<Drive> {
        let home = self.open_home()?;
        let passphrase = if home.needs_passphrase() {
            self.passphrase("Passphrase: ")?
        } else {
            None
        };
        let mut options = DriveOptions::default();
        configure(&mut options);
        let drive = Drive::open(&home, passphrase.as_ref().map(|p| p.as_bytes()), options)?;
        // A pool that forgot this device's last change (a lost disk, an older copy of its
        // store) is given its records back before anything else is asked of it.
        match runtime()?.block_on(drive.catch_up()) {
            Ok(Some(recovered)) => eprintln!("{}", recovered_line(&recovered)),
            Ok(None) => {}
            Err(e) => tracing::warn!("cannot check that the pool still knows your files: {e}"),
        }
        Ok(drive)
    }
}

/// What a recovery did, in one line for the person at the terminal.
pub fn recovered_line(r: &Recovered) -> String {
    let mut line = format!(
        "the pool had lost records of your files: gave back {} of {} from the copy on the peers",
        r.given_back, r.objects
    );
    if r.moved > 0 {
        line.push_str(&format!(", moved {}", r.moved));
    }
    if r.removed > 0 {
        line.push_str(&format!(", removed {} it should no longer have", r.removed));
    }
    if r.awaited > 0 {
        line.push_str(&format!(
            "; {} pieces wait for their peers to come back online",
            r.awaited
        ));
    }
    if r.unreadable > 0 {
        line.push_str(&format!(
            "; {} ledger entries are not readable yet (their peers are offline)",
            r.unreadable
        ));
    }
    if r.unfetched > 0 {
        line.push_str(&format!(
            "; {} pieces of the copy could not be fetched from the peers that hold them (try again later)",
            r.unfetched
        ));
    }
    line
}

/// A runtime for one command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().context("cannot start the async runtime")
}

/// A byte progress bar on a terminal's stderr, or nothing when not on a terminal or when
/// the output is JSON.
pub struct Bar(Option<ProgressBar>);

impl Bar {
    /// A bar for `total` bytes labelled `label`.
    pub fn bytes(total: u64, label: &str, quiet: bool) -> Self {
        if quiet || !std::io::stderr().is_terminal() {
            return Self(None);
        }
        let bar = ProgressBar::new(total);
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(label.to_owned());
        Self(Some(bar))
    }

    /// A byte counter for work of unknown size.
    pub fn counter(label: &str, quiet: bool) -> Self {
        if quiet || !std::io::stderr().is_terminal() {
            return Self(None);
        }
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {bytes} {bytes_per_sec}") {
            bar.set_style(style);
        }
        bar.set_message(label.to_owned());
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        Self(Some(bar))
    }

    /// The library's view of this bar.
    pub fn progress(&self) -> Progress {
        match &self.0 {
            Some(bar) => {
                let (done, total) = (bar.clone(), bar.clone());
                Progress::new(move |n| done.inc(n)).with_total(move |n| total.set_length(n))
            }
            None => Progress::silent(),
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

/// Bytes as a short human figure (`1.5 MiB`).
pub fn human(bytes: u64) -> String {
    bytesize::ByteSize::b(bytes).display().iec().to_string()
}

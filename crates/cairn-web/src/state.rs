//! What every request shares: the home and, once it is open, its drive; the secrets of the
//! sign-in; and the transfers in progress.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use cairn_client::{ClientError, Drive, DriveOptions, Home, Received};
use data_encoding::BASE64URL_NOPAD;
use rand::RngCore;
use zeroize::Zeroizing;

use crate::UiConfig;
use crate::dav::Mount;
use crate::error::UiError;
use crate::transfers::Registry;
use crate::upload::Sessions;

/// Where the drive is in its life.
pub(crate) enum Slot {
    /// The home holds no client yet: the page offers to create or recover an account.
    NoHome,
    /// The home needs its passphrase.
    Locked(Home),
    /// Ready.
    Open(Arc<Drive>),
}

/// Why a page cannot show the drive yet.
pub(crate) enum Gate {
    /// Send the person to set up an account.
    Setup,
    /// Send the person to type the passphrase.
    Unlock,
    /// A new account's recovery phrase has not been confirmed as written down.
    Phrase,
}

/// Where `cairn ui` serves the drive over WebDAV.
pub(crate) const DAV_PREFIX: &str = "/dav";

/// How many opened links the page keeps at once.
pub(crate) const KEPT_LINKS: usize = 32;

struct Shared {
    home: PathBuf,
    addr: SocketAddr,
    options: DriveOptions,
    upload_idle: std::time::Duration,
    /// The sign-in secret of the printed address, until it is used.
    login: Mutex<Option<String>>,
    /// Turns true when the printed address has been used.
    signed_in: tokio::sync::watch::Sender<bool>,
    /// The cookie a signed-in browser holds.
    session: String,
    slot: RwLock<Slot>,
    /// A new account's recovery phrase, until the person confirms writing it down.
    phrase: Mutex<Option<Zeroizing<String>>>,
    transfers: Registry,
    uploads: Sessions,
    /// Links opened in the page, newest last, by the handle their pages are under.
    received: Mutex<Vec<(String, Arc<Received>)>>,
    /// The secret of the drive's WebDAV address (`/dav/SECRET/`), and its server once the
    /// drive is open.
    dav_token: String,
    dav: std::sync::OnceLock<Mount>,
    /// The account's last health check, shared by every page that asks within a moment.
    health: tokio::sync::Mutex<Option<(std::time::Instant, Arc<serde_json::Value>)>>,
}

/// Cheap to clone; one per server.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Shared>);

/// A fresh 256-bit secret, base64url.
pub(crate) fn secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    BASE64URL_NOPAD.encode(&bytes)
}

/// Has a drive just opened give the pool back its records if it forgot this device's last
/// change (see `Drive::catch_up`), without holding up the page.
fn catch_up_in_background(drive: &Arc<Drive>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let drive = drive.clone();
    runtime.spawn(async move {
        match drive.catch_up().await {
            Ok(Some(recovered)) => tracing::warn!(
                given_back = recovered.given_back,
                moved = recovered.moved,
                removed = recovered.removed,
                "the pool had lost records of this drive; they were given back from the ledger on the peers"
            ),
            Ok(None) => {}
            Err(e) => tracing::warn!("cannot check that the pool still knows this drive's files: {e}"),
        }
    });
}

impl AppState {
    pub async fn new(config: &UiConfig, addr: SocketAddr) -> Result<Self, UiError> {
        let slot = if Home::exists(&config.home) {
            let home = Home::open(&config.home)?;
            if home.needs_passphrase() && config.passphrase.is_none() {
                Slot::Locked(home)
            } else {
                let passphrase = config.passphrase.as_ref().map(|p| p.as_bytes());
                let drive = Arc::new(Drive::open(&home, passphrase, config.options.clone())?);
                catch_up_in_background(&drive);
                Slot::Open(drive)
            }
        } else {
            Slot::NoHome
        };
        Ok(Self(Arc::new(Shared {
            home: config.home.clone(),
            addr,
            options: config.options.clone(),
            upload_idle: config.upload_idle,
            login: Mutex::new(Some(secret())),
            signed_in: tokio::sync::watch::Sender::new(false),
            session: secret(),
            slot: RwLock::new(slot),
            phrase: Mutex::new(None),
            transfers: Registry::default(),
            uploads: Sessions::default(),
            received: Mutex::new(Vec::new()),
            dav_token: secret(),
            dav: std::sync::OnceLock::new(),
            health: tokio::sync::Mutex::new(None),
        })))
    }

    /// The one-time secret of the printed address (empty once used).
    pub fn login_secret(&self) -> String {
        lock(&self.0.login).clone().unwrap_or_default()
    }

    /// Uses the one-time secret: true once, for the right one.
    pub fn take_login(&self, offered: &str) -> bool {
        let mut login = lock(&self.0.login);
        let good = login
            .as_deref()
            .is_some_and(|secret| same(secret.as_bytes(), offered.as_bytes()));
        if good {
            *login = None;
            self.0.signed_in.send_replace(true);
        }
        good
    }

    /// Watches whether the printed address has been used.
    pub fn sign_ins(&self) -> tokio::sync::watch::Receiver<bool> {
        self.0.signed_in.subscribe()
    }

    /// The session cookie's value.
    pub fn session(&self) -> &str {
        &self.0.session
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.0.addr
    }

    /// The client home served.
    pub fn home_dir(&self) -> &std::path::Path {
        &self.0.home
    }

    /// How drives opened here store and fetch.
    pub fn options(&self) -> &DriveOptions {
        &self.0.options
    }

    /// How long an upload waits for its next chunk.
    pub fn upload_idle(&self) -> std::time::Duration {
        self.0.upload_idle
    }

    pub fn transfers(&self) -> &Registry {
        &self.0.transfers
    }

    pub fn uploads(&self) -> &Sessions {
        &self.0.uploads
    }

    /// Keeps an opened link for its pages; returns the handle they are under. The oldest
    /// of more than [`KEPT_LINKS`] is let go (its page says to paste the link again).
    pub fn keep_received(&self, received: Received) -> String {
        let handle = secret();
        let mut kept = lock(&self.0.received);
        kept.push((handle.clone(), Arc::new(received)));
        let over = kept.len().saturating_sub(KEPT_LINKS);
        kept.drain(..over);
        handle
    }

    /// The drive over WebDAV at `/dav/SECRET/`, once the drive is open.
    pub fn dav(&self) -> Option<Mount> {
        if let Some(mount) = self.0.dav.get() {
            return Some(mount.clone());
        }
        let drive = self.drive().ok()?;
        let mount = self
            .0
            .dav
            .get_or_init(|| Mount::new(drive, &self.0.home, DAV_PREFIX, self.0.dav_token.clone()));
        Some(mount.clone())
    }

    /// The opened link under `handle`.
    pub fn received(&self, handle: &str) -> Option<Arc<Received>> {
        lock(&self.0.received)
            .iter()
            .find(|(h, _)| same(h.as_bytes(), handle.as_bytes()))
            .map(|(_, r)| r.clone())
    }

    /// The account's health as the page's badges want it, checked at most once per
    /// `fresh` however many pages ask (the check reads every record of the account).
    pub async fn health(
        &self,
        drive: &Drive,
        fresh: std::time::Duration,
    ) -> Result<Arc<serde_json::Value>, ClientError> {
        let mut cached = self.0.health.lock().await;
        if let Some((at, health)) = &*cached
            && at.elapsed() < fresh
        {
            return Ok(health.clone());
        }
        let health = drive.health().await?;
        let paths = |list: &[cairn_core::RemotePath]| -> Vec<String> {
            list.iter().map(ToString::to_string).collect()
        };
        let view = Arc::new(serde_json::json!({
            "objects": health.objects,
            "full": health.full,
            "degraded": paths(&health.degraded),
            "unreadable": paths(&health.unreadable),
        }));
        *cached = Some((std::time::Instant::now(), view.clone()));
        Ok(view)
    }

    /// The open drive, or why there is none yet.
    pub fn drive(&self) -> Result<Arc<Drive>, Gate> {
        if lock(&self.0.phrase).is_some() {
            return Err(Gate::Phrase);
        }
        match &*self.0.slot.read().unwrap_or_else(PoisonError::into_inner) {
            Slot::Open(drive) => Ok(drive.clone()),
            Slot::Locked(_) => Err(Gate::Unlock),
            Slot::NoHome => Err(Gate::Setup),
        }
    }

    /// Whether the home exists yet.
    pub fn has_home(&self) -> bool {
        !matches!(
            &*self.0.slot.read().unwrap_or_else(PoisonError::into_inner),
            Slot::NoHome
        )
    }

    /// Opens a locked home with `passphrase`; a wrong one changes nothing.
    pub fn unlock(&self, passphrase: &[u8]) -> Result<(), ClientError> {
        let mut slot = self.0.slot.write().unwrap_or_else(PoisonError::into_inner);
        if let Slot::Locked(home) = &*slot {
            let drive = Arc::new(Drive::open(home, Some(passphrase), self.0.options.clone())?);
            catch_up_in_background(&drive);
            *slot = Slot::Open(drive);
        }
        Ok(())
    }

    /// A home was just made: its drive is open; `phrase`, if any, waits to be confirmed.
    pub fn opened(&self, drive: Drive, phrase: Option<Zeroizing<String>>) {
        *lock(&self.0.phrase) = phrase;
        *self.0.slot.write().unwrap_or_else(PoisonError::into_inner) = Slot::Open(Arc::new(drive));
    }

    /// The recovery phrase waiting to be confirmed.
    pub fn pending_phrase(&self) -> Option<Zeroizing<String>> {
        lock(&self.0.phrase).clone()
    }

    /// The person wrote the phrase down: forget it.
    pub fn phrase_confirmed(&self) {
        *lock(&self.0.phrase) = None;
    }
}

/// A mutex whose holder panicked is still usable: every value here is replaced whole.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Compares secrets in constant time.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

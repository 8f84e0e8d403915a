//! The client's home directory: which pool it uses and its master secret, wrapped by a
//! passphrase (or, for a loopback playground, kept plain).
//!
//! Layout: `client.json` (format version, pool URL, account id) and either `secret`
//! (a [`WrappedSecret`]) or `secret.playground` (the 32 raw bytes). Files are `0600`.

use std::fs;
use std::path::{Path, PathBuf};

use cairn_core::{AccountId, KdfParams, MasterSecret, WrappedSecret};
use rand::CryptoRng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{ClientError, ClientResult};

const CONFIG: &str = "client.json";
const WRAPPED: &str = "secret";
const PLAYGROUND: &str = "secret.playground";
const VERSION: u32 = 1;

/// How the master secret is kept on disk.
pub enum Protection<'a> {
    /// Wrapped under a passphrase with Argon2id parameters.
    Passphrase(&'a [u8], KdfParams),
    /// Kept plain: only for a pool on this machine (`cairn local`).
    Playground,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Config {
    version: u32,
    pool: String,
    account: AccountId,
}

/// An initialised client home.
#[derive(Debug, Clone)]
pub struct Home {
    dir: PathBuf,
    config: Config,
}

/// Whether a pool URL points at this machine (loopback), where a playground key may go.
pub fn is_loopback_url(url: &str) -> bool {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return false;
    };
    let Some(host) = parsed.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => bare.eq_ignore_ascii_case("localhost"),
    }
}

impl Home {
    /// Whether `dir` holds a client.
    pub fn exists(dir: &Path) -> bool {
        dir.join(CONFIG).is_file()
    }

    /// Creates a client home for `pool` holding `secret`. Refuses an existing home.
    pub fn create(
        dir: &Path,
        pool: &str,
        secret: &MasterSecret,
        protection: Protection<'_>,
        rng: &mut impl CryptoRng,
    ) -> ClientResult<Self> {
        if Self::exists(dir) {
            return Err(ClientError::HomeExists(dir.to_owned()));
        }
        fs::create_dir_all(dir).map_err(ClientError::io(dir))?;
        let pool = pool.trim_end_matches('/').to_owned();
        match protection {
            Protection::Passphrase(passphrase, params) => {
                let wrapped = WrappedSecret::wrap(secret, passphrase, params, rng)?;
                write(dir, WRAPPED, &wrapped.to_bytes())?;
            }
            Protection::Playground => {
                if !is_loopback_url(&pool) {
                    return Err(ClientError::PlaygroundRemote(pool));
                }
                write(dir, PLAYGROUND, secret.as_bytes())?;
            }
        }
        let config = Config {
            version: VERSION,
            pool,
            account: secret.account_key().account_id(),
        };
        let text = serde_json::to_vec_pretty(&config).map_err(|e| ClientError::BadHome {
            path: dir.join(CONFIG),
            reason: e.to_string(),
        })?;
        // The config goes last: a home counts as initialised only once it is complete.
        write(dir, CONFIG, &text)?;
        Ok(Self {
            dir: dir.to_owned(),
            config,
        })
    }

    /// Opens an initialised home.
    pub fn open(dir: &Path) -> ClientResult<Self> {
        let path = dir.join(CONFIG);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ClientError::NoHome(dir.to_owned()));
            }
            Err(e) => return Err(ClientError::io(&path)(e)),
        };
        let config: Config = serde_json::from_slice(&bytes).map_err(|e| ClientError::BadHome {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if config.version != VERSION {
            return Err(ClientError::BadHome {
                path,
                reason: format!(
                    "format version {} is unknown to this Cairn; upgrade Cairn",
                    config.version
                ),
            });
        }
        Ok(Self {
            dir: dir.to_owned(),
            config,
        })
    }

    /// The home directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The pool's URL.
    pub fn pool(&self) -> &str {
        &self.config.pool
    }

    /// The account this home signs as.
    pub fn account(&self) -> AccountId {
        self.config.account
    }

    /// Whether unlocking needs a passphrase.
    pub fn needs_passphrase(&self) -> bool {
        !self.dir.join(PLAYGROUND).is_file()
    }

    /// The master secret: unwrapped with `passphrase`, or read plain from a playground home
    /// (which works only with a pool on this machine).
    pub fn unlock(&self, passphrase: Option<&[u8]>) -> ClientResult<MasterSecret> {
        let secret = if self.needs_passphrase() {
            let path = self.dir.join(WRAPPED);
            let bytes = fs::read(&path).map_err(ClientError::io(&path))?;
            let wrapped = WrappedSecret::from_bytes(&bytes)?;
            let passphrase = passphrase.ok_or(ClientError::PassphraseNeeded)?;
            wrapped.unwrap_secret(passphrase)?
        } else {
            if !is_loopback_url(&self.config.pool) {
                return Err(ClientError::PlaygroundRemote(self.config.pool.clone()));
            }
            let path = self.dir.join(PLAYGROUND);
            let bytes = Zeroizing::new(fs::read(&path).map_err(ClientError::io(&path))?);
            let raw: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| ClientError::BadHome {
                    path: path.clone(),
                    reason: format!("the secret is {} bytes, not 32", bytes.len()),
                })?;
            MasterSecret::from_bytes(raw)
        };
        if secret.account_key().account_id() != self.config.account {
            return Err(ClientError::BadHome {
                path: self.dir.join(CONFIG),
                reason: "the secret belongs to another account than the one recorded".into(),
            });
        }
        Ok(secret)
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> ClientResult<()> {
    let path = dir.join(name);
    cairn_node::write_private_file(dir, &path, bytes).map_err(|e| ClientError::Local {
        path,
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> MasterSecret {
        MasterSecret::from_bytes([7; 32])
    }

    #[test]
    fn passphrase_home_round_trip_and_wrong_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::create(
            dir.path(),
            "http://pool.example:7700/",
            &secret(),
            Protection::Passphrase(b"right", KdfParams::INSECURE_FAST),
            &mut rand::rng(),
        )
        .unwrap();
        assert_eq!(home.pool(), "http://pool.example:7700");
        let home = Home::open(dir.path()).unwrap();
        assert!(home.needs_passphrase());
        assert_eq!(home.unlock(Some(b"right")).unwrap(), secret());
        assert!(matches!(
            home.unlock(Some(b"wrong")),
            Err(ClientError::WrongPassphrase)
        ));
        assert!(matches!(
            home.unlock(None),
            Err(ClientError::PassphraseNeeded)
        ));
        assert!(matches!(
            Home::create(
                dir.path(),
                "http://x",
                &secret(),
                Protection::Playground,
                &mut rand::rng()
            ),
            Err(ClientError::HomeExists(_))
        ));
    }

    #[cfg(unix)]
    #[test]
    fn secrets_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        Home::create(
            dir.path(),
            "http://127.0.0.1:1",
            &secret(),
            Protection::Passphrase(b"p", KdfParams::INSECURE_FAST),
            &mut rand::rng(),
        )
        .unwrap();
        for name in [WRAPPED, CONFIG] {
            let mode = fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
    }

    #[test]
    fn playground_homes_stay_on_loopback() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Home::create(
                dir.path(),
                "http://203.0.113.9:7700",
                &secret(),
                Protection::Playground,
                &mut rand::rng()
            ),
            Err(ClientError::PlaygroundRemote(_))
        ));
        assert!(!Home::exists(dir.path()));
        let home = Home::create(
            dir.path(),
            "http://127.0.0.1:7700",
            &secret(),
            Protection::Playground,
            &mut rand::rng(),
        )
        .unwrap();
        assert!(!home.needs_passphrase());
        assert_eq!(home.unlock(None).unwrap(), secret());
    }

    #[test]
    fn loopback_urls() {
        assert!(is_loopback_url("http://127.0.0.1:7700"));
        assert!(is_loopback_url("http://[::1]:80"));
        assert!(is_loopback_url("http://localhost:1"));
        assert!(!is_loopback_url("http://10.0.0.1:7700"));
        assert!(!is_loopback_url("not a url"));
    }

    #[test]
    fn a_missing_home_says_to_init() {
        let dir = tempfile::tempdir().unwrap();
        let err = Home::open(dir.path()).unwrap_err();
        assert!(err.to_string().contains("cairn init"), "{err}");
    }
}

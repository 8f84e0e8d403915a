//! HTTP clients for many servers: one plain client for `http://` (loopback) addresses, and
//! one pinned client per identity for `https://` ones, made on first use and kept.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::pin::pinned_client;

/// Clients by server identity.
pub struct Clients {
    make: fn() -> reqwest::ClientBuilder,
    plain: reqwest::Client,
    pinned: Mutex<HashMap<[u8; 32], reqwest::Client>>,
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clients")
    }
}

impl Clients {
    /// Clients built from `make` (timeouts, pooling, `TCP_NODELAY`...).
    pub fn new(make: fn() -> reqwest::ClientBuilder) -> Result<Self, reqwest::Error> {
        Ok(Self {
            make,
            plain: make().build()?,
            pinned: Mutex::new(HashMap::new()),
        })
    }

    /// The client for the server `identity` at `address`: pinned to `identity` over TLS
    /// for `https://`, plain otherwise.
    pub fn for_address(
        &self,
        identity: [u8; 32],
        address: &str,
    ) -> Result<reqwest::Client, reqwest::Error> {
        if !address.starts_with("https://") {
            return Ok(self.plain.clone());
        }
        let mut pinned = self.pinned.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = pinned.get(&identity) {
            return Ok(client.clone());
        }
        let client = pinned_client(identity, (self.make)())?;
        pinned.insert(identity, client.clone());
        Ok(client)
    }
}

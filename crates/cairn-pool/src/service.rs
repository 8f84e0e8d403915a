//! The pool's services, free of HTTP: uploads (placement, quota, put orders, receipt
//! checks, commits), objects (listing, sources with get orders, rename, delete, health,
//! corruption reports), the peer registry (register, heartbeat, drain, repair reports),
//! recovery (an account's ledger found, its forgotten records given back) and shares (left
//! by owners, opened by whoever has a link).
//!
//! Each service is a view over the shared [`crate::app::App`] and answers with its own
//! domain error; the HTTP layer ([`crate::api`]) only extracts a request, calls one method
//! and maps the error to a wire refusal. Time comes from the pool's clock
//! ([`crate::app::App::now_ms`]), so tests can hold it still.

mod objects;
mod peers;
mod recovery;
mod shares;
#[cfg(test)]
mod tests;
mod uploads;

use cairn_core::EncryptedPath;

pub use cairn_proto::clock::duration_ms;
pub use objects::{ObjectError, Objects};
pub use peers::{PeerError, Registry};
pub use recovery::Recovery;
pub use shares::{SHARE_ORDER_TTL, ShareServiceError, Shares};
pub use uploads::{CheckedBegin, Online, UploadError, Uploads};

/// A request that does not fit the protocol; the message says how, for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    /// An invalid request described by `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// Refuses anything but a non-empty encrypted path of the account's own (objects the pool
/// keeps for shares, under [`cairn_proto::api::KEPT_FOLDER`], are reached through their
/// shares only).
pub fn check_path(path: &str) -> Result<(), Invalid> {
    if path.is_empty() {
        return Err(Invalid::new("the path is empty"));
    }
    if is_kept(path) {
        return Err(Invalid::new(
            "kept/ holds what the pool keeps for shares; revoke the share instead",
        ));
    }
    EncryptedPath::parse(path)
        .map(|_| ())
        .map_err(|e| Invalid(format!("the path is not an encrypted path: {e}")))
}

/// Whether `path` (or a prefix) is under the folder the pool keeps shared objects in.
pub fn is_kept(path: &str) -> bool {
    path.strip_prefix(cairn_proto::api::KEPT_FOLDER)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// A folder prefix: empty (everything) or an encrypted path followed by `/`.
pub fn check_prefix(prefix: &str) -> Result<(), Invalid> {
    match prefix.strip_suffix('/') {
        None if prefix.is_empty() => Ok(()),
        Some(folder) => check_path(folder),
        None => Err(Invalid::new("a folder prefix must end with '/'")),
    }
}

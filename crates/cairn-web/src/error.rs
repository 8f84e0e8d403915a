//! What goes wrong in the drive's server, and how each failure reaches the person: a page
//! that says what happened and what to do, or a JSON `{"error": …}` for the page's script.

use std::net::SocketAddr;

use axum::http::StatusCode;
use cairn_client::ClientError;

/// Starting the server failed.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// The drive is only ever served on this machine.
    #[error(
        "the drive is served on loopback only (127.0.0.1 or ::1), not {0}: anyone who reaches it could use your files"
    )]
    NotLoopback(SocketAddr),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The home or its drive cannot be used.
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// A request that failed: the status and a sentence for a person.
#[derive(Debug)]
pub(crate) struct Failure {
    pub status: StatusCode,
    pub message: String,
}

impl Failure {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<ClientError> for Failure {
    fn from(error: ClientError) -> Self {
        use ClientError as E;
        let status = match &error {
            E::NotFound(_) | E::NoHome(_) => StatusCode::NOT_FOUND,
            E::Exists(_) | E::NotEmpty(_) | E::Replaced(_) => StatusCode::CONFLICT,
            E::IsFolder(_) | E::NotFolder(_) | E::Path(_) | E::Local { .. } => {
                StatusCode::BAD_REQUEST
            }
            E::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            E::WrongPassphrase | E::PassphraseNeeded => StatusCode::UNAUTHORIZED,
            E::Phrase(_) | E::Policy(_) | E::PoolAddress(_) => StatusCode::BAD_REQUEST,
            E::Cancelled => StatusCode::CONFLICT,
            // A link that does not open says why with the pool's own status (404, 403, 410).
            E::Refused { status, code, .. } if code.starts_with("share_") => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY)
            }
            E::SharePasswordNeeded => StatusCode::UNAUTHORIZED,
            E::Share(cairn_core::ShareError::WrongKey) => StatusCode::FORBIDDEN,
            E::Share(_) => StatusCode::BAD_REQUEST,
            E::Refused { status, .. } if *status == 409 => StatusCode::CONFLICT,
            E::Refused { status, .. } if *status == 404 => StatusCode::NOT_FOUND,
            E::PoolUnreachable { .. }
            | E::Refused { .. }
            | E::BadAnswer { .. }
            | E::UploadFailed { .. }
            | E::Unreadable { .. } => StatusCode::BAD_GATEWAY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, web_wording(&error))
    }
}

/// The client's messages speak to a terminal user (`use -r`); the page's user has buttons.
fn web_wording(error: &ClientError) -> String {
    match error {
        ClientError::Exists(path) => {
            format!("{path} already exists; choose another name or move that one first")
        }
        ClientError::IsFolder(path) => format!("{path} is a folder, not a file"),
        ClientError::NotEmpty(path) => format!("{path} is not empty"),
        ClientError::NotFound(path) => {
            format!("{path} does not exist (it may have been moved or deleted); reload the folder")
        }
        ClientError::SharePasswordNeeded => {
            "This link needs a password too; type the one its owner gave you.".into()
        }
        ClientError::Refused { code, message, .. } if code.starts_with("share_") => {
            format!("The link does not open: {message}")
        }
        other => other.to_string(),
    }
}

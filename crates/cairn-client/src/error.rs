//! Everything that can go wrong for a client, each worded as what happened and what to do.

use std::path::PathBuf;

use cairn_core::{
    LayoutError, MetadataError, PathDecryptError, PathError, PhraseError, PolicyError, Redundancy,
    RemotePath, SegmentError, WrapError,
};

/// A client operation's failure.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The home directory has no client in it yet.
    #[error("{0} holds no Cairn client; run `cairn init --pool URL` first")]
    NoHome(PathBuf),
    /// `init` on a home that already has a client.
    #[error("{0} already holds a Cairn client; use another --home to start a second one")]
    HomeExists(PathBuf),
    /// The home's files are damaged or from an unknown version.
    #[error("the client home {path} is damaged: {reason}")]
    BadHome {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading or writing a local file failed.
    #[error("cannot use {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file too large to be one object: its record would exceed what the pool keeps.
    #[error(
        "{size} bytes is too large for one file under {redundancy}: its record would take {record} bytes and the pool keeps at most {limit}; store it in parts"
    )]
    TooLarge {
        /// The file's size.
        size: u64,
        /// The redundancy it would be stored under.
        redundancy: Redundancy,
        /// The size its sealed record would have.
        record: usize,
        /// The largest record the pool takes.
        limit: usize,
    },
    /// The passphrase does not open the master secret.
    #[error("the passphrase is wrong; try again (or restore with `cairn init --recover`)")]
    WrongPassphrase,
    /// A passphrase is needed and none was given.
    #[error(
        "this client home is protected by a passphrase; set CAIRN_PASSPHRASE, pass --passphrase-file, or run on a terminal"
    )]
    PassphraseNeeded,
    /// An unprotected (playground) home used with a pool that is not on this machine.
    #[error(
        "this client home has no passphrase and may only talk to a pool on this machine, not {0}"
    )]
    PlaygroundRemote(String),
    /// The master secret could not be wrapped or unwrapped.
    #[error("the master secret: {0}")]
    Wrap(#[source] WrapError),
    /// The recovery phrase is not valid.
    #[error("the recovery phrase is not valid: {0}")]
    Phrase(#[from] PhraseError),
    /// A remote path is not valid.
    #[error("{0}")]
    Path(#[from] PathError),
    /// The pool answered with a path or record this account's keys cannot open.
    #[error("the pool returned a record this account cannot read ({0}); is it the right pool?")]
    Undecryptable(String),
    /// A redundancy setting is not valid.
    #[error("{0}")]
    Policy(#[from] PolicyError),
    /// Nothing exists at a remote path.
    #[error("{0} does not exist")]
    NotFound(RemotePath),
    /// Something already exists at a remote path.
    #[error("{0} already exists; remove it first or choose another name")]
    Exists(RemotePath),
    /// A file was expected and a folder found.
    #[error("{0} is a folder; use -r for a whole folder")]
    IsFolder(RemotePath),
    /// A folder was expected and a file found.
    #[error("{0} is a file, not a folder")]
    NotFolder(RemotePath),
    /// A folder still has contents.
    #[error("{0} is not empty; use -r to remove it with everything in it")]
    NotEmpty(RemotePath),
    /// A local path is not usable as a source or destination.
    #[error("{path}: {reason}")]
    Local {
        /// The local path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The pool's address cannot be used.
    #[error("{0}")]
    PoolAddress(String),
    /// The pool could not be reached.
    #[error("cannot reach the pool at {url}: {reason}; is it running?")]
    PoolUnreachable {
        /// The pool's URL.
        url: String,
        /// The transport's error.
        reason: String,
    },
    /// A change was made at the pool, but its copy in the account's ledger on the peers
    /// could not be written (it is written with the next change).
    #[error(
        "done, but the copy of this change on the peers could not be written ({0}); it is written with your next change"
    )]
    LedgerNotWritten(String),
    /// A ledger entry could not be sealed or read.
    #[error(transparent)]
    Ledger(#[from] cairn_core::LedgerError),
    /// A share link, or what it opens, cannot be used.
    #[error(transparent)]
    Share(#[from] cairn_core::ShareError),
    /// The link needs a password and none was given.
    #[error(
        "this link needs a password: set CAIRN_SHARE_PASSWORD, or run on a terminal to be asked"
    )]
    SharePasswordNeeded,
    /// The pool refused a request.
    #[error("the pool refused: {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Stable error code.
        code: String,
        /// The pool's explanation.
        message: String,
    },
    /// The pool answered something this client does not understand.
    #[error("the pool's answer to {what} is not understood: {reason}")]
    BadAnswer {
        /// The request.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A segment could not be stored on enough peers.
    #[error(
        "segment {segment} could not be stored: {failed} of its pieces failed on every peer tried (last: {last}); try again, or check `cairn network`"
    )]
    UploadFailed {
        /// The segment.
        segment: u32,
        /// Pieces without a home.
        failed: usize,
        /// The last peer error.
        last: String,
    },
    /// Too few pieces of a segment could be read.
    #[error(
        "{path}: segment {segment} cannot be read now, only {found} of the {needed} pieces it needs answered (last: {last}); try again when more peers are online"
    )]
    Unreadable {
        /// The object.
        path: RemotePath,
        /// The segment.
        segment: u32,
        /// Distinct fragments read.
        found: usize,
        /// Fragments needed.
        needed: usize,
        /// The last peer error.
        last: String,
    },
    /// The object's record is inconsistent with its metadata.
    #[error("the object's metadata cannot be used: {0}")]
    Metadata(#[from] MetadataError),
    /// The data path failed (tampering or a bug).
    #[error("{0}")]
    Segment(#[from] SegmentError),
    /// The file is too large for its segment size.
    #[error("{0}")]
    Layout(#[from] LayoutError),
    /// The whole file's hash does not match what was stored.
    #[error("{0}: the downloaded content does not match its recorded hash; nothing was written")]
    ContentMismatch(RemotePath),
    /// A local file changed size while it was being uploaded.
    #[error("{0} changed while it was being uploaded; nothing was stored, try again")]
    SourceChanged(PathBuf),
    /// An interrupted upload's data is not what is being uploaded now.
    #[error(
        "{0} is not what its interrupted upload was sending (it changed since); upload it again to start over"
    )]
    ResumeDiffers(PathBuf),
    /// The caller cancelled the transfer.
    #[error("the transfer was cancelled")]
    Cancelled,
    /// The file an open handle reads was replaced or removed since it was opened.
    #[error("{0} was replaced since it was opened; open it again")]
    Replaced(RemotePath),
}

impl ClientError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }

    /// The stable code of a pool refusal.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Refused { code, .. } => Some(code),
            _ => None,
        }
    }
}

impl From<WrapError> for ClientError {
    fn from(error: WrapError) -> Self {
        match error {
            WrapError::WrongPassphrase => Self::WrongPassphrase,
            other => Self::Wrap(other),
        }
    }
}

impl From<PathDecryptError> for ClientError {
    fn from(error: PathDecryptError) -> Self {
        Self::Undecryptable(error.to_string())
    }
}

/// A client result.
pub type ClientResult<T> = Result<T, ClientError>;

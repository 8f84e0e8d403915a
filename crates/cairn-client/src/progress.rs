//! What the caller of a transfer sees of it and how it stops it: byte counts for a bar,
//! events per file (started, bytes, done, failed) for a front end that lists transfers, and
//! a cancellation token that puts, gets and tree operations honour.

use std::sync::Arc;

use cairn_core::RemotePath;
use tokio_util::sync::CancellationToken;

use crate::error::{ClientError, ClientResult};

/// Sink of one progress figure.
type Sink = Arc<dyn Fn(u64) + Send + Sync>;
/// Sink of file events.
type EventSink = Arc<dyn Fn(Event) + Send + Sync>;

/// Something that happened to one file of a transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The file began to move; `size` plaintext bytes in all.
    Started {
        /// The file.
        path: RemotePath,
        /// Its plaintext bytes.
        size: u64,
    },
    /// `bytes` more of the file moved.
    Bytes {
        /// The file.
        path: RemotePath,
        /// Bytes since the last event.
        bytes: u64,
    },
    /// The file is stored (a put) or written whole (a get).
    Done {
        /// The file.
        path: RemotePath,
    },
    /// The file failed; a tree operation goes on with the rest.
    Failed {
        /// The file.
        path: RemotePath,
        /// What went wrong, for a person.
        error: String,
    },
}

/// Sinks for "this many more bytes are done" and, when a transfer learns it, "this many
/// bytes in all"; optionally events per file and a cancellation token. Cheap to clone,
/// silent by default.
#[derive(Clone, Default)]
pub struct Progress {
    advance: Option<Sink>,
    total: Option<Sink>,
    events: Option<EventSink>,
    /// The file the byte counts belong to, for [`Event::Bytes`].
    file: Option<RemotePath>,
    cancel: Option<CancellationToken>,
}

impl Progress {
    /// Reports bytes done to `sink`.
    pub fn new(sink: impl Fn(u64) + Send + Sync + 'static) -> Self {
        Self {
            advance: Some(Arc::new(sink)),
            ..Self::default()
        }
    }

    /// Also reports the total, once known, to `sink`.
    pub fn with_total(mut self, sink: impl Fn(u64) + Send + Sync + 'static) -> Self {
        self.total = Some(Arc::new(sink));
        self
    }

    /// Also reports each file's [`Event`]s to `sink` (called from the transfer's tasks;
    /// keep it quick, e.g. a channel send).
    pub fn with_events(mut self, sink: impl Fn(Event) + Send + Sync + 'static) -> Self {
        self.events = Some(Arc::new(sink));
        self
    }

    /// Stops the transfer when `token` is cancelled: a put stores nothing (unless its
    /// commit already went out), a get leaves no partial file, a tree operation starts no
    /// more files and ends with [`ClientError::Cancelled`].
    pub fn with_cancel(mut self, token: CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// Reports nothing.
    pub fn silent() -> Self {
        Self::default()
    }

    /// Records `bytes` more done.
    pub fn advance(&self, bytes: u64) {
        if let Some(sink) = &self.advance {
            sink(bytes);
        }
        if let (Some(events), Some(path)) = (&self.events, &self.file) {
            events(Event::Bytes {
                path: path.clone(),
                bytes,
            });
        }
    }

    /// Records that the transfer moves `bytes` in all.
    pub fn set_total(&self, bytes: u64) {
        if let Some(sink) = &self.total {
            sink(bytes);
        }
    }

    /// Whether the caller has cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(CancellationToken::is_cancelled)
    }

    /// Runs `work` until it ends or the caller cancels, whichever is first (dropping the
    /// work, which stops it).
    pub(crate) async fn until_cancelled<T>(
        &self,
        work: impl Future<Output = ClientResult<T>>,
    ) -> ClientResult<T> {
        match &self.cancel {
            None => work.await,
            Some(token) => tokio::select! {
                biased;
                () = token.cancelled() => Err(ClientError::Cancelled),
                result = work => result,
            },
        }
    }

    /// The same sinks, counting bytes for the file at `path`.
    pub(crate) fn for_file(&self, path: &RemotePath) -> Self {
        Self {
            file: Some(path.clone()),
            ..self.clone()
        }
    }

    fn event(&self, event: impl FnOnce(RemotePath) -> Event) {
        if let (Some(events), Some(path)) = (&self.events, &self.file) {
            events(event(path.clone()));
        }
    }

    /// The file (see [`Progress::for_file`]) began to move.
    pub(crate) fn started(&self, size: u64) {
        self.event(|path| Event::Started { path, size });
    }

    /// Reports how the file's transfer ended, and hands the result on.
    pub(crate) fn ended<T>(&self, result: ClientResult<T>) -> ClientResult<T> {
        match &result {
            Ok(_) => self.event(|path| Event::Done { path }),
            Err(error) => self.event(|path| Event::Failed {
                path,
                error: error.to_string(),
            }),
        }
        result
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.advance.is_some() {
            "Progress"
        } else {
            "Progress(silent)"
        })
    }
}

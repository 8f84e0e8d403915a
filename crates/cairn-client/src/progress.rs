//! Progress of long transfers, reported to whoever shows it (a terminal bar, nothing).

use std::sync::Arc;

/// Sink of one progress figure.
type Sink = Arc<dyn Fn(u64) + Send + Sync>;

/// Sinks for "this many more bytes are done" and, when a transfer learns it, "this many
/// bytes in all"; cheap to clone, silent by default.
#[derive(Clone, Default)]
pub struct Progress {
    advance: Option<Sink>,
    total: Option<Sink>,
}

impl Progress {
    /// Reports bytes done to `sink`.
    pub fn new(sink: impl Fn(u64) + Send + Sync + 'static) -> Self {
        Self {
            advance: Some(Arc::new(sink)),
            total: None,
        }
    }

    /// Also reports the total, once known, to `sink`.
    pub fn with_total(mut self, sink: impl Fn(u64) + Send + Sync + 'static) -> Self {
        self.total = Some(Arc::new(sink));
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
    }

    /// Records that the transfer moves `bytes` in all.
    pub fn set_total(&self, bytes: u64) {
        if let Some(sink) = &self.total {
            sink(bytes);
        }
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

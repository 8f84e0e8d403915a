//! Progress of long transfers, reported to whoever shows it (a terminal bar, nothing).

use std::sync::Arc;

/// A sink for "this many more bytes are done"; cheap to clone, silent by default.
#[derive(Clone, Default)]
pub struct Progress(Option<Arc<dyn Fn(u64) + Send + Sync>>);

impl Progress {
    /// Reports to `sink`.
    pub fn new(sink: impl Fn(u64) + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(sink)))
    }

    /// Reports nothing.
    pub fn silent() -> Self {
        Self(None)
    }

    /// Records `bytes` more done.
    pub fn advance(&self, bytes: u64) {
        if let Some(sink) = &self.0 {
            sink(bytes);
        }
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Progress"
        } else {
            "Progress(silent)"
        })
    }
}

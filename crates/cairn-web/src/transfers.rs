//! The transfer panel's source: every upload and download the server runs for the page,
//! with bytes done, speed, state and a cancel switch. The page polls
//! `GET /api/transfers`; uploads keep going if the tab closes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use cairn_client::{ClientResult, Progress};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::state::lock;

/// Which way a transfer goes.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Direction {
    Upload,
    Download,
}

/// Where a transfer is.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", tag = "state", content = "error")]
pub(crate) enum Phase {
    Running,
    Done,
    Failed(String),
    Cancelled,
}

/// One transfer's shared counters.
pub(crate) struct Transfer {
    pub id: u64,
    pub path: String,
    pub direction: Direction,
    pub size: u64,
    done: AtomicU64,
    started: Instant,
    phase: Mutex<(Phase, Option<Instant>)>,
    pub cancel: CancellationToken,
}

impl Transfer {
    /// A progress that counts into this transfer and stops when it is cancelled.
    pub fn progress(self: &Arc<Self>) -> Progress {
        let me = self.clone();
        Progress::new(move |n| {
            me.done.fetch_add(n, Ordering::Relaxed);
        })
        .with_cancel(self.cancel.clone())
    }

    /// Records how the work ended.
    pub fn finish<T>(&self, result: &ClientResult<T>) {
        let phase = match result {
            Ok(_) => Phase::Done,
            Err(_) if self.cancel.is_cancelled() => Phase::Cancelled,
            Err(error) => Phase::Failed(error.to_string()),
        };
        self.end(phase);
    }

    /// Records a failure that did not come from the client (before cancelling the work,
    /// so the reason stands).
    pub fn fail(&self, message: String) {
        let phase = if self.cancel.is_cancelled() {
            Phase::Cancelled
        } else {
            Phase::Failed(message)
        };
        self.end(phase);
    }

    /// The first ending recorded stands: the work's own ending after a cancellation or a
    /// failure found outside it does not overwrite the reason.
    fn end(&self, phase: Phase) {
        let mut current = lock(&self.phase);
        if current.0 == Phase::Running {
            *current = (phase, Some(Instant::now()));
        }
    }

    pub fn is_running(&self) -> bool {
        lock(&self.phase).0 == Phase::Running
    }

    fn view(&self) -> TransferView {
        let (phase, ended) = lock(&self.phase).clone();
        let elapsed = ended
            .unwrap_or_else(Instant::now)
            .duration_since(self.started)
            .as_secs_f64();
        let done = self.done.load(Ordering::Relaxed).min(self.size.max(1));
        TransferView {
            id: self.id,
            path: self.path.clone(),
            direction: self.direction,
            size: self.size,
            done,
            bytes_per_second: if elapsed > 0.05 {
                (done as f64 / elapsed) as u64
            } else {
                0
            },
            phase,
        }
    }
}

/// What the panel shows of a transfer.
#[derive(Debug, Serialize)]
pub(crate) struct TransferView {
    pub id: u64,
    pub path: String,
    pub direction: Direction,
    pub size: u64,
    pub done: u64,
    pub bytes_per_second: u64,
    #[serde(flatten)]
    pub phase: Phase,
}

/// Every transfer of this server's life, newest last; finished ones until cleared.
#[derive(Default)]
pub(crate) struct Registry {
    next: AtomicU64,
    all: Mutex<BTreeMap<u64, Arc<Transfer>>>,
}

impl Registry {
    pub fn begin(&self, path: String, direction: Direction, size: u64) -> Arc<Transfer> {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let transfer = Arc::new(Transfer {
            id,
            path,
            direction,
            size,
            done: AtomicU64::new(0),
            started: Instant::now(),
            phase: Mutex::new((Phase::Running, None)),
            cancel: CancellationToken::new(),
        });
        lock(&self.all).insert(id, transfer.clone());
        transfer
    }

    pub fn get(&self, id: u64) -> Option<Arc<Transfer>> {
        lock(&self.all).get(&id).cloned()
    }

    pub fn views(&self) -> Vec<TransferView> {
        lock(&self.all).values().map(|t| t.view()).collect()
    }

    /// Forgets finished transfers.
    pub fn clear_finished(&self) {
        lock(&self.all).retain(|_, t| t.is_running());
    }
}

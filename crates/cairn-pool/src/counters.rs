//! Running totals of what the pool's background work did, for `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Monotonic counters (Prometheus `counter`s), shared by every loop and handler.
#[derive(Debug, Default)]
pub struct Counters {
    /// Audits a peer answered with a verified slice.
    pub audits_passed: AtomicU64,
    /// Audits a peer answered wrongly or with a missing piece.
    pub audits_failed: AtomicU64,
    /// Peers disqualified after repeated audit failures.
    pub peers_disqualified: AtomicU64,
    /// Corruption reports from clients.
    pub corruption_reports: AtomicU64,
    /// Pieces confirmed damaged (by an audit) and marked so.
    pub pieces_marked_corrupt: AtomicU64,
    /// Repair jobs handed to peers.
    pub repairs_dispatched: AtomicU64,
    /// Repair jobs whose report restored every piece asked for.
    pub repairs_completed: AtomicU64,
    /// Repair jobs that failed, fell short or timed out.
    pub repairs_failed: AtomicU64,
    /// Pieces rebuilt and recorded by repairs.
    pub pieces_rebuilt: AtomicU64,
    /// Bytes of those pieces.
    pub bytes_rebuilt: AtomicU64,
    /// Migration jobs handed to peers.
    pub migrations_dispatched: AtomicU64,
    /// Migration jobs that moved their piece.
    pub migrations_completed: AtomicU64,
    /// Migration jobs that failed or timed out.
    pub migrations_failed: AtomicU64,
    /// Pieces moved by migrations.
    pub pieces_migrated: AtomicU64,
    /// Bytes of those pieces.
    pub bytes_migrated: AtomicU64,
    /// Draining peers that finished leaving.
    pub peers_left: AtomicU64,
}

impl Counters {
    /// Adds `n` to `counter`.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Every counter as `(metric name, help, value)`.
    pub fn samples(&self) -> Vec<(&'static str, &'static str, u64)> {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        vec![
            (
                "cairn_audits_passed_total",
                "Audits answered with a verified slice.",
                get(&self.audits_passed),
            ),
            (
                "cairn_audits_failed_total",
                "Audits answered wrongly or with a missing piece.",
                get(&self.audits_failed),
            ),
            (
                "cairn_peers_disqualified_total",
                "Peers disqualified after repeated audit failures.",
                get(&self.peers_disqualified),
            ),
            (
                "cairn_corruption_reports_total",
                "Damaged-piece reports from clients.",
                get(&self.corruption_reports),
            ),
            (
                "cairn_pieces_marked_corrupt_total",
                "Pieces confirmed damaged.",
                get(&self.pieces_marked_corrupt),
            ),
            (
                "cairn_repairs_dispatched_total",
                "Repair jobs handed to peers.",
                get(&self.repairs_dispatched),
            ),
            (
                "cairn_repairs_completed_total",
                "Repair jobs that restored every piece asked for.",
                get(&self.repairs_completed),
            ),
            (
                "cairn_repairs_failed_total",
                "Repair jobs that failed, fell short or timed out.",
                get(&self.repairs_failed),
            ),
            (
                "cairn_pieces_rebuilt_total",
                "Pieces rebuilt and recorded by repairs.",
                get(&self.pieces_rebuilt),
            ),
            (
                "cairn_bytes_rebuilt_total",
                "Bytes of pieces rebuilt by repairs.",
                get(&self.bytes_rebuilt),
            ),
        ]
    }
}

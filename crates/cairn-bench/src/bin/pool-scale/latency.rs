//! What one kind of request did in a phase: how many succeeded, how many were refused or
//! failed (by reason), and every success's latency, summarised as percentiles.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// Outcomes of one kind of request, as a worker records them.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Latency of each success, microseconds.
    micros: Vec<u32>,
    /// Failures by reason (`429 rate_limited`, `transport`, ...).
    errors: BTreeMap<String, u64>,
}

impl Tally {
    /// Records a success that took `took`.
    pub fn ok(&mut self, took: Duration) {
        self.micros
            .push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
    }

    /// Records a failure for `reason`.
    pub fn failed(&mut self, reason: String) {
        *self.errors.entry(reason).or_default() += 1;
    }

    /// Adds another worker's tally to this one.
    pub fn merge(&mut self, other: Self) {
        self.micros.extend(other.micros);
        for (reason, n) in other.errors {
            *self.errors.entry(reason).or_default() += n;
        }
    }

    /// The summary of `kind` over a phase of `seconds`.
    pub fn summary(mut self, kind: &str, seconds: f64) -> KindSummary {
        self.micros.sort_unstable();
        let at = |q: f64| percentile(&self.micros, q);
        let ok = self.micros.len() as u64;
        KindSummary {
            kind: kind.to_owned(),
            ok,
            errors: self.errors,
            per_second: if seconds > 0.0 {
                ok as f64 / seconds
            } else {
                0.0
            },
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            max_ms: self.micros.last().map_or(0.0, |m| f64::from(*m) / 1e3),
        }
    }
}

/// The `q` quantile (nearest rank) of sorted microseconds, in milliseconds; 0 when empty.
fn percentile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    f64::from(sorted[index]) / 1e3
}

/// One kind of request over one phase.
#[derive(Debug, Clone, Serialize)]
pub struct KindSummary {
    /// `register`, `heartbeat`, `begin`, `place`, `commit`, `heartbeat (bg)`.
    pub kind: String,
    /// Requests that succeeded.
    pub ok: u64,
    /// Requests that did not, by reason.
    pub errors: BTreeMap<String, u64>,
    /// Successes per second of the phase.
    pub per_second: f64,
    /// Latency percentiles of the successes, milliseconds.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

impl KindSummary {
    /// Failed requests of every reason.
    pub fn failed(&self) -> u64 {
        self.errors.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut tally = Tally::default();
        for ms in 1..=100u64 {
            tally.ok(Duration::from_millis(ms));
        }
        tally.failed("transport".into());
        let summary = tally.summary("heartbeat", 10.0);
        assert_eq!(summary.ok, 100);
        assert_eq!(summary.failed(), 1);
        assert_eq!(summary.per_second, 10.0);
        assert_eq!(summary.p50_ms, 50.0);
        assert_eq!(summary.p90_ms, 90.0);
        assert_eq!(summary.p99_ms, 99.0);
        assert_eq!(summary.max_ms, 100.0);
    }

    #[test]
    fn an_empty_tally_reports_zeros() {
        let summary = Tally::default().summary("place", 0.0);
        assert_eq!(
            (summary.ok, summary.p99_ms, summary.per_second),
            (0, 0.0, 0.0)
        );
    }

    #[test]
    fn merging_keeps_every_sample_and_reason() {
        let mut a = Tally::default();
        a.ok(Duration::from_millis(1));
        a.failed("429 rate_limited".into());
        let mut b = Tally::default();
        b.ok(Duration::from_millis(3));
        b.failed("429 rate_limited".into());
        a.merge(b);
        let summary = a.summary("begin", 1.0);
        assert_eq!(summary.ok, 2);
        assert_eq!(summary.errors.get("429 rate_limited"), Some(&2));
        assert_eq!(summary.max_ms, 3.0);
    }
}

//! The figures a run produces and how they are shown: a table for people, one JSON object
//! for scripts.

use std::fmt::Write as _;

use serde::Serialize;

use crate::costs::QueryCost;
use crate::latency::KindSummary;
use crate::seed::Seeding;

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The run's size and settings.
    pub scale: ScaleReport,
    /// How the records were filled.
    pub seeding: SeedingReport,
    /// What the pool says it holds.
    pub records: Records,
    /// Store calls timed alone on the seeded records.
    pub store_costs: Vec<QueryCost>,
    /// Each phase, in order.
    pub phases: Vec<Phase>,
    /// The process's peak resident set (pool and simulation together), MiB.
    pub peak_rss_mib: f64,
}

/// The run's size and settings.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleReport {
    /// Simulated peers.
    pub peers: usize,
    /// Accounts owning the seeded objects; uploaders use the first ones.
    pub accounts: usize,
    /// Concurrent requests of the peer workloads.
    pub connections: usize,
    /// Accounts uploading at once.
    pub uploaders: usize,
    /// Seconds of each timed phase.
    pub phase_seconds: f64,
    /// The redundancy uploads ask for.
    pub redundancy: String,
    /// The pool's heartbeat interval, seconds, which paces its repair checker and
    /// rebalancer too.
    pub pool_interval_s: f64,
    /// How often each peer heartbeats in the background of the upload phases, seconds.
    pub beat_every_s: f64,
    /// Logical CPUs of the machine.
    pub cpus: usize,
}

/// How the records were filled.
#[derive(Debug, Clone, Serialize)]
pub struct SeedingReport {
    /// What the data directory was seeded with.
    #[serde(flatten)]
    pub seeding: Seeding,
    /// Whether an earlier run's records were measured again (`--data`).
    pub reused: bool,
    /// Seconds putting every peer in the registry took (the store, one transaction each).
    pub registry_seconds: f64,
}

/// What the pool's own API reports about its records.
#[derive(Debug, Clone, Serialize)]
pub struct Records {
    /// `cairn_pieces` from `/metrics` once every peer registered.
    pub pieces_before: u64,
    /// `cairn_pieces` after the last phase.
    pub pieces_after: u64,
    /// Committed objects (`GET /v1/status`) before the phases.
    pub objects_before: u64,
    /// Peers `online` in `GET /v1/status` once every peer registered.
    pub peers_online: usize,
    /// Every peer state in that answer, with its count.
    pub peer_states: std::collections::BTreeMap<String, usize>,
    /// Peers that answer showed `suspect`, `offline` or `lost` although their last
    /// heartbeat or registration was more recent than the timers allow for that.
    pub down_though_heard: usize,
    /// How long that `GET /v1/status` took, ms.
    pub status_ms: f64,
    /// Bytes of its answer.
    pub status_bytes: usize,
    /// How long the `GET /metrics` took, ms.
    pub metrics_ms: f64,
}

/// One phase.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    /// `register`, `heartbeats`, `place`, `commit`.
    pub name: String,
    /// What ran.
    pub what: String,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Each kind of request.
    pub requests: Vec<KindSummary>,
    /// CPU seconds of the pool's threads.
    pub pool_cpu_s: f64,
    /// CPU seconds of every other thread (simulated peers and clients).
    pub harness_cpu_s: f64,
}

impl Phase {
    /// The pool's CPU milliseconds per successful request of the phase.
    pub fn pool_cpu_ms_per_request(&self) -> f64 {
        let ok: u64 = self.requests.iter().map(|r| r.ok).sum();
        if ok == 0 {
            return 0.0;
        }
        self.pool_cpu_s * 1e3 / ok as f64
    }
}

fn ms(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

impl Report {
    /// The report as a plain-text table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let s = &self.scale;
        let seed = &self.seeding.seeding;
        let _ = writeln!(
            out,
            "Pool scale: {} peers, {} pieces recorded ({} segments of {}, {} accounts); {} connections, {} uploaders asking {}, {:.0} s phases, {} CPUs; pool heartbeat interval {:.0} s (paces the repair checker and rebalancer), background heartbeats every {:.0} s",
            s.peers,
            self.records.pieces_before,
            seed.objects,
            seed.redundancy,
            s.accounts,
            s.connections,
            s.uploaders,
            s.redundancy,
            s.phase_seconds,
            s.cpus,
            s.pool_interval_s,
            s.beat_every_s
        );
        let _ = writeln!(
            out,
            "Seeding: {} through the pool's SqliteStore in {:.1} s ({:.0} pieces/s); registry of {} peers in {:.1} s",
            if self.seeding.reused {
                "reused from an earlier run (--data), originally"
            } else {
                "one object of one segment at a time"
            },
            seed.seconds,
            seed.pieces as f64 / seed.seconds.max(1e-9),
            s.peers,
            self.seeding.registry_seconds
        );
        let r = &self.records;
        let _ = writeln!(
            out,
            "Records: /metrics cairn_pieces {} before, {} after; {} objects; peers {:?} of {} ({} down though just heard from); GET /v1/status {} ms ({} KiB), GET /metrics {} ms\n",
            r.pieces_before,
            r.pieces_after,
            r.objects_before,
            r.peer_states,
            s.peers,
            r.down_though_heard,
            ms(r.status_ms),
            r.status_bytes / 1024,
            ms(r.metrics_ms)
        );
        let _ = writeln!(
            out,
            "{:<11} {:<16} {:>8} {:>6} {:>9} {:>8} {:>8} {:>8} {:>8}",
            "phase", "request", "ok", "failed", "per s", "p50 ms", "p90 ms", "p99 ms", "max ms"
        );
        for phase in &self.phases {
            for (i, k) in phase.requests.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "{:<11} {:<16} {:>8} {:>6} {:>9.1} {:>8} {:>8} {:>8} {:>8}",
                    if i == 0 { phase.name.as_str() } else { "" },
                    k.kind,
                    k.ok,
                    k.failed(),
                    k.per_second,
                    ms(k.p50_ms),
                    ms(k.p90_ms),
                    ms(k.p99_ms),
                    ms(k.max_ms)
                );
            }
        }
        let _ = writeln!(
            out,
            "\n{:<11} {:>8} {:>10} {:>13} {:>16}  what ran",
            "phase", "seconds", "pool CPU s", "harness CPU s", "pool CPU ms/req"
        );
        for phase in &self.phases {
            let _ = writeln!(
                out,
                "{:<11} {:>8.1} {:>10.1} {:>13.1} {:>16}  {}",
                phase.name,
                phase.seconds,
                phase.pool_cpu_s,
                phase.harness_cpu_s,
                ms(phase.pool_cpu_ms_per_request()),
                phase.what
            );
        }
        let failures: Vec<String> = (self.phases.iter())
            .flat_map(|p| p.requests.iter().map(move |k| (p, k)))
            .flat_map(|(p, k)| {
                k.errors
                    .iter()
                    .map(move |(why, n)| format!("  {} {}: {n} × {why}", p.name, k.kind))
            })
            .collect();
        if !failures.is_empty() {
            let _ = writeln!(out, "\nFailures:\n{}", failures.join("\n"));
        }
        let _ = writeln!(
            out,
            "\n{:<28} {:>9}  made by",
            "store call, alone", "median ms"
        );
        for cost in &self.store_costs {
            let _ = writeln!(
                out,
                "{:<28} {:>9}  {}",
                cost.call,
                ms(cost.ms),
                cost.made_by
            );
        }
        let _ = writeln!(
            out,
            "\nPeak resident set (pool and simulation, one process): {:.0} MiB",
            self.peak_rss_mib
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_cpu_is_shared_over_successful_requests() {
        let mut tally = crate::latency::Tally::default();
        for _ in 0..4 {
            tally.ok(std::time::Duration::from_millis(1));
        }
        let phase = Phase {
            name: "heartbeats".into(),
            what: "every peer".into(),
            seconds: 1.0,
            requests: vec![tally.summary("heartbeat", 1.0)],
            pool_cpu_s: 0.002,
            harness_cpu_s: 0.0,
        };
        assert!((phase.pool_cpu_ms_per_request() - 0.5).abs() < 1e-9);
        let idle = Phase {
            requests: vec![],
            ..phase
        };
        assert_eq!(idle.pool_cpu_ms_per_request(), 0.0);
    }

    #[test]
    fn milliseconds_keep_three_significant_digits() {
        assert_eq!(ms(0.123), "0.12");
        assert_eq!(ms(12.34), "12.3");
        assert_eq!(ms(1234.4), "1234");
    }
}

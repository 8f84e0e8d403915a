//! The figures a run produces and how they are shown: a table for people, one JSON object
//! for scripts. Everything here is pure, so it is unit-tested.

use serde::Serialize;

/// Decimal megabytes per second (as `docs/performance.md` reports throughput).
pub fn mb_per_s(bytes: u64, seconds: f64) -> f64 {
    if seconds <= 0.0 {
        return f64::INFINITY;
    }
    bytes as f64 / 1e6 / seconds
}

/// Items (files) per second.
pub fn per_s(count: u64, seconds: f64) -> f64 {
    if seconds <= 0.0 {
        return f64::INFINITY;
    }
    count as f64 / seconds
}

/// How many times the floor's time Cairn took: 1 is as fast as the disk allows.
pub fn ratio(seconds: f64, floor_seconds: f64) -> f64 {
    if floor_seconds <= 0.0 {
        return f64::INFINITY;
    }
    seconds / floor_seconds
}

/// A ratio as the table shows it: `3.4×`, with more digits below 10.
pub fn format_ratio(ratio: f64) -> String {
    if !ratio.is_finite() {
        "—".to_owned()
    } else if ratio < 10.0 {
        format!("{ratio:.2}×")
    } else {
        format!("{ratio:.1}×")
    }
}

/// A size in binary units, as the benchmark names its files (`100 MiB`, `1 GiB`, `4 KiB`).
pub fn format_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{} {unit}", bytes / size);
        }
    }
    format!("{bytes} B")
}

/// A duration for the table: milliseconds below 1 s, else seconds.
pub fn format_seconds(seconds: f64) -> String {
    if seconds < 1.0 {
        format!("{:.1} ms", seconds * 1e3)
    } else {
        format!("{seconds:.2} s")
    }
}

/// Thousands separated by commas, as the docs write figures (`1,234.5`).
pub fn format_number(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    let (whole, fraction) = match text.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (text.as_str(), None),
    };
    let (sign, digits) = match whole.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", whole),
    };
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match fraction {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// The peak resident memory in bytes from a `/proc/<pid>/status` text (its `VmHWM` line).
pub fn parse_vmhwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let mut words = line["VmHWM:".len()..].split_whitespace();
    let value: u64 = words.next()?.parse().ok()?;
    match words.next()? {
        "kB" => value.checked_mul(1024),
        _ => None,
    }
}

/// What a throughput figure counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Decimal megabytes per second.
    MbPerS,
    /// Files per second.
    FilesPerS,
}

/// One timed transfer (a put or a get) and its floor.
#[derive(Debug, Clone, Serialize)]
pub struct Transfer {
    /// What was measured, e.g. `put 1 GiB file`.
    pub name: String,
    /// Plaintext bytes moved.
    pub bytes: u64,
    /// Files moved.
    pub files: u64,
    /// Wall-clock seconds Cairn took.
    pub seconds: f64,
    /// How the rate is counted.
    pub unit: Unit,
    /// The rate: MB/s or files/s, per `unit`.
    pub rate: f64,
    /// Seconds the floor took for the same bytes.
    pub floor_seconds: f64,
    /// The floor's rate, in the same unit.
    pub floor_rate: f64,
    /// `seconds / floor_seconds`.
    pub ratio: f64,
}

impl Transfer {
    /// A transfer of `files` files holding `bytes` in `seconds`, against a floor.
    pub fn new(
        name: String,
        bytes: u64,
        files: u64,
        seconds: f64,
        floor_seconds: f64,
        unit: Unit,
    ) -> Self {
        let rate = |s| match unit {
            Unit::MbPerS => mb_per_s(bytes, s),
            Unit::FilesPerS => per_s(files, s),
        };
        Self {
            name,
            bytes,
            files,
            seconds,
            unit,
            rate: rate(seconds),
            floor_seconds,
            floor_rate: rate(floor_seconds),
            ratio: ratio(seconds, floor_seconds),
        }
    }
}

/// One timed request with no floor (listing, time to first byte).
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// What was measured.
    pub name: String,
    /// The median of the tries, in seconds.
    pub seconds: f64,
    /// How many tries the median is of.
    pub tries: usize,
}

/// One run of the `cairn` binary as a child process.
#[derive(Debug, Clone, Serialize)]
pub struct ChildRun {
    /// The command, e.g. `cairn put`.
    pub name: String,
    /// Plaintext bytes moved.
    pub bytes: u64,
    /// Wall-clock seconds, start of the process to its exit.
    pub seconds: f64,
    /// Decimal MB/s.
    pub rate: f64,
    /// Peak resident memory (`VmHWM`), in bytes.
    pub peak_rss: u64,
}

/// The pool's store lost and the account's records given back from its ledger, beside
/// putting the same files.
#[derive(Debug, Clone, Serialize)]
pub struct Recovery {
    /// Records given back.
    pub records: usize,
    /// Ledger entries read.
    pub entries: usize,
    /// Seconds from `recover` called to every record back.
    pub seconds: f64,
    /// Seconds the puts of the same files took, in this run.
    pub put_seconds: f64,
    /// `seconds / put_seconds`.
    pub ratio: f64,
}

/// Every figure of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Whether this was a `--quick` smoke run.
    pub quick: bool,
    /// The redundancy used, e.g. `ec:4+2`.
    pub redundancy: String,
    /// Peers in the network.
    pub peers: usize,
    /// Plaintext bytes per segment.
    pub segment_size: u32,
    /// Puts and gets through the client library.
    pub transfers: Vec<Transfer>,
    /// Listing and time to first byte.
    pub latencies: Vec<Latency>,
    /// The `cairn` binary's puts and gets with their peak memory.
    pub child_runs: Vec<ChildRun>,
    /// Recovery after the pool lost its store.
    pub recovery: Option<Recovery>,
}

impl Report {
    /// The table printed on standard output.
    pub fn table(&self) -> String {
        let mut out = format!(
            "Cairn end to end: {} peers on loopback, {}, {} segments{}\n\n",
            self.peers,
            self.redundancy,
            format_size(u64::from(self.segment_size)),
            if self.quick { " (--quick)" } else { "" }
        );
        out.push_str("| measure | Cairn | time | floor | × floor |\n|---|---|---|---|---|\n");
        for t in &self.transfers {
            let unit = match t.unit {
                Unit::MbPerS => "MB/s",
                Unit::FilesPerS => "files/s",
            };
            out.push_str(&format!(
                "| {} | {} {unit} | {} | {} {unit} | {} |\n",
                t.name,
                format_number(t.rate, 1),
                format_seconds(t.seconds),
                format_number(t.floor_rate, 1),
                format_ratio(t.ratio),
            ));
        }
        for l in &self.latencies {
            out.push_str(&format!(
                "| {} (median of {}) | — | {} | — | — |\n",
                l.name,
                l.tries,
                format_seconds(l.seconds)
            ));
        }
        if !self.child_runs.is_empty() {
            out.push_str("\n| `cairn` process | MB/s | time | peak RSS |\n|---|---|---|---|\n");
            for c in &self.child_runs {
                out.push_str(&format!(
                    "| {} | {} | {} | {} MiB |\n",
                    c.name,
                    format_number(c.rate, 1),
                    format_seconds(c.seconds),
                    format_number(c.peak_rss as f64 / f64::from(1u32 << 20), 1),
                ));
            }
        }
        if let Some(r) = &self.recovery {
            out.push_str(&format!(
                "\nAfter the pool lost its store: {} records given back from {} ledger entries in {}, \
                 {} of the {} their puts took.\n",
                r.records,
                r.entries,
                format_seconds(r.seconds),
                format_ratio(r.ratio),
                format_seconds(r.put_seconds),
            ));
        }
        out.push_str(
            "\nfloor, put: read the source files + write (k+m)/k of their bytes with fsync.\n\
             floor, get: read k/k of the bytes (the data fragments) + write the files with fsync.\n\
             × floor: Cairn's time / the floor's time (1 = as fast as this disk allows).\n",
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn megabytes_are_decimal() {
        assert!((mb_per_s(100_000_000, 2.0) - 50.0).abs() < 1e-9);
        assert!((mb_per_s(1 << 30, 1.0) - 1073.741824).abs() < 1e-9);
        assert!(mb_per_s(1, 0.0).is_infinite());
    }

    #[test]
    fn ratio_is_cairn_over_floor() {
        assert!((ratio(3.0, 1.5) - 2.0).abs() < 1e-12);
        assert_eq!(format_ratio(2.0), "2.00×");
        assert_eq!(format_ratio(12.345), "12.3×");
        assert_eq!(format_ratio(ratio(1.0, 0.0)), "—");
    }

    #[test]
    fn transfer_rates_follow_the_unit() {
        let t = Transfer::new(
            "put tree".into(),
            4096 * 1000,
            1000,
            2.0,
            0.5,
            Unit::FilesPerS,
        );
        assert!((t.rate - 500.0).abs() < 1e-9);
        assert!((t.floor_rate - 2000.0).abs() < 1e-9);
        assert!((t.ratio - 4.0).abs() < 1e-12);
    }

    #[test]
    fn sizes_and_numbers_read_as_in_the_docs() {
        assert_eq!(format_size(100 << 20), "100 MiB");
        assert_eq!(format_size(1 << 30), "1 GiB");
        assert_eq!(format_size(4096), "4 KiB");
        assert_eq!(format_size(1000), "1000 B");
        assert_eq!(format_number(1234567.891, 1), "1,234,567.9");
        assert_eq!(format_number(999.0, 0), "999");
        assert_eq!(format_number(-1234.5, 1), "-1,234.5");
        assert_eq!(format_seconds(0.0123), "12.3 ms");
        assert_eq!(format_seconds(3.2352), "3.24 s");
    }

    #[test]
    fn vmhwm_is_read_in_bytes() {
        let status = "Name:\tcairn\nVmPeak:\t  300 kB\nVmHWM:\t   123456 kB\nVmRSS:\t 1 kB\n";
        assert_eq!(parse_vmhwm(status), Some(123_456 * 1024));
        assert_eq!(parse_vmhwm("Name:\tzombie\nState:\tZ\n"), None);
        assert_eq!(parse_vmhwm("VmHWM:\t12 MB\n"), None);
    }
}

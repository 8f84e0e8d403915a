//! Where this process's CPU time goes: the pool runs on a runtime of its own whose threads
//! (workers and blocking threads, where SQLite runs) are all named [`POOL_THREADS`], so
//! per-thread CPU time from `/proc/self/task/*/schedstat` splits the pool's work from the
//! simulated peers' and clients'. Linux only; elsewhere every figure reads zero.

use std::fs;

/// The name of every thread of the pool's runtime.
pub const POOL_THREADS: &str = "cairn-pool";

/// CPU time used so far, seconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTime {
    /// By the pool's threads.
    pub pool: f64,
    /// By every other thread (the simulated peers and clients, the harness).
    pub harness: f64,
}

impl CpuTime {
    /// CPU time of every live thread of this process now.
    pub fn now() -> Self {
        let mut total = Self::default();
        let Ok(tasks) = fs::read_dir("/proc/self/task") else {
            return total;
        };
        for task in tasks.flatten() {
            let dir = task.path();
            let (Ok(name), Ok(stat)) = (
                fs::read_to_string(dir.join("comm")),
                fs::read_to_string(dir.join("schedstat")),
            ) else {
                continue;
            };
            // The first field is nanoseconds spent running.
            let Some(ns) = stat
                .split_whitespace()
                .next()
                .and_then(|f| f.parse::<u64>().ok())
            else {
                continue;
            };
            let seconds = ns as f64 / 1e9;
            if name.trim_end() == POOL_THREADS {
                total.pool += seconds;
            } else {
                total.harness += seconds;
            }
        }
        total
    }

    /// CPU time used since `earlier`.
    pub fn since(self, earlier: Self) -> Self {
        Self {
            pool: (self.pool - earlier.pool).max(0.0),
            harness: (self.harness - earlier.harness).max(0.0),
        }
    }
}

/// A `kB` field of `/proc/self/status` in MiB (`VmHWM` is the peak resident set).
pub fn status_mib(field: &str) -> f64 {
    let Ok(status) = fs::read_to_string("/proc/self/status") else {
        return 0.0;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_resident_set_and_cpu_time() {
        if !std::path::Path::new("/proc/self/status").exists() {
            return;
        }
        assert!(status_mib("VmHWM") > 0.0);
        assert!(status_mib("VmRSS") > 0.0);
        assert_eq!(status_mib("NoSuchField"), 0.0);
        let before = CpuTime::now();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(CpuTime::now().since(before).harness >= 0.0);
    }
}

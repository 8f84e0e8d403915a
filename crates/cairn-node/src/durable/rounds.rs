//! `syncfs` rounds shared by the threads of one process: a writer that asks while a round
//! is running on its filesystem waits for the next round, which one of the waiters runs
//! for all of them. Only a round that *starts* after a caller asked covers what the caller
//! wrote, and a caller returns only once such a round has succeeded. (The six peers of
//! `cairn local` share one disk: their groups become durable in two rounds, not six.)

use std::collections::HashMap;
use std::io;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};

/// One filesystem's rounds, numbered from 1.
#[derive(Debug, Default, Clone, Copy)]
struct Rounds {
    /// The last round started.
    started: u64,
    /// The last round finished (well or not).
    finished: u64,
    /// The last round that finished well.
    succeeded: u64,
    running: bool,
}

/// Every filesystem's rounds, by device number, and the signal that one finished.
#[derive(Default)]
pub(super) struct Shared {
    rounds: Mutex<HashMap<u64, Rounds>>,
    finished: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Rounds>> {
        // The map holds plain counters; a panic elsewhere leaves it consistent.
        self.rounds.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Returns once a round of `sync` that started after this call has succeeded on
    /// filesystem `dev`, running it here if no other caller is.
    pub(super) fn sync(&self, dev: u64, sync: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
        let mut rounds = self.lock();
        let needed = rounds.entry(dev).or_default().started + 1;
        loop {
            let state = *rounds.entry(dev).or_default();
            if state.succeeded >= needed {
                return Ok(());
            }
            if !state.running {
                let mine = state.started + 1;
                rounds.insert(
                    dev,
                    Rounds {
                        started: mine,
                        running: true,
                        ..state
                    },
                );
                drop(rounds);
                let result = sync();
                let mut rounds = self.lock();
                let state = rounds.entry(dev).or_default();
                state.running = false;
                state.finished = mine;
                if result.is_ok() {
                    state.succeeded = mine;
                }
                drop(rounds);
                self.finished.notify_all();
                return result;
            }
            rounds = self
                .finished
                .wait(rounds)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// The process's rounds.
pub(super) fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(Shared::default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    /// How long a test waits for a signal from another thread before failing.
    const DEADLINE: Duration = Duration::from_secs(10);

    #[test]
    fn every_caller_is_covered_by_a_round_that_started_after_it_asked() {
        let shared = Arc::new(Shared::default());
        // Each round: when it started and ended.
        let runs = Arc::new(Mutex::new(Vec::<(Instant, Instant)>::new()));
        let record = |runs: &Arc<Mutex<Vec<(Instant, Instant)>>>, start: Instant| {
            runs.lock().unwrap().push((start, Instant::now()));
        };
        // The first caller's round holds until the others have asked, so they ask while a
        // round is running (which must not cover them).
        let (started, round_running) = mpsc::channel();
        let (release, hold) = mpsc::channel::<()>();
        let first = {
            let (shared, runs) = (shared.clone(), runs.clone());
            std::thread::spawn(move || {
                let asked = Instant::now();
                shared
                    .sync(7, || {
                        let start = Instant::now();
                        started.send(()).unwrap();
                        hold.recv_timeout(DEADLINE).unwrap();
                        record(&runs, start);
                        Ok(())
                    })
                    .unwrap();
                (asked, Instant::now())
            })
        };
        round_running.recv_timeout(DEADLINE).unwrap();
        let (asking, asked) = mpsc::channel();
        let others: Vec<_> = (0..7)
            .map(|_| {
                let (shared, runs, asking) = (shared.clone(), runs.clone(), asking.clone());
                std::thread::spawn(move || {
                    let at = Instant::now();
                    asking.send(()).unwrap();
                    shared
                        .sync(7, || {
                            record(&runs, Instant::now());
                            Ok(())
                        })
                        .unwrap();
                    (at, Instant::now())
                })
            })
            .collect();
        for _ in 0..7 {
            asked.recv_timeout(DEADLINE).unwrap();
        }
        release.send(()).unwrap();
        let calls: Vec<_> = std::iter::once(first)
            .chain(others)
            .map(|c| c.join().unwrap())
            .collect();
        let runs = runs.lock().unwrap();
        for (asked, returned) in &calls {
            assert!(
                runs.iter()
                    .any(|(start, end)| start >= asked && end <= returned),
                "a caller returned without a round that started after it asked"
            );
        }
        // Rounds never overlap on one filesystem.
        let mut sorted = runs.clone();
        sorted.sort();
        assert!(sorted.windows(2).all(|w| w[0].1 <= w[1].0));
    }

    /// Whether a call on `dev` ran a round of its own.
    fn runs_its_own(shared: &Shared, dev: u64) -> bool {
        let mut ran = false;
        shared
            .sync(dev, || {
                ran = true;
                Ok(())
            })
            .unwrap();
        ran
    }

    #[test]
    fn a_failed_round_covers_nobody_and_the_next_caller_runs_its_own() {
        let shared = Shared::default();
        let failed = shared.sync(3, || Err(io::Error::other("disk gone")));
        assert!(failed.is_err());
        assert!(
            runs_its_own(&shared, 3),
            "a failed round was taken as covering a later caller"
        );
        // Another filesystem has rounds of its own.
        assert!(runs_its_own(&shared, 4));
    }
}

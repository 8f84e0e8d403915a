//! Calls that travel together: while a request for one key (a pool, a peer) is out, the
//! calls for that key that arrive wait, and the next request carries them (as many as the
//! batcher's `take` allows). There is no timer: a call that finds no request out goes at
//! once, alone, so one call's latency is unchanged. The sender is a task of its own, so a
//! caller that stops waiting strands nobody; a sender that stops early (a panic, its runtime
//! shutting down) fails the calls still waiting, and the next call starts a sender afresh.
//!
//! The client's begins and commits to the pool and the small pieces bound for one peer both
//! go through this one queue.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

/// Why a call got no answer of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// The sender carrying the call stopped (a panic, or its runtime shutting down) before
    /// answering it.
    #[error("the request carrying this call stopped before answering")]
    Stopped,
    /// The send function gave fewer answers than the calls it was given.
    #[error("fewer answers than the {sent} calls sent")]
    Short {
        /// Calls in the batch that came back short.
        sent: usize,
    },
}

/// How many of the oldest waiting calls one request carries (at least one is always sent).
pub type Take<I> = Box<dyn Fn(&[I]) -> usize + Send + Sync>;

type Reply<A> = oneshot::Sender<Result<A, BatchError>>;

/// One key's waiting calls, and whether a sender is working through them.
struct Queue<I, A> {
    calls: Vec<I>,
    replies: Vec<Reply<A>>,
    sending: bool,
}

/// Calls gathered into batches, one queue (and at most one sender) per key.
pub struct Batcher<K, I, A> {
    queues: Mutex<HashMap<K, Queue<I, A>>>,
    take: Take<I>,
}

impl<K, I, A> std::fmt::Debug for Batcher<K, I, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Batcher")
    }
}

impl<K, I, A> Batcher<K, I, A>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    I: Send + 'static,
    A: Send + 'static,
{
    /// A batcher whose requests carry the `take(waiting)` oldest waiting calls.
    pub fn new(take: impl Fn(&[I]) -> usize + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self {
            queues: Mutex::new(HashMap::new()),
            take: Box::new(take),
        })
    }

    /// A batcher whose requests carry at most `most` calls.
    pub fn up_to(most: usize) -> Arc<Self> {
        Self::new(move |waiting| waiting.len().min(most))
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, Queue<I, A>>> {
        // A panic while holding the lock leaves the queues usable (calls only move in and out).
        self.queues
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Makes `call` for `key` with whatever other calls for it are waiting. If no sender is
    /// working on `key`, one starts with `send`, which is given each batch and answers each
    /// of its calls in order.
    pub async fn call<S, F>(self: &Arc<Self>, key: K, call: I, send: S) -> Result<A, BatchError>
    where
        S: FnMut(Vec<I>) -> F + Send + 'static,
        F: Future<Output = Vec<A>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut queues = self.lock();
            let queue = queues.entry(key.clone()).or_insert_with(|| Queue {
                calls: Vec::new(),
                replies: Vec::new(),
                sending: false,
            });
            queue.calls.push(call);
            queue.replies.push(reply);
            !std::mem::replace(&mut queue.sending, true)
        };
        if start {
            tokio::spawn(self.clone().send_waiting(key, send));
        }
        // A reply dropped unanswered means its sender stopped.
        answer.await.unwrap_or(Err(BatchError::Stopped))
    }

    /// Sends what waits for `key`, a request at a time, until nothing does.
    async fn send_waiting<S, F>(self: Arc<Self>, key: K, mut send: S)
    where
        S: FnMut(Vec<I>) -> F + Send + 'static,
        F: Future<Output = Vec<A>> + Send + 'static,
    {
        let mut armed = Armed {
            batcher: &self,
            key: &key,
            armed: true,
        };
        loop {
            let (calls, replies) = {
                let mut queues = self.lock();
                let Some(queue) = queues.get_mut(&key) else {
                    armed.armed = false;
                    return;
                };
                if queue.calls.is_empty() {
                    // An idle key keeps no queue; its next call starts a sender afresh.
                    queues.remove(&key);
                    armed.armed = false;
                    return;
                }
                let take = (self.take)(&queue.calls).clamp(1, queue.calls.len());
                let calls: Vec<I> = queue.calls.drain(..take).collect();
                let replies: Vec<Reply<A>> = queue.replies.drain(..take).collect();
                (calls, replies)
            };
            let sent = calls.len();
            let mut answers = send(calls).await.into_iter();
            for reply in replies {
                let _ = reply.send(answers.next().ok_or(BatchError::Short { sent }));
            }
        }
    }

    /// Keys with a queue (waiting calls or a sender at work).
    #[cfg(test)]
    fn busy_keys(&self) -> usize {
        self.lock().len()
    }
}

/// Armed while a sender works: if it stops before its queue is empty, the calls still
/// waiting hear so ([`BatchError::Stopped`]) and the next call starts a sender afresh.
struct Armed<'a, K: Eq + Hash, I, A> {
    batcher: &'a Batcher<K, I, A>,
    key: &'a K,
    armed: bool,
}

impl<K: Eq + Hash, I, A> Drop for Armed<'_, K, I, A> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let stranded = self
            .batcher
            .queues
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(self.key);
        // Dropping a reply tells its caller the request carrying it was lost.
        drop(stranded);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::future::join_all;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Records batch sizes and answers each call with its double, a moment later.
    fn doubler(batches: &Arc<Mutex<Vec<usize>>>) -> impl FnMut(Vec<u32>) -> BoxedAnswers + use<> {
        let batches = batches.clone();
        move |calls| {
            batches.lock().unwrap().push(calls.len());
            Box::pin(async move {
                tokio::task::yield_now().await;
                calls.into_iter().map(|c| c * 2).collect()
            })
        }
    }

    type BoxedAnswers = std::pin::Pin<Box<dyn Future<Output = Vec<u32>> + Send>>;

    #[tokio::test]
    async fn a_lone_call_goes_alone_and_waiting_calls_go_together() {
        let batcher = Batcher::<(), u32, u32>::up_to(100);
        let batches = Arc::new(Mutex::new(Vec::new()));
        assert_eq!(batcher.call((), 21, doubler(&batches)).await, Ok(42));
        assert_eq!(*batches.lock().unwrap(), [1]);
        let answers = join_all((0..450).map(|c| batcher.call((), c, doubler(&batches)))).await;
        for (c, answer) in answers.into_iter().enumerate() {
            assert_eq!(answer, Ok(c as u32 * 2));
        }
        let sizes = batches.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), 451);
        assert!(sizes.iter().all(|&n| n <= 100), "{sizes:?}");
        assert!(sizes.len() <= 7, "calls did not travel together: {sizes:?}");
        // Nothing is kept for a key once its calls are answered.
        assert_eq!(batcher.busy_keys(), 0);
    }

    #[tokio::test]
    async fn take_decides_how_many_go_in_one_request() {
        // At most a total "weight" of 10 per request, the calls being their weights.
        let batcher = Batcher::<(), u32, u32>::new(|waiting: &[u32]| {
            let mut sum = 0;
            waiting
                .iter()
                .take_while(|&&w| {
                    sum += w;
                    sum <= 10
                })
                .count()
        });
        let batches = Arc::new(Mutex::new(Vec::new()));
        // All wait for the sender to start, and are cut by weight (an overweight call still
        // goes, alone).
        let weights = [1, 4, 4, 4, 30, 2];
        let answers = join_all(weights.map(|w| batcher.call((), w, doubler(&batches)))).await;
        assert_eq!(answers, weights.map(|w| Ok(w * 2)));
        assert_eq!(*batches.lock().unwrap(), [3, 1, 1, 1]);
    }

    #[tokio::test]
    async fn keys_have_their_own_queues() {
        let batcher = Batcher::<u8, u32, u32>::up_to(100);
        let (held, release) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(tokio::sync::Notify::new()),
        );
        let (h, r) = (held.clone(), release.clone());
        // Key 1's request stays out until released.
        let stuck = batcher.clone();
        let stuck = tokio::spawn(async move {
            let send = move |calls: Vec<u32>| {
                let (h, r) = (h.clone(), r.clone());
                async move {
                    h.fetch_add(1, Ordering::SeqCst);
                    r.notified().await;
                    calls
                }
            };
            stuck.call(1, 5, send).await
        });
        // Key 2 is answered meanwhile.
        let batches = Arc::new(Mutex::new(Vec::new()));
        let other = tokio::time::timeout(
            Duration::from_secs(10),
            batcher.call(2, 7, doubler(&batches)),
        );
        assert_eq!(other.await.expect("key 2 waited for key 1"), Ok(14));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while held.load(Ordering::SeqCst) == 0 {
            assert!(tokio::time::Instant::now() < deadline, "key 1 never sent");
            tokio::task::yield_now().await;
        }
        release.notify_one();
        assert_eq!(stuck.await.unwrap(), Ok(5));
    }

    #[tokio::test]
    async fn a_short_answer_fails_only_the_calls_left_without_one() {
        let batcher = Batcher::<(), u32, u32>::up_to(100);
        let short = |calls: Vec<u32>| async move {
            tokio::task::yield_now().await;
            let keep = calls.len().saturating_sub(1).max(1);
            calls.into_iter().take(keep).collect::<Vec<_>>()
        };
        let answers = join_all((0..3).map(|c| batcher.call((), c, short))).await;
        assert_eq!(answers[0], Ok(0));
        assert_eq!(answers[1], Ok(1));
        assert_eq!(answers[2], Err(BatchError::Short { sent: 3 }));
    }

    /// Panics on a batch of more than one call, answers a lone one.
    async fn fragile(calls: Vec<u32>) -> Vec<u32> {
        tokio::task::yield_now().await;
        assert!(calls.len() == 1, "a sender that breaks");
        calls
    }

    #[tokio::test]
    async fn a_sender_that_stops_early_strands_nobody() {
        let batcher = Batcher::<(), u32, u32>::up_to(100);
        // Four together: that batch breaks its sender, and every one of them hears so.
        let answers = join_all((0..4).map(|c| batcher.call((), c, fragile))).await;
        assert!(
            answers.iter().all(|a| *a == Err(BatchError::Stopped)),
            "{answers:?}"
        );
        // The next call starts a sender afresh, rather than waiting for ever on the old one.
        let next = tokio::time::timeout(Duration::from_secs(10), batcher.call((), 21, fragile));
        assert_eq!(next.await.expect("the next call was stranded"), Ok(21));
        assert_eq!(batcher.busy_keys(), 0);
    }

    #[test]
    fn a_disarmed_guard_leaves_the_queue_alone_and_an_armed_one_fails_it() {
        let batcher = Batcher::<(), u32, u32>::up_to(1);
        let (reply, mut answer) = oneshot::channel();
        batcher.lock().insert(
            (),
            Queue {
                calls: vec![1],
                replies: vec![reply],
                sending: true,
            },
        );
        drop(Armed {
            batcher: &batcher,
            key: &(),
            armed: false,
        });
        assert_eq!(batcher.busy_keys(), 1);
        drop(Armed {
            batcher: &batcher,
            key: &(),
            armed: true,
        });
        assert_eq!(batcher.busy_keys(), 0, "no new sender could ever start");
        assert!(answer.try_recv().is_err(), "the waiting call heard nothing");
    }
}

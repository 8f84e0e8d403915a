//! Pool calls that travel together: while a request of one kind (begins, commits) is out,
//! the calls of that kind that arrive wait, and the next request carries them all (at most
//! [`MAX_AT_ONCE`]). A folder of small files then costs a pool request per batch instead of
//! two per file. There is no timer: a call that finds no request out goes at once, alone,
//! by the single route, so one file's latency is unchanged. The sender is a task of its
//! own, so a caller that stops waiting strands nobody.

use std::sync::{Arc, Mutex, MutexGuard};

use cairn_proto::api::MAX_AT_ONCE;
use futures_util::future::BoxFuture;
use tokio::sync::oneshot;

use crate::error::{ClientError, ClientResult};
use crate::pool::PoolClient;

/// Sends a batch of calls, one answer per call in order.
pub(crate) type SendMany<I, O> = fn(PoolClient, Vec<I>) -> BoxFuture<'static, Vec<ClientResult<O>>>;

/// Calls waiting for a request, and whether a sender is working through them.
struct Queue<I, O> {
    waiting: Vec<(I, oneshot::Sender<ClientResult<O>>)>,
    sending: bool,
}

/// Calls of one kind to one pool, gathered into batches.
pub(crate) struct Together<I, O> {
    queue: Mutex<Queue<I, O>>,
    send: SendMany<I, O>,
}

impl<I: Send + 'static, O: Send + 'static> Together<I, O> {
    /// Gathers calls that `send` makes in batches.
    pub(crate) fn new(send: SendMany<I, O>) -> Arc<Self> {
        Arc::new(Self {
            queue: Mutex::new(Queue {
                waiting: Vec::new(),
                sending: false,
            }),
            send,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Queue<I, O>> {
        // A panic while holding the lock leaves the queue usable (calls only move in and out).
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Makes `call` through `pool`, with whatever other calls are waiting.
    pub(crate) async fn call(self: &Arc<Self>, pool: &PoolClient, call: I) -> ClientResult<O> {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut queue = self.lock();
            queue.waiting.push((call, reply));
            !std::mem::replace(&mut queue.sending, true)
        };
        if start {
            let (this, pool) = (self.clone(), pool.clone());
            tokio::spawn(async move { this.send_waiting(pool).await });
        }
        answer.await.unwrap_or_else(|_| {
            Err(ClientError::BadAnswer {
                what: "a batch of pool calls",
                reason: "the request carrying this call stopped before answering".into(),
            })
        })
    }

    /// Sends what waits, a request at a time, until nothing does.
    async fn send_waiting(&self, pool: PoolClient) {
        let mut stopped = Stopped(self, true);
        loop {
            let batch = {
                let mut queue = self.lock();
                if queue.waiting.is_empty() {
                    queue.sending = false;
                    stopped.1 = false;
                    return;
                }
                let take = queue.waiting.len().min(MAX_AT_ONCE);
                queue.waiting.drain(..take).collect::<Vec<_>>()
            };
            let (calls, replies): (Vec<I>, Vec<_>) = batch.into_iter().unzip();
            let count = calls.len();
            let mut answers = (self.send)(pool.clone(), calls).await.into_iter();
            for reply in replies {
                let answer = answers.next().unwrap_or_else(|| {
                    Err(ClientError::BadAnswer {
                        what: "a batch of pool calls",
                        reason: format!("fewer answers than the {count} calls sent"),
                    })
                });
                let _ = reply.send(answer);
            }
        }
    }
}

/// Armed while a sender works: if it stops before the queue is empty (a panic, or its
/// runtime shutting down), the calls still waiting hear so and the next call starts a
/// sender afresh.
struct Stopped<'a, I, O>(&'a Together<I, O>, bool);

impl<I, O> Drop for Stopped<'_, I, O> {
    fn drop(&mut self) {
        if !self.1 {
            return;
        }
        let waiting = {
            let mut queue = self
                .0
                .queue
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            queue.sending = false;
            std::mem::take(&mut queue.waiting)
        };
        for (_, reply) in waiting {
            let _ = reply.send(Err(ClientError::BadAnswer {
                what: "a batch of pool calls",
                reason: "the request carrying this call stopped before answering".into(),
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Sizes of the batches the test sender was given.
    static BATCHES: Mutex<Vec<usize>> = Mutex::new(Vec::new());
    static SHORT: AtomicUsize = AtomicUsize::new(0);

    /// Answers each call with its double, a moment later (as a request would).
    fn doubled(_: PoolClient, calls: Vec<u32>) -> BoxFuture<'static, Vec<ClientResult<u32>>> {
        Box::pin(async move {
            BATCHES.lock().unwrap().push(calls.len());
            tokio::task::yield_now().await;
            let answered = calls.len() - SHORT.load(Ordering::SeqCst).min(calls.len());
            calls
                .into_iter()
                .take(answered)
                .map(|c| Ok(c * 2))
                .collect()
        })
    }

    #[tokio::test]
    async fn calls_that_wait_go_together_and_each_gets_its_own_answer() {
        let pool = PoolClient::anonymous("http://127.0.0.1:9").unwrap();
        let together = Together::new(doubled);
        // A lone call goes alone.
        assert_eq!(together.call(&pool, 21).await.unwrap(), 42);
        assert_eq!(*BATCHES.lock().unwrap(), [1]);
        // Many at once: the first goes alone, the rest wait for it and go together.
        let answers =
            futures_util::future::join_all((0..600).map(|c| together.call(&pool, c))).await;
        for (c, answer) in answers.into_iter().enumerate() {
            assert_eq!(answer.unwrap(), c as u32 * 2);
        }
        let batches = BATCHES.lock().unwrap().clone();
        assert_eq!(batches.iter().sum::<usize>(), 601);
        assert!(batches.iter().all(|&n| n <= MAX_AT_ONCE), "{batches:?}");
        assert!(
            batches.len() <= 5,
            "calls did not travel together: {batches:?}"
        );
        // A sender that answers short leaves the unanswered calls with an error, not hanging.
        SHORT.store(1, Ordering::SeqCst);
        let answers = futures_util::future::join_all((0..3).map(|c| together.call(&pool, c))).await;
        assert!(answers.iter().filter(|a| a.is_err()).count() >= 1);
        SHORT.store(0, Ordering::SeqCst);
    }

    /// Panics on a batch of more than one call, doubles a lone one.
    fn fragile(_: PoolClient, calls: Vec<u32>) -> BoxFuture<'static, Vec<ClientResult<u32>>> {
        Box::pin(async move {
            tokio::task::yield_now().await;
            assert!(calls.len() == 1, "a sender that breaks");
            calls.into_iter().map(|c| Ok(c * 2)).collect()
        })
    }

    #[tokio::test]
    async fn a_sender_that_breaks_strands_nobody() {
        let pool = PoolClient::anonymous("http://127.0.0.1:9").unwrap();
        let together = Together::new(fragile);
        // Four together: that batch breaks its sender, and every one of them hears so.
        let answers = futures_util::future::join_all((0..4).map(|c| together.call(&pool, c))).await;
        assert!(answers.iter().all(Result::is_err), "{answers:?}");
        // The next call starts a sender afresh (rather than waiting for ever on the old one).
        let next =
            tokio::time::timeout(std::time::Duration::from_secs(10), together.call(&pool, 21));
        assert_eq!(next.await.expect("the next call was stranded").unwrap(), 42);
    }

    /// A pool of an earlier version: begins one at a time only, no batch route.
    async fn older_pool() -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        use axum::http::StatusCode;
        use axum::routing::post;
        let (singles, batches) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let counted = singles.clone();
        let refused = batches.clone();
        let app = axum::Router::new()
            .route(
                cairn_proto::api::UPLOADS,
                post(move |body: axum::Json<cairn_proto::api::BeginUpload>| {
                    let n = counted.fetch_add(1, Ordering::SeqCst);
                    async move {
                        axum::Json(cairn_proto::api::UploadBegun {
                            upload: format!("{}-{n}", body.path),
                            redundancy: body.redundancy.clone(),
                            expires_at_ms: 1,
                            placed: None,
                        })
                    }
                }),
            )
            .fallback(move || {
                refused.fetch_add(1, Ordering::SeqCst);
                async {
                    let error = cairn_proto::ErrorBody::new("unknown_endpoint", "no such route");
                    (StatusCode::NOT_FOUND, error.to_json())
                }
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, singles, batches)
    }

    #[tokio::test]
    async fn begins_to_a_pool_without_the_batch_route_are_made_one_by_one() {
        let (url, singles, batches) = older_pool().await;
        let key = cairn_core::MasterSecret::generate(&mut rand::rng()).account_key();
        let pool = PoolClient::new(&url, key).unwrap();
        let paths: Vec<String> = (0..20).map(|n| format!("p{n}")).collect();
        let begun =
            futures_util::future::join_all(paths.iter().map(|p| pool.begin(p, "ec:2+2", None)))
                .await;
        for (n, begun) in begun.into_iter().enumerate() {
            assert!(begun.unwrap().upload.starts_with(&format!("p{n}-")));
        }
        assert_eq!(singles.load(Ordering::SeqCst), 20);
        assert!(batches.load(Ordering::SeqCst) >= 1, "no batch was tried");
    }
}

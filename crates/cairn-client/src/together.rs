//! Pool calls that travel together: while a request of one kind (begins, commits) is out,
//! the calls of that kind that arrive wait, and the next request carries them all (at most
//! [`MAX_AT_ONCE`]). A folder of small files then costs a pool request per batch instead of
//! two per file. There is no timer: a call that finds no request out goes at once, alone,
//! by the single route, so one file's latency is unchanged. The queue itself is
//! [`cairn_net::batch`]; this file says what a batch of begins or commits is.

use std::sync::Arc;

use cairn_net::batch::Batcher;
use cairn_proto::api::MAX_AT_ONCE;
use futures_util::future::BoxFuture;

use crate::error::{ClientError, ClientResult};

/// Sends a batch of calls through `C` (the pool client), one answer per call in order.
pub(crate) type SendMany<C, I, O> = fn(C, Vec<I>) -> BoxFuture<'static, Vec<ClientResult<O>>>;

/// Calls of one kind to one pool, gathered into batches (by [`Batcher`]) and sent through
/// a `C`: the pool client, which holds this queue (so the queue does not name it).
pub(crate) struct Together<C, I, O> {
    batcher: Arc<Batcher<(), I, ClientResult<O>>>,
    send: SendMany<C, I, O>,
}

impl<C: Clone + Send + Sync + 'static, I: Send + 'static, O: Send + 'static> Together<C, I, O> {
    /// Gathers calls that `send` makes in batches.
    pub(crate) fn new(send: SendMany<C, I, O>) -> Arc<Self> {
        Arc::new(Self {
            batcher: Batcher::up_to(MAX_AT_ONCE),
            send,
        })
    }

    /// Makes `call` through `pool`, with whatever other calls are waiting.
    pub(crate) async fn call(self: &Arc<Self>, pool: &C, call: I) -> ClientResult<O> {
        let (send, pool) = (self.send, pool.clone());
        let answer = self
            .batcher
            .call((), call, move |calls| send(pool.clone(), calls))
            .await;
        answer.unwrap_or_else(|e| {
            Err(ClientError::BadAnswer {
                what: "a batch of pool calls",
                reason: e.to_string(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::PoolClient;
    use std::sync::Mutex;
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
                            below_target: None,
                        })
                    }
                }),
            )
            .fallback(move || {
                refused.fetch_add(1, Ordering::SeqCst);
                async {
                    let error = cairn_proto::ErrorBody::new(
                        cairn_proto::codes::UNKNOWN_ENDPOINT,
                        "no such route",
                    );
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
        let begun = futures_util::future::join_all(
            paths.iter().map(|p| pool.begin(p, "ec:2+2", None, None)),
        )
        .await;
        for (n, begun) in begun.into_iter().enumerate() {
            assert!(begun.unwrap().upload.starts_with(&format!("p{n}-")));
        }
        assert_eq!(singles.load(Ordering::SeqCst), 20);
        assert!(batches.load(Ordering::SeqCst) >= 1, "no batch was tried");
    }
}

//! Bounded concurrency: the pool handles at most [`MAX_IN_FLIGHT_REQUESTS`] requests at once;
//! later ones wait their turn in arrival order (the semaphore is fair), so a flood of requests
//! queues instead of multiplying tasks, store calls and memory. Per-key fairness is the
//! token bucket's job ([`crate::rate`]); this is the pool-wide ceiling.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// Most requests handled at once; the rest wait.
pub const MAX_IN_FLIGHT_REQUESTS: usize = 512;

/// The permits shared by every request of one router.
pub(super) fn permits() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(MAX_IN_FLIGHT_REQUESTS))
}

/// Middleware: runs the request once a permit is free, holding it until the answer is made.
pub(super) async fn limit(
    State(permits): State<Arc<Semaphore>>,
    request: Request,
    next: Next,
) -> Response {
    // The semaphore is never closed, so acquiring fails only if that changes.
    let Ok(_permit) = permits.acquire().await else {
        return ApiError::internal("admitting a request", &"the request limiter was closed")
            .into_response();
    };
    next.run(request).await
}

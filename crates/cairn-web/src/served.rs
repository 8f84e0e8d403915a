//! What the drive's servers (the page, WebDAV) share: a loopback listener, and an axum
//! app served on a task of its own until told to stop.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::UiError;

/// How long a stop waits for open requests (a download in progress holds a graceful
/// stop for ever) before it cuts them.
const GRACE: Duration = Duration::from_secs(3);

/// Binds `listen`, refusing anything but loopback; returns the listener and its address.
pub(crate) async fn bind(listen: SocketAddr) -> Result<(TcpListener, SocketAddr), UiError> {
    if !listen.ip().is_loopback() {
        return Err(UiError::NotLoopback(listen));
    }
    let bound = |source| UiError::Bind {
        addr: listen,
        source,
    };
    let listener = TcpListener::bind(listen).await.map_err(bound)?;
    let addr = listener.local_addr().map_err(bound)?;
    Ok((listener, addr))
}

/// An app being served.
pub(crate) struct Served {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Served {
    /// Serves `app` on `listener` until [`Served::shutdown`]; `what` names it in a log line
    /// should it stop on its own.
    pub fn spawn(listener: TcpListener, app: Router, what: &'static str) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|s| *s).await;
            });
            if let Err(error) = serve.await {
                tracing::warn!("the {what} stopped: {error}");
            }
        });
        Self { stop, task }
    }

    /// Stops serving: open requests get a moment, then are cut.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let abort = self.task.abort_handle();
        if tokio::time::timeout(GRACE, self.task).await.is_err() {
            abort.abort();
        }
    }
}

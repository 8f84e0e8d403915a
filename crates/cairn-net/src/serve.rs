//! The server side: a self-signed certificate made from the server's Ed25519 key, and an
//! axum router served over TLS 1.3.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

/// How long a client may take to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The key could not be encoded for the certificate.
    #[error("cannot encode the identity key: {0}")]
    Key(String),
    /// The certificate could not be made.
    #[error("cannot make the certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    /// rustls refused the configuration.
    #[error("cannot configure TLS: {0}")]
    Config(#[from] rustls::Error),
}

/// A TLS 1.3 server configuration whose certificate carries `key`'s public half.
pub fn server_config(key: &SigningKey) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let pkcs8 = key
        .to_pkcs8_der()
        .map_err(|e| TlsError::Key(e.to_string()))?;
    let der = PrivatePkcs8KeyDer::from(pkcs8.as_bytes().to_vec());
    let pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_ED25519)?;
    let params = rcgen::CertificateParams::new(vec!["cairn".to_owned()])?;
    let cert = params.self_signed(&pair)?;
    let config = rustls::ServerConfig::builder_with_provider(crate::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(der),
        )?;
    Ok(Arc::new(config))
}

/// How long requests in flight when the server stops get to finish before their
/// connections are dropped.
pub const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Serves `router` on `listener` until `shutdown` resolves — over TLS with `tls`, plain
/// otherwise (loopback only, by the callers' rule) — then closes every connection: requests
/// in flight get [`CLOSE_GRACE`] to finish, and no further request is served on a kept-alive
/// connection (a stopped server answering on old connections would be a server nobody can
/// stop). A client gets [`HEADER_TIMEOUT`] to send a request's headers and
/// [`HANDSHAKE_TIMEOUT`] for the handshake, so trickling bytes cannot hold a connection.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = tls.map(TlsAcceptor::from);
    let (closing, closed) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!("accepting a connection failed: {e}");
                    continue;
                }
            },
        };
        while connections.try_join_next().is_some() {}
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let router = router.clone();
        let closed = closed.clone();
        connections.spawn(async move {
            let served = match acceptor {
                Some(acceptor) => {
                    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => return tracing::debug!(%remote, "TLS handshake failed: {e}"),
                        Err(_) => return tracing::debug!(%remote, "TLS handshake timed out"),
                    };
                    serve_connection(TokioIo::new(tls), router, closed).await
                }
                None => serve_connection(TokioIo::new(stream), router, closed).await,
            };
            if let Err(e) = served {
                tracing::debug!(%remote, "connection ended: {e}");
            }
        });
    }
    drop(listener);
    let _ = closing.send(true);
    let drained = tokio::time::timeout(CLOSE_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
}

/// Serves one connection until it ends, or, once `closed` says so, until its request in
/// flight (if any) is answered.
async fn serve_connection<I>(
    io: TokioIo<I>,
    router: axum::Router,
    mut closed: watch::Receiver<bool>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let service = TowerToHyperService::new(router);
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    let connection = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(connection);
    tokio::select! {
        served = connection.as_mut() => return served,
        _ = closed.wait_for(|c| *c) => {}
    }
    connection.as_mut().graceful_shutdown();
    connection.await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pin::pinned_client;

    async fn server(key: &SigningKey) -> (String, tokio::sync::oneshot::Sender<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = axum::Router::new().route("/hello", axum::routing::get(|| async { "hi" }));
        let config = server_config(key).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(listener, router, Some(config), async {
            let _ = stopped.await;
        }));
        (format!("https://{addr}"), stop)
    }

    #[tokio::test]
    async fn the_pinned_identity_connects_and_any_other_is_refused() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let (base, _stop) = server(&key).await;
        let right =
            pinned_client(key.verifying_key().to_bytes(), reqwest::Client::builder()).unwrap();
        let answer = right.get(format!("{base}/hello")).send().await.unwrap();
        assert_eq!(answer.text().await.unwrap(), "hi");
        let other = SigningKey::from_bytes(&[8; 32]).verifying_key().to_bytes();
        let wrong = pinned_client(other, reqwest::Client::builder()).unwrap();
        assert!(wrong.get(format!("{base}/hello")).send().await.is_err());
        // Plain HTTP to a TLS port gets nothing.
        let plain = base.replace("https://", "http://");
        let answer = reqwest::get(format!("{plain}/hello")).await;
        assert!(answer.is_err() || !answer.unwrap().status().is_success());
    }

    /// Once stopped, a server answers nothing more, not even on a connection a client keeps
    /// alive; a request in flight when it stops is still answered.
    #[tokio::test]
    async fn a_stopped_server_closes_kept_alive_connections_after_their_request() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (entered, mut inside) = tokio::sync::mpsc::channel::<()>(1);
        let release = Arc::new(tokio::sync::Notify::new());
        let released = release.clone();
        let router = axum::Router::new()
            .route("/hello", axum::routing::get(|| async { "hi" }))
            .route(
                "/slow",
                axum::routing::get(move || {
                    let (entered, released) = (entered.clone(), released.clone());
                    async move {
                        let _ = entered.send(()).await;
                        released.notified().await;
                        "done"
                    }
                }),
            );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, router, None, async {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::new();
        let base = format!("http://{addr}");
        let answer = client.get(format!("{base}/hello")).send().await.unwrap();
        assert_eq!(answer.text().await.unwrap(), "hi");
        let slow = tokio::spawn({
            let client = client.clone();
            let url = format!("{base}/slow");
            async move { client.get(url).send().await?.text().await }
        });
        inside.recv().await.unwrap();
        let _ = stop.send(());
        // Stopping: no new connection is taken, while the slow request is still in flight.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(addr).await.is_ok() {
            assert!(
                std::time::Instant::now() < deadline,
                "the server stopped listening"
            );
            tokio::task::yield_now().await;
        }
        assert!(!slow.is_finished());
        release.notify_one();
        server.await.unwrap();
        assert_eq!(slow.await.unwrap().unwrap(), "done");
        assert!(
            client.get(format!("{base}/hello")).send().await.is_err(),
            "nothing answers once the server has stopped"
        );
    }
}

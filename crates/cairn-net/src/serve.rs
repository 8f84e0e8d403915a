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

/// Serves `router` on `listener` until `shutdown` resolves — over TLS with `tls`, plain
/// otherwise (loopback only, by the callers' rule); connections already open finish their
/// requests. A client gets [`HEADER_TIMEOUT`] to send a request's headers and
/// [`HANDSHAKE_TIMEOUT`] for the handshake, so trickling bytes cannot hold a connection.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = tls.map(TlsAcceptor::from);
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!("accepting a connection failed: {e}");
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(async move {
            let service = TowerToHyperService::new(router);
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT);
            let served = match acceptor {
                Some(acceptor) => {
                    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => return tracing::debug!(%remote, "TLS handshake failed: {e}"),
                        Err(_) => return tracing::debug!(%remote, "TLS handshake timed out"),
                    };
                    builder
                        .serve_connection_with_upgrades(TokioIo::new(tls), service)
                        .await
                }
                None => {
                    builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .await
                }
            };
            if let Err(e) = served {
                tracing::debug!(%remote, "connection ended: {e}");
            }
        });
    }
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
}

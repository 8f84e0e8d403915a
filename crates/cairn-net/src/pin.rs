//! The client side: a certificate verifier that accepts exactly one Ed25519 identity, and
//! an HTTP client that dials with it.

use std::sync::Arc;

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

/// DER prefix of an Ed25519 SubjectPublicKeyInfo; the 32-byte key follows.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Accepts a server only if its certificate carries the expected Ed25519 key; the TLS 1.3
/// handshake signature then proves the server holds that key. Names, dates and issuers do
/// not matter: the identity is the trust.
#[derive(Debug)]
pub struct PinnedVerifier {
    spki: Vec<u8>,
    provider: Arc<CryptoProvider>,
}

impl PinnedVerifier {
    /// A verifier for the Ed25519 public key `identity`.
    pub fn new(identity: [u8; 32]) -> Self {
        let mut spki = ED25519_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(&identity);
        Self {
            spki,
            provider: crate::provider(),
        }
    }
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = webpki::EndEntityCert::try_from(end_entity).map_err(|_| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
        })?;
        if cert.subject_public_key_info().as_ref() == self.spki.as_slice() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // Only TLS 1.3 is offered.
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls13RequiredForQuic,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        vec![rustls::SignatureScheme::ED25519]
    }
}

/// A client for the server whose identity is `identity`, over TLS 1.3, from `builder`'s
/// other settings.
pub fn pinned_client(
    identity: [u8; 32],
    builder: reqwest::ClientBuilder,
) -> Result<reqwest::Client, reqwest::Error> {
    let config = rustls::ClientConfig::builder_with_provider(crate::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_or_else(
            |_| {
                // The provider always supports TLS 1.3; fall back to its defaults.
                rustls::ClientConfig::builder()
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(PinnedVerifier::new(identity)))
                    .with_no_client_auth()
            },
            |b| {
                b.dangerous()
                    .with_custom_certificate_verifier(Arc::new(PinnedVerifier::new(identity)))
                    .with_no_client_auth()
            },
        );
    builder.use_preconfigured_tls(config).build()
}

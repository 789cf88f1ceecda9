//! The rustls client configuration shared by `wss://` and `https://`.
//!
//! Always built with an explicit ring provider (`builder_with_provider`): if another crate in
//! the graph enables aws-lc-rs, rustls' process-default lookup would panic. Roots are the
//! webpki (Mozilla) set plus any extra DER roots from the configuration (tests with
//! self-signed certificates).

use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore, pki_types::CertificateDer};

use crate::error::FeedError;

/// Builds the client TLS configuration (HTTP/1.1 only, no ALPN needed).
pub(crate) fn client_config(
    extra_roots: Option<&[Vec<u8>]>,
) -> Result<Arc<ClientConfig>, FeedError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for der in extra_roots.unwrap_or_default() {
        roots
            .add(CertificateDer::from(der.clone()))
            .map_err(|e| FeedError::Tls(format!("bad extra root certificate: {e}")))?;
    }
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| FeedError::Tls(format!("protocol versions: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(Arc::new(config))
}

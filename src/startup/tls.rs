//! HTTPS: the rustls configuration from the configured certificate chain and key.

use std::sync::Arc;

use anyhow::Context;

use crate::config::Settings;

/// The TLS configuration, when a certificate and key are configured.
pub(super) fn tls_config(settings: &Settings) -> anyhow::Result<Option<rustls::ServerConfig>> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};

    let (cert, key) = (
        &settings.server.tls_cert_file,
        &settings.server.tls_key_file,
    );
    match (cert.as_os_str().is_empty(), key.as_os_str().is_empty()) {
        (true, true) => return Ok(None),
        (false, false) => {}
        _ => anyhow::bail!("server.tls_cert_file and server.tls_key_file go together"),
    }
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading certificates from {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading the private key from {}", key.display()))?;
    // Name the provider: the process may link more than one, and rustls will not guess.
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .context("the TLS certificate and key do not form a usable pair")?;
    Ok(Some(config))
}

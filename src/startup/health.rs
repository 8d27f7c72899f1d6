//! `userdir health`: asks a running server's `/health/ready`, for container health checks (the
//! image then needs no curl). One loopback GET whose status line is all that is read, so it is
//! written here rather than pulling an HTTP client into the binary.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::config::Settings;

/// Exits successfully when the server at server.host:server.port answers 200 to `/health/ready`
/// within `timeout`.
pub async fn health(settings: &Settings, timeout: Duration) -> anyhow::Result<()> {
    let server = &settings.server;
    let host = server.host.clone();
    let port = server.port;
    let tls = !server.tls_cert_file.as_os_str().is_empty();
    tokio::task::spawn_blocking(move || probe(&host, port, tls, timeout))
        .await
        .context("the health check stopped")?
}

fn probe(host: &str, port: u16, tls: bool, timeout: Duration) -> anyhow::Result<()> {
    let address = target(host, port)?;
    let scheme = if tls { "https" } else { "http" };
    let url = format!("{scheme}://{address}/health/ready");
    let mut stream = TcpStream::connect_timeout(&address, timeout)
        .with_context(|| format!("connecting to {url}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let request =
        format!("GET /health/ready HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    let mut answer = Vec::new();
    if tls {
        let name = rustls_pki_types::ServerName::IpAddress(address.ip().into());
        let connection =
            rustls::ClientConnection::new(any_certificate()?, name).context("setting up TLS")?;
        let mut stream = rustls::StreamOwned::new(connection, stream);
        exchange(&mut stream, &request, &mut answer).with_context(|| format!("asking {url}"))?;
    } else {
        exchange(&mut stream, &request, &mut answer).with_context(|| format!("asking {url}"))?;
    }
    let status_line = answer.split(|b| *b == b'\n').next().unwrap_or_default();
    let status_line = String::from_utf8_lossy(status_line).trim().to_owned();
    match status_line.split(' ').nth(1) {
        Some("200") => {
            println!("{url}: ready");
            Ok(())
        }
        _ if status_line.is_empty() => anyhow::bail!("{url}: no answer"),
        _ => anyhow::bail!("{url}: not ready ({status_line})"),
    }
}

/// Where to knock: the configured address, with a wildcard replaced by loopback.
fn target(host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    let address = match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) if ip.is_unspecified() => SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        Ok(IpAddr::V6(ip)) if ip.is_unspecified() => SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
        Ok(ip) => SocketAddr::from((ip, port)),
        Err(_) => (host, port)
            .to_socket_addrs()
            .with_context(|| format!("resolving server.host {host}"))?
            .next()
            .with_context(|| format!("server.host {host} has no address"))?,
    };
    Ok(address)
}

/// Sends the request, then reads until the server closes (the answer is a few dozen bytes).
fn exchange(
    stream: &mut (impl Read + Write),
    request: &str,
    answer: &mut Vec<u8>,
) -> std::io::Result<()> {
    stream.write_all(request.as_bytes())?;
    stream.flush()?;
    match stream.take(64 * 1024).read_to_end(answer) {
        // A TLS server may close without close_notify; what arrived is enough.
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof && !answer.is_empty() => {
            Ok(())
        }
        other => other.map(drop),
    }
}

/// The check asks this very host's server whether it is up, not who it is: any certificate will do.
fn any_certificate() -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("setting up TLS")?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

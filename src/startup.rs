//! Builds the running service from settings: database, background tasks and HTTP server. The binary
//! and the tests start it through the same code; tests bind port 0 and read the port back.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::path::Path;

use governor::{Quota, RateLimiter};

use crate::api::{self, AppState, AuthPolicy, BodyLimits};
use crate::config::{AuthMode, Settings};
use crate::domain::{RoleArn, SharedClock, SystemClock};
use crate::escape::escape;
use crate::service::access::Access;
use crate::service::audit::{AuditService, Upkeep, spawn_audit_keeper};
use crate::service::credentials::{CredentialService, KeyPair};
use crate::service::failures::FailedAuthentications;
use crate::service::idempotency::{TokenPolicy, spawn_token_purger};
use crate::service::lifecycle::spawn_activator;
use crate::service::pagination::PageTokens;
use crate::service::passwords::{SignInSettings, TemporaryPasswords};
use crate::service::{GroupService, PasswordService, UserService};
use crate::store::{self, Backend, Opened, UserStore, database_dir};

pub struct Application {
    port: u16,
    server: Server,
    /// The store, and its claim on the database (for SQLite: no other process serves it).
    store: Opened,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Application {
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// As `build`, with time read from `clock` (tests advance it to reach expiries).
    pub async fn build_with_clock(settings: &Settings, clock: SharedClock) -> anyhow::Result<Self> {
        check_listen_policy(settings)?;
        // An existing database is locked before the port is bound, so that a second start on it
        // is refused for what it is rather than for a port conflict; nothing is created on disk
        // before the listener is held.
        let mut backend = backend(settings);
        let database = backend.describe();
        backend.claim_existing()?;
        let address = (settings.server.host.as_str(), settings.server.port);
        let listener = TcpListener::bind(address)
            .with_context(|| format!("binding {}:{}", address.0, address.1))?;

        let store = backend
            .open(clock.clone())
            .await
            .with_context(|| format!("opening database {database}"))?;
        // Refused starts close the database before they return, so that nothing of it lingers.
        let root = match settings.auth.mode {
            AuthMode::Sigv4 => match root_for(store.users.as_ref(), settings).await {
                Ok(root) => Some(root),
                Err(error) => {
                    store.close().await;
                    return Err(error);
                }
            },
            AuthMode::Anonymous => None,
        };
        let shared = store.users.clone();
        let pages = PageTokens::new(&server_key(shared.as_ref(), "pagination").await?)?;
        let temporary =
            TemporaryPasswords::new(&server_key(shared.as_ref(), "temporary-passwords").await?)?;

        let (shutdown, shutdown_rx) = watch::channel(false);
        let shutdown_rx_audit = shutdown_rx.clone();
        let tasks = vec![
            spawn_activator(
                shared.clone(),
                clock.clone(),
                Duration::from_millis(settings.lifecycle.activation_delay_ms),
                shared.creations(),
                shutdown_rx.clone(),
            ),
            spawn_token_purger(
                shared.clone(),
                clock.clone(),
                Duration::from_secs(settings.idempotency.purge_interval_secs.max(1)),
                shutdown_rx.clone(),
            ),
        ];

        let tokens = TokenPolicy {
            ttl: Duration::from_secs(settings.idempotency.ttl_secs),
            clock: clock.clone(),
        };
        let groups = store.groups.clone();
        let credentials = store.credentials.clone();
        let sign_in = SignInSettings {
            temporary_password_ttl: Duration::from_secs(
                settings.sign_in.temporary_password_ttl_secs,
            ),
            attempts_per_email_per_minute: settings.sign_in.attempts_per_email_per_minute,
            attempts_per_client_per_minute: settings.sign_in.attempts_per_client_per_minute,
        };
        let principals = settings
            .auth
            .principals
            .iter()
            .map(|p| {
                let arn = RoleArn::parse(&p.arn)
                    .map_err(|v| anyhow::anyhow!("auth.principals: arn {:?}: {v}", p.arn))?;
                Ok((
                    arn,
                    KeyPair {
                        access_key_id: p.access_key_id.clone(),
                        secret_access_key: p.secret_access_key.clone(),
                    },
                ))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let access = Access::new(shared.clone());
        let audit = store.audit.clone();
        let session_key = server_key(shared.as_ref(), "session-credentials").await?;
        let clients = api::ClientAddresses::parse(&settings.server.trusted_proxies)?;
        let failures = Arc::new(FailedAuthentications::new(
            settings.auth.failures_per_client_per_minute,
            settings.auth.failures_audited_per_second,
        ));
        let audit_service = AuditService::new(audit.clone(), access.clone(), pages.clone());
        let mut tasks = tasks;
        let passwords = PasswordService::new(
            credentials,
            access.clone(),
            tokens.clone(),
            temporary,
            sign_in,
        )?;
        let throttle = Arc::new(RateLimiter::keyed(
            Quota::per_second(nonzero(settings.throttle.requests_per_second))
                .allow_burst(nonzero(settings.throttle.burst)),
        ));
        let limiters: Vec<Box<dyn Fn() + Send + Sync>> = vec![
            Box::new({
                let passwords = passwords.clone();
                move || passwords.forget_recovered()
            }),
            Box::new({
                let throttle = throttle.clone();
                move || {
                    throttle.retain_recent();
                    throttle.shrink_to_fit();
                }
            }),
        ];
        tasks.push(spawn_audit_keeper(
            audit_service.clone(),
            failures.clone(),
            clock.clone(),
            Upkeep {
                interval: Duration::from_secs(settings.audit.summary_interval_secs.max(1)),
                retention: (settings.audit.retention_days > 0).then(|| {
                    Duration::from_secs(u64::from(settings.audit.retention_days) * 86_400)
                }),
                limiters,
            },
            shutdown_rx_audit,
        ));
        let state = web::Data::new(AppState {
            users: UserService::new(
                shared.clone(),
                tokens.clone(),
                pages.clone(),
                settings.limits.max_users,
            ),
            groups: GroupService::new(
                groups,
                access.clone(),
                tokens.clone(),
                pages.clone(),
                settings.limits.max_permission_groups,
            ),
            passwords,
            credentials: CredentialService::new(
                root,
                principals,
                &session_key,
                shared,
                audit.clone(),
                settings.auth.environment_id.clone(),
                clock.clone(),
            )?,
            audit: audit_service,
            auth: AuthPolicy {
                mode: settings.auth.mode,
                max_skew_secs: settings.auth.max_clock_skew_secs,
            },
            throttle,
            body: BodyLimits {
                max_bytes: settings.server.body_limit_bytes,
                timeout: Duration::from_millis(settings.server.body_timeout_ms),
            },
            clock,
            signatures: api::sigv4::Verifier::default(),
            clients,
            failures,
        });

        let port = listener.local_addr()?.port();
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(api::request_context))
                .app_data(state.clone())
                .configure(api::routes)
        })
        .shutdown_timeout(settings.server.shutdown_timeout_secs)
        .client_request_timeout(Duration::from_millis(
            settings.server.client_request_timeout_ms,
        ))
        .keep_alive(Duration::from_secs(settings.server.keep_alive_secs));
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        let (server, scheme) = match tls_config(settings)? {
            Some(tls) => (server.listen_rustls_0_23(listener, tls)?, "https"),
            None => (server.listen(listener)?, "http"),
        };
        let server = server.run();
        tracing::info!(host = %settings.server.host, port, scheme, "userdir listening");

        Ok(Self {
            port,
            server,
            store,
            shutdown,
            tasks,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server from outside (the binary stops on SIGINT/SIGTERM by itself).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped, then lets in-flight requests finish, stops the background tasks and
    /// closes the database.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let served = self.server.await;
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            if let Err(error) = task.await {
                tracing::error!(%error, "background task ended abnormally");
            }
        }
        self.store.close().await;
        tracing::info!("userdir stopped");
        served.context("HTTP server failed")
    }
}

/// The configured storage backend (SQLite, the only one yet).
pub fn backend(settings: &Settings) -> Backend {
    Backend::sqlite(settings.database.store_settings())
}

/// The TLS configuration, when a certificate and key are configured.
fn tls_config(settings: &Settings) -> anyhow::Result<Option<rustls::ServerConfig>> {
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

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

/// The anonymous mode serves loopback only, and says so at every start.
fn check_listen_policy(settings: &Settings) -> anyhow::Result<()> {
    if settings.auth.mode != AuthMode::Anonymous {
        return Ok(());
    }
    let loopback = settings.server.host == "localhost"
        || settings
            .server
            .host
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        anyhow::bail!(
            "auth.mode = \"anonymous\" refuses to listen on {}: it serves loopback addresses only",
            settings.server.host
        );
    }
    tracing::warn!(
        "AUTHENTICATION IS OFF (auth.mode = \"anonymous\"): anyone who can reach {} may do anything",
        settings.server.host
    );
    Ok(())
}

/// The root key pair: from configuration if set there, else from the credentials file beside the
/// database, which the first start creates (readable by its owner only).
/// The root key pair: configured, kept in the generated file, or generated now for a database
/// without users.
async fn root_for(store: &dyn UserStore, settings: &Settings) -> anyhow::Result<KeyPair> {
    let has_users = !store.list_users(None, 1).await?.is_empty();
    root_credentials(settings, has_users)
}

fn root_credentials(settings: &Settings, has_users: bool) -> anyhow::Result<KeyPair> {
    if let Some(pair) = configured_root(settings)? {
        return Ok(pair);
    }
    let file = root_credentials_path(settings);
    match std::fs::read_to_string(&file) {
        Ok(text) => {
            return parse_credentials_file(&text)
                .with_context(|| format!("reading root credentials from {}", file.display()));
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            return Err(error).with_context(|| format!("reading {}", file.display()));
        }
    }
    // Clients hold the key that was generated first: a new one would lock every one of them out.
    if has_users {
        anyhow::bail!(
            "the root credentials file {} is missing, but the database {} already has users: \
             userdir will not invent a new root key behind your back. Restore the file from a \
             backup, give the key by environment (USERDIR__AUTH__ROOT_ACCESS_KEY_ID and \
             USERDIR__AUTH__ROOT_SECRET_ACCESS_KEY), or make a new one with `userdir root-key \
             rotate` (audited)",
            file.display(),
            settings.database.path.display()
        );
    }
    let pair = write_root_credentials(&file)?;
    tracing::warn!(
        file = %file.display(),
        access_key_id = %pair.access_key_id,
        "generated root credentials; the secret is in this file (readable by its owner only)"
    );
    Ok(pair)
}

/// The root key pair given by configuration, if both halves are.
fn configured_root(settings: &Settings) -> anyhow::Result<Option<KeyPair>> {
    let auth = &settings.auth;
    match (
        auth.root_access_key_id.is_empty(),
        auth.root_secret_access_key.is_empty(),
    ) {
        (false, false) => Ok(Some(KeyPair {
            access_key_id: auth.root_access_key_id.clone(),
            secret_access_key: auth.root_secret_access_key.clone(),
        })),
        (true, true) => Ok(None),
        _ => anyhow::bail!("auth.root_access_key_id and auth.root_secret_access_key go together"),
    }
}

fn root_credentials_path(settings: &Settings) -> std::path::PathBuf {
    database_dir(&settings.database.path).join(&settings.auth.root_credentials_file)
}

/// Generates a root key pair and writes it to `file` (owner-only), replacing any earlier one
/// whole: the new file is written beside it and renamed over it.
fn write_root_credentials(file: &Path) -> anyhow::Result<KeyPair> {
    let pair = KeyPair {
        access_key_id: format!(
            "AKIA{}",
            random_text(16, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        ),
        secret_access_key: random_text(
            40,
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        ),
    };
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut fresh = file.as_os_str().to_owned();
    fresh.push(".new");
    let fresh = std::path::PathBuf::from(fresh);
    let _ = std::fs::remove_file(&fresh);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = options
        .open(&fresh)
        .with_context(|| format!("creating {}", fresh.display()))?;
    std::io::Write::write_all(
        &mut out,
        format!(
            "# userdir root credentials (an AWS shared-credentials file: use profile \"userdir\")\n\
             [userdir]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            pair.access_key_id, pair.secret_access_key
        )
        .as_bytes(),
    )?;
    out.sync_all()?;
    std::fs::rename(&fresh, file).with_context(|| format!("replacing {}", file.display()))?;
    Ok(pair)
}

/// `userdir root-key rotate`: a new generated root key replaces the old one (which stops working
/// at the next start), recorded in the audit trail. Refused while a server runs on the database,
/// and when the root key comes from configuration.
pub async fn rotate_root_key(settings: &Settings) -> anyhow::Result<()> {
    if configured_root(settings)?.is_some() {
        anyhow::bail!(
            "the root key comes from configuration (auth.root_access_key_id): change it there"
        );
    }
    let mut backend = backend(settings);
    if !backend.exists() {
        return Err(backend.missing("").into());
    }
    backend.claim_existing()?;
    let clock: SharedClock = Arc::new(SystemClock);
    let database = backend.describe();
    let store = backend
        .open(clock.clone())
        .await
        .with_context(|| format!("opening database {database}"))?;
    let file = root_credentials_path(settings);
    let rotated = async {
        let pair = write_root_credentials(&file)?;
        let record = store::AuditRecord {
            time: clock.now(),
            request_id: ulid::Ulid::generate().to_string(),
            caller: "operator:cli".into(),
            operation: "RotateRootKey".into(),
            target: None,
            detail: Some(format!("new root access key id {}", pair.access_key_id)),
        };
        store.audit.append_audit(&record, "SUCCESS").await?;
        anyhow::Ok(pair)
    }
    .await;
    store.close().await;
    let pair = rotated?;
    print_lines([format!(
        "new root key {} written to {}; the old key stops working when userdir next starts",
        pair.access_key_id,
        file.display()
    )])
}

fn parse_credentials_file(text: &str) -> anyhow::Result<KeyPair> {
    let value = |key: &str| {
        text.lines()
            .filter_map(|line| line.split_once('='))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| anyhow::anyhow!("{key} is missing"))
    };
    Ok(KeyPair {
        access_key_id: value("aws_access_key_id")?,
        secret_access_key: value("aws_secret_access_key")?,
    })
}

fn random_text(length: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::rng();
    (0..length)
        .map(|_| char::from(alphabet[rand::RngExt::random_range(&mut rng, 0..alphabet.len())]))
        .collect()
}

/// The server's key for `purpose`, generated from the OS CSPRNG on first use and kept in the
/// database so that tokens it signed stay valid across restarts.
async fn server_key(store: &dyn UserStore, purpose: &str) -> anyhow::Result<[u8; 32]> {
    let mut fresh = [0u8; 32];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut fresh);
    store
        .server_key(purpose, fresh)
        .await
        .with_context(|| format!("loading the {purpose} key"))
}

/// Opens the database and applies pending migrations, then closes it (`userdir migrate`).
pub async fn migrate(settings: &Settings, create: bool) -> anyhow::Result<()> {
    // A server running on the database migrated it when it started; a newer schema under it
    // would not be what it expects: the backend refuses while another process holds it.
    let backend = backend(settings);
    let database = backend.describe();
    let report = backend
        .migrate(create)
        .await
        .with_context(|| format!("migrating database {database}"))?;
    let version = |v: &i64| format!("{v:04}");
    let now_at = report.now_at.as_ref().map_or("none".into(), version);
    let line = match report.applied.as_slice() {
        [] => format!("{database}: up to date, at {now_at}"),
        applied => format!(
            "{database}: applied {} migration{} ({}), now at {now_at}",
            applied.len(),
            if applied.len() == 1 { "" } else { "s" },
            applied.iter().map(version).collect::<Vec<_>>().join(", ")
        ),
    };
    print_lines([line])
}

/// `userdir check`: the backend's consistency check; each problem a line, and a failure if any.
pub async fn check(settings: &Settings) -> anyhow::Result<()> {
    let backend = backend(settings);
    let database = backend.describe();
    let problems = backend
        .check()
        .await
        .with_context(|| format!("checking database {database}"))?;
    if problems.is_empty() {
        return print_lines([format!("{database}: ok")]);
    }
    print_lines(
        problems
            .iter()
            .map(|p| format!("{database}: {}", escape(p))),
    )?;
    anyhow::bail!("{database}: {} problem(s) found", problems.len())
}

/// How `userdir audit` prints the trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuditFormat {
    /// Tab-separated columns under a header; request input escaped.
    Table,
    /// One JSON object per line, as `GET /audit` lists them.
    Jsonl,
}

/// Prints the audit trail (`userdir audit`), reading beside a running server if there is one.
pub async fn print_audit(
    settings: &Settings,
    after: i64,
    limit: u32,
    format: AuditFormat,
) -> anyhow::Result<()> {
    let backend = backend(settings);
    let events = backend
        .read_audit(after, limit)
        .await
        .with_context(|| format!("reading the audit trail of {}", backend.describe()))?;
    match format {
        AuditFormat::Table => {
            let header = "seq\ttime\trequest_id\tcaller\toperation\ttarget\toutcome\tdetail";
            let rows = events.iter().map(|event| {
                let record = &event.record;
                let time = chrono::DateTime::from_timestamp_millis(record.time.as_millis())
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default();
                format!(
                    "{}\t{time}\t{}\t{}\t{}\t{}\t{}\t{}",
                    event.seq,
                    escape(&record.request_id),
                    escape(&record.caller),
                    escape(&record.operation),
                    escape(record.target.as_deref().unwrap_or("-")),
                    escape(&event.outcome),
                    escape(record.detail.as_deref().unwrap_or("-")),
                )
            });
            print_lines(std::iter::once(header.to_owned()).chain(rows))
        }
        AuditFormat::Jsonl => print_lines(events.iter().map(|event| {
            let record = &event.record;
            let mut line = serde_json::json!({
                "seq": event.seq,
                "time": record.time.as_millis(),
                "requestId": record.request_id,
                "caller": record.caller,
                "operation": record.operation,
                "outcome": event.outcome,
            });
            if let Some(target) = &record.target {
                line["target"] = target.as_str().into();
            }
            if let Some(detail) = &record.detail {
                line["detail"] = detail.as_str().into();
            }
            line.to_string()
        })),
    }
}

/// Writes lines to stdout. A reader that stops early (`userdir audit | head`) ends the command
/// quietly rather than with a panic.
pub fn print_lines(lines: impl IntoIterator<Item = String>) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let written = lines
        .into_iter()
        .try_for_each(|line| writeln!(out, "{line}"))
        .and_then(|()| out.flush());
    match written {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

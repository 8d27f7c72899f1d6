//! Builds the running service from settings: database, background tasks and HTTP server. The binary
//! and the tests start it through the same code; tests bind port 0 and read the port back.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{Condition, from_fn};
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::{Quota, RateLimiter};

use crate::api::{self, AppState, AuthPolicy, BodyLimits};
use crate::backend::{Backend, Opened};
use crate::config::{AuthMode, MetricsAccess, Settings};
use userdir_core::domain::{RoleArn, SharedClock, SystemClock};
use userdir_core::service::PasswordHashing;
use userdir_core::service::access::Access;
use userdir_core::service::audit::{AuditService, Upkeep, spawn_audit_keeper};
use userdir_core::service::credentials::{CredentialService, KeyPair};
use userdir_core::service::failures::FailedAuthentications;
use userdir_core::service::idempotency::{TokenPolicy, spawn_token_purger};
use userdir_core::service::lifecycle::spawn_activator;
use userdir_core::service::pagination::PageTokens;
use userdir_core::service::passwords::{SignInSettings, TemporaryPasswords};
use userdir_core::service::{GroupService, PasswordService, ScimLimits, ScimService, UserService};
use userdir_core::store::UserStore;

mod backup;
mod commands;
mod copy;
mod health;
mod import;
mod root_key;
mod scim_tokens;
mod tls;

pub use backup::{backup, restore};
pub use commands::{AuditFormat, check, migrate, print_audit, print_lines};
pub use copy::copy;
pub use health::health;
pub use import::import;
pub use root_key::rotate_root_key;
use root_key::{require_shared_root, root_for};
pub use scim_tokens::{create_scim_token, list_scim_tokens, revoke_scim_token};

/// Runs `action` on the configured database, opened for a change (refused while a SQLite server
/// holds it; a missing database is an error naming where it was looked for), and closes it,
/// whatever `action` answered.
async fn with_store_for_change<T>(
    settings: &Settings,
    action: impl AsyncFnOnce(&Opened, &SharedClock) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let mut backend = backend(settings);
    backend.claim_for_change(false, "")?;
    let clock: SharedClock = Arc::new(SystemClock);
    let database = backend.describe();
    let store = backend
        .open(clock.clone())
        .await
        .with_context(|| format!("opening database {database}"))?;
    let outcome = action(&store, &clock).await;
    store.close().await;
    outcome
}
use tls::tls_config;

pub struct Application {
    port: u16,
    metrics_port: Option<u16>,
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
        let scim = scim_prefix(settings)?;
        // An existing database is locked before the port is bound, so that a second start on it
        // is refused for what it is rather than for a port conflict; nothing is created on disk
        // before the listener is held.
        // Settings that can be wrong are read before anything is claimed, bound or created.
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
        let clients = api::ClientAddresses::parse(&settings.server.trusted_proxies)?;
        let tls = tls_config(settings)?;
        let mut backend = backend(settings);
        if settings.auth.mode == AuthMode::Sigv4 {
            require_shared_root(&backend, settings)?;
        }

        let database = backend.describe();
        backend.claim_existing()?;
        let address = (settings.server.host.as_str(), settings.server.port);
        let listener = TcpListener::bind(address)
            .with_context(|| format!("binding {}:{}", address.0, address.1))?;
        let metrics_listener = match settings.metrics.listen.as_str() {
            "" => None,
            _ if settings.metrics.access == MetricsAccess::Off => None,
            listen => Some(
                TcpListener::bind(listen)
                    .with_context(|| format!("binding metrics.listen {listen}"))?,
            ),
        };

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
        let counting = settings.metrics.access != MetricsAccess::Off;
        let metrics = api::Metrics::new(counting).context("setting up the metrics")?;
        if counting {
            shared.observe_commits(metrics.commit_observer());
        }
        let pages = PageTokens::new(&server_key(shared.as_ref(), "pagination").await?)?;
        let temporary =
            TemporaryPasswords::new(&server_key(shared.as_ref(), "temporary-passwords").await?)?;

        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut tasks = vec![
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
            hashing: password_hashing(settings)?,
        };
        let access = Access::new(shared.clone());
        let audit = store.audit.clone();
        let session_key = server_key(shared.as_ref(), "session-credentials").await?;
        let failures = Arc::new(FailedAuthentications::new(
            settings.auth.failures_per_client_per_minute,
            settings.auth.failures_audited_per_second,
        ));
        let audit_service = AuditService::new(audit.clone(), access.clone(), pages.clone());
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
            shutdown_rx,
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
            metrics,
            scim: ScimService::new(
                store.scim.clone(),
                store.users.clone(),
                store.scim_tokens.clone(),
                store.groups.clone(),
                tokens,
                ScimLimits {
                    max_users: settings.limits.max_users,
                    max_groups: settings.limits.max_permission_groups,
                },
            ),
        });

        let (server, port, metrics_port) =
            http_server(settings, listener, metrics_listener, tls, state, scim)?;
        Ok(Self {
            port,
            metrics_port,
            server,
            store,
            shutdown,
            tasks,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of metrics.listen, when /metrics has a listener of its own.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
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

/// The HTTP server on `listener`, serving the API with `state` (over TLS if configured), and
/// `/metrics` on `metrics_listener` if there is one.
fn http_server(
    settings: &Settings,
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    tls: Option<rustls::ServerConfig>,
    state: web::Data<AppState>,
    scim: Option<api::scim::Prefix>,
) -> anyhow::Result<(Server, u16, Option<u16>)> {
    let port = listener.local_addr()?.port();
    let metrics_port = match &metrics_listener {
        Some(listener) => Some(listener.local_addr()?.port()),
        None => None,
    };
    let routes = api::routes(settings.metrics.access, scim);
    let mut server = HttpServer::new(move || {
        let split = metrics_port.unwrap_or_default();
        App::new()
            .wrap(Condition::new(
                metrics_port.is_some(),
                from_fn(move |req, next| api::separate_listener(split, req, next)),
            ))
            .wrap(from_fn(api::request_context))
            .app_data(state.clone())
            .configure(routes.clone())
    })
    .shutdown_timeout(settings.server.shutdown_timeout_secs)
    .client_request_timeout(Duration::from_millis(
        settings.server.client_request_timeout_ms,
    ))
    .keep_alive(Duration::from_secs(settings.server.keep_alive_secs));
    if settings.server.workers > 0 {
        server = server.workers(settings.server.workers);
    }
    let (mut server, scheme) = match tls {
        Some(tls) => (server.listen_rustls_0_23(listener, tls)?, "https"),
        None => (server.listen(listener)?, "http"),
    };
    if let Some(metrics) = metrics_listener {
        server = server.listen(metrics)?;
        tracing::info!(address = %settings.metrics.listen, "metrics listening (plain HTTP, /metrics only)");
    }
    tracing::info!(host = %settings.server.host, port, scheme, "userdir listening");
    Ok((server.run(), port, metrics_port))
}

/// The configured storage backend: PostgreSQL if `database.url` is set, else SQLite.
pub fn backend(settings: &Settings) -> Backend {
    match settings.database.postgres_settings() {
        Some(postgres) => Backend::postgres(postgres),
        None => Backend::sqlite(
            settings.database.sqlite_settings(),
            settings.database.cached_users,
        ),
    }
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

/// The configured password hashing cost, refused out of argon2's bounds and warned about below
/// OWASP's recommendation.
fn password_hashing(settings: &Settings) -> anyhow::Result<PasswordHashing> {
    let sign_in = &settings.sign_in;
    let hashing = PasswordHashing::new(
        sign_in.password_hash_memory_kib,
        sign_in.password_hash_iterations,
    )
    .map_err(|problem| {
        anyhow::anyhow!(
            "sign_in.password_hash_memory_kib = {}, sign_in.password_hash_iterations = {} \
                     cannot be used: {problem}",
            sign_in.password_hash_memory_kib,
            sign_in.password_hash_iterations
        )
    })?;
    if hashing.below_recommendation() {
        tracing::warn!(
            memory_kib = sign_in.password_hash_memory_kib,
            iterations = sign_in.password_hash_iterations,
            "password hashing costs less than OWASP recommends for argon2id (19456 KiB x 2 \
             passes, or at least 7168 KiB x 5): stolen hashes are cheaper to guess"
        );
    }
    Ok(hashing)
}

/// Where SCIM is served, if it is.
fn scim_prefix(settings: &Settings) -> anyhow::Result<Option<api::scim::Prefix>> {
    if !settings.scim.enabled {
        return Ok(None);
    }
    api::scim::Prefix::parse(&settings.scim.prefix)
        .map(Some)
        .map_err(|problem| {
            anyhow::anyhow!(
                "scim.prefix {:?} cannot be used: {problem}",
                settings.scim.prefix
            )
        })
}

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

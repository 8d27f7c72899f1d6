//! Builds the running service from settings: database, background tasks and HTTP server. The binary
//! and the tests start it through the same code; tests bind port 0 and read the port back.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::api::{self, AppState};
use crate::config::Settings;
use crate::service::idempotency::{TokenPolicy, spawn_token_purger};
use crate::service::lifecycle::spawn_activator;
use crate::service::pagination::PageTokens;
use crate::service::passwords::{SignInSettings, TemporaryPasswords};
use crate::service::{GroupService, PasswordService, UserService};
use crate::store::{CredentialStore, GroupStore, SqliteStore, UserStore};

pub struct Application {
    port: u16,
    server: Server,
    store: SqliteStore,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Application {
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let store = SqliteStore::open(&settings.database.store_settings())
            .await
            .with_context(|| format!("opening database {}", settings.database.path.display()))?;
        let shared: Arc<dyn UserStore> = Arc::new(store.clone());
        let pages = PageTokens::new(&server_key(shared.as_ref(), "pagination").await?)?;
        let temporary =
            TemporaryPasswords::new(&server_key(shared.as_ref(), "temporary-passwords").await?)?;

        let (shutdown, shutdown_rx) = watch::channel(false);
        let new_user_created = Arc::new(Notify::new());
        let tasks = vec![
            spawn_activator(
                shared.clone(),
                Duration::from_millis(settings.lifecycle.activation_delay_ms),
                new_user_created.clone(),
                shutdown_rx.clone(),
            ),
            spawn_token_purger(
                shared.clone(),
                Duration::from_secs(settings.idempotency.purge_interval_secs.max(1)),
                shutdown_rx,
            ),
        ];

        let tokens = TokenPolicy {
            ttl: Duration::from_secs(settings.idempotency.ttl_secs),
        };
        let groups: Arc<dyn GroupStore> = Arc::new(store.clone());
        let credentials: Arc<dyn CredentialStore> = Arc::new(store.clone());
        let sign_in = SignInSettings {
            temporary_password_ttl: Duration::from_secs(
                settings.sign_in.temporary_password_ttl_secs,
            ),
            attempts_per_email_per_minute: settings.sign_in.attempts_per_email_per_minute,
            attempts_per_client_per_minute: settings.sign_in.attempts_per_client_per_minute,
        };
        let state = web::Data::new(AppState {
            users: UserService::new(shared, tokens, pages.clone(), new_user_created),
            groups: GroupService::new(groups, tokens, pages),
            passwords: PasswordService::new(credentials, tokens, temporary, sign_in)?,
            body_limit: settings.server.body_limit_bytes,
        });

        let address = (settings.server.host.as_str(), settings.server.port);
        let listener = TcpListener::bind(address)
            .with_context(|| format!("binding {}:{}", address.0, address.1))?;
        let port = listener.local_addr()?.port();
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(api::request_context))
                .app_data(state.clone())
                .configure(api::routes)
        })
        .shutdown_timeout(settings.server.shutdown_timeout_secs);
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        let server = server.listen(listener)?.run();
        tracing::info!(host = %settings.server.host, port, "userdir listening");

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
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let store = SqliteStore::open(&settings.database.store_settings())
        .await
        .with_context(|| format!("migrating database {}", settings.database.path.display()))?;
    store.close().await;
    Ok(())
}

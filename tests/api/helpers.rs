use std::path::PathBuf;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use aws_sdk_finspacedata::config::retry::RetryConfig;
use aws_sdk_finspacedata::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_finspacedata::types::{UserStatus, UserType};
use tempfile::TempDir;
use tokio::task::JoinHandle;
use userdir::config::Settings;
use userdir::startup::Application;

/// Logs go to stdout only when TEST_LOG is set, so failures can be investigated without noise.
static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var_os("TEST_LOG").is_some() {
        let mut settings = Settings::load(None).expect("default settings").log;
        settings.filter = "debug".into();
        let _ = userdir::telemetry::init(&settings);
    }
});

pub struct TestApp {
    pub address: String,
    pub sdk: aws_sdk_finspacedata::Client,
    pub http: reqwest::Client,
    pub db_path: PathBuf,
    pub dir: Arc<TempDir>,
    handle: ServerHandle,
    running: JoinHandle<anyhow::Result<()>>,
}

/// The settings every test starts from: an ephemeral port, a database in `dir`, users enabled at
/// once. Each test adjusts what it exercises.
pub fn test_settings(dir: &TempDir) -> Settings {
    let mut settings = Settings::load(None).expect("default settings");
    settings.server.host = "127.0.0.1".into();
    settings.server.port = 0;
    settings.server.workers = 2;
    settings.server.shutdown_timeout_secs = 5;
    settings.database.path = dir.path().join("userdir.db");
    settings.lifecycle.activation_delay_ms = 0;
    settings
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().expect("temporary directory"));
    spawn_app_in(dir, adjust).await
}

/// Starts a server over the database in `dir` (restart tests pass the directory of a stopped one).
pub async fn spawn_app_in(dir: Arc<TempDir>, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    LazyLock::force(&TRACING);
    let mut settings = test_settings(&dir);
    adjust(&mut settings);
    let app = Application::build(&settings)
        .await
        .expect("application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    let running = tokio::spawn(app.run_until_stopped());
    TestApp {
        sdk: sdk_client(&address),
        http: reqwest::Client::new(),
        address,
        db_path: settings.database.path.clone(),
        dir,
        handle,
        running,
    }
}

pub fn sdk_client(endpoint: &str) -> aws_sdk_finspacedata::Client {
    let config = aws_sdk_finspacedata::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            "AKIDUSERDIRTEST",
            "userdir-test-secret",
            None,
            None,
            "userdir-tests",
        ))
        // Tests check each response as sent: a retried request would hide what the server did.
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_finspacedata::Client::from_conf(config)
}

impl TestApp {
    /// Stops the server gracefully and waits until the database is closed; returns the directory
    /// holding it, for a restart.
    pub async fn stop(self) -> Arc<TempDir> {
        self.handle.stop(true).await;
        self.running
            .await
            .expect("server task joins")
            .expect("server stops cleanly");
        self.dir
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Creates an APP_USER with just an email and returns its id.
    pub async fn create_user(&self, email: &str) -> String {
        self.sdk
            .create_user()
            .email_address(email)
            .r#type(UserType::AppUser)
            .send()
            .await
            .expect("CreateUser succeeds")
            .user_id()
            .expect("CreateUser returns a userId")
            .to_owned()
    }

    /// Polls GetUser until the user has `status` (bounded: fails after 5 seconds).
    pub async fn wait_for_status(&self, user_id: &str, status: UserStatus) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let user = self
                .sdk
                .get_user()
                .user_id(user_id)
                .send()
                .await
                .expect("GetUser");
            if user.status() == Some(&status) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "user {user_id} did not become {status:?} within 5 s (is {:?})",
                user.status()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Opens the database file directly, read-only, for checks the API cannot make.
    pub async fn inspect_db(&self) -> sqlx::SqlitePool {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&self.db_path)
            .read_only(true);
        sqlx::SqlitePool::connect_with(options)
            .await
            .expect("database opens for inspection")
    }
}

/// A unique, valid email address for one test.
pub fn unique_email(tag: &str) -> String {
    format!(
        "{tag}.{}@example.com",
        ulid::Ulid::generate().to_string().to_lowercase()
    )
}

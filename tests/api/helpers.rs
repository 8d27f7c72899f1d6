use std::path::PathBuf;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime};

use actix_web::dev::ServerHandle;
use aws_sdk_finspacedata::config::retry::RetryConfig;
use aws_sdk_finspacedata::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_finspacedata::operation::disable_user::DisableUserOutput;
use aws_sdk_finspacedata::operation::enable_user::EnableUserOutput;
use aws_sdk_finspacedata::operation::get_user::GetUserOutput;
use aws_sdk_finspacedata::types::{UserStatus, UserType};
use tempfile::TempDir;
use tokio::task::JoinHandle;
use userdir::config::Settings;
use userdir::startup::Application;
use userdir_core::domain::AdvancingClock;

use crate::postgres;

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
    /// The port of metrics.listen, when set.
    pub metrics_port: Option<u16>,
    pub sdk: aws_sdk_finspacedata::Client,
    pub http: reqwest::Client,
    pub db_path: PathBuf,
    pub dir: Arc<TempDir>,
    /// The server's clock: advance it to reach an expiry without waiting.
    pub clock: Arc<AdvancingClock>,
    handle: ServerHandle,
    running: JoinHandle<anyhow::Result<()>>,
}

/// The settings every test starts from: an ephemeral port, a database in `dir`, users enabled at
/// once. Each test adjusts what it exercises.
pub fn test_settings(dir: &TempDir) -> Settings {
    let mut settings = Settings::load(None).expect("default settings");
    settings.server.host = "127.0.0.1".into();
    settings.server.port = 0;
    settings.server.workers = 1;
    settings.server.shutdown_timeout_secs = 5;
    settings.database.path = dir.path().join("userdir.db");
    settings.database.url = database_url(dir.path()).unwrap_or_default();
    // PostgreSQL: few connections. Each new one is a backend forked, its caches filled and every
    // statement prepared anew: at the default 16 that was most of the cluster's CPU in this run.
    // Three: one listens for creations, and two let a server's requests meet in the database as
    // they do in production (with one, every request would wait its turn for it: the PostgreSQL
    // binary took 7.8-8.2 s against 8.5-9.5, and tested less).
    settings.database.max_connections = 3;
    settings.lifecycle.activation_delay_ms = 0;
    settings.auth.root_access_key_id = ROOT.access_key_id.into();
    settings.auth.root_secret_access_key = ROOT.secret.into();
    // argon2's least cost: the suite sets and checks hundreds of passwords, and at the default
    // (19 MiB, 2 passes) that was a fifth of its CPU. passwords.rs tests the default too.
    settings.sign_in.password_hash_memory_kib = 8;
    settings.sign_in.password_hash_iterations = 1;
    settings
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = Arc::new(tempdir());
    spawn_app_in(dir, adjust).await
}

/// Starts a server over the database in `dir` (restart tests pass the directory of a stopped one).
pub async fn spawn_app_in(dir: Arc<TempDir>, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    LazyLock::force(&TRACING);
    let mut settings = test_settings(&dir);
    adjust(&mut settings);
    let clock = Arc::new(AdvancingClock::default());
    let app = Application::build_with_clock(&settings, clock.clone())
        .await
        .expect("application builds");
    let scheme = if settings.server.tls_cert_file.as_os_str().is_empty() {
        "http"
    } else {
        "https"
    };
    let address = format!("{scheme}://127.0.0.1:{}", app.port());
    let metrics_port = app.metrics_port();
    let handle = app.handle();
    let running = tokio::spawn(app.run_until_stopped());
    TestApp {
        sdk: sdk_client(&address),
        http: reqwest::Client::new(),
        address,
        metrics_port,
        db_path: settings.database.path.clone(),
        dir,
        clock,
        handle,
        running,
    }
}

/// A key pair (and session token) to sign with.
#[derive(Debug, Clone, Copy)]
pub struct Key<'a> {
    pub access_key_id: &'a str,
    pub secret: &'a str,
    pub session_token: Option<&'a str>,
}

/// The root key every test server is configured with.
pub const ROOT: Key<'static> = Key {
    access_key_id: "AKIDUSERDIRTEST",
    secret: "userdir-test-secret",
    session_token: None,
};

pub fn sdk_client(endpoint: &str) -> aws_sdk_finspacedata::Client {
    sdk_client_with(endpoint, ROOT, |config| config)
}

/// An SDK client signing with `key`; `adjust` may change anything else (time source, retries).
pub fn sdk_client_with(
    endpoint: &str,
    key: Key<'_>,
    adjust: impl FnOnce(aws_sdk_finspacedata::config::Builder) -> aws_sdk_finspacedata::config::Builder,
) -> aws_sdk_finspacedata::Client {
    let config = aws_sdk_finspacedata::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            key.access_key_id,
            key.secret,
            key.session_token.map(str::to_owned),
            None,
            "userdir-tests",
        ))
        // Tests check each response as sent: a retried request would hide what the server did.
        .retry_config(RetryConfig::disabled());
    aws_sdk_finspacedata::Client::from_conf(adjust(config).build())
}

/// A raw HTTP request, signed with SigV4 as the SDKs sign (unless told otherwise).
pub struct RawRequest<'a> {
    address: &'a str,
    http: &'a reqwest::Client,
    method: reqwest::Method,
    path: String,
    content_type: Option<String>,
    body: Vec<u8>,
    key: Option<Key<'a>>,
    time: SystemTime,
    sent_body: Option<Vec<u8>>,
    chunked: bool,
    extra_headers: Vec<(String, String)>,
}

impl<'a> RawRequest<'a> {
    pub fn json(mut self, value: &serde_json::Value) -> Self {
        self.content_type = Some("application/json".into());
        self.body = serde_json::to_vec(value).expect("JSON serialises");
        self
    }

    pub fn content_type(mut self, content_type: &str) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Send without any signature.
    pub fn unsigned(mut self) -> Self {
        self.key = None;
        self
    }

    /// Sign as if at `time`.
    pub fn signed_at(mut self, time: SystemTime) -> Self {
        self.time = time;
        self
    }

    /// Send `body` instead of what was signed.
    pub fn tampered_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.sent_body = Some(body.into());
        self
    }

    /// Send this header too, after the signature's (a second copy if the signature has one).
    pub fn extra_header(mut self, name: &str, value: &str) -> Self {
        self.extra_headers.push((name.into(), value.into()));
        self
    }

    /// Send the body in chunks without a Content-Length.
    pub fn chunked(mut self) -> Self {
        self.chunked = true;
        self
    }

    pub async fn send(self) -> reqwest::Result<reqwest::Response> {
        let url = format!("{}{}", self.address, self.path);
        let mut headers: Vec<(String, String)> = Vec::new();
        if let Some(content_type) = &self.content_type {
            headers.push(("content-type".into(), content_type.clone()));
        }
        if let Some(key) = self.key {
            let identity = Credentials::new(
                key.access_key_id,
                key.secret,
                key.session_token.map(str::to_owned),
                None,
                "raw",
            )
            .into();
            let params = aws_sigv4::sign::v4::SigningParams::builder()
                .identity(&identity)
                .region("us-east-1")
                .name("finspace-api")
                .time(self.time)
                .settings(aws_sigv4::http_request::SigningSettings::default())
                .build()
                .expect("signing params")
                .into();
            let signable = aws_sigv4::http_request::SignableRequest::new(
                self.method.as_str(),
                url.as_str(),
                headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                aws_sigv4::http_request::SignableBody::Bytes(&self.body),
            )
            .expect("signable request");
            let (instructions, _) = aws_sigv4::http_request::sign(signable, &params)
                .expect("signs")
                .into_parts();
            let (signed, _) = instructions.into_parts();
            for header in signed {
                headers.push((header.name().to_owned(), header.value().to_owned()));
            }
        }
        headers.extend(self.extra_headers);
        let mut request = self.http.request(self.method, &url);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let body = self.sent_body.unwrap_or(self.body);
        let request = if self.chunked {
            let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
                body.chunks(1024).map(|c| Ok(c.to_vec())).collect();
            request.body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                chunks,
            )))
        } else {
            request.body(body)
        };
        request.send().await
    }
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

    /// A raw request to `path`, signed with the root key.
    pub fn request(&self, method: reqwest::Method, path: &str) -> RawRequest<'_> {
        raw_request(&self.address, &self.http, method, path)
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

    /// Creates a permission group granting `permission` and returns its id.
    pub async fn create_group(
        &self,
        name: &str,
        permission: aws_sdk_finspacedata::types::ApplicationPermission,
    ) -> String {
        self.sdk
            .create_permission_group()
            .name(name)
            .application_permissions(permission)
            .send()
            .await
            .expect("CreatePermissionGroup succeeds")
            .permission_group_id()
            .expect("CreatePermissionGroup returns an id")
            .to_owned()
    }

    /// AssociateUserToPermissionGroup, which must succeed.
    pub async fn associate(&self, group: &str, user: &str) {
        self.sdk
            .associate_user_to_permission_group()
            .permission_group_id(group)
            .user_id(user)
            .send()
            .await
            .expect("AssociateUserToPermissionGroup succeeds");
    }

    /// An unsigned GET of `path`.
    pub async fn get_unsigned(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("the request is answered")
    }

    /// GetUser, which must succeed.
    pub async fn get_user(&self, user_id: &str) -> GetUserOutput {
        self.sdk
            .get_user()
            .user_id(user_id)
            .send()
            .await
            .expect("GetUser")
    }

    /// DisableUser, which must succeed.
    pub async fn disable_user(&self, user_id: &str) -> DisableUserOutput {
        self.sdk
            .disable_user()
            .user_id(user_id)
            .send()
            .await
            .expect("DisableUser")
    }

    /// EnableUser, which must succeed.
    pub async fn enable_user(&self, user_id: &str) -> EnableUserOutput {
        self.sdk
            .enable_user()
            .user_id(user_id)
            .send()
            .await
            .expect("EnableUser")
    }

    /// Polls GetUser until the user has `status` (bounded: fails after 5 seconds).
    pub async fn wait_for_status(&self, user_id: &str, status: UserStatus) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let user = self.get_user(user_id).await;
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

    /// A value `GET /metrics` shows.
    pub async fn metric(&self, name: &str) -> u64 {
        let text = self
            .http
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in\n{text}"))
    }

    /// Every audit-trail entry, oldest first, through `GET /audit`.
    pub async fn audit_events(&self) -> Vec<serde_json::Value> {
        self.audit_events_at(SystemTime::now()).await
    }

    /// As `audit_events`, asked with a signature made at `time` (the server's clock may have been
    /// advanced).
    pub async fn audit_events_at(&self, time: SystemTime) -> Vec<serde_json::Value> {
        let mut events = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let path = match &next {
                Some(token) => format!("/audit?maxResults=100&nextToken={token}"),
                None => "/audit?maxResults=100".to_owned(),
            };
            let mut page: serde_json::Value = self
                .request(reqwest::Method::GET, &path)
                .signed_at(time)
                .send()
                .await
                .expect("answered")
                .json()
                .await
                .expect("JSON");
            if let Some(items) = page["events"].as_array_mut() {
                events.append(items);
            }
            match page["nextToken"].as_str() {
                Some(token) => next = Some(token.to_owned()),
                None => return events,
            }
        }
    }

    /// The problems `userdir check` would report for this server's database (read beside it).
    pub async fn integrity_problems(&self) -> Vec<String> {
        let mut settings = test_settings(&self.dir);
        settings.database.path = self.db_path.clone();
        userdir::startup::backend(&settings)
            .check()
            .await
            .expect("the check runs")
    }
}

/// The store of the database in `dir`, opened as a server opens it (none may be running on it).
pub async fn open_store(dir: &TempDir) -> userdir::backend::Opened {
    userdir::startup::backend(&test_settings(dir))
        .open(Arc::new(userdir_core::domain::SystemClock))
        .await
        .expect("the store opens")
}

/// A write made by the operator outside any request (no idempotency token).
pub fn operator_write() -> userdir_core::store::WriteContext {
    userdir_core::store::WriteContext {
        claim: None,
        audit: userdir_core::store::AuditRecord {
            time: userdir_core::domain::Timestamp::now(),
            request_id: ulid::Ulid::generate().to_string(),
            caller: "operator:test".into(),
            operation: "Test".into(),
            target: None,
            detail: None,
        },
    }
}

/// Loads `users` (JSON lines, as `userdir import` reads them) into a new database in `dir`.
pub async fn import_users(dir: &std::path::Path, users: &str) {
    let file = dir.join("import.jsonl");
    std::fs::write(&file, users).expect("the import file is written");
    let out = userdir_command(dir)
        .args(["import", "--create"])
        .arg(&file)
        .output()
        .await
        .expect("userdir import runs");
    assert!(out.status.success(), "import failed: {out:?}");
}

/// Damages the database file in `dir` as a failing disk would (also under a running server): the
/// second half of its pages is overwritten in place with garbage. The one backend-specific fault of
/// the suite: bytes, not SQL.
pub fn damage_database(dir: &std::path::Path) {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("userdir.db"))
        .expect("the database file opens");
    let length = file.metadata().expect("its size").len();
    let page = 4096;
    let start = (length / page / 2).max(1) * page;
    let garbage = vec![0xA5; usize::try_from(length - start).expect("a small file")];
    file.write_all_at(&garbage, start)
        .expect("the database file is overwritten");
    file.sync_all().expect("synced");
}

/// On the PostgreSQL run, the database of the test whose files are in `dir` (created on first
/// use, remembered in the directory); on the SQLite run, none.
pub fn database_url(dir: &std::path::Path) -> Option<String> {
    if !postgres::enabled() {
        return None;
    }
    // Instances started together on one directory must get one database.
    static CREATING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = CREATING.lock().unwrap_or_else(|e| e.into_inner());
    let file = dir.join("database-url");
    if let Ok(url) = std::fs::read_to_string(&file) {
        return Some(url);
    }
    let url = postgres::new_migrated_database();
    std::fs::write(&file, &url).expect("the database URL is kept");
    Some(url)
}

/// On the PostgreSQL run, gives the test whose files are in `dir` an empty database instead of
/// the migrated copy every test starts from.
#[allow(dead_code, reason = "instances.rs (the PostgreSQL run only) uses it")]
pub fn use_an_empty_database(dir: &std::path::Path) {
    if postgres::enabled() {
        std::fs::write(dir.join("database-url"), postgres::new_database())
            .expect("the database URL is kept");
    }
}

/// Whether this run is on PostgreSQL; a test of SQLite's own behaviour returns early there, saying
/// so.
pub fn skipped_on_postgres(what: &str) -> bool {
    if postgres::enabled() {
        eprintln!("SKIPPED on PostgreSQL: {what} (SQLite only)");
    }
    postgres::enabled()
}

/// Whether `program` is a file in one of `path`'s directories; if not, `check` is skipped (said
/// loudly), or fails under CI, which installs what the tests use.
#[allow(
    dead_code,
    reason = "acceptance/readme.rs (the SQLite run only) uses it"
)]
pub fn program_on_path(check: &str, program: &str, path: &std::ffi::OsStr) -> bool {
    let found = std::env::split_paths(path).any(|dir| dir.join(program).is_file());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must have `{program}` (.ci/run installs it)"
        );
        eprintln!("SKIPPED {check}: `{program}` is not on PATH");
    }
    found
}

/// The Python interpreter `python3` on PATH runs, resolved once: the tests start Python tools some
/// two dozen times, and a version manager's `python3` is a shell-script shim (pyenv's runs bash and
/// several helpers) costing more CPU at each start than a small script itself. None where there is
/// no `python3`.
pub fn python3() -> Option<&'static std::path::Path> {
    static PYTHON: LazyLock<Option<PathBuf>> = LazyLock::new(|| {
        let out = std::process::Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .ok()
            .filter(|out| out.status.success())?;
        let path = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
        path.is_file().then_some(path)
    });
    PYTHON.as_deref()
}

/// A command running the resolved [`python3`] (or `python3` from PATH, failing as it would).
pub fn python_command() -> tokio::process::Command {
    tokio::process::Command::new(python3().unwrap_or(std::path::Path::new("python3")))
}

/// Whether Python and every one of `modules` are installed (found, not imported: importing
/// schemathesis or scim2-tester costs half a second); if not, `check` is skipped (said loudly),
/// or fails under CI, which installs what the tests use.
pub fn python_modules_available(check: &str, modules: &[&str]) -> bool {
    const FIND: &str = "import importlib.util, sys\n\
        sys.exit(0 if all(importlib.util.find_spec(m) for m in sys.argv[1:]) else 1)";
    let found = python3().is_some_and(|python| {
        std::process::Command::new(python)
            .args(["-c", FIND])
            .args(modules)
            .output()
            .is_ok_and(|out| out.status.success())
    });
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must have python3 with {} (.ci/run installs them)",
            modules.join(", ")
        );
        eprintln!(
            "SKIPPED {check}: python3 with {} is not installed",
            modules.join(", ")
        );
    }
    found
}

/// PATH with the directory of the resolved [`python3`] first when it holds `program` (a Python
/// tool's own script, such as `aws`), so a shell finds the tool without going through a shim.
#[allow(
    dead_code,
    reason = "acceptance/readme.rs (the SQLite run only) uses it"
)]
pub fn path_finding_python_tool(program: &str) -> std::ffi::OsString {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let Some(bin) = python3().and_then(std::path::Path::parent) else {
        return path;
    };
    if !bin.join(program).is_file() {
        return path;
    }
    std::env::join_paths(std::iter::once(bin.to_owned()).chain(std::env::split_paths(&path)))
        .unwrap_or(path)
}

/// A new temporary directory for a test, in memory where there is room (see [`scratch_root`]).
pub fn tempdir() -> TempDir {
    tempfile::tempdir_in(scratch_root()).expect("a temporary directory")
}

/// Where tests keep their files: `/dev/shm` (tmpfs) where it has room, else the temporary
/// directory. The suite's databases, WAL and PostgreSQL clusters are thousands of short-lived
/// files; on a disk their journalling and fsyncs were a seventh of the SQLite run's CPU and a
/// fifth of its wall time, which no assertion depends on (durability across a process crash is
/// tested by kill -9, which tmpfs survives like a disk).
pub fn scratch_root() -> &'static std::path::Path {
    static ROOT: LazyLock<PathBuf> = LazyLock::new(|| {
        let shm = std::path::Path::new("/dev/shm");
        let free = rustix::fs::statvfs(shm)
            .map(|stats| stats.f_bavail.saturating_mul(stats.f_frsize))
            .unwrap_or(0);
        // A whole run's databases and WAL, both backends at once, stay under 2 GB.
        if free >= 4 << 30 {
            shm.to_owned()
        } else {
            std::env::temp_dir()
        }
    });
    &ROOT
}

/// A unique, valid email address for one test.
pub fn unique_email(tag: &str) -> String {
    format!(
        "{tag}.{}@example.com",
        ulid::Ulid::generate().to_string().to_lowercase()
    )
}

/// The real `userdir` binary, serving the database in `dir` on its own loopback port.
pub struct ServeProcess {
    pub child: tokio::process::Child,
    pub address: String,
}

/// A `userdir` command over the database in `dir`, signed with the test root key.
pub fn userdir_command(dir: &std::path::Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_userdir"));
    if let Some(url) = database_url(dir) {
        command.env("USERDIR__DATABASE__URL", url);
    }
    command
        .env("USERDIR__DATABASE__PATH", dir.join("userdir.db"))
        .env("USERDIR__AUTH__ROOT_ACCESS_KEY_ID", ROOT.access_key_id)
        .env("USERDIR__AUTH__ROOT_SECRET_ACCESS_KEY", ROOT.secret)
        .env("USERDIR__LOG__FILTER", "warn")
        // As test_settings: argon2's least cost.
        .env("USERDIR__SIGN_IN__PASSWORD_HASH_MEMORY_KIB", "8")
        .env("USERDIR__SIGN_IN__PASSWORD_HASH_ITERATIONS", "1")
        .kill_on_drop(true);
    command
}

/// A free loopback port (another process may still take it before it is used).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

impl ServeProcess {
    /// Starts `userdir serve` and waits (bounded) until it is ready.
    pub async fn start(dir: &std::path::Path) -> Self {
        let port = free_port();
        let child = userdir_command(dir)
            .arg("serve")
            .env("USERDIR__SERVER__PORT", port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the binary starts");
        let address = format!("http://127.0.0.1:{port}");
        wait_ready(&address).await;
        Self { child, address }
    }
}

/// A server started elsewhere (a `userdir serve` process), reached over HTTP.
pub struct RemoteApp {
    pub address: String,
    pub http: reqwest::Client,
}

impl RemoteApp {
    /// Waits (bounded) until the server at `address` is ready.
    pub async fn wait_ready(address: String) -> Self {
        wait_ready(&address).await;
        Self {
            address,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// A raw request to `path`, signed with the root key.
    pub fn request(&self, method: reqwest::Method, path: &str) -> RawRequest<'_> {
        raw_request(&self.address, &self.http, method, path)
    }
}

async fn wait_ready(address: &str) {
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !http
        .get(format!("{address}/health/ready"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the binary did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A raw request to `path` of the server at `address`, signed with the root key.
pub fn raw_request<'a>(
    address: &'a str,
    http: &'a reqwest::Client,
    method: reqwest::Method,
    path: &str,
) -> RawRequest<'a> {
    RawRequest {
        address,
        http,
        method,
        path: path.to_owned(),
        content_type: None,
        body: Vec::new(),
        key: Some(ROOT),
        time: SystemTime::now(),
        sent_body: None,
        chunked: false,
        extra_headers: Vec::new(),
    }
}

/// The AWS error code an SDK call failed with; `why` names the refusal expected if it succeeded.
pub fn failure<T, E, R>(
    result: Result<T, aws_sdk_finspacedata::error::SdkError<E, R>>,
    why: &str,
) -> String
where
    T: std::fmt::Debug,
    E: aws_sdk_finspacedata::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    let error = result.expect_err(why);
    aws_sdk_finspacedata::error::ProvideErrorMetadata::code(&error)
        .unwrap_or("<none>")
        .to_owned()
}

/// Everything but the unreserved characters of RFC 3986, as the SDKs encode path and query values.
const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `value` percent-encoded for a path segment or a query value.
pub fn percent_encoded(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, UNRESERVED).to_string()
}

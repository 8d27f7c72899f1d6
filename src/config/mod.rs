//! Typed settings, layered: the built-in `config/default.toml`, then an optional file given with
//! `--config`, then `USERDIR__SECTION__KEY` environment variables. Strict: a key no default declares
//! is refused, as is a value of the wrong type.

mod error;
mod layers;
mod listing;
mod paths;
mod show;
mod strict;
mod variants;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use userdir_store_postgres::PostgresSettings;
use userdir_store_sqlite::SqliteSettings;

pub use error::InvalidConfig;
use layers::Layers;
pub use layers::Origin;

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub log: LogSettings,
    pub lifecycle: LifecycleSettings,
    pub idempotency: IdempotencySettings,
    pub sign_in: SignInConfig,
    pub auth: AuthSettings,
    pub throttle: ThrottleSettings,
    pub limits: LimitSettings,
    pub audit: AuditSettings,
    pub metrics: MetricsSettings,
    pub scim: ScimSettings,
}

/// The SCIM 2.0 endpoint for identity providers.
#[derive(Debug, Clone, Deserialize)]
pub struct ScimSettings {
    pub enabled: bool,
    /// Where it is served, e.g. `/scim/v2`.
    pub prefix: String,
}

/// Who may read `GET /metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricsAccess {
    /// Anyone who reaches the port.
    Open,
    /// Requests signed (SigV4) with the root key.
    Root,
    /// Not served.
    Off,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MetricsSettings {
    #[serde(deserialize_with = "variants::one_of")]
    pub access: MetricsAccess,
    /// Empty: served with the API; else an address of its own (`host:port`, plain HTTP).
    pub listen: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuditSettings {
    /// 0: keep every entry.
    pub retention_days: u32,
    pub summary_interval_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    Sigv4,
    Anonymous,
}

#[derive(Clone, Deserialize)]
pub struct AuthSettings {
    #[serde(deserialize_with = "variants::one_of")]
    pub mode: AuthMode,
    pub root_access_key_id: String,
    pub root_secret_access_key: String,
    pub root_credentials_file: PathBuf,
    pub max_clock_skew_secs: u64,
    pub environment_id: String,
    pub principals: Vec<PrincipalSettings>,
    pub failures_per_client_per_minute: u32,
    pub failures_audited_per_second: u32,
}

#[derive(Clone, Deserialize)]
pub struct PrincipalSettings {
    pub arn: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

// Secrets stay out of Debug output, and so out of logs.
impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("mode", &self.mode)
            .field("root_access_key_id", &self.root_access_key_id)
            .field("root_credentials_file", &self.root_credentials_file)
            .field("max_clock_skew_secs", &self.max_clock_skew_secs)
            .field("environment_id", &self.environment_id)
            .field(
                "failures_per_client_per_minute",
                &self.failures_per_client_per_minute,
            )
            .field(
                "failures_audited_per_second",
                &self.failures_audited_per_second,
            )
            .field(
                "principals",
                &self.principals.iter().map(|p| &p.arn).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ThrottleSettings {
    pub requests_per_second: u32,
    pub burst: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LimitSettings {
    pub max_users: u64,
    pub max_permission_groups: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SignInConfig {
    pub temporary_password_ttl_secs: u64,
    pub attempts_per_email_per_minute: u32,
    pub attempts_per_client_per_minute: u32,
    pub password_hash_memory_kib: u32,
    pub password_hash_iterations: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub workers: usize,
    pub body_limit_bytes: usize,
    pub shutdown_timeout_secs: u64,
    pub client_request_timeout_ms: u64,
    pub body_timeout_ms: u64,
    pub keep_alive_secs: u64,
    pub tls_cert_file: PathBuf,
    pub tls_key_file: PathBuf,
    pub trusted_proxies: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    #[serde(deserialize_with = "database_url")]
    pub url: String,
    pub path: PathBuf,
    pub busy_timeout_ms: u64,
    pub read_connections: u32,
    pub cached_users: usize,
    #[serde(deserialize_with = "postgres_connections")]
    pub max_connections: u32,
    pub acquire_timeout_ms: u64,
}

/// `database.url`: empty (SQLite) or a PostgreSQL URL.
fn database_url<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let url = String::deserialize(deserializer)?;
    let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
    if url.is_empty() || postgres {
        Ok(url)
    } else {
        Err(serde::de::Error::custom(
            "expected a postgres:// (or postgresql://) URL, or nothing for SQLite at \
             database.path",
        ))
    }
}

/// `database.max_connections`: at least 2. The PostgreSQL backend keeps one connection of its pool
/// listening for creations (LISTEN/NOTIFY) for as long as it runs; with one in all, every request
/// and the start itself waited for a connection that never came free.
fn postgres_connections<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<u32, D::Error> {
    let connections = u32::deserialize(deserializer)?;
    if connections < 2 {
        return Err(serde::de::Error::custom(
            "expected at least 2: one connection stays open listening for new users to \
             activate, and requests need another",
        ));
    }
    Ok(connections)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    #[serde(deserialize_with = "variants::one_of")]
    pub format: LogFormat,
    pub filter: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LifecycleSettings {
    pub activation_delay_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IdempotencySettings {
    pub ttl_secs: u64,
    pub purge_interval_secs: u64,
}

impl Settings {
    /// Loads the layers; `file` is the optional `--config` file.
    pub fn load(file: Option<&Path>) -> Result<Self, InvalidConfig> {
        Effective::load(file).map(|effective| effective.settings)
    }

    /// Loads the layers with `env` in place of the process environment.
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, InvalidConfig> {
        Effective::load_from(file, env).map(|effective| effective.settings)
    }
}

/// The settings, and the layered values they were read from.
pub struct Effective {
    pub settings: Settings,
    layers: Layers,
}

impl Effective {
    /// Loads the layers; `file` is the optional `--config` file.
    pub fn load(file: Option<&Path>) -> Result<Self, InvalidConfig> {
        Self::load_from(file, process_env()?)
    }

    /// Loads the layers with `env` in place of the process environment.
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, InvalidConfig> {
        let layers = Layers::collect(file, env)?;
        let mut problems = strict::unknown_settings(&layers);
        match Settings::deserialize(layers.merged().clone()) {
            Ok(settings) if problems.is_empty() => return Ok(Self { settings, layers }),
            Ok(_) => {}
            Err(error) => problems.push(error::wrong_value(error, &layers)),
        }
        Err(InvalidConfig::new(problems))
    }

    /// Every setting, one a line, as `section.key = value  # source`, the source being `default`,
    /// `file PATH` or `env NAME`; secrets masked.
    pub fn listing(&self) -> Vec<String> {
        listing::lines(&self.layers)
    }

    /// The configuration files read besides the built-in defaults (the `--config` file, if any).
    pub fn files(&self) -> Vec<&Path> {
        self.layers
            .overrides()
            .iter()
            .filter_map(|layer| match &layer.origin {
                Origin::File(path) => Some(path.as_path()),
                _ => None,
            })
            .collect()
    }
}

/// The process environment. A variable whose name is not Unicode cannot be a setting; a setting
/// whose value is not Unicode is refused.
fn process_env() -> Result<Vec<(String, String)>, InvalidConfig> {
    let mut vars = Vec::new();
    for (name, value) in std::env::vars_os() {
        let Ok(name) = name.into_string() else {
            continue;
        };
        match value.into_string() {
            Ok(value) => vars.push((name, value)),
            Err(_) if layers::is_setting(&name) => {
                return Err(InvalidConfig::one(format!(
                    "environment variable {name} is not valid UTF-8"
                )));
            }
            Err(_) => {}
        }
    }
    Ok(vars)
}

impl DatabaseSettings {
    /// The PostgreSQL backend's settings, if `url` selects it.
    pub fn postgres_settings(&self) -> Option<PostgresSettings> {
        (!self.url.is_empty()).then(|| PostgresSettings {
            url: self.url.clone(),
            max_connections: self.max_connections,
            acquire_timeout: Duration::from_millis(self.acquire_timeout_ms),
        })
    }

    pub fn sqlite_settings(&self) -> SqliteSettings {
        SqliteSettings {
            path: self.path.clone(),
            busy_timeout: Duration::from_millis(self.busy_timeout_ms),
            read_connections: self.read_connections,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::problems;
    use super::*;

    const NO_ENV: [(String, String); 0] = [];

    #[test]
    fn built_in_defaults_deserialize() {
        let settings = Settings::load_from(None, NO_ENV).expect("defaults load");
        assert_eq!(settings.server.host, "127.0.0.1");
        assert_eq!(settings.server.port, 8765);
        assert_eq!(settings.server.body_limit_bytes, 64 * 1024);
        assert_eq!(settings.database.path, PathBuf::from("./data/userdir.db"));
        assert_eq!(settings.idempotency.ttl_secs, 600);
        assert_eq!(settings.log.format, LogFormat::Pretty);
    }

    #[test]
    fn a_config_file_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("local.toml");
        std::fs::write(&file, "[server]\nport = 9999\n[log]\nformat = \"json\"\n").unwrap();
        let settings = Settings::load_from(Some(&file), NO_ENV).expect("file loads");
        assert_eq!(settings.server.port, 9999);
        assert_eq!(settings.log.format, LogFormat::Json);
        assert_eq!(
            settings.server.host, "127.0.0.1",
            "untouched keys keep their default"
        );
    }

    #[test]
    fn environment_variables_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("local.toml");
        std::fs::write(&file, "[server]\nport = 9999\nhost = \"0.0.0.0\"\n").unwrap();
        let env = [
            ("USERDIR__SERVER__PORT".to_owned(), "9000".to_owned()),
            ("USERDIR_CONFIG".to_owned(), "ignored.toml".to_owned()),
        ];
        let settings = Settings::load_from(Some(&file), env).expect("loads");
        assert_eq!(settings.server.port, 9000);
        assert_eq!(settings.server.host, "0.0.0.0");
    }

    #[test]
    fn an_enum_value_that_is_none_of_them_lists_them() {
        assert_eq!(
            problems("[log]\nformat = \"xml\"\n", &[]),
            ["log.format = \"xml\" (from F): expected one of pretty, json"]
        );
        assert_eq!(
            problems("", &[("USERDIR__AUTH__MODE", "none")]),
            [
                "auth.mode = \"none\" (from environment variable USERDIR__AUTH__MODE): expected \
                 one of sigv4, anonymous"
            ]
        );
    }

    #[test]
    fn a_value_of_the_wrong_type_is_named_with_its_source() {
        assert_eq!(
            problems("", &[("USERDIR__SERVER__PORT", "http")]),
            [
                "server.port = \"http\" (from environment variable USERDIR__SERVER__PORT): \
                 expected an integer"
            ]
        );
        assert_eq!(
            problems("[server]\nport = 70000\n", &[]),
            ["server.port = 70000 (from F): expected an unsigned 16 bit integer"]
        );
    }

    #[test]
    fn too_few_postgres_connections_are_refused() {
        assert_eq!(
            problems("[database]\nmax_connections = 1\n", &[]),
            [
                "database.max_connections = 1 (from F): expected at least 2: one connection stays \
                 open listening for new users to activate, and requests need another"
            ]
        );
        assert_eq!(
            problems("", &[("USERDIR__DATABASE__MAX_CONNECTIONS", "0")]).len(),
            1
        );
    }

    #[test]
    fn a_principal_missing_a_key_is_named() {
        assert_eq!(
            problems(
                "[[auth.principals]]\narn = \"a\"\naccess_key_id = \"k\"\n",
                &[]
            ),
            ["missing setting auth.principals[0].secret_access_key (from F)"]
        );
    }

    #[test]
    fn unknown_keys_and_a_wrong_value_are_reported_together() {
        assert_eq!(
            problems("[server]\nprot = 1\n[log]\nformat = \"xml\"\n", &[]),
            [
                "unknown setting server.prot (from F) — did you mean server.port?",
                "log.format = \"xml\" (from F): expected one of pretty, json",
            ]
        );
    }

    #[test]
    fn the_listing_names_each_source_and_masks_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("userdir.toml");
        std::fs::write(
            &file,
            "[server]\nport = 9000\n[[auth.principals]]\narn = \"arn:aws:iam::1:role/A\"\n\
             access_key_id = \"AKIA1\"\nsecret_access_key = \"principal-secret\"\n",
        )
        .unwrap();
        let env = [
            ("USERDIR__LOG__FORMAT".to_owned(), "json".to_owned()),
            (
                "USERDIR__AUTH__ROOT_SECRET_ACCESS_KEY".to_owned(),
                "root-secret".to_owned(),
            ),
        ];
        let listing = Effective::load_from(Some(&file), env)
            .expect("loads")
            .listing()
            .join("\n")
            .replace(&file.display().to_string(), "F");
        for line in [
            "server.host = \"127.0.0.1\"  # default",
            "server.port = 9000  # file F",
            "log.format = \"json\"  # env USERDIR__LOG__FORMAT",
            "auth.root_access_key_id = \"\"  # default",
            "auth.root_secret_access_key = \"********\"  # env USERDIR__AUTH__ROOT_SECRET_ACCESS_KEY",
            "auth.principals[0].arn = \"arn:aws:iam::1:role/A\"  # file F",
            "auth.principals[0].secret_access_key = \"********\"  # file F",
        ] {
            assert!(listing.lines().any(|l| l == line), "{line:?} in\n{listing}");
        }
        assert!(!listing.contains("secret\""), "no secret shown:\n{listing}");
        assert!(listing.lines().all(|line| line.contains("  # ")));
    }

    #[test]
    fn the_listing_covers_every_default() {
        let listing = Effective::load_from(None, NO_ENV).expect("loads").listing();
        assert!(listing.contains(&"auth.principals = []  # default".to_owned()));
        let settings = include_str!("../../config/default.toml")
            .lines()
            .filter(|line| !line.starts_with('#') && line.contains(" = "))
            .count();
        assert_eq!(
            listing.len(),
            settings,
            "one line per setting:\n{}",
            listing.join("\n")
        );
    }
}

/// What the configuration tests share.
#[cfg(test)]
pub(crate) mod testing {
    use super::Settings;

    /// The problems loading `file` (TOML text) and `env` reports, with the file's path shown as F.
    pub(crate) fn problems(file: &str, env: &[(&str, &str)]) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("userdir.toml");
        std::fs::write(&path, file).unwrap();
        let env = env
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()));
        let error =
            Settings::load_from(Some(&path), env).expect_err("the configuration is refused");
        let shown = path.display().to_string();
        error
            .problems()
            .iter()
            .map(|problem| problem.replace(&shown, "F"))
            .collect()
    }
}

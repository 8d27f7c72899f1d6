//! The root key: configured, or generated once into a file beside the database and never replaced
//! behind the operator's back; `userdir root-key rotate` replaces it on purpose, audited.

use std::path::Path;

use anyhow::Context;

use super::{print_lines, with_store_for_change};
use crate::backend::Backend;
use crate::config::Settings;
use userdir_core::service::credentials::KeyPair;
use userdir_core::store::{self, UserStore};
use userdir_store_sqlite::database_dir;

/// The root key pair: configured, kept in the generated file, or generated now for a database
/// without users.
pub(super) async fn root_for(
    store: &dyn UserStore,
    settings: &Settings,
) -> anyhow::Result<KeyPair> {
    let has_users = !store.list_users(None, 1).await?.is_empty();
    root_credentials(settings, has_users)
}

/// A database that several instances serve needs the same root key in every one: it must come
/// from configuration (SigV4 needs the secret itself, so it cannot be kept hashed in the database).
pub(crate) fn require_shared_root(backend: &Backend, settings: &Settings) -> anyhow::Result<()> {
    if backend.is_shared() && configured_root(settings)?.is_none() {
        anyhow::bail!(
            "with PostgreSQL (database.url) the root key must be configured, the same on every \
             instance: set USERDIR__AUTH__ROOT_ACCESS_KEY_ID and \
             USERDIR__AUTH__ROOT_SECRET_ACCESS_KEY (or auth.root_access_key_id and \
             auth.root_secret_access_key); a key generated into a file would differ between \
             instances"
        );
    }
    Ok(())
}

/// From configuration if set there, else from the credentials file beside the database, which
/// the first start creates (readable by its owner only).
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
    let file = root_credentials_path(settings);
    let pair = with_store_for_change(settings, async |store, clock| {
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
    })
    .await?;
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

//! Seeds a fresh database through the server's own front door: its migrations (`userdir migrate
//! --create`) and its bulk-load path (`userdir import`), never its SQL, so that any backend can
//! be seeded alike. One [`Plan`] may seed several databases (a baseline build's and the
//! candidate's), each with the same users.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use rand::Rng;
use rand::seq::SliceRandom;

/// What a seeded database holds, decided once.
pub struct Plan {
    /// The seeded user ids, in ascending order (the order ListUsers walks).
    pub ids: Arc<[String]>,
    /// A random permutation of the indexes of `ids`: the user of Zipf rank k is
    /// `ids[hot_order[k - 1]]`, so that the hot users are not neighbours in id order.
    pub hot_order: Arc<[u32]>,
}

const BASE_MILLIS: u64 = 1_700_000_000_000;

impl Plan {
    pub fn new(users: usize) -> anyhow::Result<Self> {
        let mut rng = rand::rng();
        let mut ids: Vec<String> = (0..users)
            .map(|i| {
                ulid::Ulid::from_parts(BASE_MILLIS + i as u64, u128::from(rng.next_u64()))
                    .to_string()
            })
            .collect();
        ids.sort();
        let mut hot_order: Vec<u32> = (0..u32::try_from(users)?).collect();
        hot_order.shuffle(&mut rng);
        Ok(Self {
            ids: ids.into(),
            hot_order: hot_order.into(),
        })
    }

    /// Writes the users as `userdir import` reads them (one JSON object a line) into `path`.
    pub fn write_import_file(&self, path: &Path) -> anyhow::Result<()> {
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        );
        for (n, id) in self.ids.iter().enumerate() {
            writeln!(
                out,
                r#"{{"userId":"{id}","emailAddress":"seed{n}@bench.test","type":"APP_USER","status":"ENABLED","firstName":"Seeded","createTime":{BASE_MILLIS}}}"#
            )?;
        }
        out.flush()?;
        Ok(())
    }
}

/// Creates `db` (or the database at `url`) with `server`'s migrations and imports `users` (a file from
/// [`Plan::write_import_file`]) with it; returns the time taken. A build from before `userdir
/// import` existed has the file imported by `importer` (the other build) instead.
pub async fn seed(
    server: &Path,
    importer: &Path,
    db: &Path,
    url: Option<&str>,
    users: &Path,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    // Builds from before `migrate --create` created a missing database without being asked.
    let created = run(server, db, url, &["migrate", "--create"]).await?;
    if !created.status.success() {
        let migrated = run(server, db, url, &["migrate"]).await?;
        ensure!(
            migrated.status.success(),
            "{} migrate failed: {}",
            server.display(),
            String::from_utf8_lossy(&migrated.stderr)
        );
    }
    let file = users.to_str().context("a Unicode path")?;
    let mut imported = run(server, db, url, &["import", file]).await?;
    if !imported.status.success()
        && String::from_utf8_lossy(&imported.stderr).contains("unrecognized subcommand")
    {
        println!(
            "  {} has no `import`: the users are imported with {}",
            server.display(),
            importer.display()
        );
        imported = run(importer, db, url, &["import", file]).await?;
    }
    ensure!(
        imported.status.success(),
        "importing the users failed: {}",
        String::from_utf8_lossy(&imported.stderr)
    );
    Ok(started.elapsed())
}

/// A SCIM bearer token made on the seeded database (`ScimLookup`'s), or `None` for a build
/// without SCIM.
pub async fn scim_token(
    server: &Path,
    db: &Path,
    url: Option<&str>,
) -> anyhow::Result<Option<String>> {
    let made = run(
        server,
        db,
        url,
        &["scim-token", "create", "--name", "bench"],
    )
    .await?;
    if !made.status.success() {
        if String::from_utf8_lossy(&made.stderr).contains("unrecognized subcommand") {
            return Ok(None);
        }
        anyhow::bail!(
            "making a SCIM token failed: {}",
            String::from_utf8_lossy(&made.stderr)
        );
    }
    Ok(Some(String::from_utf8(made.stdout)?.trim().to_owned()))
}

async fn run(
    binary: &Path,
    db: &Path,
    url: Option<&str>,
    args: &[&str],
) -> anyhow::Result<std::process::Output> {
    let mut command = tokio::process::Command::new(binary);
    if let Some(url) = url {
        command.env("USERDIR__DATABASE__URL", url);
    }
    command
        .args(args)
        .env("USERDIR__DATABASE__PATH", db)
        .env("USERDIR__LOG__FILTER", "error")
        .env("USERDIR__LIMITS__MAX_USERS", "1000000000")
        .output()
        .await
        .with_context(|| format!("running {} {}", binary.display(), args.join(" ")))
}

/// Where the import file of a run goes.
pub fn import_file(dir: &Path) -> PathBuf {
    dir.join("users.jsonl")
}

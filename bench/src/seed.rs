//! Seeds a fresh database quickly: the schema comes from the server's own migrations
//! (`userdir migrate`), the users from multi-row INSERTs in large transactions. One [`Plan`] may
//! seed several databases (a baseline build's and the candidate's), each migrated by its own
//! binary and given the same users and the same pagination key.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use rand::Rng;
use rand::seq::SliceRandom;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, Executor, QueryBuilder, Sqlite, SqliteConnection};

/// What a seeded database holds, decided once.
pub struct Plan {
    /// The seeded user ids, in ascending order (the order ListUsers walks).
    pub ids: Arc<[String]>,
    /// The key the server will sign pagination tokens with (planted before it starts), so that the
    /// driver can issue a token for a deep page without walking to it.
    pub pagination_key: [u8; 32],
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
        let mut pagination_key = [0u8; 32];
        rng.fill_bytes(&mut pagination_key);
        let mut hot_order: Vec<u32> = (0..u32::try_from(users)?).collect();
        hot_order.shuffle(&mut rng);
        Ok(Self {
            ids: ids.into(),
            pagination_key,
            hot_order: hot_order.into(),
        })
    }
}

/// Creates `db` with `server`'s migrations and fills it as `plan` says; returns the time taken.
pub async fn seed(server: &Path, db: &Path, plan: &Plan) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let migrate = |args: &'static [&'static str]| {
        tokio::process::Command::new(server)
            .args(args)
            .env("USERDIR__DATABASE__PATH", db)
            .env("USERDIR__LOG__FILTER", "error")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
    };
    // Builds from before `migrate --create` created a missing database without being asked.
    let mut status = migrate(&["migrate", "--create"])
        .await
        .with_context(|| format!("running {} migrate", server.display()))?;
    if !status.success() {
        status = migrate(&["migrate"])
            .await
            .with_context(|| format!("running {} migrate", server.display()))?;
    }
    ensure!(
        status.success(),
        "{} migrate failed: {status}",
        server.display()
    );

    let options = SqliteConnectOptions::new()
        .filename(db)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Off);
    let mut conn = SqliteConnection::connect_with(&options).await?;

    let now = i64::try_from(BASE_MILLIS).unwrap_or(i64::MAX);
    for (n, chunk) in plan.ids.chunks(50_000).enumerate() {
        conn.execute("BEGIN").await?;
        for (m, rows) in chunk.chunks(1_000).enumerate() {
            let offset = n * 50_000 + m * 1_000;
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO users (user_id, email, user_type, status, api_access, first_name, \
                 create_time, last_enabled_time, last_modified_time) ",
            );
            insert.push_values(rows.iter().enumerate(), |mut row, (k, id)| {
                row.push_bind(id.as_str())
                    .push_bind(format!("seed{}@bench.test", offset + k))
                    .push_bind("APP_USER")
                    .push_bind("ENABLED")
                    .push_bind("DISABLED")
                    .push_bind("Seeded")
                    .push_bind(now)
                    .push_bind(now)
                    .push_bind(now);
            });
            insert.build().execute(&mut conn).await?;
        }
        conn.execute("COMMIT").await?;
    }

    sqlx::query(
        "INSERT INTO server_keys (purpose, key, create_time) VALUES ('pagination', ?1, ?2)",
    )
    .bind(plan.pagination_key.as_slice())
    .bind(now)
    .execute(&mut conn)
    .await
    .context("planting the pagination key")?;
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").await?;
    conn.close().await?;
    Ok(started.elapsed())
}

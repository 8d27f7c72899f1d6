//! `--backend postgres`: a throwaway PostgreSQL cluster for the run (initdb + pg_ctl on a
//! temporary directory, unix socket only, durable as in production: fsync and synchronous_commit
//! on), a database per server, and pgbench's ceiling for the same work on the same machine.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde::Serialize;

pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    as_root: bool,
}

impl Cluster {
    /// Creates and starts a cluster in `dir`, allowing `max_connections` sessions.
    pub fn start(dir: &Path, max_connections: u32) -> anyhow::Result<Self> {
        let bin =
            newest_bin().context("PostgreSQL is not installed (apt-get install postgresql)")?;
        std::fs::create_dir_all(dir)?;
        let as_root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0");
        if as_root {
            run(Command::new("chown").arg("postgres").arg(dir))?;
        }
        let cluster = Self {
            dir: dir.to_owned(),
            bin,
            as_root,
        };
        run(cluster
            .command("initdb")
            .args(["--auth=trust", "--username=postgres", "-D"])
            .arg(cluster.data()))?;
        let options = format!(
            "-k {} -c listen_addresses='' -c max_connections={max_connections}",
            dir.display()
        );
        run(cluster
            .command("pg_ctl")
            .arg("-D")
            .arg(cluster.data())
            .arg("-l")
            .arg(dir.join("postgres.log"))
            .args(["-w", "-o", &options, "start"]))?;
        Ok(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The server's version line.
    pub fn version(&self) -> String {
        Command::new(self.bin.join("postgres"))
            .arg("--version")
            .output()
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
            .unwrap_or_default()
    }

    /// Creates the database `name` and returns its URL.
    pub fn create_database(&self, name: &str) -> anyhow::Result<String> {
        self.psql("postgres", &format!("CREATE DATABASE {name}"))?;
        Ok(self.url(name))
    }

    pub fn url(&self, name: &str) -> String {
        format!(
            "postgres://postgres@localhost/{name}?host={}",
            self.dir.display()
        )
    }

    /// Runs `sql` on database `db` (the ceiling's own setup).
    pub fn psql(&self, db: &str, sql: &str) -> anyhow::Result<()> {
        run(Command::new(self.bin.join("psql"))
            .arg(format!(
                "host={} user=postgres dbname={db}",
                self.dir.display()
            ))
            .args(["-q", "-v", "ON_ERROR_STOP=1", "-c", sql]))
    }

    /// pgbench running `script` on `db` with `clients` connections for `seconds`.
    pub fn pgbench(
        &self,
        db: &str,
        name: &str,
        script: &str,
        clients: usize,
        seconds: u64,
    ) -> anyhow::Result<PgbenchResult> {
        let file = self.dir.join(format!("{name}.sql"));
        std::fs::write(&file, script)?;
        let out = Command::new(self.bin.join("pgbench"))
            .args(["-n", "-h"])
            .arg(&self.dir)
            .args([
                "-U",
                "postgres",
                "-c",
                &clients.to_string(),
                "-j",
                "2",
                "-T",
            ])
            .arg(seconds.to_string())
            .arg("-f")
            .arg(&file)
            .arg(db)
            .output()
            .context("running pgbench")?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            bail!(
                "pgbench failed: {}{}",
                text,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let number_after = |label: &str| {
            text.lines()
                .find(|line| line.trim_start().starts_with(label))
                .and_then(|line| line.split('=').nth(1))
                .and_then(|value| value.split_whitespace().next())
                .and_then(|value| value.parse::<f64>().ok())
        };
        Ok(PgbenchResult {
            name: name.to_owned(),
            clients,
            seconds,
            tps: number_after("tps").context("pgbench printed no tps")?,
            latency_avg_ms: number_after("latency average").unwrap_or(0.0),
        })
    }

    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if self.as_root {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

/// What pgbench measured for one script.
#[derive(Debug, Clone, Serialize)]
pub struct PgbenchResult {
    pub name: String,
    pub clients: usize,
    pub seconds: u64,
    pub tps: f64,
    pub latency_avg_ms: f64,
}

/// The ceiling's scripts: the same single-row work userdir's CreateUser and GetUser make, done
/// directly. `bench_ids` maps 1..=n to the seeded user ids, so that a select is a primary-key
/// lookup of a random seeded user (plus that one integer-key lookup).
pub fn setup_sql(users: usize) -> String {
    format!(
        "CREATE SEQUENCE bench_seq;
         CREATE TABLE bench_ids (n BIGINT PRIMARY KEY, user_id TEXT COLLATE \"C\" NOT NULL);
         INSERT INTO bench_ids SELECT row_number() OVER (ORDER BY user_id), user_id FROM users
             LIMIT {users};"
    )
}

pub const INSERT_SCRIPT: &str = "\
INSERT INTO users (user_id, email, user_type, status, api_access, create_time, last_modified_time)
VALUES (lpad(nextval('bench_seq')::text, 26, 'P'), 'pgbench' || currval('bench_seq') || '@bench.test',
        'APP_USER', 'CREATING', 'DISABLED', 1700000000000, 1700000000000);
";

pub fn select_script(users: usize) -> String {
    format!(
        "\\set n random(1, {users})
SELECT u.* FROM users u WHERE u.user_id = (SELECT user_id FROM bench_ids WHERE n = :n);
"
    )
}

fn newest_bin() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    found.sort();
    found.pop()
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let out = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !out.status.success() {
        bail!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

//! The PostgreSQL the `api_postgres` run of the suite uses: the server at
//! `USERDIR_TEST_POSTGRES_URL` if that is set, else a private throwaway cluster started here
//! (`initdb` + `pg_ctl` on a temporary directory, reached on a unix socket only, no TCP), which a
//! watchdog stops and deletes when the test process ends, however it ends. Each test gets a
//! database of its own.
//!
//! With neither, the run is skipped loudly — and fails instead where
//! `USERDIR_TEST_REQUIRE_POSTGRES=1` (as `.ci/run` sets it), so CI always runs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{LazyLock, Mutex};

/// Whether this test binary runs the suite on PostgreSQL (`tests/api_postgres.rs`).
pub fn enabled() -> bool {
    env!("CARGO_CRATE_NAME") == "api_postgres"
}

/// A new, empty database for one test: its URL, as `database.url` takes it.
#[allow(
    dead_code,
    reason = "instances.rs and pg_backup.rs (the PostgreSQL run only) use it"
)]
pub fn new_database() -> String {
    let server = match &*SERVER {
        Ok(server) => server,
        Err(why) => skip_or_fail(why),
    };
    server.create_database()
}

/// A new database with the schema in place, for a test's server: a copy of a template migrated
/// once per run, made ahead by a thread of its own. Creating and migrating a database for each
/// test, one test at a time, was most of this run's wall time.
pub fn new_migrated_database() -> String {
    let ready = match &*READY {
        Ok(ready) => ready,
        Err(why) => skip_or_fail(why),
    };
    let next = ready.lock().unwrap_or_else(|e| e.into_inner()).recv();
    match next {
        Ok(Ok(url)) => url,
        Ok(Err(why)) => panic!("a migrated database could not be made: {why}"),
        Err(_) => panic!("the thread making migrated databases stopped"),
    }
}

/// The URL of a migrated database, or why none could be made.
type Made = Result<String, String>;

/// Migrated databases, made two ahead of the tests that take them.
static READY: LazyLock<Result<Mutex<Receiver<Made>>, String>> = LazyLock::new(|| {
    let server = SERVER.as_ref().map_err(Clone::clone)?;
    let (made, ready) = sync_channel(2);
    // Its own thread, not the test's: migrating needs a runtime, and a test already runs
    // on one.
    std::thread::spawn(move || {
        let template = server.migrated_template();
        loop {
            let next = match &template {
                Ok(template) => server.copy_database(template),
                Err(why) => Err(why.clone()),
            };
            if made.send(next).is_err() {
                return;
            }
        }
    });
    Ok(Mutex::new(ready))
});

/// Why there is no PostgreSQL: a failure where one is required, else a loud skip of the whole run
/// (every test of this binary needs one).
fn skip_or_fail(why: &str) -> ! {
    if std::env::var("USERDIR_TEST_REQUIRE_POSTGRES").as_deref() == Ok("1") {
        panic!("PostgreSQL is required (USERDIR_TEST_REQUIRE_POSTGRES=1) but {why}");
    }
    eprintln!(
        "\n\nSKIPPED: the PostgreSQL run of the integration suite: {why}. Install PostgreSQL \
         (apt-get install -y postgresql) or set USERDIR_TEST_POSTGRES_URL.\n"
    );
    std::process::exit(0);
}

struct Server {
    /// Where databases are created from (a URL psql takes).
    admin_url: String,
    psql: PathBuf,
    /// The URL of a database, with `{db}` where its name goes.
    template: String,
    /// One psql kept open for every statement: a psql started for each (its start, a connection
    /// and a backend) cost twice what copying the template does.
    session: Mutex<Option<Session>>,
    /// Whether `CREATE DATABASE` takes `STRATEGY FILE_COPY` (PostgreSQL 15 on), asked once.
    file_copy: std::sync::OnceLock<bool>,
}

impl Server {
    fn new(admin_url: String, psql: PathBuf, template: String) -> Self {
        Self {
            admin_url,
            psql,
            template,
            session: Mutex::new(None),
            file_copy: std::sync::OnceLock::new(),
        }
    }

    /// A new, empty database: its URL.
    fn create_database(&self) -> String {
        let name = new_name();
        self.run_sql(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|why| panic!("{why}"));
        self.url(&name)
    }

    /// A database with every migration applied, to copy (its name).
    fn migrated_template(&self) -> Result<String, String> {
        let name = new_name();
        self.run_sql(&format!("CREATE DATABASE {name}"))?;
        let mut settings = userdir::config::Settings::load(None).map_err(|e| e.to_string())?;
        settings.database.url = self.url(&name);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime
            .block_on(userdir::startup::backend(&settings).migrate(false))
            .map_err(|e| format!("migrating the template database: {e}"))?;
        Ok(name)
    }

    /// A new database copied from `template`: its URL. From PostgreSQL 15 on, copied as files
    /// (`STRATEGY FILE_COPY`), a third cheaper than through the WAL for a database this small.
    fn copy_database(&self, template: &str) -> Result<String, String> {
        let name = new_name();
        let file_copy = match self.file_copy.get() {
            Some(known) => *known,
            None => {
                let version = self.query_one("SHOW server_version_num")?;
                *self
                    .file_copy
                    .get_or_init(|| version.parse::<u32>().is_ok_and(|v| v >= 150_000))
            }
        };
        let strategy = if file_copy { " STRATEGY FILE_COPY" } else { "" };
        self.run_sql(&format!(
            "CREATE DATABASE {name} TEMPLATE {template}{strategy}"
        ))?;
        Ok(self.url(&name))
    }

    fn url(&self, database: &str) -> String {
        self.template.replace("{db}", database)
    }

    fn run_sql(&self, sql: &str) -> Result<(), String> {
        self.query_one(sql).map(drop)
    }

    /// Runs `sql` in the open psql (started if need be): what it printed, one value a line.
    fn query_one(&self, sql: &str) -> Result<String, String> {
        let mut session = self.session.lock().unwrap_or_else(|e| e.into_inner());
        let open = match &mut *session {
            Some(open) => open,
            empty => empty.insert(Session::start(&self.psql, &self.admin_url)?),
        };
        let answer = open.run(sql);
        if answer.is_err() {
            // psql stops at an error (ON_ERROR_STOP): the next statement starts another.
            *session = None;
        }
        answer.map_err(|why| format!("{sql}: {why}"))
    }
}

/// A psql reading statements from a pipe.
struct Session {
    child: std::process::Child,
    input: std::process::ChildStdin,
    output: std::io::BufReader<std::process::ChildStdout>,
    errors: tempfile::NamedTempFile,
}

impl Session {
    const DONE: &str = "-- userdir-test: done --";

    fn start(psql: &Path, url: &str) -> Result<Self, String> {
        let errors = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
        let mut child = Command::new(psql)
            .arg(url)
            // -w: never prompt for a password (a test run has no one to answer).
            .args(["-X", "-w", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(errors.reopen().map_err(|e| e.to_string())?)
            .spawn()
            .map_err(|e| format!("running psql: {e}"))?;
        let (Some(input), Some(output)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("psql's pipes".into());
        };
        Ok(Self {
            child,
            input,
            output: std::io::BufReader::new(output),
            errors,
        })
    }

    fn run(&mut self, sql: &str) -> Result<String, String> {
        use std::io::{BufRead, Write};
        writeln!(self.input, "{sql};\n\\echo '{}'", Self::DONE)
            .and_then(|()| self.input.flush())
            .map_err(|_| self.failure())?;
        let mut printed = String::new();
        loop {
            let mut line = String::new();
            match self.output.read_line(&mut line) {
                Ok(0) | Err(_) => return Err(self.failure()),
                Ok(_) if line.trim_end() == Self::DONE => return Ok(printed.trim_end().to_owned()),
                Ok(_) => printed.push_str(&line),
            }
        }
    }

    /// Why psql stopped: what it said on stderr.
    fn failure(&mut self) -> String {
        let _ = self.child.wait();
        let said = std::fs::read_to_string(self.errors.path()).unwrap_or_default();
        format!("psql stopped: {}", said.trim())
    }
}

fn new_name() -> String {
    format!("t_{}", ulid::Ulid::generate().to_string().to_lowercase())
}

static SERVER: LazyLock<Result<Server, String>> =
    LazyLock::new(|| match std::env::var("USERDIR_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => external(&url),
        _ => start_cluster(),
    });

/// A server given by URL: databases are created through it, next to the one it names.
fn external(url: &str) -> Result<Server, String> {
    let psql = find_tool("psql").ok_or("psql is not installed")?;
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let prefix = match base.rsplit_once('/') {
        Some((prefix, _)) if prefix.contains("://") && prefix.len() > "postgres://".len() => prefix,
        _ => base,
    };
    Ok(Server::new(
        url.to_owned(),
        psql,
        format!("{prefix}/{{db}}{query}"),
    ))
}

/// Starts the suite's shared cluster under the temporary directory.
fn start_cluster() -> Result<Server, String> {
    let cluster = Cluster::start(&format!("{}", std::process::id()))?;
    let server = cluster.server();
    // Stopped by the watchdog when the test process ends.
    std::mem::forget(cluster);
    server
}

/// A private cluster: the suite's shared one, or one of a test's own (to stop and start it).
// Some methods serve only `instances.rs`, which the SQLite run does not include.
#[allow(
    dead_code,
    reason = "instances.rs (the PostgreSQL run only) uses all of it"
)]
pub struct Cluster {
    dir: PathBuf,
    data: PathBuf,
    bin: PathBuf,
    as_root: bool,
}

#[allow(
    dead_code,
    reason = "instances.rs (the PostgreSQL run only) uses all of it"
)]
impl Cluster {
    /// Creates and starts a cluster in a new directory named after `tag`; a watchdog stops and
    /// deletes it once this process has ended.
    pub fn start(tag: &str) -> Result<Self, String> {
        let initdb = find_tool("initdb").ok_or("initdb is not installed")?;
        let bin = initdb.parent().ok_or("initdb has no directory")?.to_owned();
        // In memory where there is room: each test's database is some three hundred new files,
        // and on ext4 creating them (its inode allocator skipping the files the suite keeps
        // deleting) was a third of the run's CPU: `CREATE DATABASE` took 150-300 ms there, 15-45
        // ms on tmpfs.
        let dir = crate::helpers::scratch_root().join(format!("userdir-test-pg-{tag}"));
        let data = dir.join("data");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        // PostgreSQL refuses to run as root: then the cluster is the `postgres` user's.
        let as_root = is_root();
        if as_root {
            run(Command::new("chown").arg("postgres").arg(&dir))?;
        }
        let cluster = Self {
            dir,
            data,
            bin,
            as_root,
        };
        run(cluster
            .command("initdb")
            .args(["--auth=trust", "--username=postgres", "--no-sync", "-D"])
            .arg(&cluster.data))?;
        cluster.start_again()?;
        watchdog(
            &cluster.bin.join("pg_ctl"),
            &cluster.dir,
            &cluster.data,
            cluster.as_root,
        );
        Ok(cluster)
    }

    /// Starts the (stopped) cluster and waits until it takes connections.
    pub fn start_again(&self) -> Result<(), String> {
        // fsync off: the cluster is thrown away with the test run; commits still happen as in
        // production (synchronous_commit stays on).
        let options = format!(
            "-k {} -c listen_addresses='' -c fsync=off -c full_page_writes=off \
             -c max_connections=300 -c max_wal_size=256MB",
            self.dir.display()
        );
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(self.dir.join("log"))
            .args(["-w", "-o", &options, "start"]))
    }

    /// Stops the cluster as an operator's restart does (`pg_ctl stop -m fast`: sessions are
    /// ended, transactions under way rolled back).
    pub fn stop(&self) -> Result<(), String> {
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "stop"]))
    }

    /// A new database on this cluster: its URL.
    pub fn new_database(&self) -> String {
        self.server().expect("psql is installed").create_database()
    }

    fn server(&self) -> Result<Server, String> {
        let psql = find_tool("psql").ok_or("psql is not installed")?;
        let socket = self.dir.display().to_string();
        Ok(Server::new(
            format!("postgres://postgres@localhost/postgres?host={socket}"),
            psql,
            format!("postgres://postgres@localhost/{{db}}?host={socket}"),
        ))
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

/// Stops the cluster and deletes it once this process has ended (checked every second).
fn watchdog(pg_ctl: &Path, dir: &Path, data: &Path, as_root: bool) {
    let stop = format!(
        "{}{} -D {} stop -m immediate",
        if as_root {
            "runuser -u postgres -- "
        } else {
            ""
        },
        pg_ctl.display(),
        data.display()
    );
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        dir = dir.display()
    );
    let _ = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}

fn run(command: &mut Command) -> Result<(), String> {
    let out = command
        .output()
        .map_err(|e| format!("running {command:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// `tool` on PATH, or in the newest of Debian's /usr/lib/postgresql/*/bin.
pub fn find_tool(tool: &str) -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin").join(tool))
        .filter(|path| path.exists())
        .collect();
    versions.sort();
    if let Some(newest) = versions.pop() {
        return Some(newest);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(tool))
            .find(|path| path.exists())
    })
}

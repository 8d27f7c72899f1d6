//! The server under test: a child process on a free loopback port, and its CPU and memory as the
//! kernel reports them.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rand::Rng;
use serde::Serialize;
use tokio::process::{Child, Command};

pub struct Server {
    child: Child,
    pid: u32,
    pub address: String,
    pub access_key_id: String,
    pub secret: String,
    pub cold_start: Duration,
}

/// A reading of the server's resource use.
pub struct Stats {
    at: Instant,
    cpu_ticks: u64,
    pub rss_mb: f64,
    pub peak_rss_mb: f64,
}

impl Stats {
    pub fn cpu_percent_since(&self, before: &Stats) -> f64 {
        let seconds = self.at.duration_since(before.at).as_secs_f64();
        let ticks = self.cpu_ticks.saturating_sub(before.cpu_ticks) as f64;
        // Linux reports CPU time in clock ticks of 1/100 s.
        if seconds > 0.0 {
            ticks / 100.0 / seconds * 100.0
        } else {
            0.0
        }
    }
}

impl Server {
    /// userdir at `binary`, on `db` (or the PostgreSQL database at `url`), with root credentials
    /// of its own.
    pub async fn start(
        binary: &Path,
        db: &Path,
        url: Option<&str>,
        extra_env: &[String],
    ) -> anyhow::Result<Self> {
        let port = free_port()?;
        let mut rng = rand::rng();
        let access_key_id = format!("AKIABENCH{:011}", rng.next_u64() % 100_000_000_000);
        let secret = format!(
            "{:032x}",
            u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64())
        );
        let mut command = Command::new(binary);
        if let Some(url) = url {
            command.env("USERDIR__DATABASE__URL", url);
        }
        for pair in extra_env {
            let (key, value) = pair
                .split_once('=')
                .with_context(|| format!("--server-env {pair}: expected KEY=VALUE"))?;
            command.env(key, value);
        }
        command
            .env("USERDIR__SERVER__PORT", port.to_string())
            .env("USERDIR__DATABASE__PATH", db)
            .env("USERDIR__AUTH__ROOT_ACCESS_KEY_ID", &access_key_id)
            .env("USERDIR__AUTH__ROOT_SECRET_ACCESS_KEY", &secret)
            .env("USERDIR__LOG__FILTER", "warn")
            .env("USERDIR__THROTTLE__REQUESTS_PER_SECOND", "1000000000")
            .env("USERDIR__THROTTLE__BURST", "1000000000")
            .env("USERDIR__LIMITS__MAX_USERS", "1000000000");
        let log = db.with_extension("log");
        let mut server = Self::spawn(command, binary, port, "/health/ready", Some(&log)).await?;
        server.access_key_id = access_key_id;
        server.secret = secret;
        Ok(server)
    }

    /// The bare actix-web server: this very binary, in its hidden `bare-server` mode.
    pub async fn start_bare(workers: usize) -> anyhow::Result<Self> {
        let port = free_port()?;
        let binary = std::env::current_exe().context("finding the bench's own binary")?;
        let mut command = Command::new(&binary);
        command.args([
            "bare-server",
            "--port",
            &port.to_string(),
            "--workers",
            &workers.to_string(),
        ]);
        Self::spawn(command, &binary, port, "/", None).await
    }

    /// Starts `command` and waits until `GET ready_path` answers 200. Its output goes to `log`
    /// (shown if it fails to start), else stdout is dropped and stderr inherited.
    async fn spawn(
        mut command: Command,
        binary: &Path,
        port: u16,
        ready_path: &str,
        log: Option<&Path>,
    ) -> anyhow::Result<Self> {
        match log {
            Some(log) => {
                let file = std::fs::File::create(log)
                    .with_context(|| format!("creating {}", log.display()))?;
                command.stdout(file.try_clone()?).stderr(file);
            }
            None => {
                command.stdout(Stdio::null()).stderr(Stdio::inherit());
            }
        }
        let started = Instant::now();
        let mut child = command
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let address = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let output = || {
            log.and_then(|log| std::fs::read_to_string(log).ok())
                .map(|text| {
                    let lines: Vec<&str> = text.lines().collect();
                    let tail = lines[lines.len().saturating_sub(20)..].join("\n");
                    format!("; its output:\n{tail}")
                })
                .unwrap_or_default()
        };
        loop {
            if ready(&address, ready_path).await {
                break;
            }
            if let Some(status) = child.try_wait()? {
                bail!(
                    "{} exited before it was ready ({status}){}",
                    binary.display(),
                    output()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not become ready within 30 s{}",
                    binary.display(),
                    output()
                );
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(Self {
            child,
            pid,
            address,
            access_key_id: String::new(),
            secret: String::new(),
            cold_start: started.elapsed(),
        })
    }

    pub fn stats(&self) -> anyhow::Result<Stats> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))?;
        // Fields after the command name (which may contain spaces) start after the last ')'.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
        let cpu_ticks = ticks(11) + ticks(12);
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        let kb = |key: &str| {
            status
                .lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        Ok(Stats {
            at: Instant::now(),
            cpu_ticks,
            rss_mb: kb("VmRSS:") / 1024.0,
            peak_rss_mb: kb("VmHWM:") / 1024.0,
        })
    }

    /// SIGTERM, then wait (bounded) for the graceful shutdown.
    pub async fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status()
            .await;
        if tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.start_kill();
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn ready(address: &str, path: &str) -> bool {
    let Ok(mut stream) = tokio::net::TcpStream::connect(address).await else {
        return false;
    };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    answer.starts_with(b"HTTP/1.1 200")
}

/// A setting of the userdir server under test: from `--server-env`, else from this process's
/// environment (which the server inherits), else from `config/default.toml` of this source tree.
pub fn setting(overrides: &[String], section: &str, key: &str) -> Option<String> {
    let variable = format!("USERDIR__{section}__{key}").to_uppercase();
    let given = overrides.iter().rev().find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        k.eq_ignore_ascii_case(&variable).then(|| v.to_owned())
    });
    given
        .or_else(|| std::env::var(&variable).ok())
        .or_else(|| default_setting(section, key))
}

fn default_setting(section: &str, key: &str) -> Option<String> {
    let mut current = "";
    for line in include_str!("../../config/default.toml").lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.trim();
        } else if let Some((k, v)) = line.split_once('=')
            && current.eq_ignore_ascii_case(section)
            && k.trim().eq_ignore_ascii_case(key)
        {
            return Some(v.trim().trim_matches('"').to_owned());
        }
    }
    None
}

/// HTTP workers of a server: `configured`, or one per core when that is 0 or unknown (as
/// actix-web does).
pub fn workers(configured: Option<String>) -> usize {
    configured
        .and_then(|w| w.parse::<usize>().ok())
        .filter(|&w| w > 0)
        .unwrap_or_else(cores)
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// This machine, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// A one-line summary of the fields below.
    pub machine: String,
    pub cpu_model: String,
    /// Cores this process may use (`available_parallelism`).
    pub cores: usize,
    pub memory_gib: f64,
}

impl Machine {
    pub fn this() -> Self {
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| {
                c.lines()
                    .find(|l| l.starts_with("model name"))
                    .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let cores = cores();
        let memory_gib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
            .map_or(0.0, |kb| (kb / 1024.0 / 1024.0 * 10.0).round() / 10.0);
        Self {
            machine: format!("{cores} cores ({cpu_model}), {memory_gib:.0} GiB"),
            cpu_model,
            cores,
            memory_gib,
        }
    }
}

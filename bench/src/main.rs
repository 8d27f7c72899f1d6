//! userdir-bench: seeds a fresh database, starts the release server on it, drives each scenario
//! for a fixed time at a fixed concurrency with SigV4-signed requests (as the SDKs sign), and
//! reports requests/s, latency percentiles, errors, and the server's CPU and memory. Each scenario
//! is warmed up first, then measured several times; the median run is reported with the range.
//! A bare actix-web route, served by this binary in a child process, is measured first: the
//! ceiling every other scenario is compared with.

mod bare;
mod load;
mod report;
mod seed;
mod server;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde::Serialize;

use load::{Access, Driver, RunResult, Scenario};
use report::ScenarioResult;
use server::Server;

#[derive(Parser, Debug)]
#[command(
    about = "Benchmark userdir on this machine",
    args_conflicts_with_subcommands = true
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Seconds of each measured run.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Seconds each scenario runs unmeasured before its first measured run.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Measured runs of each scenario; the median is reported, with the min–max range.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    repeat: u64,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Users seeded before the run.
    #[arg(long, default_value_t = 100_000)]
    users: usize,
    /// The userdir binary to benchmark.
    #[arg(long, default_value = "target/release/userdir")]
    server: PathBuf,
    /// Where the JSON results go.
    #[arg(long, default_value = "target/bench/results.json")]
    out: PathBuf,
    /// Extra settings for the server, as USERDIR__SECTION__KEY=VALUE (repeatable).
    #[arg(long = "server-env", value_name = "KEY=VALUE")]
    server_env: Vec<String>,
    /// Scenarios to run (default: all), comma-separated; they run in the order listed below.
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<Scenario>,
    /// The distributions `get-user` runs under, each as a scenario of its own (default: both).
    #[arg(long, value_delimiter = ',', default_value = "uniform,zipf")]
    access: Vec<Access>,
    /// The git revision `--server` was built from, for the report (scripts/bench passes it).
    #[arg(long, value_name = "REV")]
    git_rev: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve `GET /` with actix-web and no middleware (the `bare` scenario's server).
    #[command(hide = true)]
    BareServer {
        #[arg(long)]
        port: u16,
        #[arg(long)]
        workers: usize,
    },
}

#[derive(Serialize)]
struct Report {
    #[serde(flatten)]
    machine: server::Machine,
    git_rev: Option<String>,
    settings: Settings,
    seed_secs: f64,
    cold_start_ms: f64,
    server_peak_rss_mb: f64,
    bare_server: Option<BareServer>,
    scenarios: Vec<ScenarioResult>,
}

#[derive(Serialize)]
struct Settings {
    users: usize,
    concurrency: usize,
    duration_secs: u64,
    warmup_secs: u64,
    repeat: u64,
    /// The distributions `get-user` stood for.
    access: Vec<Access>,
    /// HTTP workers of the userdir server and of the bare server.
    workers: usize,
    /// The GetUser cache's capacity as configured (`--server-env`, else the environment, else this
    /// tree's config/default.toml).
    cached_users: Option<u64>,
    server_env: Vec<String>,
}

#[derive(Serialize)]
struct BareServer {
    workers: usize,
    cold_start_ms: f64,
    peak_rss_mb: f64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(Command::BareServer { port, workers }) = args.command {
        return bare::serve(port, workers);
    }
    let selected = if args.scenarios.is_empty() {
        &Scenario::DEFAULT[..]
    } else {
        &args.scenarios[..]
    };
    let scenarios = Scenario::expand(selected, &args.access);
    let dir = std::env::temp_dir().join(format!("userdir-bench-{}", ulid::Ulid::generate()));
    std::fs::create_dir_all(&dir)?;
    let result = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run(&args, &scenarios, &dir));
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run(args: &Args, scenarios: &[Scenario], dir: &std::path::Path) -> anyhow::Result<()> {
    let workers = server::workers(server::setting(&args.server_env, "server", "workers"));
    let db = dir.join("userdir.db");
    println!("seeding {} users into {}", args.users, db.display());
    let seeded = seed::Plan::new(args.users)?;
    let seed_time = seed::seed(&args.server, &db, &seeded).await?;
    println!("seeded in {:.1} s", seed_time.as_secs_f64());

    let mut results: Vec<ScenarioResult> = Vec::new();
    let mut bare_rps = None;
    let mut bare_server = None;
    if scenarios.contains(&Scenario::Bare) {
        // First, alone: nothing else is running yet.
        let bare = Server::start_bare(workers).await?;
        println!("bare actix-web server ready ({workers} workers)");
        let driver = Driver::new(&bare, &seeded, args.concurrency)?;
        let runs = measure(args, &driver, &bare, Scenario::Bare).await?;
        let mut result = ScenarioResult::summarise(Scenario::Bare, None, runs)?;
        bare_rps = Some(result.rps.median);
        result.ratio_to_bare = Some(1.0);
        results.push(result);
        bare_server = Some(BareServer {
            workers,
            cold_start_ms: bare.cold_start.as_secs_f64() * 1000.0,
            peak_rss_mb: bare.stats()?.peak_rss_mb,
        });
        bare.stop().await;
    }

    let server = Server::start(&args.server, &db, &args.server_env).await?;
    println!(
        "server ready in {:.0} ms (cold start on {} users, {workers} workers)",
        server.cold_start.as_secs_f64() * 1000.0,
        args.users
    );
    let driver = Driver::new(&server, &seeded, args.concurrency)?;

    let mut health_rps = None;
    for &scenario in scenarios.iter().filter(|&&s| s != Scenario::Bare) {
        let runs = measure(args, &driver, &server, scenario).await?;
        let mut result = ScenarioResult::summarise(scenario, scenario.access(args.users), runs)?;
        if scenario == Scenario::Health {
            health_rps = Some(result.rps.median);
        }
        result.ratio_to_health = health_rps.map(|h| result.rps.median / h);
        result.ratio_to_bare = bare_rps.map(|b| result.rps.median / b);
        results.push(result);
    }
    let peak = server.stats()?.peak_rss_mb;
    let cold_start = server.cold_start;
    server.stop().await;

    println!();
    println!("{}", report::table(&results));
    println!("server peak RSS: {peak:.1} MB");
    let report = Report {
        machine: server::Machine::this(),
        git_rev: args.git_rev.clone(),
        settings: Settings {
            users: args.users,
            concurrency: args.concurrency,
            duration_secs: args.duration,
            warmup_secs: args.warmup,
            repeat: args.repeat,
            access: args.access.clone(),
            workers,
            cached_users: server::setting(&args.server_env, "database", "cached_users")
                .and_then(|n| n.parse().ok()),
            server_env: args.server_env.clone(),
        },
        seed_secs: seed_time.as_secs_f64(),
        cold_start_ms: cold_start.as_secs_f64() * 1000.0,
        server_peak_rss_mb: peak,
        bare_server,
        scenarios: results,
    };
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&args.out, serde_json::to_vec_pretty(&report)?)?;
    println!("results written to {}", args.out.display());
    Ok(())
}

/// A warm-up of `scenario` against `server`, then `--repeat` measured runs.
async fn measure(
    args: &Args,
    driver: &Driver,
    server: &Server,
    scenario: Scenario,
) -> anyhow::Result<Vec<RunResult>> {
    let context = || format!("scenario {scenario:?}");
    if args.warmup > 0 {
        driver
            .run(scenario, Duration::from_secs(args.warmup))
            .await
            .with_context(context)?;
    }
    let mut runs = Vec::new();
    for n in 1..=args.repeat {
        let cache_before = driver.cache_metrics().await;
        let before = server.stats()?;
        let mut run = driver
            .run(scenario, Duration::from_secs(args.duration))
            .await
            .with_context(context)?;
        let after = server.stats()?;
        run.server_cpu_percent = after.cpu_percent_since(&before);
        run.server_rss_mb = after.rss_mb;
        run.set_cache(cache_before, driver.cache_metrics().await);
        println!(
            "{}",
            report::progress(scenario, n as usize, args.repeat as usize, "", &run)
        );
        runs.push(run);
    }
    Ok(runs)
}

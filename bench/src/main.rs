//! userdir-bench: seeds a fresh database, starts the release server on it, drives each scenario
//! for a fixed time at a fixed concurrency with SigV4-signed requests (as the SDKs sign), and
//! reports requests/s, latency percentiles, errors, and the server's CPU and memory. Each scenario
//! is warmed up first, then measured several times; the median run is reported with the range.
//! A bare actix-web route, served by this binary in a child process, is measured first: the
//! ceiling every other scenario is compared with.

mod bare;
mod load;
mod pg;
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
    /// With `bare` among them, each measured `health` run is preceded by a run of the bare
    /// route, and with `health`, each measured GetUser run by a `/health/live` run on the same
    /// server; the ratio of each such pair is reported too.
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<Scenario>,
    /// The distributions `get-user` runs under, each as a scenario of its own (default: both).
    #[arg(long, value_delimiter = ',', default_value = "uniform,zipf")]
    access: Vec<Access>,
    /// The git revision `--server` was built from, for the report (scripts/bench passes it).
    #[arg(long, value_name = "REV")]
    git_rev: Option<String>,
    /// A second userdir build to compare `--server` with: each gets its own copy of the same
    /// seeded users, and every measured run on it is paired with one on `--server` right after.
    #[arg(long, value_name = "PATH")]
    baseline_server: Option<PathBuf>,
    /// The git revision `--baseline-server` was built from, for the report.
    #[arg(long, value_name = "REV", requires = "baseline_server")]
    baseline_rev: Option<String>,
    /// Where the servers keep the directory: SQLite files, or a throwaway PostgreSQL cluster
    /// started for the run (then pgbench's ceiling for the same work, and two instances on one
    /// database, are measured too).
    #[arg(long, value_enum, default_value_t = Backend::Sqlite)]
    backend: Backend,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Backend {
    Sqlite,
    Postgres,
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
    /// With `--baseline-server`: that build; each scenario then has its results under `baseline`.
    baseline: Option<Baseline>,
    scenarios: Vec<ScenarioResult>,
    backend: Backend,
    /// With `--backend postgres`: the server, pgbench's ceiling, and two instances.
    postgres: Option<PostgresReport>,
}

#[derive(Serialize)]
struct PostgresReport {
    version: String,
    /// pgbench on a copy of the seeded directory: a single-row insert into `users`, and a
    /// primary-key select of a random seeded user, at the same concurrency.
    ceiling: Vec<pg::PgbenchResult>,
    /// CreateUser through userdir ÷ pgbench's insert rate.
    create_user_of_ceiling: Option<f64>,
    /// GetUser (uniform) through userdir ÷ pgbench's select rate.
    get_user_of_ceiling: Option<f64>,
    /// GetUser (uniform) with the load split over two instances on one database, and its ratio to
    /// one instance's.
    two_instances_get_user_rps: Option<f64>,
    two_instances_ratio: Option<f64>,
}

#[derive(Serialize)]
struct Baseline {
    git_rev: Option<String>,
    server: PathBuf,
    seed_secs: f64,
    cold_start_ms: f64,
    server_peak_rss_mb: f64,
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
    /// tree's config/default.toml); each scenario has the capacity the server itself reports.
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

/// One server under load, and the driver that loads it.
/// Where the run of a scenario's ceiling (`Scenario::ceiling`), made just before each of its
/// measured runs, is served.
#[derive(Clone, Copy)]
enum Ceiling<'a> {
    /// By the scenario's own server (`/health/live` before GetUser).
    SameServer(Scenario),
    /// By another server (the bare route before `/health/live`).
    Elsewhere(&'a Driver, Scenario),
}

struct Side {
    label: &'static str,
    server: Server,
    driver: Driver,
}

async fn run(args: &Args, scenarios: &[Scenario], dir: &std::path::Path) -> anyhow::Result<()> {
    let workers = server::workers(server::setting(&args.server_env, "server", "workers"));
    let plan = seed::Plan::new(args.users)?;
    // A directory per build: a server may lock its database's directory.
    let db = dir.join("candidate").join("userdir.db");
    let baseline_db = dir.join("baseline").join("userdir.db");
    for db in [&db, &baseline_db] {
        std::fs::create_dir_all(db.parent().context("database directory")?)?;
    }
    let users = seed::import_file(dir);
    plan.write_import_file(&users)?;
    // With PostgreSQL: one cluster, a database per build (and one for pgbench's ceiling).
    let cluster = match args.backend {
        Backend::Postgres => Some(pg::Cluster::start(&dir.join("pg"), 300)?),
        Backend::Sqlite => None,
    };
    let url = |name: &str| -> anyhow::Result<Option<String>> {
        cluster
            .as_ref()
            .map(|c| c.create_database(name))
            .transpose()
    };
    let (url, baseline_url) = (url("candidate")?, url("baseline")?);
    println!("seeding {} users into {}", args.users, db.display());
    // A build from before `userdir import` is seeded by the other build.
    let importer = args.baseline_server.as_ref().unwrap_or(&args.server);
    let seed_time = seed::seed(&args.server, importer, &db, url.as_deref(), &users).await?;
    println!("seeded in {:.1} s", seed_time.as_secs_f64());
    let baseline_seed_time = match &args.baseline_server {
        Some(binary) => {
            let time = seed::seed(
                binary,
                &args.server,
                &baseline_db,
                baseline_url.as_deref(),
                &users,
            )
            .await?;
            println!(
                "seeded the same users for the baseline {} in {:.1} s",
                binary.display(),
                time.as_secs_f64()
            );
            Some(time)
        }
        None => None,
    };

    let mut results: Vec<ScenarioResult> = Vec::new();
    let mut bare_rps = None;
    let mut bare_server = None;
    let mut bare_side = None;
    if scenarios.contains(&Scenario::Bare) {
        // First, alone: no other server is running yet.
        let server = Server::start_bare(workers).await?;
        println!("bare actix-web server ready ({workers} workers)");
        let bare = Side {
            label: "bare",
            driver: Driver::new(&server, &plan, args.concurrency)?,
            server,
        };
        let runs = measure(args, &[&bare], Scenario::Bare, None).await?;
        let mut result = ScenarioResult::summarise(Scenario::Bare, None, runs.concat())?;
        bare_rps = Some(result.rps.median);
        result.ratio_to_bare = Some(1.0);
        results.push(result);
        bare_server = Some(BareServer {
            workers,
            cold_start_ms: bare.server.cold_start.as_secs_f64() * 1000.0,
            peak_rss_mb: bare.server.stats()?.peak_rss_mb,
        });
        // Kept (idle) for the runs of the bare route before each `/health/live` run.
        if scenarios.contains(&Scenario::Health) {
            bare_side = Some(bare);
        } else {
            bare.server.stop().await;
        }
    }

    // The baseline first: in each pair of runs it goes first.
    let mut sides = Vec::new();
    let builds = args
        .baseline_server
        .iter()
        .map(|b| ("baseline", b, &baseline_db, baseline_url.as_deref()))
        .chain([("candidate", &args.server, &db, url.as_deref())]);
    for (label, binary, db, url) in builds {
        // Made before the server starts: on SQLite the server holds its database.
        let scim_token = if scenarios.contains(&Scenario::ScimLookup) {
            seed::scim_token(binary, db, url).await?
        } else {
            None
        };
        let server = Server::start(binary, db, url, &args.server_env).await?;
        println!(
            "{label} server ready in {:.0} ms (cold start on {} users, {workers} workers)",
            server.cold_start.as_secs_f64() * 1000.0,
            args.users
        );
        let mut driver = Driver::new(&server, &plan, args.concurrency)?;
        driver.set_scim_token(scim_token);
        if driver.has_scim() {
            driver.check_scim_lookup().await?;
        }
        if scenarios.contains(&Scenario::ListDeep) {
            driver.collect_deep_tokens().await?;
        }
        sides.push(Side {
            label,
            driver,
            server,
        });
    }
    let both: Vec<&Side> = sides.iter().collect();

    let mut health_rps = vec![None; sides.len()];
    for &scenario in scenarios.iter().filter(|&&s| s != Scenario::Bare) {
        if scenario == Scenario::ScimLookup && both.iter().any(|side| !side.driver.has_scim()) {
            println!("{}: skipped (a build without SCIM)", scenario.name());
            continue;
        }
        let ceiling = match scenario.ceiling() {
            Some(Scenario::Bare) => bare_side
                .as_ref()
                .map(|bare: &Side| Ceiling::Elsewhere(&bare.driver, Scenario::Bare)),
            Some(ceiling) if scenarios.contains(&ceiling) => Some(Ceiling::SameServer(ceiling)),
            _ => None,
        };
        let runs = measure(args, &both, scenario, ceiling).await?;
        if scenario == Scenario::Health
            && let Some(bare) = bare_side.take()
        {
            bare.server.stop().await;
        }
        let mut summaries = Vec::new();
        for (runs, health) in runs.into_iter().zip(health_rps.iter_mut()) {
            let mut result =
                ScenarioResult::summarise(scenario, scenario.access(args.users), runs)?;
            if scenario == Scenario::Health {
                *health = Some(result.rps.median);
            }
            result.ratio_to_health = health.map(|h| result.rps.median / h);
            result.ratio_to_bare = bare_rps.map(|b| result.rps.median / b);
            summaries.push(result);
        }
        let mut candidate = summaries.pop().context("no candidate results")?;
        if let Some(baseline) = summaries.pop() {
            candidate.compare_with(baseline);
        }
        results.push(candidate);
    }
    drop(both);
    if let Some(bare) = bare_side.take() {
        bare.server.stop().await;
    }
    // Two instances of the candidate on one PostgreSQL database, the load split between them.
    let mut two_instances_get_user_rps = None;
    if let (Some(url), Some(candidate)) = (url.as_deref(), sides.last())
        && scenarios.contains(&Scenario::GetUserUniform)
    {
        let second_db = dir.join("candidate-2").join("userdir.db");
        std::fs::create_dir_all(second_db.parent().context("directory")?)?;
        let second = Server::start(&args.server, &second_db, Some(url), &args.server_env).await?;
        let half = (args.concurrency / 2).max(1);
        let (a, b) = (
            Driver::new(&candidate.server, &plan, half)?,
            Driver::new(&second, &plan, half)?,
        );
        let duration = Duration::from_secs(args.duration);
        let scenario = Scenario::GetUserUniform;
        let _ = tokio::join!(
            a.run(scenario, Duration::from_secs(args.warmup.max(1))),
            b.run(scenario, Duration::from_secs(args.warmup.max(1)))
        );
        let mut sums = Vec::new();
        for n in 1..=args.repeat {
            let (ra, rb) = tokio::join!(a.run(scenario, duration), b.run(scenario, duration));
            let sum = ra?.rps + rb?.rps;
            println!("  GetUser uniform, two instances, run {n}: {sum:>9.0} req/s");
            sums.push(sum);
        }
        sums.sort_by(f64::total_cmp);
        two_instances_get_user_rps = sums.get(sums.len() / 2).copied();
        second.stop().await;
    }
    if let (Some(bare), Some(health)) = (
        results.iter_mut().find(|r| r.scenario == Scenario::Bare),
        health_rps.last().copied().flatten(),
    ) {
        bare.ratio_to_health = Some(bare.rps.median / health);
    }
    // (peak RSS, cold start ms) of each side, the baseline first.
    let mut ends = Vec::new();
    for side in sides {
        ends.push((
            side.server.stats()?.peak_rss_mb,
            side.server.cold_start.as_secs_f64() * 1000.0,
        ));
        side.server.stop().await;
    }
    let (peak, cold_start_ms) = ends.pop().context("no candidate server")?;
    let baseline = match (&args.baseline_server, baseline_seed_time, ends.pop()) {
        (Some(server), Some(seed), Some((peak, cold_start_ms))) => Some(Baseline {
            git_rev: args.baseline_rev.clone(),
            server: server.clone(),
            seed_secs: seed.as_secs_f64(),
            cold_start_ms,
            server_peak_rss_mb: peak,
        }),
        _ => None,
    };
    println!();
    println!("{}", report::table(&results));
    if let Some(adjacent) = report::adjacent_ceilings(&results) {
        println!("{adjacent}");
    }
    println!(
        "server peak RSS: {peak:.1} MB; cold start {cold_start_ms:.0} ms; seeded in {:.1} s",
        seed_time.as_secs_f64()
    );
    if let Some(baseline) = &baseline {
        let name = |rev: &Option<String>, fallback: &str| {
            rev.clone().unwrap_or_else(|| fallback.to_owned())
        };
        println!();
        println!(
            "{}",
            report::comparison(
                &results,
                &name(&args.git_rev, &args.server.display().to_string()),
                &name(&baseline.git_rev, &baseline.server.display().to_string()),
            )
        );
        println!(
            "baseline server peak RSS: {:.1} MB; cold start {:.0} ms",
            baseline.server_peak_rss_mb, baseline.cold_start_ms
        );
    }
    let postgres = match &cluster {
        Some(cluster) => Some(
            ceiling(
                args,
                cluster,
                &plan,
                &users,
                &results,
                two_instances_get_user_rps,
            )
            .await?,
        ),
        None => None,
    };
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
        cold_start_ms,
        server_peak_rss_mb: peak,
        bare_server,
        baseline,
        scenarios: results,
        backend: args.backend,
        postgres,
    };
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&args.out, serde_json::to_vec_pretty(&report)?)?;
    println!("results written to {}", args.out.display());
    Ok(())
}

/// pgbench's ceiling for the same work on the same cluster, beside userdir's figures.
async fn ceiling(
    args: &Args,
    cluster: &pg::Cluster,
    plan: &seed::Plan,
    users: &std::path::Path,
    results: &[ScenarioResult],
    two_instances_get_user_rps: Option<f64>,
) -> anyhow::Result<PostgresReport> {
    let url = cluster.create_database("ceiling")?;
    let db = std::env::temp_dir().join(format!("userdir-bench-ceiling-{}.db", plan.ids.len()));
    seed::seed(&args.server, &args.server, &db, Some(&url), users).await?;
    cluster.psql("ceiling", &pg::setup_sql(plan.ids.len()))?;
    let insert = cluster.pgbench(
        "ceiling",
        "insert",
        pg::INSERT_SCRIPT,
        args.concurrency,
        args.duration,
    )?;
    let select = cluster.pgbench(
        "ceiling",
        "select",
        &pg::select_script(plan.ids.len()),
        args.concurrency,
        args.duration,
    )?;
    let rps = |scenario: Scenario| {
        results
            .iter()
            .find(|r| r.scenario == scenario)
            .map(|r| r.rps.median)
    };
    let create = rps(Scenario::CreateUser);
    let get = rps(Scenario::GetUserUniform);
    let report = PostgresReport {
        version: cluster.version(),
        create_user_of_ceiling: create.map(|c| c / insert.tps),
        get_user_of_ceiling: get.map(|g| g / select.tps),
        two_instances_ratio: two_instances_get_user_rps
            .zip(get)
            .map(|(two, one)| two / one),
        two_instances_get_user_rps,
        ceiling: vec![insert, select],
    };
    println!();
    println!(
        "{} — pgbench at {} clients:",
        report.version, args.concurrency
    );
    for bench in &report.ceiling {
        println!(
            "  {:<8} {:>9.0} tps  latency avg {:.2} ms",
            bench.name, bench.tps, bench.latency_avg_ms
        );
    }
    let percent = |ratio: Option<f64>| ratio.map_or("-".into(), |r| format!("{:.0}%", r * 100.0));
    println!(
        "  CreateUser ÷ insert: {}; GetUser uniform ÷ select: {}; two instances ÷ one (GetUser \
         uniform): {}",
        percent(report.create_user_of_ceiling),
        percent(report.get_user_of_ceiling),
        percent(report.two_instances_ratio)
    );
    Ok(report)
}

/// A warm-up of `scenario` on each side, then `--repeat` rounds of one measured run on each
/// side in turn. Returns each side's runs.
async fn measure(
    args: &Args,
    sides: &[&Side],
    scenario: Scenario,
    ceiling: Option<Ceiling<'_>>,
) -> anyhow::Result<Vec<Vec<RunResult>>> {
    let context = |side: &Side| format!("scenario {scenario:?} on the {} server", side.label);
    if args.warmup > 0 {
        for side in sides {
            side.driver
                .run(scenario, Duration::from_secs(args.warmup))
                .await
                .with_context(|| context(side))?;
        }
    }
    let mut runs = vec![Vec::new(); sides.len()];
    for n in 1..=args.repeat {
        for (side, runs) in sides.iter().zip(runs.iter_mut()) {
            let (driver, server) = (&side.driver, &side.server);
            let duration = Duration::from_secs(args.duration);
            let adjacent_ceiling_rps = match ceiling {
                None => None,
                Some(Ceiling::SameServer(ceiling)) => Some(
                    driver
                        .run(ceiling, duration)
                        .await
                        .with_context(|| context(side))?
                        .rps,
                ),
                Some(Ceiling::Elsewhere(other, ceiling)) => Some(
                    other
                        .run(ceiling, duration)
                        .await
                        .with_context(|| format!("{ceiling:?} before {}", context(side)))?
                        .rps,
                ),
            };
            let cache_before = driver.cache_metrics().await;
            let before = server.stats()?;
            let mut run = driver
                .run(scenario, Duration::from_secs(args.duration))
                .await
                .with_context(|| context(side))?;
            let after = server.stats()?;
            run.server_cpu_percent = after.cpu_percent_since(&before);
            run.server_rss_mb = after.rss_mb;
            run.set_cache(cache_before, driver.cache_metrics().await);
            run.adjacent_ceiling_rps = adjacent_ceiling_rps;
            let label = if sides.len() > 1 {
                format!(" {}", side.label)
            } else {
                String::new()
            };
            println!(
                "{}",
                report::progress(scenario, n as usize, args.repeat as usize, &label, &run)
            );
            runs.push(run);
        }
    }
    Ok(runs)
}

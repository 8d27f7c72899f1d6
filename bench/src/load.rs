//! The load: scenarios, SigV4-signed requests, workers on persistent connections, and the
//! statistics of what came back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::http::uri::{Authority, PathAndQuery, Scheme, Uri};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rand::{RngExt, SeedableRng};
use serde::Serialize;

use crate::seed::Plan;
use crate::server::Server;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// `GET /` of a bare actix-web server with no middleware: this machine's HTTP ceiling.
    Bare,
    /// `GET /health/live`: the HTTP ceiling of the userdir server.
    Health,
    /// GetUser under each `--access` distribution: get-user-uniform, get-user-zipf.
    GetUser,
    /// GetUser, uniformly over all seeded users.
    GetUserUniform,
    /// GetUser, Zipf-distributed (s = 1) over all seeded users in a random order.
    GetUserZipf,
    /// CreateUser with unique emails and clientTokens.
    CreateUser,
    /// UpdateUser of existing users, uniformly.
    UpdateUser,
    /// ListUsers, first page of 100.
    ListFirst,
    /// ListUsers, a page of 100 at 90–99% of the directory.
    ListDeep,
    /// 90% GetUser, 10% UpdateUser, uniformly over all seeded users.
    Mixed,
    /// SCIM `GET /scim/v2/Users?filter=userName eq "…"` (what identity providers send before every
    /// create), uniformly over all seeded users, with a bearer token.
    ScimLookup,
}

impl Scenario {
    /// Every scenario that runs, in the order they run.
    pub const ALL: [Scenario; 10] = [
        Scenario::Bare,
        Scenario::Health,
        Scenario::GetUserUniform,
        Scenario::GetUserZipf,
        Scenario::CreateUser,
        Scenario::UpdateUser,
        Scenario::ListFirst,
        Scenario::ListDeep,
        Scenario::Mixed,
        Scenario::ScimLookup,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Bare => "bare actix-web",
            Scenario::Health => "health/live",
            Scenario::GetUser => "GetUser",
            Scenario::GetUserUniform => "GetUser uniform",
            Scenario::GetUserZipf => "GetUser zipf",
            Scenario::CreateUser => "CreateUser",
            Scenario::UpdateUser => "UpdateUser",
            Scenario::ListFirst => "ListUsers first page",
            Scenario::ListDeep => "ListUsers deep page",
            Scenario::Mixed => "mixed 90/10",
            Scenario::ScimLookup => "SCIM userName eq",
        }
    }

    /// What runs when no scenario is named.
    pub const DEFAULT: [Scenario; 9] = [
        Scenario::Bare,
        Scenario::Health,
        Scenario::GetUser,
        Scenario::CreateUser,
        Scenario::UpdateUser,
        Scenario::ListFirst,
        Scenario::ListDeep,
        Scenario::Mixed,
        Scenario::ScimLookup,
    ];

    /// The scenarios `selected` stands for, in the order of [`Scenario::ALL`], each once.
    pub fn expand(selected: &[Scenario], access: &[Access]) -> Vec<Scenario> {
        let chosen = |s: Scenario| {
            selected.contains(&s)
                || (selected.contains(&Scenario::GetUser)
                    && match s {
                        Scenario::GetUserUniform => access.contains(&Access::Uniform),
                        Scenario::GetUserZipf => access.contains(&Access::Zipf),
                        _ => false,
                    })
        };
        Scenario::ALL.into_iter().filter(|&s| chosen(s)).collect()
    }

    /// What this scenario's target is a ratio to: the bare route for `/health/live`, and
    /// `/health/live` for GetUser.
    pub fn ceiling(self) -> Option<Scenario> {
        match self {
            Scenario::Health => Some(Scenario::Bare),
            Scenario::GetUserUniform | Scenario::GetUserZipf => Some(Scenario::Health),
            _ => None,
        }
    }

    /// Which users (or pages) the requests are drawn from, and how.
    pub fn access(self, users: usize) -> Option<AccessInfo> {
        let uniform = |population, of| AccessInfo {
            distribution: Access::Uniform,
            s: None,
            population,
            of,
        };
        match self {
            Scenario::GetUserUniform
            | Scenario::UpdateUser
            | Scenario::Mixed
            | Scenario::ScimLookup => Some(uniform(users, "seeded users")),
            Scenario::GetUserZipf => Some(AccessInfo {
                distribution: Access::Zipf,
                s: Some(ZIPF_S),
                population: users,
                of: "seeded users, ranked in a random order",
            }),
            Scenario::ListDeep => Some(uniform(
                DEEP_PAGES.min(users / 1000).max(1),
                "the server's page tokens in the last 10% of the directory",
            )),
            _ => None,
        }
    }
}

/// How a read scenario picks its users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// Every seeded user equally likely.
    Uniform,
    /// The user of rank k with probability ∝ 1/k^s (s = 1).
    Zipf,
}

/// The Zipf exponent of `GetUser zipf`.
pub const ZIPF_S: f64 = 1.0;
/// How many distinct deep pages `ListUsers deep page` asks for.
const DEEP_PAGES: usize = 64;
/// Pre-signed requests are signed again before a run that could end later than this after they
/// were signed (SigV4 allows 15 minutes of clock skew).
const SIGNATURE_AGE: Duration = Duration::from_secs(5 * 60);

/// A scenario's access distribution, as the report records it.
#[derive(Debug, Clone, Serialize)]
pub struct AccessInfo {
    pub distribution: Access,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s: Option<f64>,
    /// How many distinct users (or pages) requests are drawn from.
    pub population: usize,
    pub of: &'static str,
}

/// One measured run of a scenario.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunResult {
    pub requests: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub errors: u64,
    pub server_cpu_percent: f64,
    pub server_rss_mb: f64,
    /// Users in the server's GetUser cache after the run, and the most it may hold; null if the
    /// server does not say.
    pub cache_entries: Option<u64>,
    pub cache_capacity: Option<u64>,
    /// Cache hits and misses during the run, and hits ÷ (hits + misses); null if the server does
    /// not say (or, for the rate, if nothing was looked up).
    pub cache_hits: Option<u64>,
    pub cache_misses: Option<u64>,
    pub cache_hit_rate: Option<f64>,
    /// The rps of the run of this scenario's ceiling (the bare route for `/health/live`,
    /// `/health/live` for GetUser) made just before it (see
    /// `ScenarioResult::ratio_to_adjacent_ceiling`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adjacent_ceiling_rps: Option<f64>,
    #[serde(skip)]
    pub error_samples: Vec<String>,
}

impl RunResult {
    /// Records what the cache did between two readings of `/metrics`.
    pub fn set_cache(&mut self, before: Option<CacheMetrics>, after: Option<CacheMetrics>) {
        self.cache_entries = after.and_then(|a| a.entries);
        self.cache_capacity = after.and_then(|a| a.capacity);
        let delta = |f: fn(&CacheMetrics) -> Option<u64>| {
            Some(f(after.as_ref()?)?.saturating_sub(f(before.as_ref()?)?))
        };
        self.cache_hits = delta(|m| m.hits);
        self.cache_misses = delta(|m| m.misses);
        self.cache_hit_rate = match (self.cache_hits, self.cache_misses) {
            (Some(hits), Some(misses)) if hits + misses > 0 => {
                Some(hits as f64 / (hits + misses) as f64)
            }
            _ => None,
        };
    }
}

/// The GetUser cache as the server's `/metrics` reports it (Prometheus text format).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CacheMetrics {
    pub entries: Option<u64>,
    pub capacity: Option<u64>,
    pub hits: Option<u64>,
    pub misses: Option<u64>,
}

impl CacheMetrics {
    pub fn parse(text: &str) -> Self {
        Self {
            entries: metric(text, "userdir_user_cache_entries"),
            capacity: metric(text, "userdir_user_cache_capacity"),
            hits: metric(text, "userdir_user_cache_hits_total"),
            misses: metric(text, "userdir_user_cache_misses_total"),
        }
    }
}

/// The value of the metric `name` (summed over its label sets), if `text` has it.
fn metric(text: &str, name: &str) -> Option<u64> {
    let mut found = None;
    for line in text.lines() {
        let Some(rest) = line.trim_start().strip_prefix(name) else {
            continue;
        };
        let rest = match rest.strip_prefix('{') {
            Some(labelled) => labelled.split_once('}').map_or("", |(_, r)| r),
            None if rest.starts_with([' ', '\t']) => rest,
            None => continue,
        };
        let Some(value) = rest
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        else {
            continue;
        };
        if value.is_finite() && value >= 0.0 {
            *found.get_or_insert(0) += value as u64;
        }
    }
    found
}

/// Requests signed before the clock starts, all at one instant: a path each, and the values of the
/// headers the pool names once for all of them.
struct Pool {
    signed_at: Instant,
    names: Arc<[HeaderName]>,
    requests: Vec<Presigned>,
}

struct Presigned {
    path: PathAndQuery,
    values: Box<[HeaderValue]>,
}

/// The pre-signed request sets a scenario draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum PoolKind {
    Bare,
    Health,
    /// One GetUser per seeded user, in the order of the seeded ids.
    Users,
    ListFirst,
    ListDeep,
    /// One SCIM userName lookup per seeded user, with the bearer token.
    ScimLookups,
}

impl Scenario {
    fn pool(self) -> Option<PoolKind> {
        match self {
            Scenario::Bare => Some(PoolKind::Bare),
            Scenario::Health => Some(PoolKind::Health),
            Scenario::GetUser | Scenario::GetUserUniform | Scenario::GetUserZipf => {
                Some(PoolKind::Users)
            }
            Scenario::Mixed => Some(PoolKind::Users),
            Scenario::ListFirst => Some(PoolKind::ListFirst),
            Scenario::ListDeep => Some(PoolKind::ListDeep),
            Scenario::ScimLookup => Some(PoolKind::ScimLookups),
            Scenario::CreateUser | Scenario::UpdateUser => None,
        }
    }
}

/// How a worker picks the next request of a pool.
#[derive(Clone)]
enum Pick {
    Uniform(usize),
    /// The rank drawn from the Zipf distribution (0 the hottest) is the pool's request
    /// `order[rank]`.
    Zipf(Arc<Zipf>, Arc<[u32]>),
}

impl Pick {
    fn next(&self, rng: &mut impl rand::Rng) -> usize {
        match self {
            Pick::Uniform(n) => rng.random_range(0..*n),
            Pick::Zipf(zipf, order) => order[zipf.sample(rng)] as usize,
        }
    }
}

/// The Zipf distribution over ranks 1..=n: rank k with probability (1/k^s) / Σ 1/j^s. Sampled
/// exactly (up to floating point) in constant time by Vose's alias method: one uniform column,
/// then that column's rank or its alias. A binary search over the cumulative sums cost the load
/// generator ~1.3 µs per request at 100k users (17 dependent reads of an 800 KB table), which
/// GetUser's Zipf ratio paid and the uniform one did not.
pub struct Zipf {
    /// Per column: the probability of keeping its own rank, and the rank it hands over otherwise.
    columns: Vec<(f64, u32)>,
}

impl Zipf {
    pub fn new(n: usize, s: f64) -> Self {
        let n = n.max(1);
        let weights: Vec<f64> = (1..=n).map(|k| (k as f64).powf(-s)).collect();
        let total: f64 = weights.iter().sum();
        // Each column holds a mass of exactly 1 (the average): its own rank's share, topped up
        // from a rank with more than 1.
        let mut mass: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut columns = vec![(1.0, 0u32); n];
        let (mut under, mut over): (Vec<usize>, Vec<usize>) = (0..n).partition(|&k| mass[k] < 1.0);
        while let (Some(&light), Some(&heavy)) = (under.last(), over.last()) {
            under.pop();
            columns[light] = (mass[light], heavy as u32);
            mass[heavy] -= 1.0 - mass[light];
            if mass[heavy] < 1.0 {
                over.pop();
                under.push(heavy);
            }
        }
        // What is left holds a mass of 1 but for rounding: kept whole.
        for k in under.into_iter().chain(over) {
            columns[k] = (1.0, k as u32);
        }
        Self { columns }
    }

    /// A rank, 0-based: 0 is the most likely.
    pub fn sample(&self, rng: &mut impl rand::Rng) -> usize {
        let column = rng.random_range(0..self.columns.len());
        let (keep, alias) = self.columns[column];
        if rng.random::<f64>() < keep {
            column
        } else {
            alias as usize
        }
    }
}

struct Signer {
    identity: Identity,
    host: String,
}

impl Signer {
    /// The headers that sign `method path` with `body` at `time`: those given, then SigV4's.
    fn sign(
        &self,
        method: &Method,
        path: &str,
        mut headers: Vec<(HeaderName, HeaderValue)>,
        body: &[u8],
        time: SystemTime,
    ) -> anyhow::Result<Vec<(HeaderName, HeaderValue)>> {
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region("us-east-1")
            .name("finspace-api")
            .time(time)
            .settings(SigningSettings::default())
            .build()?
            .into();
        let url = format!("http://{}{}", self.host, path);
        let signable = SignableRequest::new(
            method.as_str(),
            url.as_str(),
            std::iter::once(("host", self.host.as_str())).chain(
                headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.to_str().unwrap_or_default())),
            ),
            SignableBody::Bytes(body),
        )?;
        let (instructions, _) = sign(signable, &params)?.into_parts();
        let (signed, _) = instructions.into_parts();
        for header in signed {
            headers.push((
                HeaderName::from_bytes(header.name().as_bytes())?,
                HeaderValue::from_str(header.value())?,
            ));
        }
        Ok(headers)
    }
}

pub struct Driver {
    signer: Arc<Signer>,
    authority: Authority,
    client: Client<HttpConnector, Full<Bytes>>,
    ids: Arc<[String]>,
    /// Zipf rank (0-based) → index into `ids`.
    hot_order: Arc<[u32]>,
    zipf: Arc<Zipf>,
    /// The server's own nextTokens into the last 10% of the directory (`collect_deep_tokens`).
    deep_tokens: Arc<[String]>,
    concurrency: usize,
    pools: Mutex<HashMap<PoolKind, Arc<Pool>>>,
    /// A SCIM bearer token, if the server's build has SCIM (`scim_token` in seed.rs).
    scim_token: Option<Arc<str>>,
}

impl Driver {
    pub fn new(server: &Server, seeded: &Plan, concurrency: usize) -> anyhow::Result<Self> {
        let identity = aws_credential_types::Credentials::new(
            server.access_key_id.clone(),
            server.secret.clone(),
            None,
            None,
            "bench",
        )
        .into();
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(concurrency)
            .build(connector);
        Ok(Self {
            signer: Arc::new(Signer {
                identity,
                host: server.address.clone(),
            }),
            authority: server.address.parse()?,
            client,
            ids: seeded.ids.clone(),
            hot_order: seeded.hot_order.clone(),
            zipf: Arc::new(Zipf::new(seeded.ids.len(), ZIPF_S)),
            deep_tokens: Arc::new([]),
            concurrency,
            pools: Mutex::new(HashMap::new()),
            scim_token: None,
        })
    }

    /// Walks ListUsers from the first page to the last, keeping up to `DEEP_PAGES` of the
    /// nextTokens that lead into the last 10% of the directory: the server's own tokens, so that
    /// the benchmark needs no key of the server's (and no access to its database).
    pub async fn collect_deep_tokens(&mut self) -> anyhow::Result<()> {
        let users = self.ids.len();
        let mut deep = Vec::new();
        let (mut next, mut listed) = (None::<String>, 0usize);
        loop {
            let path = match &next {
                None => "/user?maxResults=100".to_owned(),
                Some(token) => format!("/user?maxResults=100&nextToken={}", encode(token)),
            };
            let headers =
                self.signer
                    .sign(&Method::GET, &path, Vec::new(), b"", SystemTime::now())?;
            let outgoing = Outgoing {
                method: Method::GET,
                path: PathAndQuery::from_maybe_shared(path)?,
                headers: Headers::Owned(headers),
                body: Bytes::new(),
            };
            let (status, body) = self.send(&outgoing).await?;
            if status != 200 {
                bail!(
                    "ListUsers answered {status}: {}",
                    String::from_utf8_lossy(&body)
                );
            }
            let page: serde_json::Value = serde_json::from_slice(&body)?;
            listed += page["users"].as_array().map_or(0, Vec::len);
            match page["nextToken"].as_str() {
                Some(token) => {
                    if listed >= users * 9 / 10 && listed + 100 <= users {
                        deep.push(token.to_owned());
                    }
                    next = Some(token.to_owned());
                }
                None => break,
            }
        }
        rand::seq::SliceRandom::shuffle(deep.as_mut_slice(), &mut rand::rng());
        deep.truncate(DEEP_PAGES);
        self.deep_tokens = deep.into();
        Ok(())
    }

    /// The pool `kind`, signed now if it is missing or would grow too old during a run of
    /// `duration`.
    fn pool(&self, kind: PoolKind, duration: Duration) -> anyhow::Result<Arc<Pool>> {
        if let Some(pool) = self.pools.lock().expect("pools").get(&kind)
            && pool.signed_at.elapsed() + duration < SIGNATURE_AGE
        {
            return Ok(pool.clone());
        }
        let started = Instant::now();
        let pool = Arc::new(self.sign_pool(kind)?);
        if pool.requests.len() > 10_000 {
            println!(
                "  signed {} requests in {:.1} s",
                pool.requests.len(),
                started.elapsed().as_secs_f64()
            );
        }
        self.pools.lock().expect("pools").insert(kind, pool.clone());
        Ok(pool)
    }

    fn sign_pool(&self, kind: PoolKind) -> anyhow::Result<Pool> {
        let unsigned = |path| Pool {
            signed_at: Instant::now(),
            names: Arc::new([]),
            requests: vec![Presigned {
                path: PathAndQuery::from_static(path),
                values: Box::new([]),
            }],
        };
        let paths: Vec<String> = match kind {
            PoolKind::Bare => return Ok(unsigned("/")),
            PoolKind::Health => return Ok(unsigned("/health/live")),
            PoolKind::ScimLookups => return self.scim_pool(),
            PoolKind::Users => self.ids.iter().map(|id| format!("/user/{id}")).collect(),
            PoolKind::ListFirst => vec!["/user?maxResults=100".into()],
            PoolKind::ListDeep => {
                if self.deep_tokens.is_empty() {
                    bail!("no deep page tokens: collect_deep_tokens was not run");
                }
                self.deep_tokens
                    .iter()
                    .map(|token| format!("/user?maxResults=100&nextToken={}", encode(token)))
                    .collect()
            }
        };
        // One instant for the whole pool; the signing itself is spread over the cores.
        let time = SystemTime::now();
        let signed_at = Instant::now();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = paths.len().div_ceil(threads).max(1);
        let signer = &self.signer;
        let parts: Vec<anyhow::Result<(Vec<HeaderName>, Vec<Presigned>)>> =
            std::thread::scope(|scope| {
                let handles: Vec<_> = paths
                    .chunks(chunk)
                    .map(|paths| scope.spawn(move || sign_paths(signer, paths, time)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("signing thread"))
                    .collect()
            });
        let mut names: Option<Vec<HeaderName>> = None;
        let mut requests = Vec::with_capacity(paths.len());
        for part in parts {
            let (these, mut signed) = part?;
            if *names.get_or_insert_with(|| these.clone()) != these {
                bail!("SigV4 signed the requests of one pool with different headers");
            }
            requests.append(&mut signed);
        }
        Ok(Pool {
            signed_at,
            names: names.unwrap_or_default().into(),
            requests,
        })
    }

    /// One SCIM userName lookup per seeded user (their emails are `seed<n>@bench.test`), each
    /// carrying the bearer token.
    fn scim_pool(&self) -> anyhow::Result<Pool> {
        let Some(token) = &self.scim_token else {
            bail!("this server's build has no SCIM (no `userdir scim-token`)");
        };
        let authorization = HeaderValue::from_str(&format!("Bearer {token}"))?;
        let requests = (0..self.ids.len())
            .map(|n| {
                Ok(Presigned {
                    path: PathAndQuery::from_maybe_shared(format!(
                        "/scim/v2/Users?filter=userName%20eq%20%22seed{n}%40bench.test%22"
                    ))?,
                    values: Box::new([authorization.clone()]),
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Pool {
            signed_at: Instant::now(),
            names: Arc::new([hyper::header::AUTHORIZATION]),
            requests,
        })
    }

    /// Writes signed before the clock starts, as reads are, so that the client's signing does not
    /// compete with the server for the machine's cores while it is measured: enough for the run at
    /// 20k writes/s (2k for the mixed load's 10%); a faster server gets the rest signed as sent.
    fn presigned_writes(
        &self,
        scenario: Scenario,
        run: &str,
        duration: Duration,
    ) -> anyhow::Result<Option<Vec<Outgoing<'static>>>> {
        let per_second = match scenario {
            Scenario::CreateUser | Scenario::UpdateUser => 20_000,
            Scenario::Mixed => 2_000,
            _ => return Ok(None),
        };
        let count = (duration.as_secs_f64() * per_second as f64).ceil() as u64;
        let started = Instant::now();
        let writes = (0..count)
            .map(|seq| self.write(scenario, run, seq))
            .collect::<anyhow::Result<Vec<_>>>()?;
        println!(
            "  signed {count} writes in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Ok(Some(writes))
    }

    /// A write. Each is unique: `run` names a single run (warm-ups and repetitions included),
    /// `seq` a write within it.
    fn write(&self, scenario: Scenario, run: &str, seq: u64) -> anyhow::Result<Outgoing<'static>> {
        let mut rng = rand::rng();
        let token = format!("{run}-{}-{seq}", scenario.name().replace(['/', ' '], "-"));
        let (method, path, body) = match scenario {
            Scenario::CreateUser => (
                Method::POST,
                "/user".to_owned(),
                format!(
                    r#"{{"emailAddress":"bench-{token}@bench.test","type":"APP_USER","clientToken":"{token}"}}"#
                ),
            ),
            _ => {
                let id = &self.ids[rng.random_range(0..self.ids.len())];
                (
                    Method::PUT,
                    format!("/user/{id}"),
                    format!(r#"{{"firstName":"Updated {seq}","clientToken":"{token}"}}"#),
                )
            }
        };
        let body = Bytes::from(body);
        let headers = self.signer.sign(
            &method,
            &path,
            vec![(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            &body,
            SystemTime::now(),
        )?;
        Ok(Outgoing {
            method,
            path: PathAndQuery::from_maybe_shared(path)?,
            headers: Headers::Owned(headers),
            body,
        })
    }

    pub async fn run(&self, scenario: Scenario, duration: Duration) -> anyhow::Result<RunResult> {
        let pool = match scenario.pool() {
            Some(kind) => Some(tokio::task::block_in_place(|| self.pool(kind, duration))?),
            None => None,
        };
        let pick = match scenario {
            Scenario::GetUserZipf => Pick::Zipf(self.zipf.clone(), self.hot_order.clone()),
            _ => Pick::Uniform(pool.as_ref().map_or(0, |p| p.requests.len())),
        };
        let run: Arc<str> = ulid::Ulid::generate().to_string().to_lowercase().into();
        let writes =
            tokio::task::block_in_place(|| self.presigned_writes(scenario, &run, duration))?
                .map(Arc::new);
        let sequence = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let deadline = started + duration;
        let mut workers = Vec::with_capacity(self.concurrency);
        for _ in 0..self.concurrency {
            let pool = pool.clone();
            let writes = writes.clone();
            let pick = pick.clone();
            let sequence = sequence.clone();
            let this = self.snapshot();
            let run = run.clone();
            workers.push(tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(1 << 16);
                let (mut errors, mut samples) = (0u64, Vec::new());
                let mut rng = rand::rngs::StdRng::from_rng(&mut rand::rng());
                while Instant::now() < deadline {
                    let is_write = match scenario {
                        Scenario::CreateUser | Scenario::UpdateUser => true,
                        Scenario::Mixed => rng.random_range(0..10) == 0,
                        _ => false,
                    };
                    let made;
                    let outgoing = match (&pool, is_write) {
                        (Some(pool), false) => {
                            // A random pick: workers walking the pool in step would all miss
                            // the cache on the same user at once.
                            let request = &pool.requests[pick.next(&mut rng)];
                            made = Outgoing {
                                method: Method::GET,
                                path: request.path.clone(),
                                headers: Headers::Shared(&pool.names, &request.values),
                                body: Bytes::new(),
                            };
                            &made
                        }
                        _ => {
                            let seq = sequence.fetch_add(1, Ordering::Relaxed);
                            let signed = usize::try_from(seq)
                                .ok()
                                .and_then(|i| writes.as_ref()?.get(i));
                            match signed {
                                Some(signed) => signed,
                                None => {
                                    made = this.write(scenario, &run, seq)?;
                                    &made
                                }
                            }
                        }
                    };
                    let sent = Instant::now();
                    let outcome = this.send(outgoing).await;
                    latencies.push(sent.elapsed().as_micros() as u32);
                    match outcome {
                        Ok((status, _)) if status < 300 => {}
                        Ok((status, body)) => {
                            errors += 1;
                            if samples.len() < 3 {
                                samples.push(format!(
                                    "{} {} {} -> {status}: {}",
                                    outgoing.method,
                                    outgoing.path,
                                    String::from_utf8_lossy(&outgoing.body),
                                    String::from_utf8_lossy(&body)
                                        .chars()
                                        .take(200)
                                        .collect::<String>()
                                ));
                            }
                        }
                        Err(e) => {
                            errors += 1;
                            if samples.len() < 3 {
                                samples.push(format!("transport: {e}"));
                            }
                        }
                    }
                }
                Ok::<_, anyhow::Error>((latencies, errors, samples))
            }));
        }
        let mut latencies = Vec::new();
        let (mut errors, mut samples) = (0, Vec::new());
        for worker in workers {
            let (mut l, e, s) = worker.await??;
            latencies.append(&mut l);
            errors += e;
            samples.extend(s);
        }
        let elapsed = started.elapsed().as_secs_f64();
        latencies.sort_unstable();
        let percentile = |p: f64| {
            latencies
                .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
                .map_or(0.0, |&us| f64::from(us) / 1000.0)
        };
        samples.truncate(3);
        Ok(RunResult {
            requests: latencies.len() as u64,
            rps: latencies.len() as f64 / elapsed,
            p50_ms: percentile(0.50),
            p99_ms: percentile(0.99),
            max_ms: latencies.last().map_or(0.0, |&us| f64::from(us) / 1000.0),
            errors,
            server_cpu_percent: 0.0,
            server_rss_mb: 0.0,
            cache_entries: None,
            cache_capacity: None,
            cache_hits: None,
            cache_misses: None,
            cache_hit_rate: None,
            adjacent_ceiling_rps: None,
            error_samples: samples,
        })
    }

    /// The server's cache counters from `GET /metrics`; `None` if it serves none (a build from
    /// before `/metrics`) or cannot be read.
    pub async fn cache_metrics(&self) -> Option<CacheMetrics> {
        let outgoing = Outgoing {
            method: Method::GET,
            path: PathAndQuery::from_static("/metrics"),
            headers: Headers::Owned(Vec::new()),
            body: Bytes::new(),
        };
        match self.send(&outgoing).await {
            Ok((200, body)) => Some(CacheMetrics::parse(&String::from_utf8_lossy(&body))),
            _ => None,
        }
    }

    async fn send(&self, outgoing: &Outgoing<'_>) -> anyhow::Result<(u16, Bytes)> {
        let uri = Uri::builder()
            .scheme(Scheme::HTTP)
            .authority(self.authority.clone())
            .path_and_query(outgoing.path.clone())
            .build()?;
        let mut request = Request::builder()
            .method(outgoing.method.clone())
            .uri(uri)
            .body(Full::new(outgoing.body.clone()))?;
        let headers = request.headers_mut();
        match &outgoing.headers {
            Headers::Shared(names, values) => {
                for (name, value) in names.iter().zip(values.iter()) {
                    headers.insert(name.clone(), value.clone());
                }
            }
            Headers::Owned(pairs) => {
                for (name, value) in pairs {
                    headers.insert(name.clone(), value.clone());
                }
            }
        }
        let response = self.client.request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    fn snapshot(&self) -> Arc<Self> {
        Arc::new(Self {
            signer: self.signer.clone(),
            authority: self.authority.clone(),
            client: self.client.clone(),
            ids: self.ids.clone(),
            hot_order: self.hot_order.clone(),
            zipf: self.zipf.clone(),
            deep_tokens: self.deep_tokens.clone(),
            concurrency: self.concurrency,
            pools: Mutex::new(HashMap::new()),
            scim_token: self.scim_token.clone(),
        })
    }

    /// Gives the driver the server's SCIM bearer token (for `ScimLookup`).
    pub fn set_scim_token(&mut self, token: Option<String>) {
        self.scim_token = token.map(Into::into);
    }

    /// Whether the server serves SCIM (its build made a token).
    pub fn has_scim(&self) -> bool {
        self.scim_token.is_some()
    }

    /// Proves, before anything is measured, that a lookup of a seeded user finds exactly it.
    pub async fn check_scim_lookup(&self) -> anyhow::Result<()> {
        let pool = self.scim_pool()?;
        let request = pool.requests.last().context("no seeded users")?;
        let outgoing = Outgoing {
            method: Method::GET,
            path: request.path.clone(),
            headers: Headers::Shared(&pool.names, &request.values),
            body: Bytes::new(),
        };
        let (status, body) = self.send(&outgoing).await?;
        let body: serde_json::Value = serde_json::from_slice(&body)?;
        anyhow::ensure!(
            status == 200 && body["totalResults"] == 1,
            "a SCIM userName lookup of a seeded user answered {status}: {body}"
        );
        Ok(())
    }
}

/// A request about to be sent (the host header comes from the URI).
struct Outgoing<'a> {
    method: Method,
    path: PathAndQuery,
    headers: Headers<'a>,
    body: Bytes,
}

enum Headers<'a> {
    Shared(&'a [HeaderName], &'a [HeaderValue]),
    Owned(Vec<(HeaderName, HeaderValue)>),
}

/// GETs of `paths` signed at `time`, and the names of the headers that sign them (the same for
/// every one).
fn sign_paths(
    signer: &Signer,
    paths: &[String],
    time: SystemTime,
) -> anyhow::Result<(Vec<HeaderName>, Vec<Presigned>)> {
    let mut names: Option<Vec<HeaderName>> = None;
    let mut requests = Vec::with_capacity(paths.len());
    for path in paths {
        let headers = signer.sign(&Method::GET, path, Vec::new(), &[], time)?;
        let names = names.get_or_insert_with(|| headers.iter().map(|(k, _)| k.clone()).collect());
        if names.len() != headers.len() || names.iter().zip(&headers).any(|(n, (k, _))| n != k) {
            bail!("SigV4 signed the requests of one pool with different headers");
        }
        requests.push(Presigned {
            path: PathAndQuery::from_maybe_shared(Bytes::from(path.clone()))?,
            values: headers.into_iter().map(|(_, v)| v).collect(),
        });
    }
    Ok((names.unwrap_or_default(), requests))
}

fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, QUERY_VALUE).to_string()
}

/// What SigV4 leaves unencoded in a query value: RFC 3986's unreserved characters.
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_matches_its_probabilities() {
        let n = 1000;
        let zipf = Zipf::new(n, 1.0);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let draws = 1_000_000;
        let mut counts = vec![0u32; n];
        for _ in 0..draws {
            counts[zipf.sample(&mut rng)] += 1;
        }
        let harmonic: f64 = (1..=n).map(|k| 1.0 / k as f64).sum();
        for (rank, &count) in counts.iter().enumerate().take(20) {
            let expected = draws as f64 / (rank as f64 + 1.0) / harmonic;
            let deviation = (f64::from(count) - expected).abs() / expected.sqrt();
            assert!(
                deviation < 5.0,
                "rank {rank}: {count} draws, {expected:.0} expected"
            );
        }
        // The tail as a whole, which holds most ranks and a third of the mass.
        let tail: u32 = counts[100..].iter().sum();
        let expected = draws as f64 * (101..=n).map(|k| 1.0 / k as f64).sum::<f64>() / harmonic;
        let deviation = (f64::from(tail) - expected).abs() / expected.sqrt();
        assert!(
            deviation < 5.0,
            "0-based ranks 100 and on: {tail} draws, {expected:.0} expected"
        );
        assert!(counts[n - 1] > 0, "the coldest rank is drawn too");
    }

    #[test]
    fn cache_metrics_are_read_from_prometheus_text() {
        let text = "# HELP userdir_user_cache_entries Users in the cache.\n\
                    # TYPE userdir_user_cache_entries gauge\n\
                    userdir_user_cache_entries 50000\n\
                    userdir_user_cache_entries_max 40000\n\
                    userdir_user_cache_capacity 50000\n\
                    userdir_user_cache_hits_total{shard=\"0\"} 10 1700000000000\n\
                    userdir_user_cache_hits_total{shard=\"1\"} 5\n";
        assert_eq!(
            CacheMetrics::parse(text),
            CacheMetrics {
                entries: Some(50_000),
                capacity: Some(50_000),
                hits: Some(15),
                misses: None
            }
        );
    }

    #[test]
    fn a_hit_rate_needs_both_readings() {
        let reading = |hits, misses| {
            Some(CacheMetrics {
                entries: Some(7),
                capacity: Some(9),
                hits: Some(hits),
                misses: Some(misses),
            })
        };
        let mut run = RunResult::default();
        run.set_cache(reading(10, 10), reading(40, 20));
        assert_eq!(run.cache_hit_rate, Some(0.75));
        assert_eq!(run.cache_entries, Some(7));
        run.set_cache(None, reading(40, 20));
        assert_eq!((run.cache_hits, run.cache_hit_rate), (None, None));
        run.set_cache(reading(1, 1), reading(1, 1));
        assert_eq!((run.cache_hits, run.cache_hit_rate), (Some(0), None));
    }

    #[test]
    fn zipf_of_one_is_always_the_first() {
        let zipf = Zipf::new(1, 1.0);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        assert!((0..100).all(|_| zipf.sample(&mut rng) == 0));
    }

    #[test]
    fn get_user_expands_to_the_chosen_distributions() {
        assert_eq!(
            Scenario::expand(&[Scenario::Mixed, Scenario::GetUser], &[Access::Zipf]),
            vec![Scenario::GetUserZipf, Scenario::Mixed]
        );
        assert_eq!(
            Scenario::expand(&Scenario::DEFAULT, &[Access::Uniform, Access::Zipf]),
            Scenario::ALL
        );
    }
}

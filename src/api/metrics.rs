//! `GET /metrics` in Prometheus' text format. Requests add to counters and histograms as they
//! complete (a few atomic operations); what the store knows (users by status, tokens, the cache,
//! connection pools) is read when a scrape asks for it.

use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use super::AppState;
use super::error::ApiError;
use super::invocation::Called;
use crate::telemetry::error_chain;
use userdir_core::domain::Caller;
use userdir_core::service::UserService;
use userdir_core::store::CommitObserver;

/// Request latency buckets, in seconds: from a cached read to a slow disk.
const LATENCY: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
/// Writes per committed transaction.
const BATCH: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

pub struct Metrics {
    /// Off (metrics.access = "off"): requests are not counted at all.
    counting: bool,
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    throttled: IntCounter,
    commits: CommitMetrics,
    cache_hits: IntCounter,
    cache_misses: IntCounter,
    cache_entries: IntGauge,
    cache_capacity: IntGauge,
    users: IntGaugeVec,
    tokens: IntGauge,
    backlog: IntGauge,
    pool_open: IntGaugeVec,
    pool_idle: IntGaugeVec,
    pool_max: IntGaugeVec,
    /// One scrape at a time: the counters read from the store move by differences.
    scraping: tokio::sync::Mutex<()>,
}

/// The group commit's figures, fed by the store.
#[derive(Clone)]
pub struct CommitMetrics {
    writes: Histogram,
    seconds: Histogram,
}

impl CommitObserver for CommitMetrics {
    fn committed(&self, writes: usize, took: Duration) {
        self.writes.observe(writes as f64);
        self.seconds.observe(took.as_secs_f64());
    }
}

impl Metrics {
    /// `counting`: whether requests are counted (not when /metrics is off).
    pub fn new(counting: bool) -> prometheus::Result<Self> {
        let registry = Registry::new();
        fn add<C: prometheus::core::Collector + Clone + 'static>(
            registry: &Registry,
            collector: C,
        ) -> prometheus::Result<C> {
            registry.register(Box::new(collector.clone()))?;
            Ok(collector)
        }
        let gauge = |name: &str, help: &str| add(&registry, IntGauge::new(name, help)?);
        let counter = |name: &str, help: &str| add(&registry, IntCounter::new(name, help)?);
        let pool = |name: &str, help: &str| {
            add(
                &registry,
                IntGaugeVec::new(Opts::new(name, help), &["pool"])?,
            )
        };
        Ok(Self {
            requests: add(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "userdir_requests_total",
                        "Requests answered, by operation and outcome (Success or the AWS error name).",
                    ),
                    &["operation", "outcome"],
                )?,
            )?,
            latency: add(
                &registry,
                HistogramVec::new(
                    HistogramOpts::new(
                        "userdir_request_duration_seconds",
                        "Time from a request's arrival to its answer, by operation.",
                    )
                    .buckets(LATENCY.to_vec()),
                    &["operation"],
                )?,
            )?,
            throttled: counter(
                "userdir_throttled_total",
                "Requests answered 429 ThrottlingException (per-caller rate, sign-in attempts, failed authentications).",
            )?,
            commits: CommitMetrics {
                writes: add(
                    &registry,
                    Histogram::with_opts(
                        HistogramOpts::new(
                            "userdir_commit_writes",
                            "Writes per committed transaction (SQLite's group commit; on PostgreSQL the creates made together, else 1).",
                        )
                        .buckets(BATCH.to_vec()),
                    )?,
                )?,
                seconds: add(
                    &registry,
                    Histogram::with_opts(
                        HistogramOpts::new(
                            "userdir_commit_duration_seconds",
                            "Time from a write transaction's start to its durable commit.",
                        )
                        .buckets(LATENCY.to_vec()),
                    )?,
                )?,
            },
            cache_hits: counter(
                "userdir_user_cache_hits_total",
                "GetUser reads answered from the cache.",
            )?,
            cache_misses: counter(
                "userdir_user_cache_misses_total",
                "GetUser reads that went to the database.",
            )?,
            cache_entries: gauge("userdir_user_cache_entries", "Users held by the GetUser cache.")?,
            cache_capacity: gauge(
                "userdir_user_cache_capacity",
                "Users the GetUser cache may hold (0: no cache, as on PostgreSQL).",
            )?,
            users: add(
                &registry,
                IntGaugeVec::new(
                    Opts::new("userdir_users", "Users in the directory, by status."),
                    &["status"],
                )?,
            )?,
            tokens: gauge(
                "userdir_idempotency_tokens",
                "clientTokens remembered (live, or expired and not yet purged).",
            )?,
            backlog: gauge(
                "userdir_lifecycle_backlog",
                "Users still CREATING, waiting for the lifecycle task to enable them.",
            )?,
            pool_open: pool(
                "userdir_db_connections_open",
                "Database connections open, by pool.",
            )?,
            pool_idle: pool(
                "userdir_db_connections_idle",
                "Open database connections not in use, by pool.",
            )?,
            pool_max: pool(
                "userdir_db_connections_max",
                "Database connections a pool opens at most.",
            )?,
            scraping: tokio::sync::Mutex::new(()),
            counting,
            registry,
        })
    }

    /// What the store reports of its commits.
    pub fn commit_observer(&self) -> Arc<dyn CommitObserver> {
        Arc::new(self.commits.clone())
    }

    /// Counts a request as it is answered.
    pub fn observe_request(&self, operation: &str, outcome: &str, took: Duration) {
        if !self.counting {
            return;
        }
        self.requests.with_label_values(&[operation, outcome]).inc();
        self.latency
            .with_label_values(&[operation])
            .observe(took.as_secs_f64());
        if outcome == "ThrottlingException" {
            self.throttled.inc();
        }
    }

    /// The exposition: the request figures, and the store's read now.
    pub async fn render(&self, users: &UserService) -> String {
        let _one = self.scraping.lock().await;
        if let Some(cache) = users.cache_stats() {
            advance(&self.cache_hits, cache.hits);
            advance(&self.cache_misses, cache.misses);
            self.cache_entries.set(cache.entries as i64);
            self.cache_capacity.set(cache.capacity as i64);
        }
        match users.users_by_status().await {
            Ok(counts) => {
                for (status, n) in [
                    ("CREATING", counts.creating),
                    ("ENABLED", counts.enabled),
                    ("DISABLED", counts.disabled),
                ] {
                    self.users.with_label_values(&[status]).set(n as i64);
                }
                self.backlog.set(counts.creating as i64);
            }
            Err(error) => tracing::warn!(error = %error_chain(&error), "counting users failed"),
        }
        match users.stored_tokens().await {
            Ok(tokens) => self.tokens.set(tokens as i64),
            Err(error) => {
                tracing::warn!(error = %error_chain(&error), "counting idempotency tokens failed")
            }
        }
        for pool in users.pool_stats() {
            self.pool_open
                .with_label_values(&[pool.name])
                .set(pool.open.into());
            self.pool_idle
                .with_label_values(&[pool.name])
                .set(pool.idle.into());
            self.pool_max
                .with_label_values(&[pool.name])
                .set(pool.max.into());
        }
        let mut text = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut text) {
            tracing::error!(%error, "encoding the metrics failed");
        }
        String::from_utf8(text).unwrap_or_default()
    }
}

/// Moves a counter up to a total kept elsewhere (which only grows).
fn advance(counter: &IntCounter, total: u64) {
    let now = counter.get();
    if total > now {
        counter.inc_by(total - now);
    }
}

/// `GET /metrics`, open to whoever reaches it.
pub async fn open(state: web::Data<AppState>) -> HttpResponse {
    exposition(&state).await
}

/// `GET /metrics` behind authentication: the root key only.
pub async fn root_only(
    state: web::Data<AppState>,
    Called(invocation): Called,
) -> Result<HttpResponse, ApiError> {
    match invocation.caller {
        Caller::Root | Caller::Anonymous => Ok(exposition(&state).await),
        _ => Err(ApiError::AccessDenied(
            "metrics are readable with the root key only (metrics.access = \"root\")".into(),
        )),
    }
}

async fn exposition(state: &AppState) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(TextEncoder::new().format_type())
        .body(state.metrics.render(&state.users).await)
}

/// With `/metrics` on a listener of its own (metrics.listen), that listener serves `/metrics`
/// only, and the API's listener does not serve it.
pub async fn separate_listener(
    metrics_port: u16,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let on_metrics_listener = req.app_config().local_addr().port() == metrics_port;
    if on_metrics_listener != (req.path() == "/metrics") {
        let refused = ApiError::UnknownOperation(format!("{} {}", req.method(), req.path()));
        return Ok(req.error_response(refused));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

//! The load: scenarios, SigV4-signed requests, workers on persistent connections, and the
//! statistics of what came back.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use userdir::service::pagination::{Listing, PageTokens};

use crate::seed::Seeded;
use crate::server::Server;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// `GET /health/live`: the HTTP ceiling of the same server.
    Health,
    /// GetUser of random existing users.
    GetUser,
    /// CreateUser with unique emails and clientTokens.
    CreateUser,
    /// UpdateUser of random existing users.
    UpdateUser,
    /// ListUsers, first page of 100.
    ListFirst,
    /// ListUsers, a page of 100 at 90–99% of the directory.
    ListDeep,
    /// 90% GetUser, 10% UpdateUser.
    Mixed,
}

impl Scenario {
    pub const ALL: [Scenario; 7] = [
        Scenario::Health,
        Scenario::GetUser,
        Scenario::CreateUser,
        Scenario::UpdateUser,
        Scenario::ListFirst,
        Scenario::ListDeep,
        Scenario::Mixed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Health => "health/live",
            Scenario::GetUser => "GetUser",
            Scenario::CreateUser => "CreateUser",
            Scenario::UpdateUser => "UpdateUser",
            Scenario::ListFirst => "ListUsers first page",
            Scenario::ListDeep => "ListUsers deep page",
            Scenario::Mixed => "mixed 90/10",
        }
    }
}

/// One measured run of a scenario.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub requests: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub errors: u64,
    pub server_cpu_percent: f64,
    pub server_rss_mb: f64,
    #[serde(skip)]
    pub error_samples: Vec<String>,
}

/// A request ready to send.
#[derive(Clone)]
struct Prepared {
    method: Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Bytes,
}

struct Signer {
    identity: Identity,
    host: String,
}

impl Signer {
    fn prepare(
        &self,
        method: Method,
        path: String,
        body: Option<String>,
    ) -> anyhow::Result<Prepared> {
        let body = body.map(Bytes::from).unwrap_or_default();
        let mut headers = vec![("host".to_owned(), self.host.clone())];
        if !body.is_empty() {
            headers.push(("content-type".into(), "application/json".into()));
        }
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region("us-east-1")
            .name("finspace-api")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()?
            .into();
        let url = format!("http://{}{}", self.host, path);
        let signable = SignableRequest::new(
            method.as_str(),
            url.as_str(),
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(&body),
        )?;
        let (instructions, _) = sign(signable, &params)?.into_parts();
        let (signed, _) = instructions.into_parts();
        headers.extend(
            signed
                .into_iter()
                .map(|h| (h.name().to_owned(), h.value().to_owned())),
        );
        Ok(Prepared {
            method,
            path,
            headers,
            body,
        })
    }
}

pub struct Driver {
    signer: Arc<Signer>,
    client: Client<HttpConnector, Full<Bytes>>,
    ids: Arc<Vec<String>>,
    tokens: PageTokens,
    concurrency: usize,
}

impl Driver {
    pub fn new(server: &Server, seeded: &Seeded, concurrency: usize) -> anyhow::Result<Self> {
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
            client,
            ids: Arc::new(seeded.ids.clone()),
            tokens: PageTokens::new(&seeded.pagination_key).context("pagination key")?,
            concurrency,
        })
    }

    /// Requests signed before the clock starts (read scenarios cycle through them), so that the
    /// client's signing does not compete with the server for the machine's cores. GetUser draws
    /// up to 32,768 random users.
    fn read_pool(&self, scenario: Scenario) -> anyhow::Result<Vec<Prepared>> {
        let mut rng = rand::rng();
        let random_id =
            |rng: &mut rand::rngs::ThreadRng| self.ids[rng.random_range(0..self.ids.len())].clone();
        let pool = match scenario {
            Scenario::Health => vec![Prepared {
                method: Method::GET,
                path: "/health/live".into(),
                headers: vec![("host".into(), self.signer.host.clone())],
                body: Bytes::new(),
            }],
            Scenario::GetUser | Scenario::Mixed => (0..self.ids.len().min(32_768))
                .map(|_| {
                    self.signer
                        .prepare(Method::GET, format!("/user/{}", random_id(&mut rng)), None)
                })
                .collect::<anyhow::Result<_>>()?,
            Scenario::ListFirst => {
                vec![
                    self.signer
                        .prepare(Method::GET, "/user?maxResults=100".into(), None)?,
                ]
            }
            Scenario::ListDeep => {
                let n = self.ids.len();
                (0..64)
                    .map(|_| {
                        let position =
                            rng.random_range(n * 9 / 10..n.saturating_sub(100).max(n * 9 / 10 + 1));
                        let token = self
                            .tokens
                            .issue(Listing::Users, &self.ids[position.min(n - 1)]);
                        self.signer.prepare(
                            Method::GET,
                            format!("/user?maxResults=100&nextToken={}", encode(&token)),
                            None,
                        )
                    })
                    .collect::<anyhow::Result<_>>()?
            }
            Scenario::CreateUser | Scenario::UpdateUser => Vec::new(),
        };
        Ok(pool)
    }

    /// A write, signed when it is sent. Each is unique: `run` names a single run (warm-ups and
    /// repetitions included), `seq` a request within it.
    fn write(&self, scenario: Scenario, run: &str, seq: u64) -> anyhow::Result<Prepared> {
        let mut rng = rand::rng();
        let token = format!("{run}-{}-{seq}", scenario.name().replace(['/', ' '], "-"));
        match scenario {
            Scenario::CreateUser => self.signer.prepare(
                Method::POST,
                "/user".into(),
                Some(format!(
                    r#"{{"emailAddress":"bench-{token}@bench.test","type":"APP_USER","clientToken":"{token}"}}"#
                )),
            ),
            _ => {
                let id = &self.ids[rng.random_range(0..self.ids.len())];
                self.signer.prepare(
                    Method::PUT,
                    format!("/user/{id}"),
                    Some(format!(r#"{{"firstName":"Updated {seq}","clientToken":"{token}"}}"#)),
                )
            }
        }
    }

    pub async fn run(&self, scenario: Scenario, duration: Duration) -> anyhow::Result<RunResult> {
        let pool = Arc::new(self.read_pool(scenario)?);
        let run: Arc<str> = ulid::Ulid::generate().to_string().to_lowercase().into();
        let sequence = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let deadline = started + duration;
        let mut workers = Vec::with_capacity(self.concurrency);
        for _ in 0..self.concurrency {
            let pool = pool.clone();
            let sequence = sequence.clone();
            let client = self.client.clone();
            let this = self.snapshot();
            let run = run.clone();
            workers.push(tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(1 << 16);
                let (mut errors, mut samples) = (0u64, Vec::new());
                let mut rng = rand::rngs::StdRng::from_rng(&mut rand::rng());
                while Instant::now() < deadline {
                    let seq = sequence.fetch_add(1, Ordering::Relaxed);
                    let is_write = match scenario {
                        Scenario::CreateUser | Scenario::UpdateUser => true,
                        Scenario::Mixed => rng.random_range(0..10) == 0,
                        _ => false,
                    };
                    let prepared = if is_write {
                        match this.write(scenario, &run, seq) {
                            Ok(p) => p,
                            Err(e) => return Err(e),
                        }
                    } else {
                        // A random pick: workers walking the pool in step would all miss
                        // the cache on the same user at once.
                        pool[rng.random_range(0..pool.len())].clone()
                    };
                    let sent = Instant::now();
                    let what = format!(
                        "{} {}",
                        prepared.path,
                        String::from_utf8_lossy(&prepared.body)
                    );
                    let outcome = send(&client, &this.signer.host, prepared).await;
                    latencies.push(sent.elapsed().as_micros() as u32);
                    match outcome {
                        Ok((status, _)) if status < 300 => {}
                        Ok((status, body)) => {
                            errors += 1;
                            if samples.len() < 3 {
                                samples.push(format!(
                                    "{what} -> {status}: {}",
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
            error_samples: samples,
        })
    }

    fn snapshot(&self) -> Arc<Self> {
        Arc::new(Self {
            signer: self.signer.clone(),
            client: self.client.clone(),
            ids: self.ids.clone(),
            tokens: self.tokens.clone(),
            concurrency: self.concurrency,
        })
    }
}

async fn send(
    client: &Client<HttpConnector, Full<Bytes>>,
    host: &str,
    prepared: Prepared,
) -> anyhow::Result<(u16, Bytes)> {
    let mut request = Request::builder()
        .method(prepared.method)
        .uri(format!("http://{host}{}", prepared.path));
    for (name, value) in &prepared.headers {
        if name != "host" {
            request = request.header(name, value);
        }
    }
    let response = client
        .request(request.body(Full::new(prepared.body))?)
        .await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

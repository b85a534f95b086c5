//! `gatehouse-bench`: load generation, seeding and raw-cost baselines for Gatehouse's benchmarks.
//!
//! Every figure is meant to be read next to a baseline measured in the same run (see `bench/run.sh` and
//! `docs/benchmarks.md`): the machines are shared and noisy, so ratios carry the meaning.

mod provisioning;

use anyhow::Context;
use clap::{Parser, Subcommand};
use gatehouse_core::credentials::keys::SigningKey;
use gatehouse_core::credentials::passwords::{self, HashParams};
use gatehouse_core::kernel::random::{Random, SystemRandom};
use gatehouse_core::processors;
use gatehouse_core::store::{Link, ObjectKind, ObjectRecord, Relation, Store, TenantRecord, Write};
use gatehouse_store::SqlStore;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(name = "gatehouse-bench")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Raw costs on one core: RS256 signatures/s and argon2id hashes/s (production parameters unless given);
    /// and argon2id hashes/s with every core hashing at once.
    Baseline {
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        #[arg(long, default_value_t = HashParams::PRODUCTION.memory_kib)]
        memory_kib: u32,
        #[arg(long, default_value_t = HashParams::PRODUCTION.iterations)]
        iterations: u32,
    },
    /// Closed-loop HTTP/1.1 keep-alive load; prints throughput and latency percentiles as JSON.
    Load {
        /// Target URL; `{id}` is replaced by the lines of --ids, round-robin.
        #[arg(long)]
        url: String,
        #[arg(long, default_value = "GET")]
        method: String,
        /// Extra header, `Name: value`; repeatable.
        #[arg(long)]
        header: Vec<String>,
        /// Request body; `{n}` is replaced by a unique number per request, `{id}` as in the URL.
        #[arg(long)]
        body: Option<String>,
        #[arg(long, default_value = "application/json")]
        content_type: String,
        #[arg(long)]
        ids: Option<std::path::PathBuf>,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Stop after this many requests in all (0: run for --seconds).
        #[arg(long, default_value_t = 0)]
        requests: u64,
        /// A label for the JSON output.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Writes users straight into a store, in large batches, for the million-user benchmarks. Bypasses
    /// password hashing (seeded users have no password) but not the store: every user gets its query
    /// values and change-log record exactly as through the API.
    SeedStore {
        #[arg(long)]
        database_url: String,
        #[arg(long, default_value_t = 1_000_000)]
        count: u64,
        #[arg(long, default_value_t = 2000)]
        batch: u64,
    },
    /// Writes the groups benchmark's directory straight into a store: `groups` groups (every fifth a
    /// Microsoft 365 group), one of them with `members` user members, a chain of `depth` nested groups
    /// whose bottom holds `chained` users (each also in a few other groups), and `spare` users in no group.
    /// Writes the big group's id, the chained users' and the spare users' ids into `out`.
    SeedGroups {
        #[arg(long)]
        database_url: String,
        #[arg(long, default_value_t = 50_000)]
        groups: u64,
        #[arg(long, default_value_t = 100_000)]
        members: u64,
        #[arg(long, default_value_t = 10)]
        depth: u64,
        #[arg(long, default_value_t = 1000)]
        chained: u64,
        #[arg(long, default_value_t = 20_000)]
        spare: u64,
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// In-process rule evaluations per second on one core, next to serializing a user as its baseline.
    Rules {
        #[arg(long, default_value_t = 3)]
        seconds: u64,
    },
    /// Creates dynamic groups (paused) over seeded users through Graph; writes `id<TAB>rule` lines.
    CreateDynamic {
        #[arg(long)]
        base: String,
        #[arg(long)]
        token: String,
        #[arg(long, default_value_t = 1000)]
        count: usize,
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Resumes every dynamic group at once and waits until all have been evaluated; prints the seconds.
    ResumeDynamic {
        #[arg(long)]
        base: String,
        #[arg(long)]
        token: String,
        #[arg(long)]
        groups: std::path::PathBuf,
    },
    /// Changes seeded users' job titles one at a time and measures how long after each PATCH returns the
    /// user's memberOf shows the new title's dynamic group (and not the old one's).
    DynamicLatency {
        #[arg(long)]
        base: String,
        #[arg(long)]
        token: String,
        #[arg(long)]
        groups: std::path::PathBuf,
        #[arg(long, default_value_t = 100_000)]
        users: u64,
        #[arg(long, default_value_t = 200)]
        changes: usize,
    },
    /// Waits until the running server's change-log processors have gone through every tenant's change log
    /// (a seeded store starts with its processors behind the records it wrote); prints the seconds.
    Settle {
        #[arg(long)]
        database_url: String,
    },
    /// Subscribes the tenant to Entra ID P1 with enough seats, assigns it to a group, and times until the
    /// group's license processing completes for every member.
    LicenseGroup {
        #[arg(long)]
        base: String,
        #[arg(long)]
        token: String,
        #[arg(long)]
        group: String,
        #[arg(long)]
        members: u64,
    },
    /// Adds users one at a time to a licensed group (and removes them again), timing each from the request's
    /// return until the user holds (or no longer holds) the group's license.
    LicenseLatency {
        #[arg(long)]
        base: String,
        #[arg(long)]
        token: String,
        #[arg(long)]
        users: std::path::PathBuf,
        #[arg(long, default_value_t = 100)]
        changes: usize,
    },
    /// Gives a new app a provisioning job into a SCIM server, assigns a group of MEMBERS users to it, and times
    /// the initial cycle until every member is there; prints objects per second.
    ProvisionCycle {
        #[arg(long)]
        base: String,
        #[arg(long)]
        token: String,
        #[arg(long)]
        group: String,
        /// The SCIM server's base URL and bearer token.
        #[arg(long)]
        target: String,
        #[arg(long)]
        target_token: String,
        #[arg(long)]
        members: u64,
    },
    /// Changes users' departments one at a time, timing each from the request's return until the SCIM
    /// server shows it.
    ProvisionLatency {
        #[arg(long)]
        base: String,
        #[arg(long)]
        token: String,
        #[arg(long)]
        target: String,
        #[arg(long)]
        target_token: String,
        /// The ids of users the job provisions, one a line.
        #[arg(long)]
        users: std::path::PathBuf,
        #[arg(long, default_value_t = 100)]
        changes: usize,
    },
    /// Creates users through SCIM's `/Bulk`, with or without passwords; prints users per second.
    ScimBulk {
        #[arg(long)]
        base: String,
        #[arg(long)]
        token: String,
        #[arg(long, default_value_t = 100_000)]
        count: usize,
        #[arg(long, default_value_t = 1000)]
        per_request: usize,
        /// Give each user an initial password (hashed with the server's argon2id parameters).
        #[arg(long)]
        passwords: bool,
    },
    /// Follows `@odata.nextLink` from a first page to the last; prints users per second.
    Walk {
        #[arg(long)]
        url: String,
        #[arg(long)]
        token: String,
    },
    /// Closed-loop sign-ins through the pages, each by a browser without a session: GET the authorize URL,
    /// POST its sign-in form with the user's name and password, and land on the redirect URI with a code.
    /// Prints throughput and latency percentiles (of the GET and POST together) as JSON.
    SignInPages {
        /// The `/authorize` URL, with every parameter of the request.
        #[arg(long)]
        url: String,
        #[arg(long)]
        login: String,
        #[arg(long)]
        password: String,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// A label for the JSON output.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// POSTs a form `count` times and writes one field of each JSON answer to a file, a line each (refresh
    /// tokens for the refresh-grant benchmark).
    Collect {
        #[arg(long)]
        url: String,
        /// The form; `{n}` is replaced by a unique number per request.
        #[arg(long)]
        body: String,
        #[arg(long)]
        field: String,
        #[arg(long, default_value_t = 1000)]
        count: u64,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Creates users through Graph and writes their ids to a file.
    Seed {
        #[arg(long)]
        base: String,
        #[arg(long)]
        token: String,
        #[arg(long)]
        domain: String,
        #[arg(long, default_value_t = 1000)]
        count: u64,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        #[arg(long)]
        out: std::path::PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Baseline { seconds, memory_kib, iterations } => {
                baseline(Duration::from_secs(seconds), HashParams { memory_kib, iterations, ..HashParams::PRODUCTION })
            }
            Command::Load { url, method, header, body, content_type, ids, concurrency, seconds, requests, name } => {
                let ids = match ids {
                    Some(path) => std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?
                        .lines()
                        .map(str::to_owned)
                        .collect(),
                    None => vec![String::new()],
                };
                let plan = Plan { url, method, headers: parse_headers(&header)?, body, content_type, ids };
                let report = load(Arc::new(plan), concurrency, Duration::from_secs(seconds), requests).await;
                println!("{}", report.json(&name));
                Ok(())
            }
            Command::SignInPages { url, login, password, concurrency, seconds, name } => {
                let person = Arc::new(PageSignIn { url, login, password });
                let report = closed_loop(concurrency, Duration::from_secs(seconds), 0, move |client, _| {
                    let person = person.clone();
                    async move { person.sign_in(&client).await.is_ok() }
                })
                .await;
                println!("{}", report.json(&name));
                Ok(())
            }
            Command::Collect { url, body, field, count, concurrency, out } => {
                collect(url, body, field, count, concurrency, out).await
            }
            Command::Seed { base, token, domain, count, concurrency, out } => {
                seed(base, token, domain, count, concurrency, out).await
            }
            Command::SeedStore { database_url, count, batch } => seed_store(&database_url, count, batch).await,
            Command::SeedGroups { database_url, groups, members, depth, chained, spare, out } => {
                let shape = GroupsShape { groups, members, depth, chained, spare };
                seed_groups(&database_url, shape, &out).await
            }
            Command::Walk { url, token } => walk(url, token).await,
            Command::Settle { database_url } => settle(&database_url).await,
            Command::Rules { seconds } => rules_rate(Duration::from_secs(seconds)),
            Command::LicenseGroup { base, token, group, members } => {
                license_group(&Http::new(base, token), &group, members).await
            }
            Command::LicenseLatency { base, token, users, changes } => {
                license_latency(&Http::new(base, token), &users, changes).await
            }
            Command::ProvisionCycle { base, token, group, target, target_token, members } => {
                provisioning::cycle(&Http::new(base, token), &group, &target, &target_token, members).await
            }
            Command::ProvisionLatency { base, token, target, target_token, users, changes } => {
                let (http, app) = (Http::new(base, token), Http::new(target, target_token));
                provisioning::latency(&http, &app, &users, changes).await
            }
            Command::ScimBulk { base, token, count, per_request, passwords } => {
                provisioning::scim_bulk(&Http::new(base, token), count, per_request, passwords).await
            }
            Command::CreateDynamic { base, token, count, out } => {
                create_dynamic(&Http::new(base, token), count, &out).await
            }
            Command::ResumeDynamic { base, token, groups } => resume_dynamic(&Http::new(base, token), &groups).await,
            Command::DynamicLatency { base, token, groups, users, changes } => {
                dynamic_latency(&Http::new(base, token), &groups, users, changes).await
            }
        }
    })
}

fn parse_headers(raw: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    raw.iter()
        .map(|h| {
            h.split_once(':')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .context("a header is `Name: value`")
        })
        .collect()
}

fn baseline(window: Duration, params: HashParams) -> anyhow::Result<()> {
    let (key, _) = SigningKey::generate(&SystemRandom).map_err(|e| anyhow::anyhow!("{e}"))?;
    let claims =
        json!({"aud": "https://graph.microsoft.com", "iss": "x", "roles": ["User.Read.All"], "tid": "t", "exp": 1});
    let sign_rate = rate(window, || key.sign(&claims).map(drop).map_err(|e| anyhow::anyhow!("{e}")))?;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let hash_rate = rate(window, || hash_once(params))?;
    // Every core hashing at once: what the machine's hashing is worth when the pool is full. Below cores ×
    // one core's rate where the hashes' memory outgrows the caches the cores share.
    let all_cores = std::thread::scope(|scope| -> anyhow::Result<f64> {
        let hashing: Vec<_> = (0..cores).map(|_| scope.spawn(|| rate(window, || hash_once(params)))).collect();
        let mut total = 0.0;
        for thread in hashing {
            total += thread.join().map_err(|_| anyhow::anyhow!("a hashing thread panicked"))??;
        }
        Ok((total * 10.0).round() / 10.0)
    })?;
    println!(
        "{}",
        json!({"cores": cores, "rs256_signs_per_second_one_core": sign_rate.round(), "argon2id_hashes_per_second_one_core": (hash_rate * 10.0).round() / 10.0, "argon2id_hashes_per_second_all_cores_at_once": all_cores})
    );
    Ok(())
}

/// How many times a second `work` runs, over `window`.
fn rate(window: Duration, mut work: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut runs = 0u64;
    while started.elapsed() < window {
        work()?;
        runs += 1;
    }
    Ok(runs as f64 / started.elapsed().as_secs_f64())
}

/// One argon2id hash with a fresh salt.
fn hash_once(params: HashParams) -> anyhow::Result<()> {
    let mut salt = [0u8; 16];
    SystemRandom.fill(&mut salt);
    passwords::hash_now("Bench-passw0rd!", &salt, params).map(drop).map_err(|e| anyhow::anyhow!("{e}"))
}

struct Plan {
    url: String,
    method: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
    content_type: String,
    ids: Vec<String>,
}

#[derive(Default)]
struct Report {
    latencies_us: Vec<u64>,
    errors: u64,
    elapsed: Duration,
}

impl Report {
    fn percentile(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let index = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us[index] as f64 / 1000.0
    }

    fn json(&self, name: &str) -> serde_json::Value {
        let ok = self.latencies_us.len() as f64;
        json!({
            "name": name,
            "requests": self.latencies_us.len(),
            "errors": self.errors,
            "seconds": (self.elapsed.as_secs_f64() * 100.0).round() / 100.0,
            "per_second": (ok / self.elapsed.as_secs_f64()).round(),
            "p50_ms": self.percentile(0.50),
            "p90_ms": self.percentile(0.90),
            "p99_ms": self.percentile(0.99),
        })
    }
}

/// Prints how long a series of changes took to show (microseconds each) as one JSON line.
fn print_changes(name: &str, mut latencies_us: Vec<u64>) {
    latencies_us.sort_unstable();
    let report = Report { latencies_us, ..Report::default() };
    println!(
        "{}",
        json!({"name": name, "changes": report.latencies_us.len(), "p50_ms": report.percentile(0.5),
            "p90_ms": report.percentile(0.9), "p99_ms": report.percentile(0.99), "max_ms": report.percentile(1.0)})
    );
}

async fn load(plan: Arc<Plan>, concurrency: usize, window: Duration, limit: u64) -> Report {
    closed_loop(concurrency, window, limit, move |client, n| {
        let plan = plan.clone();
        async move {
            let id = &plan.ids[(n as usize) % plan.ids.len()];
            let url = plan.url.replace("{id}", id);
            let mut request = Request::builder().method(plan.method.as_str()).uri(url);
            for (name, value) in &plan.headers {
                request = request.header(name, value);
            }
            let body = match &plan.body {
                Some(body) => {
                    request = request.header("content-type", &plan.content_type);
                    body.replace("{n}", &format!("{n}-{}", uuid::Uuid::new_v4().simple())).replace("{id}", id)
                }
                None => String::new(),
            };
            let Ok(request) = request.body(Full::new(Bytes::from(body))) else { return false };
            match client.request(request).await {
                Ok(response) => {
                    let success = response.status().is_success();
                    response.into_body().collect().await.is_ok() && success
                }
                Err(_) => false,
            }
        }
    })
    .await
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

/// Runs `one` (given a keep-alive client of its loop's own and the run's number) in `concurrency` closed
/// loops, for `window` or, when `limit` is not 0, `limit` runs in all; keeps the latency of each run that
/// succeeded and counts the others as errors.
async fn closed_loop<F, R>(concurrency: usize, window: Duration, limit: u64, one: F) -> Report
where
    F: Fn(HttpClient, u64) -> R + Send + Sync + 'static,
    R: std::future::Future<Output = bool> + Send,
{
    let (one, counter) = (Arc::new(one), Arc::new(std::sync::atomic::AtomicU64::new(0)));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (one, counter) = (one.clone(), counter.clone());
        workers.push(tokio::spawn(async move {
            let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
            let mut report = Report::default();
            loop {
                let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if (limit > 0 && n >= limit) || (limit == 0 && started.elapsed() >= window) {
                    return report;
                }
                let sent = Instant::now();
                match one(client.clone(), n).await {
                    true => report.latencies_us.push(sent.elapsed().as_micros() as u64),
                    false => report.errors += 1,
                }
            }
        }));
    }
    let mut total = Report::default();
    for worker in workers {
        if let Ok(report) = worker.await {
            total.latencies_us.extend(report.latencies_us);
            total.errors += report.errors;
        }
    }
    total.elapsed = started.elapsed();
    total.latencies_us.sort_unstable();
    total
}

/// One person signing in through the pages, as a browser without a session does.
struct PageSignIn {
    url: String,
    login: String,
    password: String,
}

impl PageSignIn {
    /// GETs the sign-in page, then POSTs its form (its hidden fields, the name and the password, with the
    /// cookie the page set); succeeds when the answer redirects with a code.
    async fn sign_in(&self, client: &HttpClient) -> anyhow::Result<()> {
        let request = Request::get(self.url.as_str()).body(Full::new(Bytes::new()))?;
        let page = client.request(request).await?;
        let cookies: Vec<&str> = page
            .headers()
            .get_all(hyper::header::SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok()?.split(';').next())
            .collect();
        let cookie = cookies.join("; ");
        let html = String::from_utf8(page.into_body().collect().await?.to_bytes().to_vec())?;
        let action = between(&html, "<form method=\"post\" action=\"", "\"").context("the page has a form")?;
        let mut fields = Vec::new();
        let mut rest = html.as_str();
        while let Some(at) = rest.find("<input type=\"hidden\" name=\"") {
            rest = &rest[at..];
            let name = between(rest, "name=\"", "\"").context("a hidden field's name")?;
            let value = between(rest, "value=\"", "\"").context("a hidden field's value")?;
            fields.push((name, value));
            rest = &rest[1..];
        }
        fields.extend([("login", self.login.as_str()), ("passwd", self.password.as_str())]);
        let origin = self.url.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
        let request = Request::post(format!("{origin}{action}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", cookie)
            .body(Full::new(Bytes::from(form_encode(&fields))))?;
        let answer = client.request(request).await?;
        let location = answer.headers().get(hyper::header::LOCATION).and_then(|l| l.to_str().ok()).unwrap_or_default();
        let landed = answer.status() == hyper::StatusCode::FOUND && location.contains("code=");
        let location = location.to_owned();
        answer.into_body().collect().await?;
        anyhow::ensure!(landed, "the sign-in did not land with a code: {location}");
        Ok(())
    }
}

/// The text between the first `start` in `text` and the `end` after it.
fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    Some(&text[from..from + text[from..].find(end)?])
}

/// `application/x-www-form-urlencoded` of the fields.
fn form_encode(fields: &[(&str, &str)]) -> String {
    fields.iter().map(|(name, value)| format!("{}={}", percent(name), percent(value))).collect::<Vec<_>>().join("&")
}

/// The text with every byte but ASCII letters and digits percent-encoded: safe in a URL's query and in a form.
pub(crate) fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| match b.is_ascii_alphanumeric() {
            true => (b as char).to_string(),
            false => format!("%{b:02X}"),
        })
        .collect()
}

async fn collect(
    url: String,
    body: String,
    field: String,
    count: u64,
    concurrency: usize,
    out: std::path::PathBuf,
) -> anyhow::Result<()> {
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (url, body, field, next) = (url.clone(), body.clone(), field.clone(), next.clone());
        workers.spawn(async move {
            let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
            let mut values = Vec::new();
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < count {
                let form = body.replace("{n}", &uuid::Uuid::new_v4().simple().to_string());
                let request = Request::post(url.as_str())
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(Full::new(Bytes::from(form)))?;
                let answer = client.request(request).await?.into_body().collect().await?.to_bytes();
                let answer: serde_json::Value = serde_json::from_slice(&answer)?;
                values.push(answer[&field].as_str().context("the answer lacks the field")?.to_owned());
            }
            anyhow::Ok(values)
        });
    }
    let mut lines = Vec::new();
    while let Some(values) = workers.join_next().await {
        lines.extend(values??);
    }
    std::fs::write(&out, lines.join("\n"))?;
    Ok(())
}

async fn seed(
    base: String,
    token: String,
    domain: String,
    count: u64,
    concurrency: usize,
    out: std::path::PathBuf,
) -> anyhow::Result<()> {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let plan = Plan {
        url: format!("{base}/v1.0/users"),
        method: "POST".into(),
        headers: vec![("authorization".into(), format!("Bearer {token}"))],
        body: Some(format!(
            r#"{{"accountEnabled":true,"displayName":"Seed {{n}}","mailNickname":"s{run}","userPrincipalName":"s{{n}}@{domain}","passwordProfile":{{"password":"Seed-Kestr3l!"}}}}"#,
            run = &run[..8]
        )),
        content_type: "application/json".into(),
        ids: vec![String::new()],
    };
    let report = load(Arc::new(plan), concurrency, Duration::from_secs(3600), count).await;
    println!("{}", report.json("seed"));
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut ids = Vec::new();
    let mut next = Some(format!("{base}/v1.0/users?$top=999&$select=id"));
    while let Some(url) = next {
        let request =
            Request::get(url).header("authorization", format!("Bearer {token}")).body(Full::new(Bytes::new()))?;
        let body = client.request(request).await?.into_body().collect().await?.to_bytes();
        let page: serde_json::Value = serde_json::from_slice(&body)?;
        for user in page["value"].as_array().map(Vec::as_slice).unwrap_or_default() {
            ids.push(user["id"].as_str().unwrap_or_default().to_owned());
        }
        next = page["@odata.nextLink"].as_str().map(str::to_owned);
    }
    std::fs::write(&out, ids.join("\n"))?;
    Ok(())
}

const DEPARTMENTS: [&str; 8] = ["Sales", "R&D", "Support", "Finance", "Legal", "Marketing", "Operations", "HR"];
const CITIES: [&str; 6] = ["Oslo", "Bergen", "Zürich", "Lagos", "Ibadan", "Åre"];

/// The `n`th seeded user: names, places and titles spread so that filters have realistic selectivity.
fn seeded_user(n: u64, domain: &str, now: chrono::DateTime<chrono::Utc>) -> ObjectRecord {
    let mut doc = serde_json::Map::new();
    let upn = format!("user{n:07}@{domain}");
    for (key, value) in [
        ("accountEnabled", json!(!n.is_multiple_of(17))),
        ("displayName", json!(format!("User {n:07}"))),
        ("givenName", json!(format!("Given{}", n % 5000))),
        ("surname", json!(format!("Family{}", n % 20000))),
        ("mailNickname", json!(format!("user{n:07}"))),
        ("userPrincipalName", json!(upn)),
        ("mail", json!(upn)),
        ("proxyAddresses", json!([format!("SMTP:{upn}")])),
        ("department", json!(DEPARTMENTS[(n % 8) as usize])),
        ("city", json!(CITIES[(n % 6) as usize])),
        ("employeeId", json!(format!("E{n:07}"))),
        ("jobTitle", json!(format!("Title {}", n % 300))),
        ("userType", json!(if n.is_multiple_of(50) { "Guest" } else { "Member" })),
        ("usageLocation", json!(["NL", "NO", "NG", "CH"][(n % 4) as usize])),
    ] {
        doc.insert(key.to_owned(), value);
    }
    ObjectRecord {
        id: uuid::Uuid::now_v7(),
        kind: ObjectKind::User,
        version: 1,
        unique_key: Some(upn.to_lowercase()),
        manager: None,
        doc,
        created_at: now,
        deleted_at: None,
    }
}

/// The store at `url` and its first tenant.
async fn bootstrapped_store(url: &str) -> anyhow::Result<(SqlStore, TenantRecord)> {
    let store = SqlStore::connect(url).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let tenant = store
        .tenants()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .into_iter()
        .next()
        .context("the store has no tenant: start gatehouse serve on it once first")?;
    Ok((store, tenant))
}

async fn seed_store(url: &str, count: u64, batch: u64) -> anyhow::Result<()> {
    let (store, tenant) = bootstrapped_store(url).await?;
    let started = Instant::now();
    let mut written = 0;
    while written < count {
        let now = chrono::Utc::now();
        let writes: Vec<Write> = (written..(written + batch).min(count))
            .map(|n| Write::InsertObject(seeded_user(n, &tenant.initial_domain, now)))
            .collect();
        written += writes.len() as u64;
        store.commit(tenant.id, writes, now).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        if written.is_multiple_of(100_000) {
            eprintln!("{written} users, {:.0}/s", written as f64 / started.elapsed().as_secs_f64());
        }
    }
    println!(
        "{}",
        json!({"name": "seed-store", "users": written, "seconds": started.elapsed().as_secs_f64().round(),
        "per_second": (written as f64 / started.elapsed().as_secs_f64()).round()})
    );
    Ok(())
}

struct GroupsShape {
    groups: u64,
    members: u64,
    depth: u64,
    chained: u64,
    spare: u64,
}

/// The `n`th seeded group: a security group, or every fifth (from the second) a Microsoft 365 group with its mail.
fn seeded_group(n: u64, domain: &str, now: chrono::DateTime<chrono::Utc>) -> ObjectRecord {
    let nickname = format!("group{n:06}");
    let unified = n % 5 == 1;
    let mut doc = serde_json::Map::new();
    doc.insert("displayName".into(), json!(format!("Group {n:06} {}", DEPARTMENTS[(n % 8) as usize])));
    doc.insert("mailNickname".into(), json!(nickname));
    doc.insert("mailEnabled".into(), json!(unified));
    doc.insert("securityEnabled".into(), json!(!unified));
    doc.insert("groupTypes".into(), if unified { json!(["Unified"]) } else { json!([]) });
    if unified {
        doc.insert("mail".into(), json!(format!("{nickname}@{domain}")));
        doc.insert("proxyAddresses".into(), json!([format!("SMTP:{nickname}@{domain}")]));
        doc.insert("visibility".into(), json!("Public"));
    } else {
        doc.insert("proxyAddresses".into(), json!([]));
    }
    ObjectRecord {
        id: uuid::Uuid::now_v7(),
        kind: ObjectKind::Group,
        version: 1,
        unique_key: unified.then_some(nickname),
        manager: None,
        doc,
        created_at: now,
        deleted_at: None,
    }
}

fn member(group: &ObjectRecord, member: &ObjectRecord) -> Write {
    Write::AddLink(Link { group: group.id, relation: Relation::Member, member: member.id, member_kind: member.kind })
}

async fn seed_groups(url: &str, shape: GroupsShape, out: &std::path::Path) -> anyhow::Result<()> {
    let (store, tenant) = bootstrapped_store(url).await?;
    let now = chrono::Utc::now();
    let started = Instant::now();
    let commit = |writes: Vec<Write>| {
        let store = &store;
        async move { store.commit(tenant.id, writes, now).await.map_err(|e| anyhow::anyhow!("{e}")) }
    };
    let groups: Vec<ObjectRecord> = (0..shape.groups).map(|n| seeded_group(n, &tenant.initial_domain, now)).collect();
    for chunk in groups.chunks(2000) {
        commit(chunk.iter().cloned().map(Write::InsertObject).collect()).await?;
    }
    let users = shape.members + shape.chained + shape.spare;
    let mut big = Vec::new();
    let mut chained = Vec::new();
    let mut spare = Vec::new();
    let (chain, others) = groups.split_at(shape.depth as usize + 1);
    let (top, chain) = chain.split_first().context("no groups to seed")?;
    for n in (0..users).step_by(2000) {
        let batch: Vec<ObjectRecord> =
            (n..(n + 2000).min(users)).map(|i| seeded_user(1_000_000 + i, &tenant.initial_domain, now)).collect();
        let mut writes: Vec<Write> = batch.iter().cloned().map(Write::InsertObject).collect();
        for (offset, user) in batch.iter().enumerate() {
            let i = n + offset as u64;
            if i < shape.members {
                writes.push(member(top, user));
                big.push(user.id);
            } else if i < shape.members + shape.chained {
                writes.push(member(&chain[0], user));
                for k in 1..=3 {
                    writes.push(member(&others[((i * 7919 + k * 104_729) as usize) % others.len()], user));
                }
                chained.push(user.id);
            } else {
                spare.push(user.id);
            }
        }
        commit(writes).await?;
    }
    commit(chain.windows(2).map(|pair| member(&pair[1], &pair[0])).collect()).await?;
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("big"), top.id.to_string())?;
    for (name, ids) in [("members", &big), ("chained", &chained), ("spare", &spare)] {
        std::fs::write(out.join(name), ids.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))?;
    }
    println!(
        "{}",
        json!({"name": "seed-groups", "groups": shape.groups, "users": users, "big_group_members": big.len(),
        "seconds": started.elapsed().as_secs_f64().round()})
    );
    Ok(())
}

async fn walk(first: String, token: String) -> anyhow::Result<()> {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let started = Instant::now();
    let (mut users, mut pages) = (0usize, 0usize);
    let mut slowest = Duration::ZERO;
    let mut next = Some(first);
    while let Some(url) = next {
        let sent = Instant::now();
        let request =
            Request::get(url).header("authorization", format!("Bearer {token}")).body(Full::new(Bytes::new()))?;
        let body = client.request(request).await?.into_body().collect().await?.to_bytes();
        slowest = slowest.max(sent.elapsed());
        let page: serde_json::Value = serde_json::from_slice(&body)?;
        users += page["value"].as_array().map(Vec::len).context("a page without value")?;
        pages += 1;
        next = page["@odata.nextLink"].as_str().map(str::to_owned);
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"name": "walk", "users": users, "pages": pages, "seconds": (seconds * 100.0).round() / 100.0,
            "users_per_second": (users as f64 / seconds).round(), "slowest_page_ms": slowest.as_millis()})
    );
    Ok(())
}

/// The rule templates of the dynamic-membership benchmarks, by index: a job title (about 1/300 of the
/// seeded users each), a department and a city (about 1/48), or a given-name prefix.
fn dynamic_rule(i: usize) -> String {
    match i % 3 {
        0 => format!("user.jobTitle -eq \"Title {}\"", (i / 3) % 300),
        1 => format!("user.department -eq \"{}\" -and user.city -eq \"{}\"", DEPARTMENTS[i % 8], CITIES[(i / 8) % 6]),
        _ => format!("user.givenName -startsWith \"Given{}\" -and user.accountEnabled -eq true", i % 500),
    }
}

fn rules_rate(window: Duration) -> anyhow::Result<()> {
    let user = seeded_user(4242, "contoso.test", chrono::Utc::now());
    let values = gatehouse_core::query::index_values(&user);
    let now = chrono::Utc::now();
    let filters: Vec<_> = (0..30)
        .map(|i| gatehouse_core::rules::parse(&dynamic_rule(i)).map(|r| gatehouse_core::rules::compile(&r, now)))
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let started = Instant::now();
    let mut evaluations = 0u64;
    while started.elapsed() < window {
        for filter in &filters {
            std::hint::black_box(gatehouse_core::query::matches_indexed(filter, &user, &values, &[]));
        }
        evaluations += filters.len() as u64;
    }
    let rate = evaluations as f64 / started.elapsed().as_secs_f64();
    let body = gatehouse_core::users::user_properties(&user, gatehouse_core::schema::Selection::Default);
    let started = Instant::now();
    let mut serialized = 0u64;
    while started.elapsed() < window {
        std::hint::black_box(serde_json::to_vec(&body)?);
        serialized += 1;
    }
    let baseline = serialized as f64 / started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"name": "rule evaluations per second, one core", "per_second": rate.round(),
            "baseline_user_serializations_per_second": baseline.round(), "ratio": (rate / baseline * 100.0).round() / 100.0})
    );
    Ok(())
}

/// A Graph client with the admin token, for the benchmark drivers.
struct Http {
    base: String,
    token: String,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

impl Http {
    fn new(base: String, token: String) -> Http {
        Http { base, token, client: Client::builder(TokioExecutor::new()).build_http() }
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        let request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.map(|b| b.to_string()).unwrap_or_default())))?;
        let response = self.client.request(request).await?;
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok((status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null)))
    }
}

async fn create_dynamic(http: &Http, count: usize, out: &std::path::Path) -> anyhow::Result<()> {
    let mut lines = Vec::new();
    for i in 0..count {
        let rule = dynamic_rule(i);
        let body = json!({
            "displayName": format!("Dynamic {i:04}"), "mailNickname": format!("dynamic{i:04}"),
            "mailEnabled": false, "securityEnabled": true, "groupTypes": ["DynamicMembership"],
            "membershipRule": rule, "membershipRuleProcessingState": "Paused",
        });
        let (status, created) = http.send("POST", "/v1.0/groups", Some(body)).await?;
        anyhow::ensure!(status == 201, "creating a dynamic group: {status} {created}");
        lines.push(format!("{}\t{rule}", created["id"].as_str().unwrap_or_default()));
    }
    std::fs::write(out, lines.join("\n"))?;
    Ok(())
}

fn group_lines(path: &std::path::Path) -> anyhow::Result<Vec<(String, String)>> {
    Ok(std::fs::read_to_string(path)?
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(id, rule)| (id.to_owned(), rule.to_owned()))
        .collect())
}

async fn resume_dynamic(http: &Http, groups: &std::path::Path) -> anyhow::Result<()> {
    let groups = group_lines(groups)?;
    let started = Instant::now();
    for (id, _) in &groups {
        let (status, body) = http
            .send("PATCH", &format!("/v1.0/groups/{id}"), Some(json!({"membershipRuleProcessingState": "On"})))
            .await?;
        anyhow::ensure!(status == 204, "resuming {id}: {status} {body}");
    }
    let patched = started.elapsed();
    let mut pending: Vec<&String> = groups.iter().map(|(id, _)| id).collect();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for id in pending {
            let (_, body) =
                http.send("GET", &format!("/v1.0/groups/{id}?$select=membershipRuleProcessingStatus"), None).await?;
            if body["membershipRuleProcessingStatus"]["status"] != "Succeeded" {
                still.push(id);
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    println!(
        "{}",
        json!({"name": "full re-evaluation of every dynamic group", "groups": groups.len(),
            "seconds_to_resume": (patched.as_secs_f64() * 100.0).round() / 100.0,
            "seconds": (started.elapsed().as_secs_f64() * 100.0).round() / 100.0})
    );
    Ok(())
}

async fn dynamic_latency(http: &Http, groups: &std::path::Path, users: u64, changes: usize) -> anyhow::Result<()> {
    let by_rule: std::collections::HashMap<String, String> =
        group_lines(groups)?.into_iter().map(|(id, rule)| (rule, id)).collect();
    let title_group = |title: u64| by_rule.get(&dynamic_rule((title as usize) * 3)).cloned();
    let mut latencies = Vec::new();
    for i in 0..changes {
        let n = (i as u64 * 7919) % users;
        let path = format!("/v1.0/users?$filter=employeeId%20eq%20'E{n:07}'&$select=id,jobTitle");
        let (_, found) = http.send("GET", &path, None).await?;
        let (Some(id), Some(title)) = (found["value"][0]["id"].as_str(), found["value"][0]["jobTitle"].as_str()) else {
            anyhow::bail!("seeded user {n} not found: {found}");
        };
        let old: u64 = title.trim_start_matches("Title ").parse()?;
        let new = (old + 1 + i as u64 % 7) % 300;
        let (Some(old_group), Some(new_group)) = (title_group(old), title_group(new)) else {
            anyhow::bail!("no dynamic group for titles {old} and {new}");
        };
        let (status, body) =
            http.send("PATCH", &format!("/v1.0/users/{id}"), Some(json!({"jobTitle": format!("Title {new}")}))).await?;
        anyhow::ensure!(status == 204, "changing {id}: {status} {body}");
        let returned = Instant::now();
        loop {
            let (_, groups) = http.send("GET", &format!("/v1.0/users/{id}/memberOf?$select=id"), None).await?;
            let ids: Vec<&str> = groups["value"]
                .as_array()
                .map(|v| v.iter().filter_map(|g| g["id"].as_str()).collect())
                .unwrap_or_default();
            if ids.contains(&new_group.as_str()) && !ids.contains(&old_group.as_str()) {
                break;
            }
            anyhow::ensure!(returned.elapsed() < Duration::from_secs(60), "the change to {id} never showed");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        latencies.push(returned.elapsed().as_micros() as u64);
    }
    print_changes("attribute change visible in every affected dynamic group", latencies);
    Ok(())
}

const P1: &str = "078d2b04-f1bd-4111-bbd4-b4b1b354cef4";

async fn settle(url: &str) -> anyhow::Result<()> {
    let store = SqlStore::connect(url).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let started = Instant::now();
    let tenants = store.tenants().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    loop {
        let mut behind = false;
        for tenant in &tenants {
            behind |= !processors::caught_up(&store, tenant.id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        if !behind {
            break;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(1800), "the processors never caught up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seconds = (started.elapsed().as_secs_f64() * 100.0).round() / 100.0;
    println!("{}", json!({"name": "processors caught up with the seeded change log", "seconds": seconds}));
    Ok(())
}

async fn license_group(http: &Http, group: &str, members: u64) -> anyhow::Result<()> {
    let body = json!({"skuPartNumber": "AAD_PREMIUM", "prepaidUnits": {"enabled": members * 2 + 1000}});
    let (status, created) = http.send("POST", "/v1.0/subscribedSkus", Some(body)).await?;
    anyhow::ensure!(status == 201, "subscribing: {status} {created}");
    let started = Instant::now();
    let body = json!({"addLicenses": [{"skuId": P1}], "removeLicenses": []});
    let (status, answer) = http.send("POST", &format!("/v1.0/groups/{group}/assignLicense"), Some(body)).await?;
    anyhow::ensure!(status == 202, "assigning: {status} {answer}");
    loop {
        let (_, group) =
            http.send("GET", &format!("/v1.0/groups/{group}?$select=licenseProcessingState"), None).await?;
        if group["licenseProcessingState"]["state"] == "ProcessingComplete" {
            break;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(600), "the group license never completed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (_, skus) = http.send("GET", "/v1.0/subscribedSkus", None).await?;
    let consumed =
        skus["value"].as_array().and_then(|v| v.iter().find(|s| s["skuId"] == P1)).map(|s| s["consumedUnits"].clone());
    println!(
        "{}",
        json!({"name": "group license reaching every member", "members": members,
            "consumed_units": consumed, "seconds": (elapsed * 100.0).round() / 100.0})
    );
    Ok(())
}

async fn license_latency(http: &Http, users: &std::path::Path, changes: usize) -> anyhow::Result<()> {
    let users: Vec<String> = std::fs::read_to_string(users)?.lines().map(str::to_owned).collect();
    let body =
        json!({"displayName": "Latency", "mailNickname": "latency", "mailEnabled": false, "securityEnabled": true});
    let (_, group) = http.send("POST", "/v1.0/groups", Some(body)).await?;
    let group = group["id"].as_str().unwrap_or_default().to_owned();
    let body = json!({"addLicenses": [{"skuId": P1}], "removeLicenses": []});
    http.send("POST", &format!("/v1.0/groups/{group}/assignLicense"), Some(body)).await?;
    let mut latencies = Vec::new();
    for user in users.iter().take(changes) {
        let (status, _) =
            http.send("PATCH", &format!("/v1.0/users/{user}"), Some(json!({"usageLocation": "NL"}))).await?;
        anyhow::ensure!(status == 204, "setting the usage location of {user}");
        for add in [true, false] {
            let (status, body) = if add {
                let reference =
                    json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{user}")});
                http.send("POST", &format!("/v1.0/groups/{group}/members/$ref"), Some(reference)).await?
            } else {
                http.send("DELETE", &format!("/v1.0/groups/{group}/members/{user}/$ref"), None).await?
            };
            anyhow::ensure!(status == 204, "changing membership of {user}: {status} {body}");
            let returned = Instant::now();
            loop {
                let (_, found) =
                    http.send("GET", &format!("/v1.0/users/{user}?$select=assignedLicenses"), None).await?;
                let holds = found["assignedLicenses"].as_array().is_some_and(|l| l.iter().any(|x| x["skuId"] == P1));
                if holds == add {
                    break;
                }
                anyhow::ensure!(
                    returned.elapsed() < Duration::from_secs(60),
                    "the license change for {user} never showed"
                );
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            latencies.push(returned.elapsed().as_micros() as u64);
        }
    }
    print_changes("membership change granting or removing a license", latencies);
    Ok(())
}

//! `gatehouse-bench`: load generation, seeding and raw-cost baselines for Gatehouse's benchmarks.
//!
//! Every figure is meant to be read next to a baseline measured in the same run (see `bench/run.sh` and
//! `docs/benchmarks.md`): the machines are shared and noisy, so ratios carry the meaning.

use anyhow::Context;
use clap::{Parser, Subcommand};
use gatehouse_core::keys::SigningKey;
use gatehouse_core::passwords::{self, HashParams};
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
    /// Raw costs on one core: RS256 signatures/s and argon2id (production parameters) hashes/s.
    Baseline {
        #[arg(long, default_value_t = 5)]
        seconds: u64,
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
    /// Follows `@odata.nextLink` from a first page to the last; prints users per second.
    Walk {
        #[arg(long)]
        url: String,
        #[arg(long)]
        token: String,
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
            Command::Baseline { seconds } => baseline(Duration::from_secs(seconds)),
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
            Command::Seed { base, token, domain, count, concurrency, out } => {
                seed(base, token, domain, count, concurrency, out).await
            }
            Command::SeedStore { database_url, count, batch } => seed_store(&database_url, count, batch).await,
            Command::SeedGroups { database_url, groups, members, depth, chained, spare, out } => {
                let shape = GroupsShape { groups, members, depth, chained, spare };
                seed_groups(&database_url, shape, &out).await
            }
            Command::Walk { url, token } => walk(url, token).await,
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

fn baseline(window: Duration) -> anyhow::Result<()> {
    let (key, _) = SigningKey::generate().map_err(|e| anyhow::anyhow!("{e}"))?;
    let claims =
        json!({"aud": "https://graph.microsoft.com", "iss": "x", "roles": ["User.Read.All"], "tid": "t", "exp": 1});
    let started = Instant::now();
    let mut signs = 0u64;
    while started.elapsed() < window {
        key.sign(&claims).map_err(|e| anyhow::anyhow!("{e}"))?;
        signs += 1;
    }
    let sign_rate = signs as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut hashes = 0u64;
    while started.elapsed() < window {
        passwords::hash_now("Bench-passw0rd!", HashParams::PRODUCTION).map_err(|e| anyhow::anyhow!("{e}"))?;
        hashes += 1;
    }
    let hash_rate = hashes as f64 / started.elapsed().as_secs_f64();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!(
        "{}",
        json!({"cores": cores, "rs256_signs_per_second_one_core": sign_rate.round(), "argon2id_hashes_per_second_one_core": (hash_rate * 10.0).round() / 10.0})
    );
    Ok(())
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

async fn load(plan: Arc<Plan>, concurrency: usize, window: Duration, limit: u64) -> Report {
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (plan, counter) = (plan.clone(), counter.clone());
        workers.push(tokio::spawn(async move {
            let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
            let mut report = Report::default();
            loop {
                let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if (limit > 0 && n >= limit) || (limit == 0 && started.elapsed() >= window) {
                    return report;
                }
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
                let Ok(request) = request.body(Full::new(Bytes::from(body))) else {
                    report.errors += 1;
                    continue;
                };
                let sent = Instant::now();
                match client.request(request).await {
                    Ok(response) => {
                        let success = response.status().is_success();
                        let drained = response.into_body().collect().await.is_ok();
                        if success && drained {
                            report.latencies_us.push(sent.elapsed().as_micros() as u64);
                        } else {
                            report.errors += 1;
                        }
                    }
                    Err(_) => report.errors += 1,
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
            r#"{{"accountEnabled":true,"displayName":"Seed {{n}}","mailNickname":"s{run}","userPrincipalName":"s{{n}}@{domain}","passwordProfile":{{"password":"Seed-Passw0rd!"}}}}"#,
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
    ] {
        doc.insert(key.to_owned(), value);
    }
    ObjectRecord {
        id: uuid::Uuid::new_v4(),
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

/// The `n`th seeded group: a security group, or every fifth a Microsoft 365 group with its mail.
fn seeded_group(n: u64, domain: &str, now: chrono::DateTime<chrono::Utc>) -> ObjectRecord {
    let nickname = format!("group{n:06}");
    let unified = n.is_multiple_of(5);
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
        id: uuid::Uuid::new_v4(),
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
    for (name, ids) in [("chained", &chained), ("spare", &spare)] {
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

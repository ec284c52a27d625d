//! The simulated webhook sender: every change of every record as a signed event, posted in
//! time order by several workers, retried with backoff under the same event id until the
//! receiver answers 2xx, with optional duplicates, late deliveries and a load mode.
//!
//! This is the tenant's side of the contract; retries here model Coconut's delivery, not
//! coconut-lake's own outbound retry policy.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::DateTime;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde::Serialize;

use super::generate::mix;
use super::render::resource;
use super::tenant::{Tenant, Time};
use crate::source::Entity;
use crate::source::signature::{Secret, sign_hmac_hex, sign_standard};

/// How deliveries are signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature` with one
    /// `v1,` signature per secret (several during a key rotation).
    Standard,
    /// A hex HMAC-SHA256 of the body with the first secret, in the named header.
    Hmac {
        /// The header name, such as `X-Coconut-Signature`.
        header: String,
    },
}

/// What to send, where, and how to behave.
#[derive(Debug, Clone)]
pub struct SendOptions {
    /// The receiver's URL.
    pub url: String,
    /// Signature scheme.
    pub scheme: Scheme,
    /// Signing secrets.
    pub secrets: Vec<Secret>,
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// Share of events delivered a second time, later, with the same id.
    pub duplicates: f64,
    /// Share of events delivered late, after up to `reorder_window` later events.
    pub reorder: f64,
    /// How far a late or duplicate delivery may fall behind, in events.
    pub reorder_window: usize,
    /// Share of events whose `data` carries only the record's id and type, as the contract
    /// allows; the record itself then comes with the next backfill.
    pub id_only: f64,
    /// Only changes at or after this tenant instant.
    pub since: Option<Time>,
    /// Only changes at or before this tenant instant.
    pub until: Option<Time>,
    /// Attempts per delivery before giving up on it.
    pub max_attempts: u32,
    /// First retry delay; each retry doubles it, with jitter, up to `retry_max`.
    pub retry_base: Duration,
    /// Longest retry delay (a `Retry-After` may ask for more).
    pub retry_max: Duration,
    /// Timeout of one attempt.
    pub timeout: Duration,
    /// Load mode: keep cycling through the events, with fresh ids, until this many
    /// deliveries were made.
    pub load_events: Option<u64>,
    /// Load mode: keep cycling until this much time passed.
    pub load_for: Option<Duration>,
}

impl Default for SendOptions {
    fn default() -> Self {
        SendOptions {
            url: "http://127.0.0.1:8481/webhooks".into(),
            scheme: Scheme::Standard,
            secrets: Vec::new(),
            concurrency: 8,
            duplicates: 0.0,
            reorder: 0.0,
            reorder_window: 50,
            id_only: 0.0,
            since: None,
            until: None,
            max_attempts: 12,
            retry_base: Duration::from_millis(250),
            retry_max: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
            load_events: None,
            load_for: None,
        }
    }
}

/// What a send run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SendReport {
    /// Distinct events in the plan (one cycle).
    pub events: u64,
    /// Deliveries made (events, their duplicates, and in load mode every cycle).
    pub deliveries: u64,
    /// Deliveries the receiver acknowledged with 2xx.
    pub acknowledged: u64,
    /// Deliveries given up on after `max_attempts`.
    pub failed: u64,
    /// Attempts beyond the first.
    pub retries: u64,
    /// Answers by status code (0 for a connection or timeout error).
    pub statuses: BTreeMap<u16, u64>,
    /// Wall time of the run, in seconds.
    pub seconds: f64,
    /// Acknowledged deliveries per second.
    pub rate: f64,
    /// Latency of acknowledged attempts, in milliseconds.
    pub latency_ms: Percentiles,
    /// Ids of up to 20 deliveries given up on.
    pub failed_ids: Vec<String>,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Percentiles {
    fn of(mut micros: Vec<u32>) -> Percentiles {
        if micros.is_empty() {
            return Percentiles::default();
        }
        micros.sort_unstable();
        let at = |q: f64| {
            let rank = ((q * micros.len() as f64).ceil() as usize).clamp(1, micros.len());
            f64::from(micros[rank - 1]) / 1_000.0
        };
        Percentiles {
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            max: at(1.0),
        }
    }
}

/// The sender failed before it could deliver anything.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The HTTP client could not be built.
    #[error("failed to build the http client: {0}")]
    Client(#[source] reqwest::Error),
    /// Signing needs a secret.
    #[error("no webhook secret given (set COCONUT_WEBHOOK_SECRET or pass --secret)")]
    NoSecret,
}

/// One change of one record: the event it becomes.
#[derive(Debug, Clone, Copy)]
pub struct Event {
    /// When it happened.
    pub at: Time,
    /// The record's entity.
    pub entity: Entity,
    /// The record's index in the tenant.
    pub index: u32,
    /// Which change of the record it is, from 0.
    pub step: u16,
    /// The action word.
    pub action: &'static str,
}

impl Event {
    /// The event id, the same for every delivery of this change.
    pub fn id(&self, tenant: &Tenant, cycle: u64) -> String {
        let record = tenant.id(self.entity, self.index as usize);
        let prefix = self.entity.event_prefix();
        match cycle {
            0 => format!("msg_{}_{prefix}_{record}_{}", tenant.seed, self.step),
            n => format!("msg_{}_{prefix}_{record}_{}_r{n}", tenant.seed, self.step),
        }
    }

    /// The event body: `{id, type, occurred_at, data}` with the record as it stood then,
    /// or with only its id and type when `id_only`.
    pub fn body(&self, tenant: &Tenant, id: &str, id_only: bool) -> Vec<u8> {
        let occurred = DateTime::from_timestamp(self.at, 0).unwrap_or_default();
        let head = serde_json::json!({
            "id": id,
            "type": format!("{}.{}", self.entity.event_prefix(), self.action),
            "occurred_at": occurred.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        });
        let mut out = head.to_string().into_bytes();
        out.pop();
        out.extend_from_slice(b",\"data\":");
        if id_only {
            let record = tenant.id(self.entity, self.index as usize);
            let data =
                serde_json::json!({"id": record.to_string(), "type": self.entity.resource()});
            out.extend_from_slice(data.to_string().as_bytes());
        } else {
            resource(tenant, self.entity, self.index as usize, self.at, &mut out);
        }
        out.push(b'}');
        out
    }
}

/// Every change of the tenant between `since` and `until`, in time order (ties by entity
/// and id).
pub fn events(tenant: &Tenant, since: Option<Time>, until: Option<Time>) -> Vec<Event> {
    let (since, until) = (since.unwrap_or(Time::MIN), until.unwrap_or(Time::MAX));
    let mut events = Vec::new();
    let mut changes = Vec::new();
    for entity in Entity::ALL {
        for index in 0..tenant.len(entity) {
            tenant.changes(entity, index, &mut changes);
            for (step, change) in changes.iter().enumerate() {
                if (since..=until).contains(&change.at) {
                    events.push(Event {
                        at: change.at,
                        entity,
                        index: index as u32,
                        step: step as u16,
                        action: change.action,
                    });
                }
            }
        }
    }
    events.sort_by_key(|e| (e.at, e.entity, e.index, e.step));
    events
}

/// The delivery order: event positions, with duplicates and late deliveries placed up to
/// `window` positions behind where they belong.
pub fn plan(count: usize, seed: u64, duplicates: f64, reorder: f64, window: usize) -> Vec<u32> {
    let mut rng = StdRng::seed_from_u64(mix(seed, 0x5E4D, 0));
    let window = window.max(1) as f64;
    let mut keyed: Vec<(f64, u32)> = Vec::with_capacity(count);
    for i in 0..count {
        let late = reorder > 0.0 && rng.random_bool(reorder.min(1.0));
        let delay = if late {
            rng.random_range(1.0..=window) + 0.5
        } else {
            0.0
        };
        keyed.push((i as f64 + delay, i as u32));
        if duplicates > 0.0 && rng.random_bool(duplicates.min(1.0)) {
            keyed.push((i as f64 + rng.random_range(1.0..=window) + 0.25, i as u32));
        }
    }
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
    keyed.into_iter().map(|(_, i)| i).collect()
}

struct Shared {
    tenant: Arc<Tenant>,
    events: Vec<Event>,
    order: Vec<u32>,
    options: SendOptions,
    client: reqwest::Client,
    next: AtomicUsize,
    started: Instant,
    stop: AtomicBool,
    acknowledged: AtomicU64,
    failed: AtomicU64,
    retries: AtomicU64,
    tally: Mutex<Tally>,
}

#[derive(Default)]
struct Tally {
    statuses: BTreeMap<u16, u64>,
    latencies: Vec<u32>,
    failed_ids: Vec<String>,
}

/// Sends the tenant's events and reports what happened.
pub async fn send(tenant: Arc<Tenant>, options: SendOptions) -> Result<SendReport, SendError> {
    if options.secrets.is_empty() {
        return Err(SendError::NoSecret);
    }
    let client = reqwest::Client::builder()
        .timeout(options.timeout)
        .pool_max_idle_per_host(options.concurrency)
        .user_agent(concat!("coconut-simulator/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(SendError::Client)?;
    let events = events(&tenant, options.since, options.until);
    let order = plan(
        events.len(),
        tenant.seed,
        options.duplicates,
        options.reorder,
        options.reorder_window,
    );
    let shared = Arc::new(Shared {
        tenant,
        events,
        order,
        client,
        next: AtomicUsize::new(0),
        started: Instant::now(),
        stop: AtomicBool::new(false),
        acknowledged: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        retries: AtomicU64::new(0),
        tally: Mutex::new(Tally::default()),
        options,
    });
    tracing::info!(
        events = shared.events.len(),
        deliveries = shared.order.len(),
        url = %shared.options.url,
        "sending webhooks"
    );

    let workers: Vec<_> = (0..shared.options.concurrency.max(1))
        .map(|_| tokio::spawn(worker(Arc::clone(&shared))))
        .collect();
    let progress = tokio::spawn(progress(Arc::clone(&shared)));
    for worker in workers {
        let _ = worker.await;
    }
    progress.abort();

    let seconds = shared.started.elapsed().as_secs_f64();
    let tally = std::mem::take(&mut *shared.tally.lock().unwrap_or_else(|e| e.into_inner()));
    let acknowledged = shared.acknowledged.load(Ordering::Relaxed);
    let failed = shared.failed.load(Ordering::Relaxed);
    Ok(SendReport {
        events: shared.events.len() as u64,
        deliveries: acknowledged + failed,
        acknowledged,
        failed,
        retries: shared.retries.load(Ordering::Relaxed),
        statuses: tally.statuses,
        seconds,
        rate: acknowledged as f64 / seconds.max(1e-9),
        latency_ms: Percentiles::of(tally.latencies),
        failed_ids: tally.failed_ids,
    })
}

async fn progress(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    tick.tick().await;
    loop {
        tick.tick().await;
        let acknowledged = shared.acknowledged.load(Ordering::Relaxed);
        let elapsed = shared.started.elapsed().as_secs_f64();
        tracing::info!(
            acknowledged,
            failed = shared.failed.load(Ordering::Relaxed),
            retries = shared.retries.load(Ordering::Relaxed),
            rate = (acknowledged as f64 / elapsed) as u64,
            "webhook delivery progress"
        );
    }
}

/// Takes the next delivery in plan order until the plan (or the load budget) runs out.
async fn worker(shared: Arc<Shared>) {
    let plan = shared.order.len();
    if plan == 0 {
        return;
    }
    let cyclic = shared.options.load_events.is_some() || shared.options.load_for.is_some();
    loop {
        let n = shared.next.fetch_add(1, Ordering::Relaxed);
        let budget_spent = shared
            .options
            .load_events
            .is_some_and(|max| n as u64 >= max)
            || shared
                .options
                .load_for
                .is_some_and(|d| shared.started.elapsed() >= d);
        if shared.stop.load(Ordering::Relaxed) || budget_spent || (!cyclic && n >= plan) {
            return;
        }
        let position = shared.order[n % plan];
        let event = shared.events[position as usize];
        let id = event.id(&shared.tenant, (n / plan) as u64);
        let draw = mix(shared.tenant.seed, 0x1D, u64::from(position)) as f64 / u64::MAX as f64;
        let body = event.body(&shared.tenant, &id, draw < shared.options.id_only);
        deliver(&shared, &id, body).await;
    }
}

/// Posts one delivery until it is acknowledged or out of attempts.
async fn deliver(shared: &Shared, id: &str, body: Vec<u8>) {
    let options = &shared.options;
    let mut rng = StdRng::seed_from_u64(mix(shared.tenant.seed, 0xB0FF, body.len() as u64));
    for attempt in 1..=options.max_attempts.max(1) {
        if attempt > 1 {
            shared.retries.fetch_add(1, Ordering::Relaxed);
        }
        let started = Instant::now();
        let outcome = post(shared, id, &body).await;
        let micros = started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
        let status = outcome.as_ref().map_or(0, |(s, _)| s.as_u16());
        {
            let mut tally = shared.tally.lock().unwrap_or_else(|e| e.into_inner());
            *tally.statuses.entry(status).or_default() += 1;
            if (200..300).contains(&status) {
                tally.latencies.push(micros);
            }
        }
        if (200..300).contains(&status) {
            shared.acknowledged.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if attempt == options.max_attempts.max(1) {
            break;
        }
        let backoff = options
            .retry_base
            .saturating_mul(1 << (attempt - 1).min(16))
            .min(options.retry_max);
        let jittered = backoff.mul_f64(rng.random_range(0.5..=1.0));
        let asked = outcome.and_then(|(_, retry_after)| retry_after);
        let wait = asked.map_or(jittered, |asked| asked.max(jittered));
        tracing::debug!(
            event_id = id,
            status,
            attempt,
            wait_ms = wait.as_millis() as u64,
            "retrying delivery"
        );
        tokio::time::sleep(wait).await;
    }
    shared.failed.fetch_add(1, Ordering::Relaxed);
    let mut tally = shared.tally.lock().unwrap_or_else(|e| e.into_inner());
    if tally.failed_ids.len() < 20 {
        tally.failed_ids.push(id.to_string());
    }
    tracing::warn!(event_id = id, "gave up on a delivery");
}

/// One attempt: the status and any `Retry-After`, or `None` when no answer came.
async fn post(shared: &Shared, id: &str, body: &[u8]) -> Option<(StatusCode, Option<Duration>)> {
    let options = &shared.options;
    let mut request = shared
        .client
        .post(&options.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json");
    match &options.scheme {
        Scheme::Standard => {
            let timestamp = chrono::Utc::now().timestamp();
            let signatures: Vec<String> = options
                .secrets
                .iter()
                .map(|secret| sign_standard(secret, id, timestamp, body))
                .collect();
            request = request
                .header("webhook-id", id)
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", signatures.join(" "));
        }
        Scheme::Hmac { header } => {
            let secret = &options.secrets[0];
            request = request.header(header.as_str(), sign_hmac_hex(secret, body));
        }
    }
    let response = request.body(body.to_vec()).send().await.ok()?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    // Drain the body so the connection returns to the pool.
    let _ = response.bytes().await;
    Some((status, retry_after))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::generate::{TenantOptions, generate};

    #[test]
    fn events_follow_time_and_cover_every_change() {
        let tenant = generate(&TenantOptions {
            days: 2,
            appointments_per_day: 30,
            walk_ins_per_day: 20,
            ..TenantOptions::default()
        });
        let all = events(&tenant, None, None);
        assert!(all.windows(2).all(|w| w[0].at <= w[1].at));
        let mut changes = Vec::new();
        let expected: usize = Entity::ALL
            .iter()
            .map(|&e| {
                (0..tenant.len(e))
                    .map(|i| {
                        tenant.changes(e, i, &mut changes);
                        changes.len()
                    })
                    .sum::<usize>()
            })
            .sum();
        assert_eq!(all.len(), expected);
        let ids: std::collections::HashSet<String> = all.iter().map(|e| e.id(&tenant, 0)).collect();
        assert_eq!(ids.len(), all.len(), "event ids are unique");
        let body: serde_json::Value =
            serde_json::from_slice(&all[0].body(&tenant, "x", false)).unwrap();
        assert!(crate::source::WebhookEvent::from_value(body).is_ok());
        let thin: serde_json::Value =
            serde_json::from_slice(&all[0].body(&tenant, "x", true)).unwrap();
        assert_eq!(
            thin["data"].as_object().unwrap().len(),
            2,
            "only id and type"
        );
        assert!(crate::source::WebhookEvent::from_value(thin).is_ok());
    }

    #[test]
    fn plans_hold_every_event_and_the_asked_extras() {
        let plain = plan(1_000, 1, 0.0, 0.0, 10);
        assert_eq!(plain, (0..1_000).collect::<Vec<u32>>());
        let messy = plan(10_000, 1, 0.05, 0.1, 20);
        let extra = messy.len() - 10_000;
        assert!((350..650).contains(&extra), "{extra} duplicates");
        let mut seen = messy.clone();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 10_000);
        let late = messy.windows(2).filter(|w| w[0] > w[1]).count();
        assert!(late > 500, "{late} out of order");
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let p = Percentiles::of((1..=100).map(|ms| ms * 1_000).collect());
        assert_eq!((p.p50, p.p90, p.p99, p.max), (50.0, 90.0, 99.0, 100.0));
    }
}

//! The simulated admin API: every resource of the source contract as JSON:API pages, with
//! bearer auth, `page`/`limit` pagination, `links.next`, `filter[updated_since]`, `sort`,
//! `include=location`, a request-rate limit, latency, switchable faults and a clock that
//! can move so the tenant changes between backfills.
//!
//! Control endpoints for tests and demos, behind the same token: `GET`/`POST /_sim/faults`,
//! `GET`/`POST /_sim/clock` and `GET /_sim/stats`.

// The error side of the request checks below is the finished HTTP answer to send; it is
// built once per refused request, so its size does not matter.
#![allow(clippy::result_large_err)]

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query as Params, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::DateTime;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

use super::faults::{Fault, FaultState, Faults, RateLimit};
use super::listing::{Listed, Listings, Query, Sort};
use super::render::resource;
use super::tenant::{Tenant, Time};
use crate::source::Entity;

/// How the simulated API behaves.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// The bearer token every request must carry.
    pub token: String,
    /// Path prefix of the resources, such as `/api/v2`.
    pub base_path: String,
    /// Requests per second before answering 429; 0 for no limit.
    pub rate_limit: f64,
    /// Added to every data answer.
    pub latency: Duration,
    /// Faults in force from the start.
    pub faults: Faults,
    /// Where the tenant's clock starts; `None` starts it after the last change, so every
    /// record appears in its final state.
    pub clock: Option<Time>,
    /// Tenant seconds that pass per real second (0 keeps the clock still).
    pub speed: f64,
    /// Page size when the request names none.
    pub default_limit: u32,
    /// Largest page size; larger requests are clamped to it.
    pub max_limit: u32,
}

impl Default for ApiOptions {
    fn default() -> Self {
        ApiOptions {
            token: "sim-token".into(),
            base_path: "/api/v2".into(),
            rate_limit: 0.0,
            latency: Duration::ZERO,
            faults: Faults::default(),
            clock: None,
            speed: 0.0,
            default_limit: 100,
            max_limit: 1_000,
        }
    }
}

/// The running API's state: the tenant, its listings and what tests switched on.
pub struct Api {
    tenant: Arc<Tenant>,
    listings: Listings,
    options: ApiOptions,
    faults: FaultState,
    limit: RateLimit,
    clock: Mutex<Clock>,
    stats: Stats,
}

#[derive(Debug, Clone, Copy)]
struct Clock {
    at: Time,
    since: Instant,
    speed: f64,
}

impl Clock {
    fn now(&self) -> Time {
        self.at + (self.since.elapsed().as_secs_f64() * self.speed) as Time
    }
}

/// Counters of what the API answered, served at `GET /_sim/stats`.
#[derive(Default)]
struct Stats {
    requests: AtomicU64,
    pages: AtomicU64,
    records: AtomicU64,
    unauthorized: AtomicU64,
    rate_limited: AtomicU64,
    errors: AtomicU64,
    slow: AtomicU64,
    truncated: AtomicU64,
    malformed: AtomicU64,
}

impl Api {
    /// Indexes the tenant and applies the options.
    pub fn new(tenant: Arc<Tenant>, options: ApiOptions) -> Api {
        let listings = Listings::new(&tenant);
        let clock = Clock {
            at: options.clock.unwrap_or(tenant.settled_at),
            since: Instant::now(),
            speed: options.speed,
        };
        Api {
            faults: FaultState::new(options.faults.clone(), tenant.seed),
            limit: RateLimit::new(options.rate_limit),
            clock: Mutex::new(clock),
            stats: Stats::default(),
            listings,
            tenant,
            options,
        }
    }

    /// The tenant's clock now.
    pub fn now(&self) -> Time {
        self.clock.lock().unwrap_or_else(|e| e.into_inner()).now()
    }
}

/// The router of the simulated API.
pub fn app(api: Arc<Api>) -> Router {
    let base = api.options.base_path.trim_end_matches('/');
    Router::new()
        .route(&format!("{base}/{{resource}}"), get(list))
        .route(&format!("{base}/{{resource}}/{{id}}"), get(one))
        .route("/_sim/faults", get(get_faults).post(set_faults))
        .route("/_sim/clock", get(get_clock).post(set_clock))
        .route("/_sim/stats", get(stats))
        .with_state(api)
}

/// Serves the API on a bound listener until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    api: Arc<Api>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(api))
        .with_graceful_shutdown(shutdown)
        .await
}

/// A JSON:API error answer.
fn error(status: StatusCode, detail: impl Into<String>) -> Response {
    let body = serde_json::json!({
        "errors": [{
            "status": status.as_u16().to_string(),
            "title": status.canonical_reason().unwrap_or("error"),
            "detail": detail.into(),
        }]
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/vnd.api+json")],
        body.to_string(),
    )
        .into_response()
}

fn with_retry_after(mut response: Response, seconds: u64) -> Response {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// Checks the bearer token; the error is the answer to send.
fn authorize(api: &Api, headers: &HeaderMap) -> Result<(), Response> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given == Some(api.options.token.as_str()) {
        return Ok(());
    }
    api.stats.unauthorized.fetch_add(1, Ordering::Relaxed);
    let mut response = error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"coconut\""),
    );
    Err(response)
}

/// Auth, rate limit, latency and faults, in that order; the error is the answer to send.
async fn admit(api: &Api, headers: &HeaderMap) -> Result<Option<Fault>, Response> {
    api.stats.requests.fetch_add(1, Ordering::Relaxed);
    authorize(api, headers)?;
    if let Err(wait) = api.limit.take() {
        api.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
        let response = error(StatusCode::TOO_MANY_REQUESTS, "request rate limit exceeded");
        return Err(with_retry_after(response, wait));
    }
    if !api.options.latency.is_zero() {
        tokio::time::sleep(api.options.latency).await;
    }
    match api.faults.draw() {
        Some(Fault::Error(status, retry_after)) => {
            api.stats.errors.fetch_add(1, Ordering::Relaxed);
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let response = error(status, "injected fault");
            Err(match retry_after {
                Some(seconds) => with_retry_after(response, seconds),
                None => response,
            })
        }
        Some(Fault::Slow(delay)) => {
            api.stats.slow.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(delay).await;
            Ok(None)
        }
        other => Ok(other),
    }
}

fn entity_of(resource: &str) -> Result<Entity, Response> {
    Entity::ALL
        .into_iter()
        .find(|e| e.resource() == resource)
        .ok_or_else(|| {
            error(
                StatusCode::NOT_FOUND,
                format!("no such resource: {resource}"),
            )
        })
}

/// The parameters of a listing request, checked.
struct PageRequest {
    query: Query,
    page: usize,
    limit: usize,
    include_locations: bool,
}

fn page_request(
    api: &Api,
    entity: Entity,
    params: &[(String, String)],
) -> Result<PageRequest, Response> {
    let bad = |detail: String| error(StatusCode::BAD_REQUEST, detail);
    let mut request = PageRequest {
        query: Query {
            entity,
            since: None,
            now: api.now(),
            sort: Sort::Id,
        },
        page: 1,
        limit: api.options.default_limit as usize,
        include_locations: false,
    };
    for (name, value) in params {
        match name.as_str() {
            "page" => match value.parse::<usize>() {
                Ok(page) if page >= 1 => request.page = page,
                _ => return Err(bad(format!("page must be a whole number from 1: {value}"))),
            },
            "limit" => match value.parse::<usize>() {
                Ok(limit) if limit >= 1 => {
                    request.limit = limit.min(api.options.max_limit as usize)
                }
                _ => return Err(bad(format!("limit must be a whole number from 1: {value}"))),
            },
            "filter[updated_since]" => match DateTime::parse_from_rfc3339(value) {
                Ok(t) => request.query.since = Some(t.timestamp()),
                Err(e) => {
                    return Err(bad(format!(
                        "filter[updated_since] is not RFC 3339: {value}: {e}"
                    )));
                }
            },
            "sort" => match Sort::parse(value) {
                Some(sort) => request.query.sort = sort,
                None => {
                    return Err(bad(format!(
                        "cannot sort by {value} (id, -id, updated_at, -updated_at)"
                    )));
                }
            },
            "include" => {
                request.include_locations = value
                    .split(',')
                    .any(|i| matches!(i.trim(), "location" | "locations"));
            }
            _ => {}
        }
    }
    Ok(request)
}

async fn list(
    State(api): State<Arc<Api>>,
    Path(resource_path): Path<String>,
    Params(params): Params<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let fault = match admit(&api, &headers).await {
        Ok(fault) => fault,
        Err(response) => return response,
    };
    let entity = match entity_of(&resource_path) {
        Ok(entity) => entity,
        Err(response) => return response,
    };
    let request = match page_request(&api, entity, &params) {
        Ok(request) => request,
        Err(response) => return response,
    };
    let listed = api.listings.list(&request.query);
    let body = page_body(&api, &request, &listed, &params, &headers, &resource_path);
    api.stats.pages.fetch_add(1, Ordering::Relaxed);
    deliver(&api, fault, body)
}

/// Writes one page as a JSON:API document.
fn page_body(
    api: &Api,
    request: &PageRequest,
    listed: &[Listed],
    params: &[(String, String)],
    headers: &HeaderMap,
    resource_path: &str,
) -> Vec<u8> {
    let tenant = &api.tenant;
    let now = request.query.now;
    let total = listed.len();
    let total_pages = total.div_ceil(request.limit);
    let from = (request.page - 1).saturating_mul(request.limit).min(total);
    let to = (from + request.limit).min(total);
    let page = &listed[from..to];

    let mut out = Vec::with_capacity(page.len() * 1_400 + 512);
    out.extend_from_slice(b"{\"data\":[");
    for (i, record) in page.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        resource(
            tenant,
            request.query.entity,
            record.index as usize,
            now,
            &mut out,
        );
    }
    out.push(b']');
    if request.include_locations {
        let locations: BTreeSet<u32> = page
            .iter()
            .filter_map(|r| match request.query.entity {
                Entity::Appointments => Some(tenant.appointments[r.index as usize].location),
                Entity::QueueAppointments => Some(tenant.walk_ins[r.index as usize].location),
                _ => None,
            })
            .collect();
        out.extend_from_slice(b",\"included\":[");
        for (i, location) in locations.into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            resource(tenant, Entity::Locations, location as usize, now, &mut out);
        }
        out.push(b']');
    }
    api.stats
        .records
        .fetch_add(page.len() as u64, Ordering::Relaxed);

    let base = format!(
        "http://{}{}/{}",
        headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost"),
        api.options.base_path.trim_end_matches('/'),
        resource_path
    );
    let link = |page: usize| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in params.iter().filter(|(n, _)| n != "page") {
            query.append_pair(name, value);
        }
        query.append_pair("page", &page.to_string());
        format!("{base}?{}", query.finish())
    };
    let tail = Tail {
        meta: Meta {
            pagination: Pagination {
                total,
                count: page.len(),
                per_page: request.limit,
                current_page: request.page,
                total_pages,
            },
        },
        links: Links {
            this: link(request.page),
            next: (request.page < total_pages).then(|| link(request.page + 1)),
        },
    };
    out.extend_from_slice(b",\"meta\":");
    let _ = serde_json::to_writer(&mut out, &tail.meta);
    out.extend_from_slice(b",\"links\":");
    let _ = serde_json::to_writer(&mut out, &tail.links);
    out.push(b'}');
    out
}

struct Tail {
    meta: Meta,
    links: Links,
}

#[derive(Serialize)]
struct Meta {
    pagination: Pagination,
}

#[derive(Serialize)]
struct Pagination {
    total: usize,
    count: usize,
    per_page: usize,
    current_page: usize,
    total_pages: usize,
}

#[derive(Serialize)]
struct Links {
    #[serde(rename = "self")]
    this: String,
    next: Option<String>,
}

/// Sends a document, or the damaged form of it a fault calls for.
fn deliver(api: &Api, fault: Option<Fault>, body: Vec<u8>) -> Response {
    let content_type = (header::CONTENT_TYPE, "application/vnd.api+json");
    match fault {
        Some(Fault::Truncate) => {
            api.stats.truncated.fetch_add(1, Ordering::Relaxed);
            let full = body.len();
            let half = Bytes::from(body).slice(..full / 2);
            // The half goes out with the headers; the connection drops a moment later.
            let cut = async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Err(std::io::Error::other("injected truncation"))
            };
            let chunks = futures::stream::once(async move { Ok::<_, std::io::Error>(half) })
                .chain(futures::stream::once(cut));
            let mut response = Response::new(Body::from_stream(chunks));
            let headers = response.headers_mut();
            headers.insert(content_type.0, HeaderValue::from_static(content_type.1));
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(full));
            response
        }
        Some(Fault::Malformed) => {
            api.stats.malformed.fetch_add(1, Ordering::Relaxed);
            let half = body.len() / 2;
            let mut body = body;
            body.truncate(half);
            ([content_type], body).into_response()
        }
        _ => ([content_type], body).into_response(),
    }
}

async fn one(
    State(api): State<Arc<Api>>,
    Path((resource_path, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let fault = match admit(&api, &headers).await {
        Ok(fault) => fault,
        Err(response) => return response,
    };
    let entity = match entity_of(&resource_path) {
        Ok(entity) => entity,
        Err(response) => return response,
    };
    let tenant = &api.tenant;
    let now = api.now();
    let found = id
        .parse::<u64>()
        .ok()
        .and_then(|id| tenant.index_of(entity, id));
    let Some(index) = found.filter(|&i| tenant.updated_at(entity, i, now).is_some()) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no {resource_path} with id {id}"),
        );
    };
    let mut body = b"{\"data\":".to_vec();
    resource(tenant, entity, index, now, &mut body);
    body.push(b'}');
    deliver(&api, fault, body)
}

async fn get_faults(State(api): State<Arc<Api>>, headers: HeaderMap) -> Response {
    if let Err(response) = authorize(&api, &headers) {
        return response;
    }
    axum::Json(api.faults.get()).into_response()
}

async fn set_faults(State(api): State<Arc<Api>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(response) = authorize(&api, &headers) {
        return response;
    }
    match serde_json::from_slice::<Faults>(&body) {
        Ok(faults) => {
            api.faults.set(faults.clone());
            axum::Json(faults).into_response()
        }
        Err(e) => error(
            StatusCode::BAD_REQUEST,
            format!("invalid fault settings: {e}"),
        ),
    }
}

/// The clock as the control endpoint shows and takes it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockSetting {
    /// The tenant's time, RFC 3339.
    #[serde(default)]
    at: Option<String>,
    /// Seconds to move the clock forward by.
    #[serde(default)]
    advance: Option<i64>,
    /// Tenant seconds per real second.
    #[serde(default)]
    speed: Option<f64>,
}

fn clock_answer(api: &Api) -> Response {
    let clock = *api.clock.lock().unwrap_or_else(|e| e.into_inner());
    let at = DateTime::from_timestamp(clock.now(), 0).unwrap_or_default();
    let settled = DateTime::from_timestamp(api.tenant.settled_at, 0).unwrap_or_default();
    axum::Json(serde_json::json!({
        "at": at.to_rfc3339(),
        "speed": clock.speed,
        "settled_at": settled.to_rfc3339(),
    }))
    .into_response()
}

async fn get_clock(State(api): State<Arc<Api>>, headers: HeaderMap) -> Response {
    if let Err(response) = authorize(&api, &headers) {
        return response;
    }
    clock_answer(&api)
}

async fn set_clock(State(api): State<Arc<Api>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(response) = authorize(&api, &headers) {
        return response;
    }
    let setting = match serde_json::from_slice::<ClockSetting>(&body) {
        Ok(setting) => setting,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("invalid clock setting: {e}"),
            );
        }
    };
    let at = match setting.at.as_deref().map(DateTime::parse_from_rfc3339) {
        Some(Ok(at)) => Some(at.timestamp()),
        Some(Err(e)) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("clock at is not RFC 3339: {e}"),
            );
        }
        None => None,
    };
    {
        let mut clock = api.clock.lock().unwrap_or_else(|e| e.into_inner());
        let now = clock.now();
        *clock = Clock {
            at: at.unwrap_or(now) + setting.advance.unwrap_or(0),
            since: Instant::now(),
            speed: setting.speed.unwrap_or(clock.speed),
        };
    }
    clock_answer(&api)
}

async fn stats(State(api): State<Arc<Api>>, headers: HeaderMap) -> Response {
    if let Err(response) = authorize(&api, &headers) {
        return response;
    }
    let s = &api.stats;
    let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
    axum::Json(serde_json::json!({
        "requests": read(&s.requests),
        "pages": read(&s.pages),
        "records": read(&s.records),
        "unauthorized": read(&s.unauthorized),
        "rate_limited": read(&s.rate_limited),
        "errors": read(&s.errors),
        "slow": read(&s.slow),
        "truncated": read(&s.truncated),
        "malformed": read(&s.malformed),
    }))
    .into_response()
}

//! The simulated tenant over real sockets: pagination, watermarks, auth, rate limits and
//! faults of the admin API; signed, retried, duplicated and reordered webhooks checked by
//! Python's hmac; ground truth read by pyarrow and DuckDB.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use coconut_lake::simulate::api::ApiOptions;
use coconut_lake::simulate::webhooks::{Scheme, SendOptions, send};
use coconut_lake::simulate::{Tenant, TenantOptions, generate};
use coconut_lake::source::Entity;
use coconut_lake::source::signature::parse_secrets;
use serde_json::{Value, json};

use crate::support::{TestResult, post_json, python, root, set_faults, start_api, start_api_at};

fn small(seed: u64) -> TenantOptions {
    TenantOptions {
        seed,
        days: 10,
        appointments_per_day: 60,
        walk_ins_per_day: 50,
        ..TenantOptions::default()
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn get(url: &str) -> reqwest::Response {
    client()
        .get(url)
        .bearer_auth("sim-token")
        .send()
        .await
        .unwrap()
}

async fn get_json(url: &str) -> Value {
    let response = get(url).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {url}");
    json_of(response).await
}

async fn json_of(response: reqwest::Response) -> Value {
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

/// Follows `links.next` from a first URL; returns every (id, updated_at) in page order.
async fn page_through(first: &str) -> Vec<(String, String)> {
    let mut seen = Vec::new();
    let mut next = Some(first.to_string());
    let mut pages = 0;
    while let Some(url) = next {
        let page = get_json(&url).await;
        let pagination = &page["meta"]["pagination"];
        let data = page["data"].as_array().unwrap();
        assert_eq!(pagination["count"].as_u64().unwrap() as usize, data.len());
        for record in data {
            let updated = record["attributes"]["updated_at"]
                .as_str()
                .unwrap()
                .to_string();
            seen.push((record["id"].as_str().unwrap().to_string(), updated));
        }
        pages += 1;
        next = page["links"]["next"].as_str().map(str::to_string);
        if next.is_none() {
            assert_eq!(pagination["total_pages"].as_u64().unwrap(), pages);
            assert_eq!(pagination["total"].as_u64().unwrap() as usize, seen.len());
        }
    }
    seen
}

fn final_ids(tenant: &Tenant, entity: Entity) -> Vec<String> {
    (0..tenant.len(entity))
        .map(|i| tenant.id(entity, i).to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn pagination_returns_every_record_exactly_once() -> TestResult {
    let tenant = Arc::new(generate(&small(1)));
    let base = start_api(Arc::clone(&tenant), ApiOptions::default()).await;
    for entity in Entity::ALL {
        let first = format!("{base}/{}?limit=37&sort=updated_at", entity.resource());
        let seen = page_through(&first).await;
        let mut ids: Vec<String> = seen.iter().map(|(id, _)| id.clone()).collect();
        assert!(
            seen.windows(2).all(|w| w[0].1 <= w[1].1),
            "{entity} sorted by updated_at"
        );
        ids.sort();
        let mut expected = final_ids(&tenant, entity);
        expected.sort();
        assert_eq!(ids, expected, "{entity}: every record exactly once");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_watermark_shared_by_several_records_skips_none_of_them() -> TestResult {
    let tenant = Arc::new(generate(&small(1)));
    let base = start_api(Arc::clone(&tenant), ApiOptions::default()).await;
    for resource in ["queue-appointments", "appointments"] {
        let all = page_through(&format!("{base}/{resource}?limit=500&sort=updated_at")).await;
        let mut by_time: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, updated) in &all {
            *by_time.entry(updated.as_str()).or_default() += 1;
        }
        // Staff clear walk-ins left at closing and the nightly job marks no-shows, each
        // in one action: several records share those instants.
        let (tie, sharing) = by_time
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(t, n)| (t.to_string(), *n))
            .unwrap();
        assert!(sharing >= 2, "{resource}: records sharing an updated_at");
        let expected: HashSet<&String> = all
            .iter()
            .filter(|(_, u)| *u >= tie)
            .map(|(id, _)| id)
            .collect();
        // One record per page, so the tied records straddle page boundaries.
        let url =
            format!("{base}/{resource}?limit=1&sort=updated_at&filter%5Bupdated_since%5D={tie}");
        let resumed = page_through(&url).await;
        let ids: Vec<&String> = resumed.iter().map(|(id, _)| id).collect();
        let distinct: HashSet<&String> = ids.iter().copied().collect();
        assert_eq!(ids.len(), distinct.len(), "{resource}: no record twice");
        assert_eq!(
            distinct, expected,
            "{resource}: all {sharing} records at {tie} and later"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_evolving_tenant_shows_an_incremental_pull_exactly_what_changed() -> TestResult {
    let tenant = Arc::new(generate(&small(3)));
    let midway = tenant.appointments[tenant.appointments.len() / 2].created_at;
    let base = start_api_at(&tenant, midway).await;
    let url = format!("{base}/appointments?limit=200&sort=updated_at");
    let first = page_through(&url).await;
    let watermark = first.iter().map(|(_, u)| u.clone()).max().unwrap();
    assert!(
        first.len() < tenant.appointments.len(),
        "only part of the tenant exists yet"
    );

    let settled = chrono::DateTime::from_timestamp(tenant.settled_at, 0).unwrap();
    let control = format!("{}/_sim/clock", base.trim_end_matches("/api/v2"));
    let clock = post_json(control, &json!({"at": settled.to_rfc3339()})).await;
    assert_eq!(clock.status(), StatusCode::OK);
    let changed = page_through(&format!("{url}&filter%5Bupdated_since%5D={watermark}")).await;

    let mut latest: HashMap<String, String> = HashMap::new();
    for (id, updated) in first.into_iter().chain(changed) {
        let entry = latest.entry(id).or_default();
        if updated > *entry {
            *entry = updated;
        }
    }
    assert_eq!(latest.len(), tenant.appointments.len());
    for a in &tenant.appointments {
        let last = chrono::DateTime::from_timestamp(a.last_change().unwrap(), 0).unwrap();
        let expected = last.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        assert_eq!(latest[&a.id.to_string()], expected, "appointment {}", a.id);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_seed_serves_the_same_pages() -> TestResult {
    let first = start_api(Arc::new(generate(&small(7))), ApiOptions::default()).await;
    let again = start_api(Arc::new(generate(&small(7))), ApiOptions::default()).await;
    let other = start_api(Arc::new(generate(&small(8))), ApiOptions::default()).await;
    let body = |base: String| async move {
        let page = get_json(&format!("{base}/appointments?limit=1000")).await;
        page["data"].to_string()
    };
    let (a, b, c) = (body(first).await, body(again).await, body(other).await);
    assert_eq!(a, b);
    assert_ne!(a, c);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_without_the_token_or_with_bad_parameters_are_refused() -> TestResult {
    let base = start_api(Arc::new(generate(&small(1))), ApiOptions::default()).await;
    let url = format!("{base}/appointments");
    let none = client().get(&url).send().await?;
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert!(none.headers().contains_key("www-authenticate"));
    let wrong = client().get(&url).bearer_auth("nope").send().await?;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    for query in [
        "limit=0",
        "page=x",
        "sort=name",
        "filter%5Bupdated_since%5D=yesterday",
    ] {
        let response = get(&format!("{url}?{query}")).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let body = json_of(response).await;
        assert!(body["errors"][0]["detail"].is_string());
    }
    assert_eq!(
        get(&format!("{base}/invoices")).await.status(),
        StatusCode::NOT_FOUND
    );
    let clamped = get_json(&format!("{url}?limit=50000")).await;
    assert_eq!(clamped["meta"]["pagination"]["per_page"], 1_000);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_above_the_rate_limit_get_429_with_retry_after() -> TestResult {
    let options = ApiOptions {
        rate_limit: 5.0,
        ..ApiOptions::default()
    };
    let base = start_api(Arc::new(generate(&small(1))), options).await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..12 {
        let response = get(&format!("{base}/locations")).await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            retry_after = response.headers().get("retry-after").cloned();
        }
        statuses.push(response.status());
    }
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(
        (5..=7).contains(&limited),
        "{limited} of 12 limited: {statuses:?}"
    );
    let wait: u64 = retry_after.unwrap().to_str()?.parse()?;
    assert!(wait >= 1);
    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(
        get(&format!("{base}/locations")).await.status(),
        StatusCode::OK
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn each_fault_behaves_as_documented() -> TestResult {
    let base = start_api(Arc::new(generate(&small(1))), ApiOptions::default()).await;
    let url = format!("{base}/appointments?limit=200");

    set_faults(
        &base,
        json!({"fail_next": 2, "error_status": 500, "error_retry_after": 3}),
    )
    .await;
    for _ in 0..2 {
        let failed = get(&url).await;
        assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(failed.headers()["retry-after"], "3");
    }
    assert_eq!(get(&url).await.status(), StatusCode::OK);

    set_faults(&base, json!({"error_rate": 1.0})).await;
    assert_eq!(get(&url).await.status(), StatusCode::SERVICE_UNAVAILABLE);

    set_faults(&base, json!({"slow_rate": 1.0, "slow_ms": 400})).await;
    let started = Instant::now();
    assert_eq!(get(&url).await.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(400));
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()?;
    let timed_out = impatient.get(&url).bearer_auth("sim-token").send().await;
    assert!(timed_out.unwrap_err().is_timeout());

    set_faults(&base, json!({"truncate_rate": 1.0})).await;
    let cut = get(&url).await;
    assert_eq!(cut.status(), StatusCode::OK);
    let announced: usize = cut.headers()["content-length"].to_str()?.parse()?;
    assert!(announced > 1_000);
    assert!(
        cut.bytes().await.is_err(),
        "the body ends before its announced length"
    );

    set_faults(&base, json!({"malformed_rate": 1.0})).await;
    let half = get(&url).await;
    assert_eq!(half.status(), StatusCode::OK);
    let bytes = half.bytes().await?;
    assert!(
        serde_json::from_slice::<Value>(&bytes).is_err(),
        "half a document"
    );

    set_faults(&base, json!({})).await;
    assert!(get_json(&url).await["data"].is_array());
    let control = format!("{}/_sim/faults", base.trim_end_matches("/api/v2"));
    let bad = post_json(control, &json!({"eror_rate": 1.0})).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    let stats = get_json(&format!("{}/_sim/stats", base.trim_end_matches("/api/v2"))).await;
    assert_eq!(stats["errors"], 3);
    assert_eq!(
        (stats["slow"].as_u64(), stats["truncated"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(stats["malformed"], 1);
    Ok(())
}

/// What the test receiver saw.
#[derive(Default)]
struct Inbox {
    deliveries: Vec<(HeaderMap, Bytes)>,
    attempts: HashMap<String, u32>,
    refused: u32,
}

/// A receiver that records every delivery and refuses the first attempt of every fifth
/// event with 503, so the sender has to retry.
async fn start_receiver(scheme_header: &'static str) -> (String, Arc<Mutex<Inbox>>) {
    async fn hook(
        State((inbox, header)): State<(Arc<Mutex<Inbox>>, &'static str)>,
        headers: HeaderMap,
        body: Bytes,
    ) -> (StatusCode, [(&'static str, &'static str); 1]) {
        let event: Value = serde_json::from_slice(&body).unwrap();
        let id = event["id"].as_str().unwrap().to_string();
        assert!(headers.contains_key(header));
        let mut inbox = inbox.lock().unwrap();
        let attempt = {
            let n = inbox.attempts.entry(id.clone()).or_default();
            *n += 1;
            *n
        };
        let distinct = inbox.attempts.len();
        inbox.deliveries.push((headers, body));
        if attempt == 1 && distinct % 5 == 0 {
            inbox.refused += 1;
            return (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "0")]);
        }
        (StatusCode::NO_CONTENT, [("x-ok", "1")])
    }
    let inbox = Arc::new(Mutex::new(Inbox::default()));
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state((Arc::clone(&inbox), scheme_header));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, inbox)
}

/// Runs the Python verifier over the acknowledged deliveries.
fn verify_in_python(scheme: &str, secrets: &str, inbox: &Inbox) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deliveries.ndjson");
    let mut lines = String::new();
    for (headers, body) in &inbox.deliveries {
        let headers: BTreeMap<String, String> = headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap().to_string()))
            .collect();
        let body_b64 = base64::engine::general_purpose::STANDARD.encode(body);
        lines.push_str(&json!({"headers": headers, "body_b64": body_b64}).to_string());
        lines.push('\n');
    }
    std::fs::write(&file, lines).unwrap();
    let output = Command::new(python())
        .arg(root().join("tests/python/verify_deliveries.py"))
        .args([scheme, secrets, file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

const SECRETS: &str =
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw,whsec_c2Vjb25kIHNlY3JldCBmb3Igcm90YXRpb24=";

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_arrive_signed_retried_duplicated_and_out_of_order() -> TestResult {
    let tenant = Arc::new(generate(&TenantOptions {
        days: 2,
        ..small(5)
    }));
    let (url, inbox) = start_receiver("webhook-signature").await;
    let options = SendOptions {
        url,
        secrets: parse_secrets(SECRETS)?,
        concurrency: 4,
        duplicates: 0.05,
        reorder: 0.1,
        id_only: 0.05,
        retry_base: Duration::from_millis(5),
        ..SendOptions::default()
    };
    let report = send(Arc::clone(&tenant), options).await?;
    let inbox = inbox.lock().unwrap();

    let events = coconut_lake::simulate::webhooks::events(&tenant, None, None);
    assert_eq!(report.events as usize, events.len());
    assert_eq!(report.failed, 0);
    assert_eq!(report.retries, u64::from(inbox.refused));
    assert!(
        inbox.refused > 0 && report.deliveries > report.events,
        "{report:?}"
    );
    assert_eq!(report.statuses[&503], u64::from(inbox.refused));
    let expected: HashSet<String> = events.iter().map(|e| e.id(&tenant, 0)).collect();
    let received: HashSet<String> = inbox.attempts.keys().cloned().collect();
    assert_eq!(received, expected, "every event arrived");

    // A retry or duplicate carries the same id and the same body.
    let mut bodies: HashMap<&str, &Bytes> = HashMap::new();
    let mut times = Vec::new();
    let mut id_only = 0;
    for (headers, body) in &inbox.deliveries {
        let id = headers["webhook-id"].to_str()?;
        assert_eq!(*bodies.entry(id).or_insert(body), body, "{id}");
        let event: Value = serde_json::from_slice(body)?;
        assert_eq!(event["id"], id);
        times.push(event["occurred_at"].as_str().unwrap().to_string());
        id_only += usize::from(event["data"].as_object().unwrap().len() == 2);
    }
    assert!(id_only > 0, "some events carry only an id");
    assert!(
        times.windows(2).any(|w| w[0] > w[1]),
        "some deliveries out of order"
    );

    let verified = verify_in_python("standard", SECRETS, &inbox);
    assert_eq!(verified["unverified"], 0, "{verified}");
    assert_eq!(verified["verified_by_every_secret"], inbox.deliveries.len());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_plain_hmac_scheme_signs_the_body_in_its_header() -> TestResult {
    let tenant = Arc::new(generate(&TenantOptions {
        days: 1,
        ..small(6)
    }));
    let (url, inbox) = start_receiver("x-coconut-signature").await;
    let options = SendOptions {
        url,
        scheme: Scheme::Hmac {
            header: "X-Coconut-Signature".into(),
        },
        secrets: parse_secrets(SECRETS)?,
        retry_base: Duration::from_millis(5),
        load_events: Some(500),
        ..SendOptions::default()
    };
    let report = send(tenant, options).await?;
    assert_eq!((report.acknowledged, report.failed), (500, 0));
    assert!(report.latency_ms.p50 > 0.0 && report.latency_ms.p99 >= report.latency_ms.p50);
    let inbox = inbox.lock().unwrap();
    let first_secret = SECRETS.split(',').next().unwrap();
    let verified = verify_in_python("hmac:X-Coconut-Signature", first_secret, &inbox);
    assert_eq!(verified["unverified"], 0, "{verified}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_that_never_answers_is_given_up_on_after_the_last_attempt() -> TestResult {
    let tenant = Arc::new(generate(&TenantOptions {
        days: 1,
        appointments_per_day: 2,
        walk_ins_per_day: 0,
        locations: 1,
        staff: 1,
        clients: Some(1),
        ..small(1)
    }));
    // Bind and drop a listener: nothing listens on that port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let options = SendOptions {
        url: format!("http://127.0.0.1:{port}/hook"),
        secrets: parse_secrets(SECRETS)?,
        max_attempts: 3,
        retry_base: Duration::from_millis(1),
        until: Some(0),
        load_events: Some(1),
        ..SendOptions::default()
    };
    // `until` before every change leaves nothing to send.
    let nothing = send(Arc::clone(&tenant), options.clone()).await?;
    assert_eq!((nothing.events, nothing.deliveries), (0, 0));
    let report = send(
        tenant,
        SendOptions {
            until: None,
            ..options
        },
    )
    .await?;
    assert_eq!(
        (report.acknowledged, report.failed, report.retries),
        (0, 1, 2)
    );
    assert_eq!(report.statuses[&0], 3);
    assert_eq!(report.failed_ids.len(), 1);
    Ok(())
}

#[test]
fn truth_is_repeatable_and_real_readers_recompute_its_outcomes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let run = |seed: &str, out: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_coconut-lake"))
            .args(["simulate", "truth", "--seed", seed, "--days", "36", "--out"])
            .arg(dir.path().join(out))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    run("4", "a");
    run("4", "b");
    run("5", "c");
    let file =
        |out: &str| std::fs::read(dir.path().join(out).join("appointments.parquet")).unwrap();
    assert_eq!(file("a"), file("b"), "same seed, same bytes");
    assert_ne!(file("a"), file("c"));

    let output = Command::new(python())
        .arg(root().join("tests/python/check_truth.py"))
        .arg(dir.path().join("a"))
        .output()?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let checked: Value = serde_json::from_slice(&output.stdout)?;
    let tenant = generate(&TenantOptions {
        seed: 4,
        days: 36,
        ..TenantOptions::default()
    });
    for entity in Entity::ALL {
        assert_eq!(
            checked["rows"][entity.name()],
            tenant.len(entity),
            "{entity}"
        );
    }
    assert_eq!(checked["types"]["business_date"], "DATE");
    assert_eq!(checked["types"]["start_at"], "TIMESTAMP WITH TIME ZONE");
    assert_eq!(
        checked["differ"],
        json!([0, 0]),
        "DuckDB recomputes every outcome row"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_simulated_record_converts_without_quarantine() -> TestResult {
    let tenant = Arc::new(generate(&small(2)));
    let base = start_api(Arc::clone(&tenant), ApiOptions::default()).await;
    let converter = coconut_lake::model::Converter::default();
    for location in &tenant.locations {
        converter.learn_location_zone(location.id as i64, location.zone);
    }
    let received = chrono::Utc::now();
    for entity in Entity::ALL {
        let page = get_json(&format!("{base}/{}?limit=1000", entity.resource())).await;
        let document = coconut_lake::source::Document::from_value(page)?;
        assert_eq!(document.data.len(), tenant.len(entity).min(1_000));
        for resource in &document.data {
            let envelope =
                coconut_lake::model::Envelope::for_backfill(entity, resource, received, "test");
            if let Err(e) = converter.convert(entity, resource, &envelope) {
                panic!("{entity} {} does not convert: {e}", resource.id);
            }
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_serves_the_api_and_sends_webhooks() -> TestResult {
    use std::io::BufRead;
    let mut api = Command::new(env!("CARGO_BIN_EXE_coconut-lake"))
        .args(["simulate", "api", "--listen", "127.0.0.1:0", "--days", "2"])
        .args(["--token", "cli-token", "--rate-limit", "1000"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let mut first = String::new();
    std::io::BufReader::new(api.stdout.take().unwrap()).read_line(&mut first)?;
    let base = first.trim().rsplit(' ').next().unwrap().to_string();
    let response = client()
        .get(format!("{base}/locations"))
        .bearer_auth("cli-token")
        .send()
        .await?;
    let status = response.status();
    let page = json_of(response).await;
    api.kill()?;
    api.wait()?;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(page["meta"]["pagination"]["total"], 6);

    let (url, inbox) = start_receiver("webhook-signature").await;
    let hook = url.clone();
    let sender = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_coconut-lake"))
            .args([
                "simulate", "webhooks", "--url", &hook, "--days", "1", "--json",
            ])
            .args(["--appointments-per-day", "20", "--walk-ins-per-day", "10"])
            .args(["--retry-base-ms", "5"])
            .env("COCONUT_WEBHOOK_SECRET", SECRETS)
            .output()
    })
    .await??;
    assert!(
        sender.status.success(),
        "{}",
        String::from_utf8_lossy(&sender.stderr)
    );
    let report: Value = serde_json::from_slice(&sender.stdout)?;
    assert_eq!(report["failed"], 0);
    assert_eq!(report["acknowledged"], inbox.lock().unwrap().attempts.len());
    assert!(
        !String::from_utf8_lossy(&sender.stderr).contains("whsec_"),
        "no secret in logs"
    );

    let missing = Command::new(env!("CARGO_BIN_EXE_coconut-lake"))
        .args(["simulate", "webhooks", "--url", &url])
        .env_remove("COCONUT_WEBHOOK_SECRET")
        .output()?;
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--secret"));
    Ok(())
}

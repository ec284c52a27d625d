//! The webhook receiver over real sockets: one test per status, durability on a failing
//! store, operations endpoints, and the binary under the simulator with a SIGKILL mid-way.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, AsArray};
use axum::http::StatusCode;
use coconut_lake::land::{Lander, LandingLimits, Store};
use coconut_lake::model::{Converter, Table};
use coconut_lake::receive::{Receiver, Verifier, run};
use coconut_lake::source::Entity;
use coconut_lake::source::signature::{Secret, parse_secrets, sign_hmac_hex, sign_standard};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{TestResult, fixture_batch, read_table, received_at};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn secrets() -> Vec<Secret> {
    parse_secrets(SECRET).unwrap()
}

fn standard() -> Verifier {
    Verifier::Standard {
        secrets: secrets(),
        tolerance: Duration::from_secs(300),
    }
}

/// A receiver on a free loopback port; returns its base URL.
async fn start(store: Store, verifier: Verifier, limits: LandingLimits) -> String {
    let receiver = Arc::new(Receiver {
        verifier,
        converter: Arc::new(Converter::default()),
        lander: Lander::start(store.clone(), limits),
        store,
        body_limit: 4_096,
        metrics: coconut_lake::telemetry::prometheus(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(run(listener, receiver, std::future::pending()));
    base
}

fn event(id: &str, kind: &str, data: Value) -> Vec<u8> {
    json!({"id": id, "type": kind, "occurred_at": "2026-03-09T14:00:00Z", "data": data})
        .to_string()
        .into_bytes()
}

fn appointment(id: &str) -> Vec<u8> {
    let data = json!({"id": "100001", "type": "appointments", "attributes": {
        "location_id": 1, "status": "confirmed", "start": "2026-03-09T14:00:00Z",
        "updated_at": "2026-03-01T10:00:00Z", "timezone": "America/Toronto"}});
    event(id, "appointment.created", data)
}

/// Posts a body signed the Standard Webhooks way, `age` seconds ago.
async fn post_signed(
    base: &str,
    id: &str,
    body: Vec<u8>,
    age: i64,
    content_type: &str,
) -> reqwest::Response {
    let timestamp = chrono::Utc::now().timestamp() - age;
    let signature = sign_standard(&secrets()[0], id, timestamp, &body);
    reqwest::Client::new()
        .post(format!("{base}/webhooks"))
        .header("content-type", content_type)
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn status_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let body = response.bytes().await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn strings(batch: &arrow::array::RecordBatch, column: &str) -> Vec<String> {
    let array = batch.column_by_name(column).unwrap().as_string::<i32>();
    (0..array.len())
        .map(|i| array.value(i).to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_refusal_has_its_own_status_and_loses_nothing_authenticated() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path().to_str().unwrap())?;
    let base = start(store.clone(), standard(), LandingLimits::default()).await;
    let client = reqwest::Client::new();
    let url = format!("{base}/webhooks");

    // 401: no signature, a wrong one, a stale timestamp.
    let unsigned = client.post(&url).header("content-type", "application/json");
    let (status, body) = status_of(unsigned.body(appointment("e1")).send().await?).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    let forged = client
        .post(&url)
        .header("content-type", "application/json")
        .header("webhook-id", "e1")
        .header(
            "webhook-timestamp",
            chrono::Utc::now().timestamp().to_string(),
        )
        .header(
            "webhook-signature",
            "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        );
    assert_eq!(
        forged.body(appointment("e1")).send().await?.status(),
        StatusCode::UNAUTHORIZED
    );
    let stale = post_signed(&base, "e1", appointment("e1"), 3_600, "application/json").await;
    assert_eq!(stale.status(), StatusCode::UNAUTHORIZED);

    // 413: declared too long, and streamed too long without a length.
    let big = vec![b' '; 10_000];
    assert_eq!(
        post_signed(&base, "e2", big, 0, "application/json")
            .await
            .status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(chunked_post(&base, 20_000).await, 413);

    // 415, 400.
    let text = post_signed(&base, "e3", appointment("e3"), 0, "text/plain").await;
    assert_eq!(text.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let broken = post_signed(&base, "e4", b"{\"id\": ".to_vec(), 0, "application/json").await;
    assert_eq!(broken.status(), StatusCode::BAD_REQUEST);

    // 422, with the payload in quarantine first.
    let not_event = post_signed(
        &base,
        "e5",
        b"{\"hello\": 1}".to_vec(),
        0,
        "application/json",
    )
    .await;
    assert_eq!(not_event.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bad_time = event(
        "e6",
        "appointment.updated",
        json!({"id": 7, "attributes": {"start": "soon"}}),
    );
    let (status, body) =
        status_of(post_signed(&base, "e6", bad_time, 0, "application/json").await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["detail"].as_str().unwrap().contains("start"), "{body}");

    // 200 for a known event and for an unknown type, which lands raw.
    let (status, body) =
        status_of(post_signed(&base, "e7", appointment("e7"), 0, "application/json").await).await;
    assert_eq!(
        (status, body["table"].as_str()),
        (StatusCode::OK, Some("appointments"))
    );
    let invoice = event("e8", "invoice.paid", json!({"id": "9", "type": "invoices"}));
    let (status, body) =
        status_of(post_signed(&base, "e8", invoice, 0, "application/json").await).await;
    assert_eq!(
        (status, body["table"].as_str()),
        (StatusCode::OK, Some("unrecognized"))
    );

    let quarantined = read_table(&store, Table::Quarantine).await;
    assert_eq!(strings(&quarantined, "event_id"), ["e5", "e6"]);
    let reasons = strings(&quarantined, "reason");
    assert!(reasons[1].contains("start"), "{reasons:?}");
    let raw = strings(&quarantined, "raw");
    assert_eq!(raw[0], "{\"hello\": 1}", "the payload is kept as received");
    let landed = read_table(&store, Table::Entity(Entity::Appointments)).await;
    assert_eq!(strings(&landed, "event_id"), ["e7"]);
    assert_eq!(strings(&landed, "verified_by"), ["standard_webhooks"]);
    assert_eq!(strings(&landed, "source"), ["webhook"]);
    let received = landed.column_by_name("received_at").unwrap();
    assert_eq!(received.null_count(), 0);
    assert_eq!(read_table(&store, Table::Unrecognized).await.num_rows(), 1);
    Ok(())
}

/// Sends a chunked body of `size` bytes (no Content-Length) and returns the status.
async fn chunked_post(base: &str, size: usize) -> u16 {
    let address = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /webhooks HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; 1_000];
    for _ in 0..size / 1_000 {
        let frame = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
        if stream.write_all(&frame).await.is_err() {
            break; // the server stopped reading and answered
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = vec![0u8; 64];
    let n = stream.read(&mut answer).await.unwrap();
    let line = String::from_utf8_lossy(&answer[..n]).to_string();
    line.split(' ').nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_writer_answers_429_with_retry_after() -> TestResult {
    // Room for one small event, held for a second before its file is written.
    let limits = LandingLimits {
        max_pending_bytes: 1_024,
        linger: Duration::from_secs(1),
        ..LandingLimits::default()
    };
    let base = start(Store::open("memory://")?, standard(), limits).await;
    let first = {
        let base = base.clone();
        tokio::spawn(async move {
            post_signed(&base, "e1", b"{}".to_vec(), 0, "application/json").await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = post_signed(&base, "e2", appointment("e2"), 0, "application/json").await;
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(second.headers()["retry-after"], "1");
    // The held event still lands (in quarantine: `{}` is not an event).
    assert_eq!(first.await?.status(), StatusCode::UNPROCESSABLE_ENTITY);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_store_answers_503_and_is_not_ready() -> TestResult {
    let base_url = std::env::var("COCONUT_TEST_S3_URL").expect("run with scripts/test");
    let bucket = base_url
        .trim_start_matches("s3://")
        .split('/')
        .next()
        .unwrap();
    let missing = format!("s3://{bucket}-missing-{:x}/lake", rand::random::<u32>());
    let base = start(Store::open(&missing)?, standard(), LandingLimits::default()).await;
    let response = post_signed(&base, "e1", appointment("e1"), 0, "application/json").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "2");
    let client = reqwest::Client::new();
    assert_eq!(
        client.get(format!("{base}/readyz")).send().await?.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        client.get(format!("{base}/healthz")).send().await?.status(),
        StatusCode::OK
    );

    let working = start(
        crate::support::s3_store(),
        standard(),
        LandingLimits::default(),
    )
    .await;
    assert_eq!(
        client
            .get(format!("{working}/readyz"))
            .send()
            .await?
            .status(),
        StatusCode::OK
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hmac_scheme_checks_its_header() -> TestResult {
    let verifier = Verifier::Hmac {
        secrets: secrets(),
        header: "X-Coconut-Signature".into(),
    };
    let store = Store::open("memory://")?;
    let base = start(store.clone(), verifier, LandingLimits::default()).await;
    let body = appointment("h1");
    let send = |signature: String| {
        reqwest::Client::new()
            .post(format!("{base}/webhooks"))
            .header("content-type", "application/json")
            .header("x-coconut-signature", signature)
            .body(body.clone())
            .send()
    };
    assert_eq!(
        send(sign_hmac_hex(&secrets()[0], &body)).await?.status(),
        StatusCode::OK
    );
    assert_eq!(
        send("00ff".into()).await?.status(),
        StatusCode::UNAUTHORIZED
    );
    let landed = read_table(&store, Table::Entity(Entity::Appointments)).await;
    assert_eq!(strings(&landed, "verified_by"), ["hmac_sha256"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_received_landed_and_rejected() -> TestResult {
    let base = start(
        Store::open("memory://")?,
        standard(),
        LandingLimits::default(),
    )
    .await;
    post_signed(&base, "m1", appointment("m1"), 0, "application/json").await;
    post_signed(&base, "m2", appointment("m2"), 9_999, "application/json").await;
    let text = reqwest::get(format!("{base}/metrics"))
        .await?
        .text()
        .await?;
    for name in [
        "coconut_webhooks_received_total",
        "coconut_webhooks_landed_total{table=\"appointments\"}",
        "coconut_webhooks_rejected_total{reason=\"unauthorized\"}",
        "coconut_land_flush_rows_bucket",
        "coconut_land_flush_seconds_bucket",
        "coconut_webhook_seconds_bucket",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
    Ok(())
}

/// Starts `coconut-lake serve` on a port, landing into a folder, and waits until it answers.
async fn spawn_serve(lake: &std::path::Path, port: u16) -> std::process::Child {
    spawn_serve_on(lake.as_os_str(), port, &[]).await
}

/// `serve` on `store` with more environment, once it answers `/healthz`.
async fn spawn_serve_on(
    store: &std::ffi::OsStr,
    port: u16,
    env: &[(&str, &str)],
) -> std::process::Child {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_coconut-lake"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--store"])
        .arg(store)
        .env("COCONUT_WEBHOOK_SECRET", SECRET)
        .env_remove("COCONUT_API_TOKEN")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        let health = reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await;
        if health.is_ok_and(|r| r.status().is_success()) {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("serve did not come up on port {port}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_acknowledged_event_is_landed_across_a_sigkill() -> TestResult {
    use coconut_lake::simulate::webhooks::{SendOptions, events, send};
    use coconut_lake::simulate::{TenantOptions, generate};

    let dir = tempfile::tempdir()?;
    let lake = dir.path().join("lake");
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut serve = spawn_serve(&lake, port).await;

    let tenant = Arc::new(generate(&TenantOptions {
        days: 4,
        appointments_per_day: 400,
        walk_ins_per_day: 300,
        seed: 11,
        ..TenantOptions::default()
    }));
    let expected: HashSet<String> = events(&tenant, None, None)
        .iter()
        .map(|e| e.id(&tenant, 0))
        .collect();
    assert!(expected.len() >= 10_000, "{} events", expected.len());
    let options = SendOptions {
        url: format!("http://127.0.0.1:{port}/webhooks"),
        secrets: secrets(),
        concurrency: 16,
        duplicates: 0.03,
        reorder: 0.05,
        max_attempts: 60,
        retry_base: Duration::from_millis(50),
        retry_max: Duration::from_secs(1),
        ..SendOptions::default()
    };
    let sender = tokio::spawn(send(Arc::clone(&tenant), options));

    // Kill the receiver mid-way, without warning, and start it again on the same port.
    tokio::time::sleep(Duration::from_secs(3)).await;
    serve.kill()?;
    serve.wait()?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut serve = spawn_serve(&lake, port).await;

    let report = sender.await??;
    assert_eq!(report.failed, 0, "{report:?}");
    assert!(
        report.statuses.get(&0).is_some_and(|n| *n > 0),
        "the kill cut deliveries off: {report:?}"
    );
    assert!(
        report.acknowledged > report.events,
        "duplicates were sent too"
    );
    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status()?;
    assert!(stopped.success());
    assert!(serve.wait()?.success(), "graceful stop exits 0");

    let store = Store::open(lake.to_str().unwrap())?;
    let mut landed = HashSet::new();
    for table in Table::all() {
        let batch = read_table(&store, table).await;
        if table == Table::Quarantine {
            assert_eq!(batch.num_rows(), 0, "nothing unusable was sent");
        }
        landed.extend(strings(&batch, "event_id"));
    }
    let missing: Vec<&String> = expected.difference(&landed).take(5).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not landed: {missing:?}"
    );
    Ok(())
}

/// `serve` started on a store that already holds locations places an engagement at one of
/// them in its branch's day without waiting for that location's next event.
#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_receiver_knows_the_zones_of_landed_locations() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = dir.path().join("lake");
    let store = Store::open(lake.to_str().unwrap_or_default())?;
    let lander = Lander::start(store.clone(), LandingLimits::default());
    let locations = fixture_batch(Entity::Locations);
    let day = received_at().date_naive();
    lander
        .submit(Table::Entity(Entity::Locations), locations, day)
        .await?;
    lander.shutdown().await;

    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut serve = spawn_serve(&lake, port).await;
    let base = format!("http://127.0.0.1:{port}");
    // Location 3 is in London; the appointment names no zone of its own. The zones are
    // read in the background, so the first deliveries may land before them.
    let mut placed = None;
    for attempt in 0..100 {
        let id = format!("evt_zone_{attempt}");
        let data = json!({"id": 7000 + attempt, "type": "appointments", "attributes": {
            "location_id": 3, "status": "confirmed", "start": "2026-03-09T23:30:00Z",
            "updated_at": "2026-03-01T10:00:00Z"}});
        let body = event(&id, "appointment.created", data);
        let response = post_signed(&base, &id, body, 0, "application/json").await;
        assert_eq!(response.status(), StatusCode::OK);
        let batch = read_table(&store, Table::Entity(Entity::Appointments)).await;
        let zones = batch.column_by_name("timezone").unwrap().as_string::<i32>();
        if let Some(i) = (0..batch.num_rows()).find(|&i| zones.is_valid(i)) {
            let dates = batch.column_by_name("business_date").unwrap();
            placed = Some((zones.value(i).to_string(), dates.is_valid(i)));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = serve.kill();
    let _ = serve.wait();
    assert_eq!(placed, Some(("Europe/London".to_string(), true)));
    Ok(())
}

/// `serve` on an S3 store that takes connections and never answers refuses a webhook with
/// 503 and `Retry-After` once its store requests time out, well before object_store's
/// 30-second default, so that the sender hears back and retries.
#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_store_answers_503_within_seconds() -> TestResult {
    let hanging = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", hanging.local_addr()?);
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = hanging.accept().await {
            held.push(socket);
        }
    });
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let env = [
        ("AWS_ENDPOINT", endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_VIRTUAL_HOSTED_STYLE_REQUEST", "false"),
    ];
    let store = std::ffi::OsStr::new("s3://hanging-bucket");
    let mut serve = spawn_serve_on(store, port, &env).await;
    let base = format!("http://127.0.0.1:{port}");

    let started = std::time::Instant::now();
    let response = post_signed(
        &base,
        "evt_hang",
        appointment("evt_hang"),
        0,
        "application/json",
    )
    .await;
    let waited = started.elapsed();
    let retry_after = response.headers().get("retry-after").cloned();
    let status = response.status();
    let _ = serve.kill();
    let _ = serve.wait();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(retry_after.is_some(), "no Retry-After");
    assert!(
        waited < Duration::from_secs(25),
        "answered after {waited:?}"
    );
    Ok(())
}

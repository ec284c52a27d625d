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
use object_store::ObjectStoreExt;
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
    post_with(base, id, timestamp, &signature, body, content_type).await
}

/// Posts a body with the Standard Webhooks headers as given, signed or not.
async fn post_with(
    base: &str,
    id: &str,
    timestamp: i64,
    signature: &str,
    body: Vec<u8>,
    content_type: &str,
) -> reqwest::Response {
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

/// A receiver on a fresh folder with the Standard Webhooks verifier and default limits.
async fn start_on_folder() -> (tempfile::TempDir, Store, String) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap()).unwrap();
    let base = start(store.clone(), standard(), LandingLimits::default()).await;
    (dir, store, base)
}

/// Every table's rows, for tests that check nothing was landed.
async fn landed_rows(store: &Store) -> usize {
    let mut rows = 0;
    for table in Table::all() {
        rows += read_table(store, table).await.num_rows();
    }
    rows
}

#[tokio::test(flavor = "multi_thread")]
async fn unsigned_forged_and_stale_deliveries_get_401() -> TestResult {
    let (_dir, store, base) = start_on_folder().await;
    let client = reqwest::Client::new();
    let url = format!("{base}/webhooks");

    let unsigned = client.post(&url).header("content-type", "application/json");
    let (status, body) = status_of(unsigned.body(appointment("e1")).send().await?).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    let now = chrono::Utc::now().timestamp();
    let forged = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let forged = post_with(
        &base,
        "e1",
        now,
        forged,
        appointment("e1"),
        "application/json",
    );
    assert_eq!(forged.await.status(), StatusCode::UNAUTHORIZED);
    // Signed right, but an hour ago, or an hour ahead: outside the 5-minute tolerance.
    for age in [3_600, -3_600] {
        let stale = post_signed(&base, "e1", appointment("e1"), age, "application/json").await;
        assert_eq!(stale.status(), StatusCode::UNAUTHORIZED, "age {age}");
    }
    // A body changed after signing.
    let signature = sign_standard(&secrets()[0], "e1", now, &appointment("e1"));
    let changed = [appointment("e1"), b" ".to_vec()].concat();
    let tampered = post_with(&base, "e1", now, &signature, changed, "application/json");
    assert_eq!(tampered.await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        landed_rows(&store).await,
        0,
        "nothing unauthenticated lands"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signature_by_any_listed_secret_is_accepted_during_rotation() -> TestResult {
    let old = "whsec_b2xkLXNlY3JldC1iZWluZy1yZXRpcmVk";
    let new = "whsec_bmV3LXNlY3JldC10YWtpbmctb3Zlcg==";
    let verifier = Verifier::Standard {
        secrets: parse_secrets(&format!("{old},{new}"))?,
        tolerance: Duration::from_secs(300),
    };
    let store = Store::open("memory://")?;
    let base = start(store.clone(), verifier, LandingLimits::default()).await;
    for (id, secret) in [("r1", old), ("r2", new)] {
        let body = appointment(id);
        let timestamp = chrono::Utc::now().timestamp();
        let signature = sign_standard(&parse_secrets(secret)?[0], id, timestamp, &body);
        // A sender that signs with both secrets during its own rotation sends both.
        let header = format!("v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= {signature}");
        let response = post_with(&base, id, timestamp, &header, body, "application/json").await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "signed with {id}'s secret"
        );
    }
    let landed = read_table(&store, Table::Entity(Entity::Appointments)).await;
    assert_eq!(strings(&landed, "event_id"), ["r1", "r2"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn unparseable_json_gets_400() -> TestResult {
    let (_dir, store, base) = start_on_folder().await;
    let broken = post_signed(&base, "e4", b"{\"id\": ".to_vec(), 0, "application/json").await;
    let (status, body) = status_of(broken).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_json"))
    );
    assert_eq!(landed_rows(&store).await, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_over_the_limit_gets_413_and_is_read_no_further() -> TestResult {
    let (_dir, store, base) = start_on_folder().await;
    // Declared too long, with valid headers.
    let big = vec![b' '; 10_000];
    let (status, body) =
        status_of(post_signed(&base, "e2", big, 0, "application/json").await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("too_large"))
    );
    // Declared 10 MB and never sent: the answer comes from the header alone.
    assert_eq!(never_sent_body(&base, 10_000_000).await, 413);
    // Streamed without a length: the answer comes once the limit is passed, although the
    // body never ends.
    assert_eq!(endless_chunked_post(&base, 20_000).await, 413);
    assert_eq!(landed_rows(&store).await, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_content_type_other_than_json_gets_415() -> TestResult {
    let (_dir, store, base) = start_on_folder().await;
    for content_type in ["text/plain", "application/x-www-form-urlencoded", ""] {
        let response = post_signed(&base, "e3", appointment("e3"), 0, content_type).await;
        assert_eq!(
            response.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}"
        );
    }
    let vendor = post_signed(
        &base,
        "e3",
        appointment("e3"),
        0,
        "application/vnd.coconut+json",
    );
    assert_eq!(vendor.await.status(), StatusCode::OK);
    assert_eq!(landed_rows(&store).await, 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_authenticated_unusable_event_gets_422_and_lands_in_quarantine() -> TestResult {
    let (_dir, store, base) = start_on_folder().await;
    let not_event = post_signed(
        &base,
        "e5",
        b"{\"hello\": 1}".to_vec(),
        0,
        "application/json",
    )
    .await;
    let (status, body) = status_of(not_event).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("unusable"))
    );
    let bad_time = event(
        "e6",
        "appointment.updated",
        json!({"id": 7, "attributes": {"start": "soon"}}),
    );
    let (status, body) =
        status_of(post_signed(&base, "e6", bad_time, 0, "application/json").await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["detail"].as_str().unwrap().contains("start"), "{body}");

    let quarantined = read_table(&store, Table::Quarantine).await;
    assert_eq!(strings(&quarantined, "event_id"), ["e5", "e6"]);
    let reasons = strings(&quarantined, "reason");
    assert!(reasons[1].contains("start"), "{reasons:?}");
    let raw = strings(&quarantined, "raw");
    assert_eq!(raw[0], "{\"hello\": 1}", "the payload is kept as received");
    assert_eq!(
        strings(&quarantined, "verified_by"),
        ["standard_webhooks", "standard_webhooks"]
    );
    let received = quarantined.column_by_name("received_at").unwrap();
    assert_eq!(received.null_count(), 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_known_event_lands_with_its_envelope_before_the_200() -> TestResult {
    let (_dir, store, base) = start_on_folder().await;
    let before = chrono::Utc::now();
    let (status, body) =
        status_of(post_signed(&base, "e7", appointment("e7"), 0, "application/json").await).await;
    assert_eq!(
        (status, body["status"].as_str(), body["table"].as_str()),
        (StatusCode::OK, Some("landed"), Some("appointments"))
    );
    // The file named in the answer is in the store as soon as the answer is.
    let file = body["file"].as_str().unwrap();
    let path = object_store::path::Path::from(file);
    let head = store.objects().head(&path).await;
    assert!(head.is_ok(), "{file} is not in the store: {head:?}");

    let landed = read_table(&store, Table::Entity(Entity::Appointments)).await;
    assert_eq!(strings(&landed, "event_id"), ["e7"]);
    assert_eq!(strings(&landed, "verified_by"), ["standard_webhooks"]);
    assert_eq!(strings(&landed, "source"), ["webhook"]);
    assert_eq!(strings(&landed, "event_type"), ["appointment.created"]);
    let received = landed.column_by_name("received_at").unwrap();
    let received = received.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
    assert_eq!(received.null_count(), 0);
    let at = chrono::DateTime::from_timestamp_micros(received.value(0)).unwrap();
    assert!(at >= before - chrono::Duration::seconds(1) && at <= chrono::Utc::now());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_authenticated_event_of_an_unknown_type_lands_raw_with_200() -> TestResult {
    let (_dir, store, base) = start_on_folder().await;
    let data = json!({"id": "9", "type": "invoices", "attributes": {"total": 12.5}});
    let invoice = event("e8", "invoice.paid", data);
    let (status, body) =
        status_of(post_signed(&base, "e8", invoice, 0, "application/json").await).await;
    assert_eq!(
        (status, body["table"].as_str()),
        (StatusCode::OK, Some("unrecognized"))
    );
    let unrecognized = read_table(&store, Table::Unrecognized).await;
    assert_eq!(strings(&unrecognized, "event_id"), ["e8"]);
    assert_eq!(strings(&unrecognized, "event_type"), ["invoice.paid"]);
    assert!(strings(&unrecognized, "raw")[0].contains("12.5"));
    Ok(())
}

/// Opens a raw connection and sends the head of a JSON `POST /webhooks` with one more
/// header line, `length` (a content length or a transfer encoding).
async fn post_head(base: &str, length: &str) -> tokio::net::TcpStream {
    let address = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /webhooks HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\n{length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// Sends headers declaring a body of `declared` bytes and none of it; returns the status.
async fn never_sent_body(base: &str, declared: usize) -> u16 {
    let mut stream = post_head(base, &format!("content-length: {declared}")).await;
    read_status(&mut stream).await
}

/// Sends `size` bytes of a chunked body (no Content-Length) and never ends it; returns the
/// status, which must come without the end of the body.
async fn endless_chunked_post(base: &str, size: usize) -> u16 {
    let mut stream = post_head(base, "transfer-encoding: chunked").await;
    let chunk = vec![b' '; 1_000];
    for _ in 0..size / 1_000 {
        let frame = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
        if stream.write_all(&frame).await.is_err() {
            break; // the server stopped reading and answered
        }
    }
    read_status(&mut stream).await
}

/// The status of the answer on `stream`, which must come within five seconds.
async fn read_status(stream: &mut tokio::net::TcpStream) -> u16 {
    let mut answer = vec![0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("the server waited for the rest of the body")
        .unwrap();
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
    let mut command = serve_command(store, port);
    command
        .envs(env.iter().copied())
        .stderr(std::process::Stdio::null());
    until_healthy(command.spawn().unwrap(), port).await
}

/// `coconut-lake serve` on `store` and a loopback port, with the test secret and no API
/// token; its standard output is dropped.
fn serve_command(store: &std::ffi::OsStr, port: u16) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_coconut-lake"));
    command
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--store"])
        .arg(store)
        .env("COCONUT_WEBHOOK_SECRET", SECRET)
        .env_remove("COCONUT_API_TOKEN")
        .stdout(std::process::Stdio::null());
    command
}

/// Returns `child` once it answers `/healthz` on `port`; kills it after 30 seconds.
async fn until_healthy(mut child: std::process::Child, port: u16) -> std::process::Child {
    for _ in 0..600 {
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

/// SIGTERM while deliveries wait for their file: the listener closes at once, every
/// delivery in flight is still answered 200 and landed, the process exits 0, and with
/// `--log-format json` every log line it wrote is one JSON object.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_answers_what_is_in_flight_and_lands_it_before_exiting() -> TestResult {
    let dir = tempfile::tempdir()?;
    // Each file waits 1.5 s for more rows, so the deliveries are still in flight when the
    // signal comes.
    let pipeline = pipeline_with_landing(dir.path(), "linger = \"1500ms\"")?;
    let lake = dir.path().join("lake");
    let logs = dir.path().join("stderr.log");
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut command = serve_command(lake.as_os_str(), port);
    command
        .args(["--log-format", "json", "--pipeline"])
        .arg(&pipeline)
        .env("RUST_LOG", "debug")
        .stderr(std::fs::File::create(&logs)?);
    let mut serve = until_healthy(command.spawn()?, port).await;
    let base = format!("http://127.0.0.1:{port}");

    let ids: Vec<String> = (0..20).map(|i| format!("evt_term_{i}")).collect();
    let in_flight: Vec<_> = ids
        .iter()
        .map(|id| {
            let (base, id) = (base.clone(), id.clone());
            tokio::spawn(async move {
                post_signed(&base, &id, appointment(&id), 0, "application/json").await
            })
        })
        .collect();
    // The signal comes once the receiver holds every delivery.
    let mut held = 0;
    for _ in 0..200 {
        held = received_total(&base).await;
        if held >= ids.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(held, ids.len(), "the deliveries did not all arrive");
    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status()?;
    assert!(signalled.success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = tokio::net::TcpStream::connect(("127.0.0.1", port)).await;
    assert!(refused.is_err(), "still accepting after SIGTERM");

    for (id, request) in ids.iter().zip(in_flight) {
        assert_eq!(request.await?.status(), StatusCode::OK, "{id}");
    }
    assert!(serve.wait()?.success(), "graceful stop exits 0");

    let store = Store::open(lake.to_str().unwrap())?;
    let landed = read_table(&store, Table::Entity(Entity::Appointments)).await;
    let landed: HashSet<String> = strings(&landed, "event_id").into_iter().collect();
    assert_eq!(landed, ids.iter().cloned().collect::<HashSet<_>>());

    let text = std::fs::read_to_string(&logs)?;
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let messages: Vec<&str> = lines.iter().filter_map(|l| l["message"].as_str()).collect();
    for expected in ["receiver started", "shutdown requested", "receiver stopped"] {
        assert!(
            messages.contains(&expected),
            "{expected:?} not in {messages:?}"
        );
    }
    assert!(!text.contains(SECRET), "the secret was logged");
    assert!(!text.contains("confirmed"), "a payload was logged");
    Ok(())
}

/// `coconut_webhooks_received_total` as `/metrics` gives it (0 before the first request).
async fn received_total(base: &str) -> usize {
    let text = match reqwest::get(format!("{base}/metrics")).await {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(_) => return 0,
    };
    text.lines()
        .find_map(|line| line.strip_prefix("coconut_webhooks_received_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// On a local folder, `serve` with `landing.sync = true` forces each file to disk before
/// answering (its sync time is on `/metrics`), and without it does not.
#[tokio::test(flavor = "multi_thread")]
async fn a_local_folder_is_synced_before_the_answer_when_the_pipeline_asks() -> TestResult {
    for sync in [true, false] {
        let dir = tempfile::tempdir()?;
        let pipeline = pipeline_with_landing(dir.path(), &format!("sync = {sync}"))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut command = serve_command(dir.path().join("lake").as_os_str(), port);
        command
            .arg("--pipeline")
            .arg(&pipeline)
            .stderr(std::process::Stdio::null());
        let mut serve = until_healthy(command.spawn()?, port).await;
        let base = format!("http://127.0.0.1:{port}");
        let response = post_signed(&base, "s1", appointment("s1"), 0, "application/json").await;
        let status = response.status();
        let metrics = reqwest::get(format!("{base}/metrics"))
            .await?
            .text()
            .await?;
        let _ = serve.kill();
        let _ = serve.wait();
        assert_eq!(status, StatusCode::OK);
        let synced = "coconut_land_sync_seconds_count{table=\"appointments\"} 1";
        assert_eq!(metrics.contains(synced), sync, "sync = {sync}:\n{metrics}");
    }
    Ok(())
}

/// Writes `pipeline.toml` in `dir`: a store folder `lake`, an API nobody answers, and
/// `landing` as the `[landing]` table's body.
fn pipeline_with_landing(
    dir: &std::path::Path,
    landing: &str,
) -> std::io::Result<std::path::PathBuf> {
    let pipeline = dir.join("pipeline.toml");
    let text = format!(
        "[store]\nurl = \"lake\"\n[source]\napi_url = \"http://127.0.0.1:1/api/v2\"\n\
         [landing]\n{landing}\n"
    );
    std::fs::write(&pipeline, text)?;
    Ok(pipeline)
}

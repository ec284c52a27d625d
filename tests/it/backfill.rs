//! The API backfill against the simulated tenant over real sockets: equal to the ground
//! truth, incremental, resumable after SIGKILL, riding out 429s and 5xx, stopping on a
//! malformed page without moving its checkpoint, one run per resource at a time, and a
//! refused token that says so.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, Int64Array, TimestampMicrosecondArray};
use chrono::{DateTime, Utc};
use coconut_lake::backfill::{Backfill, BackfillError, Checkpoint, Plan, Progress, Report, Start};
use coconut_lake::config::Pipeline;
use coconut_lake::land::{Lander, Store};
use coconut_lake::model::Converter;
use coconut_lake::report::open_session;
use coconut_lake::simulate::api::ApiOptions;
use coconut_lake::simulate::{Faults, Tenant, TenantOptions, Time, generate};
use coconut_lake::source::Entity;
use serde_json::json;
use tokio::sync::watch;

use crate::support::{TestResult, post_json, set_faults, start_api, start_api_at};

const TOKEN: &str = "sim-token";

pub fn tenant(seed: u64) -> Arc<Tenant> {
    Arc::new(generate(&TenantOptions {
        seed,
        days: 12,
        appointments_per_day: 70,
        walk_ins_per_day: 50,
        ..TenantOptions::default()
    }))
}

/// A pipeline landing into `lake` from `api`, with quick retries and a short lease.
fn pipeline_text(lake: &Path, api: &str, source_extra: &str) -> String {
    // Pages of 40 unless the extra lines say otherwise.
    let page_size = if source_extra.contains("page_size") {
        ""
    } else {
        "page_size = 40\n"
    };
    format!(
        "[store]\nurl = \"{}\"\n[source]\napi_url = \"{api}\"\n{page_size}\
         retry_base = \"10ms\"\nretry_max = \"200ms\"\nmax_attempts = 12\n\
         lease_ttl = \"3s\"\n{source_extra}\n",
        lake.display()
    )
}

pub fn pipeline(lake: &Path, api: &str, source_extra: &str) -> Pipeline {
    let text = pipeline_text(lake, api, source_extra);
    Pipeline::parse(&text, Path::new("test.toml")).unwrap()
}

fn write_pipeline(dir: &Path, lake: &Path, api: &str, source_extra: &str) -> std::path::PathBuf {
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, pipeline_text(lake, api, source_extra)).unwrap();
    path
}

pub async fn backfill(pipeline: &Pipeline, start: Start, resources: &[Entity]) -> Vec<Report> {
    let store = Store::open(&pipeline.store.url).unwrap();
    let lander = Lander::start(store.clone(), pipeline.landing_limits());
    let converter = Arc::new(Converter::new(pipeline.convert_options()));
    let plan = Plan {
        resources: if resources.is_empty() {
            pipeline.resources()
        } else {
            resources.to_vec()
        },
        start,
        api_url: None,
    };
    let job = Backfill::new(
        pipeline,
        TOKEN,
        plan,
        store,
        lander.clone(),
        converter,
        Progress::Quiet,
    )
    .unwrap();
    let (_stop, stopped) = watch::channel(false);
    let reports = Arc::new(job).run(stopped).await;
    lander.shutdown().await;
    reports
}

pub fn assert_complete(reports: &[Report]) {
    for report in reports {
        assert!(
            report.outcome.is_ok(),
            "{}: {:?}",
            report.entity,
            report.outcome
        );
    }
}

/// Every landed version of an entity: id and `source_updated_at` in microseconds.
async fn landed(store: &Store, entity: Entity, after: Option<DateTime<Utc>>) -> Vec<(i64, i64)> {
    let ctx = open_session(store).await.unwrap();
    let filter = after.map_or_else(String::new, |t| {
        format!(
            " WHERE received_at > TIMESTAMP '{}'",
            t.format("%Y-%m-%dT%H:%M:%S%.6f")
        )
    });
    let sql = format!(
        "SELECT id, source_updated_at FROM {}{filter}",
        entity.name()
    );
    let mut out = Vec::new();
    for batch in ctx.sql(&sql).await.unwrap().collect().await.unwrap() {
        let ids = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        let times = batch
            .column(1)
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .unwrap();
        for i in 0..batch.num_rows() {
            assert!(
                !times.is_null(i),
                "{entity} {} has no updated_at",
                ids.value(i)
            );
            out.push((ids.value(i), times.value(i)));
        }
    }
    out
}

/// The newest landed version per id.
async fn latest(store: &Store, entity: Entity) -> BTreeMap<i64, i64> {
    let mut newest = BTreeMap::new();
    for (id, at) in landed(store, entity, None).await {
        let entry = newest.entry(id).or_insert(at);
        *entry = (*entry).max(at);
    }
    newest
}

/// What the tenant holds at its clock `at`: id and `updated_at` in microseconds.
fn truth(tenant: &Tenant, entity: Entity, at: Time) -> BTreeMap<i64, i64> {
    (0..tenant.len(entity))
        .filter_map(|i| {
            let updated = tenant.updated_at(entity, i, at)?;
            Some((tenant.id(entity, i) as i64, updated * 1_000_000))
        })
        .collect()
}

async fn assert_equals_truth(store: &Store, tenant: &Tenant, at: Time) {
    for entity in Entity::ALL {
        let expected = truth(tenant, entity, at);
        let got = latest(store, entity).await;
        assert!(!expected.is_empty(), "{entity}: the tenant holds none");
        assert_eq!(got.len(), expected.len(), "{entity}: record count");
        let wrong: Vec<_> = expected
            .iter()
            .filter(|(id, at)| got.get(id) != Some(at))
            .take(5)
            .collect();
        assert!(
            wrong.is_empty(),
            "{entity}: latest versions differ: {wrong:?}"
        );
    }
}

fn control(base: &str, what: &str) -> String {
    format!("{}/_sim/{what}", base.trim_end_matches("/api/v2"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_backfill_equals_the_ground_truth() -> TestResult {
    let tenant = tenant(3);
    let base = start_api(Arc::clone(&tenant), ApiOptions::default()).await;
    let dir = tempfile::tempdir()?;
    let pipeline = pipeline(dir.path(), &base, "");
    let reports = backfill(&pipeline, Start::Incremental, &[]).await;
    assert_complete(&reports);
    let store = Store::open(&pipeline.store.url)?;
    assert_equals_truth(&store, &tenant, tenant.settled_at).await;

    // Statuses, business days (in each branch's zone, across the DST changes) and the
    // envelope agree with the truth file written by `simulate truth`.
    let truth_dir = dir.path().join("truth");
    coconut_lake::simulate::write_truth(&tenant, Default::default(), &truth_dir)?;
    let ctx = open_session(&store).await?;
    for (table, checked) in [
        (
            "appointments",
            "status, business_date, location_id, service_id",
        ),
        ("queue_appointments", "status, business_date, location_id"),
    ] {
        let path = truth_dir.join(format!("{table}.parquet"));
        ctx.register_parquet(
            format!("truth_{table}"),
            path.to_str().unwrap(),
            Default::default(),
        )
        .await?;
        let sql = format!(
            "WITH newest AS (SELECT *, row_number() OVER (PARTITION BY id ORDER BY source_updated_at DESC, received_at DESC) AS n FROM {table})
             SELECT count(*) FROM (
               (SELECT id, {checked} FROM newest WHERE n = 1 EXCEPT SELECT id, {checked} FROM truth_{table})
               UNION ALL
               (SELECT id, {checked} FROM truth_{table} EXCEPT SELECT id, {checked} FROM newest WHERE n = 1))"
        );
        let batches = ctx.sql(&sql).await?.collect().await?;
        let differing = batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0);
        assert_eq!(differing, 0, "{table} differs from the truth in {checked}");
    }
    let sql = "SELECT DISTINCT source, verified_by, event_type FROM appointments";
    let envelope = ctx.sql(sql).await?.collect().await?;
    let text = arrow::util::pretty::pretty_format_batches(&envelope)?.to_string();
    assert!(
        text.contains("backfill")
            && text.contains("api_token")
            && text.contains("appointment.backfill"),
        "{text}"
    );
    assert_eq!(envelope[0].num_rows(), 1, "{text}");

    // Each resource's checkpoint reaches just past its newest record.
    for entity in Entity::ALL {
        let checkpoint = Checkpoint::load(&store, entity).await?.unwrap();
        let newest = truth(&tenant, entity, tenant.settled_at)
            .into_values()
            .max()
            .unwrap();
        assert_eq!(checkpoint.complete_before.timestamp_micros(), newest + 1);
        assert!(checkpoint.finished, "{entity}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_incremental_run_picks_up_exactly_the_changes() -> TestResult {
    let tenant = tenant(4);
    let first_clock = tenant.appointments[tenant.appointments.len() / 2].start;
    let base = start_api_at(&tenant, first_clock).await;
    let dir = tempfile::tempdir()?;
    let pipeline = pipeline(dir.path(), &base, "overlap = \"5m\"");
    let store = Store::open(&pipeline.store.url)?;
    assert_complete(&backfill(&pipeline, Start::Incremental, &[]).await);
    assert_equals_truth(&store, &tenant, first_clock).await;
    let between = Utc::now();

    let second_clock = first_clock + 3 * 86_400;
    let at = DateTime::from_timestamp(second_clock, 0)
        .unwrap()
        .to_rfc3339();
    let moved = post_json(control(&base, "clock"), &json!({ "at": at })).await;
    assert!(moved.status().is_success());
    let reports = backfill(&pipeline, Start::Incremental, &[]).await;
    assert_complete(&reports);
    assert_equals_truth(&store, &tenant, second_clock).await;

    for entity in [
        Entity::Appointments,
        Entity::QueueAppointments,
        Entity::Clients,
    ] {
        let before = truth(&tenant, entity, first_clock);
        // The first run's checkpoint is just past its newest record; the second starts
        // the overlap (five minutes) before it.
        let newest = before.values().copied().max().unwrap();
        let overlap_from = newest + 1 - 300 * 1_000_000;
        let after = truth(&tenant, entity, second_clock);
        let changed: BTreeSet<(i64, i64)> = after
            .iter()
            .filter(|(id, at)| before.get(id) != Some(at))
            .map(|(id, at)| (*id, *at))
            .collect();
        assert!(!changed.is_empty(), "{entity}: nothing changed");
        let pulled: BTreeSet<(i64, i64)> = landed(&store, entity, Some(between))
            .await
            .into_iter()
            .collect();
        let missed: Vec<_> = changed.difference(&pulled).take(5).collect();
        assert!(
            missed.is_empty(),
            "{entity}: changes not pulled: {missed:?}"
        );
        // Anything else pulled again is a version inside the overlap window.
        let extra: Vec<_> = pulled
            .difference(&changed)
            .filter(|(_, at)| *at < overlap_from)
            .take(5)
            .collect();
        assert!(
            extra.is_empty(),
            "{entity}: pulled outside the overlap: {extra:?}"
        );
        let report = reports.iter().find(|r| r.entity == entity).unwrap();
        assert_eq!(report.records as usize, pulled.len(), "{entity}");
        assert_eq!(
            report.since.map(|s| s.timestamp_micros()),
            Some(overlap_from),
            "{entity}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn storms_of_429_and_injected_5xx_are_ridden_out() -> TestResult {
    let tenant = tenant(5);
    let options = ApiOptions {
        // About 50 requests against a burst of 10: the run meets 429s.
        rate_limit: 10.0,
        faults: Faults {
            error_rate: 0.15,
            error_status: Some(500),
            ..Faults::default()
        },
        ..ApiOptions::default()
    };
    let base = start_api(Arc::clone(&tenant), options).await;
    let dir = tempfile::tempdir()?;
    let pipeline = pipeline(dir.path(), &base, "");
    let reports = backfill(&pipeline, Start::Full, &[]).await;
    assert_complete(&reports);
    let store = Store::open(&pipeline.store.url)?;
    assert_equals_truth(&store, &tenant, tenant.settled_at).await;
    let stats = reqwest::Client::new()
        .get(control(&base, "stats"))
        .bearer_auth(TOKEN)
        .send()
        .await?
        .bytes()
        .await?;
    let stats: serde_json::Value = serde_json::from_slice(&stats)?;
    let limited = stats["rate_limited"].as_u64().unwrap_or_default();
    let errors = stats["errors"].as_u64().unwrap_or_default();
    assert!(limited > 0 && errors > 0, "{stats}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_page_stops_with_a_clear_error_and_keeps_the_checkpoint() -> TestResult {
    let tenant = tenant(6);
    let first_clock = tenant.appointments[tenant.appointments.len() / 3].start;
    let base = start_api_at(&tenant, first_clock).await;
    let dir = tempfile::tempdir()?;
    let pipeline = pipeline(dir.path(), &base, "");
    let store = Store::open(&pipeline.store.url)?;
    let only = [Entity::Appointments];
    assert_complete(&backfill(&pipeline, Start::Incremental, &only).await);
    let kept = Checkpoint::load(&store, Entity::Appointments)
        .await?
        .unwrap();

    let at = DateTime::from_timestamp(tenant.settled_at, 0)
        .unwrap()
        .to_rfc3339();
    post_json(control(&base, "clock"), &json!({ "at": at })).await;
    set_faults(&base, json!({"malformed_rate": 1.0})).await;
    let reports = backfill(&pipeline, Start::Incremental, &only).await;
    let error = reports[0].outcome.as_ref().unwrap_err();
    assert!(
        matches!(error, BackfillError::Fetch(_))
            && error.to_string().contains("not a JSON:API document"),
        "{error}"
    );
    assert!(error.to_string().contains("/appointments?"), "{error}");
    assert_eq!(
        Checkpoint::load(&store, Entity::Appointments)
            .await?
            .unwrap(),
        kept
    );

    set_faults(&base, json!({})).await;
    assert_complete(&backfill(&pipeline, Start::Incremental, &only).await);
    let got = latest(&store, Entity::Appointments).await;
    assert_eq!(got, truth(&tenant, Entity::Appointments, tenant.settled_at));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn two_backfills_of_one_resource_never_run_at_once() -> TestResult {
    let tenant = tenant(7);
    let options = ApiOptions {
        latency: Duration::from_millis(20),
        ..ApiOptions::default()
    };
    let base = start_api(Arc::clone(&tenant), options).await;
    let dir = tempfile::tempdir()?;
    let pipeline = pipeline(dir.path(), &base, "");
    let only = [Entity::Clients];
    let (a, b) = tokio::join!(
        backfill(&pipeline, Start::Full, &only),
        backfill(&pipeline, Start::Full, &only)
    );
    let outcomes = [&a[0].outcome, &b[0].outcome];
    assert_eq!(
        outcomes.iter().filter(|o| o.is_ok()).count(),
        1,
        "{outcomes:?}"
    );
    let refused = outcomes.iter().find_map(|o| o.as_ref().err()).unwrap();
    assert!(
        refused.to_string().contains("being backfilled by"),
        "{refused}"
    );
    // Released at the end: the next run starts at once.
    assert_complete(&backfill(&pipeline, Start::Incremental, &only).await);
    Ok(())
}

/// Runs the binary's `backfill` with a pipeline file; returns the child.
fn spawn_backfill(pipeline: &Path, token: Option<&str>) -> std::process::Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_coconut-lake"));
    command
        .args(["backfill", "--pipeline"])
        .arg(pipeline)
        .env_remove("COCONUT_API_TOKEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(token) = token {
        command.env("COCONUT_API_TOKEN", token);
    }
    command.spawn().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_mid_way_resumes_from_its_checkpoint() -> TestResult {
    let tenant = tenant(8);
    let options = ApiOptions {
        // 42 pages of appointments at a quarter second each: the first checkpoint (after
        // 5 s) comes half way through.
        latency: Duration::from_millis(250),
        ..ApiOptions::default()
    };
    let base = start_api(Arc::clone(&tenant), options).await;
    let dir = tempfile::tempdir()?;
    let lake = dir.path().join("lake");
    let file = write_pipeline(dir.path(), &lake, &base, "page_size = 20\nconcurrency = 8");
    let checkpoint = lake.join("state/backfill/appointments/checkpoint.json");

    let mut first = spawn_backfill(&file, Some(TOKEN));
    let started = std::time::Instant::now();
    while !checkpoint.exists() {
        assert!(started.elapsed() < Duration::from_secs(60), "no checkpoint");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = first.kill();
    let status = first.wait()?;
    assert!(!status.success());
    let store = Store::open(lake.to_str().unwrap())?;
    let saved = Checkpoint::load(&store, Entity::Appointments)
        .await?
        .unwrap();
    assert!(!saved.finished);

    // The killed run's lease has not expired yet: a second run refuses to start on it.
    let held = spawn_backfill(&file, Some(TOKEN)).wait_with_output()?;
    assert_eq!(held.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&held.stderr);
    assert!(stderr.contains("being backfilled by"), "{stderr}");

    tokio::time::sleep(Duration::from_secs(3)).await;
    let resumed = spawn_backfill(&file, Some(TOKEN)).wait_with_output()?;
    let stdout = String::from_utf8_lossy(&resumed.stdout);
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(resumed.status.success(), "{stdout}\n{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("appointments "))
        .unwrap_or_default();
    let resumed_from = (saved.complete_before - chrono::Duration::minutes(5)).to_rfc3339();
    assert!(line.contains(&format!("from {resumed_from}")), "{stdout}");
    assert!(line.contains("complete"), "{stdout}");
    assert_equals_truth(&store, &tenant, tenant.settled_at).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_token_says_so_and_a_missing_one_exits_2() -> TestResult {
    let tenant = tenant(9);
    let base = start_api(tenant, ApiOptions::default()).await;
    let dir = tempfile::tempdir()?;
    let file = write_pipeline(dir.path(), &dir.path().join("lake"), &base, "");

    let refused = spawn_backfill(&file, Some("not-the-token")).wait_with_output()?;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("refused the token"), "{stderr}");
    assert!(
        !stderr.contains("not-the-token"),
        "the token was printed: {stderr}"
    );

    let missing = spawn_backfill(&file, None).wait_with_output()?;
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("COCONUT_API_TOKEN"), "{stderr}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn checkpoints_and_leases_work_on_s3() -> TestResult {
    let base_url = std::env::var("COCONUT_TEST_S3_URL").expect("run with scripts/test");
    let url = format!("{base_url}/backfill-{}", rand::random::<u32>());
    let tenant = tenant(10);
    let base = start_api(Arc::clone(&tenant), ApiOptions::default()).await;
    let mut pipeline = pipeline(Path::new("unused"), &base, "");
    pipeline.store.url = url.clone();
    let only = [Entity::Locations, Entity::Services, Entity::Clients];
    assert_complete(&backfill(&pipeline, Start::Incremental, &only).await);
    let store = Store::open(&url)?;
    for entity in only {
        assert_eq!(
            latest(&store, entity).await,
            truth(&tenant, entity, tenant.settled_at)
        );
        assert!(Checkpoint::load(&store, entity).await?.unwrap().finished);
    }
    // Conditional creates on S3: of racing runs exactly one gets the lease.
    let runs = (0..6).map(|i| {
        let store = store.clone();
        async move {
            coconut_lake::backfill::Lease::acquire(
                &store,
                Entity::Users,
                &format!("race-{i}"),
                Duration::from_secs(60),
            )
            .await
        }
    });
    let results = futures::future::join_all(runs).await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_runs_the_backfill_on_its_schedule() -> TestResult {
    let tenant = tenant(12);
    let first_clock = tenant.appointments[tenant.appointments.len() / 2].start;
    let base = start_api_at(&tenant, first_clock).await;
    let dir = tempfile::tempdir()?;
    let lake = dir.path().join("lake");
    let file = dir.path().join("pipeline.toml");
    let text = pipeline_text(&lake, &base, "");
    std::fs::write(&file, format!("{text}[schedules]\nbackfill = \"1s\"\n"))?;
    let mut serve = Command::new(env!("CARGO_BIN_EXE_coconut-lake"))
        .args(["serve", "--listen", "127.0.0.1:0", "--pipeline"])
        .arg(&file)
        .env("COCONUT_API_TOKEN", TOKEN)
        .env(
            "COCONUT_WEBHOOK_SECRET",
            "whsec_c2VydmUtc2NoZWR1bGUtdGVzdA==",
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let store = Store::open(lake.to_str().unwrap())?;

    // Waits until every resource's checkpoint reaches just past its newest record at `at`.
    let caught_up = |at: Time| {
        let (store, tenant) = (store.clone(), Arc::clone(&tenant));
        async move {
            let started = std::time::Instant::now();
            'wait: loop {
                assert!(started.elapsed() < Duration::from_secs(60), "no catch-up");
                tokio::time::sleep(Duration::from_millis(200)).await;
                for entity in Entity::ALL {
                    let newest = truth(&tenant, entity, at).into_values().max().unwrap();
                    let reached = Checkpoint::load(&store, entity)
                        .await
                        .unwrap()
                        .is_some_and(|c| c.complete_before.timestamp_micros() > newest);
                    if !reached {
                        continue 'wait;
                    }
                }
                return;
            }
        }
    };
    caught_up(first_clock).await;
    assert_equals_truth(&store, &tenant, first_clock).await;

    // The tenant moves on; a later scheduled run picks the changes up without a restart.
    let second_clock = first_clock + 2 * 86_400;
    let at = DateTime::from_timestamp(second_clock, 0)
        .unwrap()
        .to_rfc3339();
    post_json(control(&base, "clock"), &json!({ "at": at })).await;
    caught_up(second_clock).await;

    let stopped = Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status()?;
    assert!(stopped.success());
    assert!(serve.wait()?.success(), "graceful stop exits 0");
    assert_equals_truth(&store, &tenant, second_clock).await;
    Ok(())
}

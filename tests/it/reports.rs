//! Views, reports and exports: each report against a small hand-checked fixture, every
//! report against the simulator's ground truth on data crossing three DST changes, the
//! exports read by DuckDB and pyarrow without casts, `query` in every format, the HTTP
//! query endpoint, and the demo.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use arrow::array::{Array, Float64Array, Int64Array, RecordBatch};
use coconut_lake::backfill::Start;
use coconut_lake::config::Pipeline;
use coconut_lake::land::Store;
use coconut_lake::report::query::run_query;
use coconut_lake::report::{Definitions, Parameters, RunOptions, open_query_session, run_reports};
use coconut_lake::simulate::api::ApiOptions;
use coconut_lake::simulate::{TenantOptions, generate, write_truth};
use datafusion::prelude::SessionContext;

use crate::backfill::{assert_complete, backfill, pipeline};
use crate::support::{TestResult, coconut_lake, python, root, start_api, text};

fn report_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("sql/reports"))
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            path.file_stem().unwrap().to_string_lossy().into_owned()
        })
        .collect();
    names.sort();
    names
}

/// Lands the hand-made fixture into a fresh folder and runs every report with CSV.
fn fixture_lake(dir: &Path) -> String {
    let lake = dir.join("lake").to_string_lossy().into_owned();
    let landed = coconut_lake(&["land", "tests/fixtures/reports", "--store", &lake]);
    assert!(landed.status.success(), "{}", text(&landed.stderr));
    let reported = coconut_lake(&["report", "--csv", "--store", &lake]);
    assert!(reported.status.success(), "{}", text(&reported.stderr));
    lake
}

#[test]
fn each_report_matches_its_hand_checked_fixture() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = fixture_lake(dir.path());
    let expected_dir = root().join("tests/fixtures/reports/expected");
    // COCONUT_BLESS=1 rewrites the expected files; they are then checked by hand against
    // tests/fixtures/reports/README.md before being committed.
    let bless = std::env::var_os("COCONUT_BLESS").is_some();
    for name in report_names() {
        let got =
            std::fs::read_to_string(Path::new(&lake).join(format!("exports/{name}/{name}.csv")))?;
        let expected_path = expected_dir.join(format!("{name}.csv"));
        if bless {
            std::fs::create_dir_all(&expected_dir)?;
            std::fs::write(&expected_path, &got)?;
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path)
            .map_err(|e| format!("{}: {e}", expected_path.display()))?;
        assert_eq!(
            got,
            expected,
            "{name} differs from {}",
            expected_path.display()
        );
    }

    // The views underneath: the latest full version wins over a later id-only event, and
    // history keeps each distinct version once (the duplicate delivery collapses).
    let out = coconut_lake(&[
        "query",
        "--store",
        &lake,
        "--format",
        "csv",
        "SELECT (SELECT status FROM appointments_current WHERE id = 8) AS current_status, \
         (SELECT count(*) FROM appointments_history WHERE id = 8) AS versions, \
         (SELECT count(*) FROM appointments WHERE id = 8) AS landed_rows",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "current_status,versions,landed_rows\ncompleted,3,4\n"
    );
    Ok(())
}

#[test]
fn exports_are_replaced_per_run_and_read_by_duckdb_and_pyarrow_without_casts() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = fixture_lake(dir.path());
    let manifest = |name: &str| -> serde_json::Value {
        let path = Path::new(&lake).join(format!("exports/{name}/manifest.json"));
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    let first = manifest("walk_in_service");

    let out = Command::new(python())
        .arg(root().join("tests/python/read_exports.py"))
        .arg(&lake)
        .output()?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let names = report_names();
    assert_eq!(
        seen.as_object().map(|o| o.len()),
        Some(names.len()),
        "{seen}"
    );
    for name in &names {
        let report = &seen[name.as_str()];
        assert_eq!(
            report["problems"],
            serde_json::json!([]),
            "{name}: {report}"
        );
        let rows = report["manifest_rows"].as_u64();
        assert!(rows.is_some_and(|r| r > 0), "{name}: {report}");
        assert_eq!(report["seen"]["pyarrow_rows"].as_u64(), rows, "{name}");
        assert_eq!(report["seen"]["duckdb_rows"].as_u64(), rows, "{name}");
        assert_eq!(report["seen"]["csv_rows"].as_u64(), rows, "{name}");
    }
    let types = &seen["appointment_outcomes"]["seen"]["duckdb_types"];
    assert_eq!(types["business_date"], "DATE", "{types}");
    assert_eq!(types["location_name"], "VARCHAR", "{types}");
    assert_eq!(types["scheduled"], "BIGINT", "{types}");
    assert_eq!(types["completion_rate"], "DOUBLE", "{types}");

    // A second run of one report replaces its files and manifest, and leaves the others.
    let other = manifest("channel_mix");
    let again = coconut_lake(&["report", "walk_in_service", "--store", &lake]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    let second = manifest("walk_in_service");
    assert_ne!(first["run_id"], second["run_id"]);
    assert_eq!(first["definitions_version"], second["definitions_version"]);
    assert_eq!(first["files"][0]["sha256"], second["files"][0]["sha256"]);
    assert_eq!(
        second["files"].as_array().map(Vec::len),
        Some(1),
        "no CSV asked: {second}"
    );
    assert!(
        !Path::new(&lake)
            .join("exports/walk_in_service/walk_in_service.csv")
            .exists()
    );
    assert_eq!(manifest("channel_mix"), other);
    Ok(())
}

#[test]
fn query_writes_every_format_and_refuses_bad_sql() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = fixture_lake(dir.path());
    let sql = "SELECT location_id, sum(arrivals) AS arrivals FROM walk_in_service GROUP BY location_id ORDER BY location_id";
    let run = |format: &str| coconut_lake(&["query", "--store", &lake, "--format", format, sql]);

    let csv = run("csv");
    assert!(csv.status.success(), "{}", text(&csv.stderr));
    assert_eq!(text(&csv.stdout), "location_id,arrivals\n1,5\n2,1\n");
    let json = run("json");
    assert_eq!(
        text(&json.stdout),
        "[{\"location_id\":1,\"arrivals\":5},{\"location_id\":2,\"arrivals\":1}]\n"
    );
    let table = text(&run("table").stdout);
    assert!(table.contains("| location_id | arrivals |"), "{table}");

    let file = dir.path().join("out.parquet");
    let file_arg = file.to_string_lossy().into_owned();
    let parquet = coconut_lake(&[
        "query", "--store", &lake, "--format", "parquet", "--output", &file_arg, sql,
    ]);
    assert!(parquet.status.success(), "{}", text(&parquet.stderr));
    assert!(text(&parquet.stdout).contains("2 rows written"));
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&file)?,
    )?
    .build()?;
    let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, 2);

    let bad = coconut_lake(&[
        "query",
        "--store",
        &lake,
        "SELECT nope FROM walk_in_service",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("invalid query"),
        "{}",
        text(&bad.stderr)
    );
    let write = coconut_lake(&["query", "--store", &lake, "DROP VIEW walk_in_facts"]);
    assert_eq!(write.status.code(), Some(2), "{}", text(&write.stderr));
    let no_file = coconut_lake(&["query", "--store", &lake, "--format", "parquet", sql]);
    assert_eq!(no_file.status.code(), Some(2));
    let unknown = coconut_lake(&["report", "nonexistent", "--store", &lake]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(text(&unknown.stderr).contains("no report named nonexistent"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_query_endpoint_answers_only_with_its_token() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = fixture_lake(dir.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_coconut-lake"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--store",
            &lake,
        ])
        .current_dir(root())
        .env(
            "COCONUT_WEBHOOK_SECRET",
            "whsec_cXVlcnktZW5kcG9pbnQtdGVzdA==",
        )
        .env("COCONUT_QUERY_TOKEN", "analyst-token")
        .env_remove("COCONUT_API_TOKEN")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let url = format!("http://127.0.0.1:{port}/query");
    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
            .await
            .is_ok()
        {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let ask = |token: &str, body: serde_json::Value| {
        client
            .post(&url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let sql = serde_json::json!({"sql": "SELECT sum(served) AS served FROM walk_in_service"});
    let results = async {
        let anonymous = client
            .post(&url)
            .body(sql.to_string())
            .send()
            .await?
            .status();
        let wrong = ask("guess", sql.clone()).await?.status();
        let good = ask("analyst-token", sql.clone()).await?;
        let good = (good.status(), good.text().await?);
        let bad_sql = ask(
            "analyst-token",
            serde_json::json!({"sql": "SELECT nope FROM nowhere"}),
        )
        .await?;
        let bad_sql = (bad_sql.status(), bad_sql.text().await?);
        let csv = ask(
            "analyst-token",
            serde_json::json!({"sql": "SELECT 1 AS one", "format": "csv"}),
        )
        .await?
        .text()
        .await?;
        Ok::<_, reqwest::Error>((anonymous, wrong, good, bad_sql, csv))
    }
    .await;
    let _ = serve.kill();
    let _ = serve.wait();
    assert!(up, "serve did not come up");
    let (anonymous, wrong, good, bad_sql, csv) = results?;
    assert_eq!(anonymous, 401);
    assert_eq!(wrong, 401);
    assert_eq!(
        good,
        (reqwest::StatusCode::OK, "[{\"served\":4}]\n".to_string())
    );
    assert_eq!(bad_sql.0, 400);
    assert!(bad_sql.1.contains("invalid query"), "{}", bad_sql.1);
    assert_eq!(csv, "one\n1\n");
    Ok(())
}

/// One integer of a one-row result.
fn int(batches: &[RecordBatch], column: usize) -> i64 {
    let array = batches[0].column(column);
    if let Some(ints) = array.as_any().downcast_ref::<Int64Array>() {
        return ints.value(0);
    }
    let floats = array.as_any().downcast_ref::<Float64Array>().unwrap();
    floats.value(0) as i64
}

async fn one(ctx: &SessionContext, sql: &str) -> Vec<RecordBatch> {
    run_query(ctx, sql)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{sql}"))
        .batches
}

#[tokio::test(flavor = "multi_thread")]
async fn every_report_agrees_with_the_ground_truth_across_dst_changes() -> TestResult {
    // Five weeks from 2026-03-02: the North American, European and New Zealand changes.
    let tenant = Arc::new(generate(&TenantOptions {
        seed: 21,
        days: 35,
        appointments_per_day: 60,
        walk_ins_per_day: 40,
        ..TenantOptions::default()
    }));
    let base = start_api(Arc::clone(&tenant), ApiOptions::default()).await;
    let dir = tempfile::tempdir()?;
    let mut pipeline: Pipeline = pipeline(&dir.path().join("lake"), &base, "page_size = 200");
    pipeline.reports.sql_dir = root().join("sql");
    assert_complete(&backfill(&pipeline, Start::Full, &[]).await);
    let store = Store::open(&pipeline.store.url)?;
    let parameters = Parameters::new(&pipeline.reports, chrono::Utc::now());
    let definitions = Definitions::load(&pipeline.reports.sql_dir, &parameters)?;
    let options = RunOptions {
        names: Vec::new(),
        csv: false,
        run_id: "truth".into(),
        started_at: chrono::Utc::now(),
    };
    let runs = run_reports(&store, &definitions, &parameters, &options).await?;
    assert_eq!(runs.len(), report_names().len());
    assert!(runs.iter().all(|r| r.rows > 0), "{runs:?}");

    let truth_dir = dir.path().join("truth");
    write_truth(&tenant, Default::default(), &truth_dir)?;
    let ctx = open_query_session(&store, &definitions).await?;
    ctx.register_parquet(
        "truth",
        truth_dir.join("outcomes.parquet").to_str().unwrap(),
        Default::default(),
    )
    .await?;

    // Appointment counts per branch and business day, summed over services and staff.
    let differing = one(
        &ctx,
        "WITH r AS (
           SELECT location_id, business_date, sum(scheduled) AS appointments,
                  sum(completed) AS completed, sum(no_show) AS no_show, sum(cancelled) AS cancelled,
                  sum(cancelled_by_client) AS by_client, sum(cancelled_by_staff) AS by_staff,
                  sum(cancelled_late) AS late
           FROM appointment_outcomes GROUP BY location_id, business_date HAVING sum(scheduled) > 0),
         t AS (SELECT location_id, business_date, appointments, completed, no_show, cancelled,
                  cancelled_by_client AS by_client, cancelled_by_staff AS by_staff, cancelled_late AS late
               FROM truth WHERE appointments > 0)
         SELECT count(*) FROM ((SELECT * FROM r EXCEPT SELECT * FROM t)
                               UNION ALL (SELECT * FROM t EXCEPT SELECT * FROM r))",
    )
    .await;
    assert_eq!(
        int(&differing, 0),
        0,
        "appointment_outcomes differs from the truth"
    );

    // Walk-in counts, the SLA count and the longest wait; the median from the facts view
    // (medians of services do not add up to a branch's).
    let differing = one(
        &ctx,
        "WITH r AS (
           SELECT s.location_id, s.business_date, sum(arrivals) AS walk_ins, sum(served) AS served,
                  sum(abandoned) AS abandoned, sum(served_within_sla) AS within_sla,
                  CAST(max(wait_max_seconds) AS BIGINT) AS wait_max,
                  max(m.wait_median) AS wait_median
           FROM walk_in_service AS s
           JOIN (SELECT location_id, business_date,
                        percentile_cont(0.5) WITHIN GROUP (ORDER BY CASE WHEN is_served THEN wait_seconds END) AS wait_median
                 FROM walk_in_facts GROUP BY location_id, business_date) AS m
             ON m.location_id = s.location_id AND m.business_date = s.business_date
           GROUP BY s.location_id, s.business_date),
         t AS (SELECT location_id, business_date, walk_ins, walk_ins_served AS served,
                  walk_ins_abandoned AS abandoned, served_within_sla AS within_sla,
                  wait_max_seconds AS wait_max, wait_median_seconds AS wait_median
               FROM truth WHERE walk_ins > 0)
         SELECT count(*) FROM ((SELECT * FROM r EXCEPT SELECT * FROM t)
                               UNION ALL (SELECT * FROM t EXCEPT SELECT * FROM r))",
    )
    .await;
    assert_eq!(
        int(&differing, 0),
        0,
        "walk_in_service differs from the truth"
    );

    // The other reports count the same engagements in other shapes.
    let totals = one(
        &ctx,
        "SELECT
           (SELECT sum(appointments) FROM truth) AS c0,
           (SELECT sum(appointments) FROM engagement_heatmap) AS c1,
           (SELECT sum(walk_ins) FROM truth) AS c2,
           (SELECT sum(walk_ins) FROM engagement_heatmap) AS c3,
           (SELECT sum(appointments) FROM channel_mix) AS c4,
           (SELECT sum(records) FROM data_quality WHERE entity = 'appointments') AS c5,
           (SELECT sum(backfill_only) FROM data_quality) AS c6,
           (SELECT sum(records) FROM data_quality) AS c7,
           (SELECT sum(completed) FROM truth) AS c8,
           (SELECT sum(appointments_completed) FROM staff_performance)
             + (SELECT count(*) FROM appointment_facts WHERE is_completed AND staff_id IS NULL) AS c9,
           (SELECT sum(walk_ins_served) FROM truth) AS c10,
           (SELECT sum(walk_ins_served) FROM staff_performance)
             + (SELECT count(*) FROM walk_in_facts WHERE is_served AND staff_id IS NULL) AS c11,
           (SELECT count(*) FROM appointment_answers) AS c12,
           (SELECT sum(appointments) FROM intake_outcomes) AS c13,
           (SELECT sum(completed) FROM truth) AS c14,
           (SELECT sum(completed) FROM channel_mix) AS c15",
    )
    .await;
    let v: Vec<i64> = (0..16).map(|i| int(&totals, i)).collect();
    assert_eq!(v[1], v[0], "heatmap appointments");
    assert_eq!(v[3], v[2], "heatmap walk-ins");
    assert_eq!(v[4], v[0], "channel mix appointments");
    assert_eq!(v[5], v[0], "data quality appointment records");
    assert_eq!(v[6], v[7], "only the backfill delivered");
    assert_eq!(v[9], v[8], "staff completed appointments");
    assert_eq!(v[11], v[10], "staff served walk-ins");
    assert!(v[12] > 0, "the tenant has intake answers");
    assert_eq!(v[13], v[12], "intake answers");
    assert_eq!(v[15], v[14], "channel mix completed");

    // Every business day in the window is the branch's local day: no engagement is filed
    // under a day outside the tenant's calendar, across the clock changes.
    let outside = one(
        &ctx,
        "SELECT count(*) FROM appointment_facts
         WHERE business_date IS NULL OR business_date < DATE '2026-03-02' OR business_date > DATE '2026-04-10'",
    )
    .await;
    assert_eq!(int(&outside, 0), 0);
    Ok(())
}

#[test]
fn the_demo_runs_the_whole_flow() -> TestResult {
    let dir = tempfile::tempdir()?;
    let lake = dir.path().join("lake").to_string_lossy().into_owned();
    let out = coconut_lake(&[
        "demo",
        "--store",
        &lake,
        "--days",
        "10",
        "--appointments-per-day",
        "60",
        "--walk-ins-per-day",
        "40",
        "--webhook-days",
        "3",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("0 failed"), "{stdout}");
    assert!(stdout.contains("within SLA"), "{stdout}");
    for name in report_names() {
        let path = Path::new(&lake).join(format!("exports/{name}/{name}.parquet"));
        assert!(path.exists(), "{name} missing:\n{stdout}");
    }
    Ok(())
}

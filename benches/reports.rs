//! The report suite at scale: `coconut-lake report` over 10M appointments and 2M walk-ins
//! (with their clients and dimensions) landed as Parquet, next to DuckDB running the same
//! views and reports over the same files, in this invocation.
//!
//! DuckDB gets the very SQL of `sql/`, parameters filled the same way, with one macro for
//! the one function DuckDB spells differently (`local_time(ts, zone)` is DuckDB's
//! `timezone(zone, ts)`) and the table function `latest_version` replaced by the window
//! it is equivalent to (`report::latest::REFERENCE_SQL`); the views marked
//! `-- materialize` become temporary tables, as `report` keeps them in memory; each report
//! is written with `COPY ... TO` Parquet. Both
//! run as child processes, alternately, each measured for wall time and peak RSS, and the
//! row counts of every report must agree.
//!
//! The landed data is kept between invocations in the system temp folder
//! (`coconut-lake-bench-reports-<appointments>`), since making it takes minutes.
//!
//! Run: `cargo bench --bench reports` (options: `-- --appointments N --walk-ins N --runs N`);
//! it needs the test environment's Python (`scripts/test` makes `.venv`) or
//! `COCONUT_TEST_PYTHON`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use coconut_lake::config::ReportParameters;
use coconut_lake::land::{Lander, LandingLimits, Store};
use coconut_lake::model::{Converter, Envelope, Rows, Table};
use coconut_lake::report::{Definitions, Parameters, latest};
use coconut_lake::simulate::{Tenant, TenantOptions, generate, resource};
use coconut_lake::source::{Entity, Resource};
use support::{Result, arg, run_measured, say};

fn main() -> Result<()> {
    let appointments: u64 = arg("--appointments", 10_000_000);
    let walk_ins: u64 = arg("--walk-ins", 2_000_000);
    let runs: u32 = arg("--runs", 2).max(1);
    let root = std::env::temp_dir().join(format!("coconut-lake-bench-reports-{appointments}"));
    let lake = root.join("lake");
    if !root.join("complete").exists() {
        let _ = std::fs::remove_dir_all(&root);
        prepare(&lake, appointments, walk_ins)?;
        std::fs::write(root.join("complete"), b"")?;
    }
    let mib = support::dir_bytes(&lake.join("landing")) as f64 / (1 << 20) as f64;
    say(format!(
        "landed: {appointments} appointments, {walk_ins} walk-ins and their clients and dimensions, {mib:.0} MiB of Parquet in {}",
        lake.display()
    ));

    let project = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("duckdb.sql");
    let outputs = root.join("duckdb-out");
    std::fs::create_dir_all(&outputs)?;
    std::fs::write(&script, duckdb_script(project, &lake, &outputs)?)?;
    let python = python(project)?;

    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for run in 1..=runs {
        ours.push(measure(
            run,
            "coconut-lake report",
            Command::new(env!("CARGO_BIN_EXE_coconut-lake"))
                .args(["report", "--store"])
                .arg(&lake)
                .current_dir(project)
                .env("RUST_LOG", "warn"),
        )?);
        theirs.push(measure(
            run,
            "DuckDB",
            Command::new(&python)
                .arg(project.join("benches/duckdb_reports.py"))
                .arg(&script),
        )?);
    }

    // The same rows per report from both engines.
    let counts = |text: &str| -> Vec<(String, u64)> {
        text.lines()
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                let name = words.next()?.to_string();
                let rows = words.next()?.parse().ok()?;
                (words.next() == Some("rows")).then_some((name, rows))
            })
            .collect()
    };
    let (ours_counts, theirs_counts) = (counts(&ours[0].2), counts(&theirs[0].2));
    if ours_counts.is_empty() || ours_counts != theirs_counts {
        return Err(
            format!("row counts differ:\nours {ours_counts:?}\nduckdb {theirs_counts:?}").into(),
        );
    }
    say(format!("rows per report agree: {ours_counts:?}"));
    let best = |v: &[(f64, f64, String)]| v.iter().map(|r| r.0).fold(f64::MAX, f64::min);
    let (a, b) = (best(&ours), best(&theirs));
    say(format!(
        "best of {runs}: coconut-lake {a:.2} s, DuckDB {b:.2} s: {:.2}x DuckDB's wall time",
        a / b
    ));
    Ok(())
}

/// Runs one engine's suite as a child process: its wall time, peak RSS (MiB) and standard
/// output, or its standard error when it fails.
fn measure(run: u32, engine: &str, command: &mut Command) -> Result<(f64, f64, String)> {
    let (output, seconds, rss) = run_measured(command)?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("{engine} failed: {stderr}").into());
    }
    say(format!(
        "run {run}: {engine} {seconds:.2} s, peak RSS {rss:.0} MiB"
    ));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    Ok((seconds, rss, stdout))
}

/// The Python of the test environment.
fn python(project: &Path) -> Result<PathBuf> {
    if let Some(python) = std::env::var_os("COCONUT_TEST_PYTHON") {
        return Ok(PathBuf::from(python));
    }
    let venv = project.join(".venv/bin/python");
    if venv.exists() {
        return Ok(venv);
    }
    Err("no Python with DuckDB: run scripts/test once, or set COCONUT_TEST_PYTHON".into())
}

/// The views and reports of `sql/` as one DuckDB script, parameters as `report` fills them.
fn duckdb_script(project: &Path, lake: &Path, outputs: &Path) -> Result<String> {
    let parameters = Parameters::new(&ReportParameters::default(), Utc::now());
    let definitions = Definitions::load(&project.join("sql"), &parameters)?;
    let mut script = String::from(
        "SET preserve_insertion_order = false;\n\
         CREATE MACRO local_time(ts, zone) AS timezone(zone, ts);\n",
    );
    for entity in Entity::ALL {
        script.push_str(&format!(
            "CREATE VIEW {} AS SELECT * FROM read_parquet('{}/landing/{}/*/*.parquet', hive_partitioning = true);\n",
            entity.name(),
            lake.display(),
            entity.name()
        ));
    }
    // The script runs a statement per `;` at a line's end, so comments go; DuckDB gets
    // `latest_version` as the window it is equivalent to.
    let code = |sql: &str| -> String {
        let lines: Vec<&str> = sql
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .collect();
        let mut sql = lines.join("\n").trim().to_string();
        for entity in Entity::ALL {
            let window = latest::REFERENCE_SQL.replace("${entity}", entity.name());
            sql = sql.replace(
                &format!("latest_version('{}')", entity.name()),
                &format!("({window}) AS latest_version"),
            );
        }
        sql
    };
    for view in &definitions.views {
        let kind = if view.materialize {
            "TEMP TABLE"
        } else {
            "VIEW"
        };
        script.push_str(&format!(
            "CREATE {kind} {} AS {};\n",
            view.name,
            code(&view.sql)
        ));
    }
    for report in &definitions.reports {
        script.push_str(&format!(
            "-- report {}\nCOPY ({}) TO '{}/{}.parquet' (FORMAT parquet, COMPRESSION zstd);\n",
            report.name,
            code(&report.sql),
            outputs.display(),
            report.name
        ));
    }
    Ok(script)
}

/// Lands a simulated tenant of the given size, every record in its final state.
fn prepare(lake: &Path, appointments: u64, walk_ins: u64) -> Result<()> {
    let days = 35;
    let tenant = Arc::new(generate(&TenantOptions {
        locations: 40,
        services: 10,
        staff: 400,
        days,
        appointments_per_day: appointments / u64::from(days),
        walk_ins_per_day: walk_ins / u64::from(days),
        ..TenantOptions::default()
    }));
    say(format!(
        "landing {} appointments, {} walk-ins, {} clients (once; kept for later runs)",
        tenant.len(Entity::Appointments),
        tenant.len(Entity::QueueAppointments),
        tenant.len(Entity::Clients)
    ));
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let store = Store::open(lake.to_str().unwrap_or_default())?;
        let lander = Lander::start(store, LandingLimits::default());
        let converter = Arc::new(Converter::default());
        let day = NaiveDate::from_ymd_opt(2026, 4, 10).unwrap_or_default();
        // Locations first, so engagements get their branch's business day.
        let mut order = vec![Entity::Locations];
        order.extend(Entity::ALL.into_iter().filter(|e| *e != Entity::Locations));
        for entity in order {
            let count = tenant.len(entity);
            let chunk = 20_000;
            let mut pending = Vec::new();
            for start in (0..count).step_by(chunk) {
                let (tenant, converter) = (Arc::clone(&tenant), Arc::clone(&converter));
                let end = (start + chunk).min(count);
                let batch = tokio::task::spawn_blocking(move || {
                    convert(&tenant, &converter, entity, start..end)
                })
                .await??;
                pending.push(lander.submit(Table::Entity(entity), batch, day));
                if pending.len() >= 4 {
                    for landed in futures::future::join_all(pending.drain(..)).await {
                        landed?;
                    }
                }
            }
            for landed in futures::future::join_all(pending).await {
                landed?;
            }
        }
        lander.shutdown().await;
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    Ok(())
}

/// Renders records as the admin API would and converts them into one batch.
fn convert(
    tenant: &Tenant,
    converter: &Converter,
    entity: Entity,
    range: std::ops::Range<usize>,
) -> std::result::Result<arrow::array::RecordBatch, String> {
    let received = Utc::now();
    let mut rows = Rows::new(Table::Entity(entity));
    let mut json = Vec::new();
    let mut locations = Vec::new();
    for index in range {
        json.clear();
        resource(tenant, entity, index, tenant.settled_at, &mut json);
        let value = serde_json::from_slice(&json).map_err(|e| e.to_string())?;
        let record = Resource::from_value(value, "bench").map_err(|e| e.to_string())?;
        let envelope = Envelope::for_backfill(entity, &record, received, "bench");
        rows.push(
            converter
                .convert(entity, &record, &envelope)
                .map_err(|e| e.to_string())?,
        );
        if entity == Entity::Locations {
            locations.push(record);
        }
    }
    converter.learn_included(&locations);
    rows.to_batch().map_err(|e| e.to_string())
}

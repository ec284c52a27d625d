//! Backfill throughput: `coconut-lake backfill` pulling appointments from `simulate api`
//! with a set latency and rate limit, next to the ceiling those settings imply.
//!
//! One page is in flight per resource (keyset paging needs a page's last `updated_at` for
//! the next request), so a resource pulls at most `min(rate limit, 1 / latency)` pages a
//! second, and the ceiling is that many pages of `page_size` records: the time the
//! fewest pages that hold every record take at that pace. The simulated API also takes
//! time to render each page, which the settings do not count, so a second baseline is
//! measured in the same invocation: a bare client fetching the same number of pages one
//! after another, reading each body and nothing more. Both processes are children of this
//! one, so the backfill's peak RSS is its own; the landed rows are counted after each run
//! and must equal the tenant's records.
//!
//! Run: `cargo bench --bench backfill` (options: `-- --appointments-per-day N --days D
//! --page-size P`).

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::{Result, Server, arg, parquet_rows, run_measured, say};

/// One setting of the simulated API.
struct Scenario {
    name: &'static str,
    latency_ms: u64,
    rate_limit: u64,
}

fn main() -> Result<()> {
    let per_day: u64 = arg("--appointments-per-day", 6_000);
    let days: u64 = arg("--days", 35);
    let page_size: u64 = arg("--page-size", 500);
    let scenarios = [
        Scenario {
            name: "rate-limited (20 req/s, 20 ms latency)",
            latency_ms: 20,
            rate_limit: 20,
        },
        Scenario {
            name: "latency-bound (100 ms latency, no limit)",
            latency_ms: 100,
            rate_limit: 0,
        },
    ];
    for scenario in &scenarios {
        measure(scenario, per_day, days, page_size)?;
    }
    Ok(())
}

fn measure(scenario: &Scenario, per_day: u64, days: u64, page_size: u64) -> Result<()> {
    let binary = env!("CARGO_BIN_EXE_coconut-lake");
    let api = Server::start(
        Command::new(binary)
            .args(["simulate", "api", "--listen", "127.0.0.1:0", "--seed", "11"])
            .args(["--days", &days.to_string()])
            .args(["--appointments-per-day", &per_day.to_string()])
            .args(["--latency-ms", &scenario.latency_ms.to_string()])
            .args(["--rate-limit", &scenario.rate_limit.to_string()])
            .env("COCONUT_API_TOKEN", "bench-token")
            .env("RUST_LOG", "warn"),
        "simulated admin API on ",
    )?;

    let expected = total(&api.url)?;
    let pages = expected.div_ceil(page_size);
    let bare_seconds = bare_fetches(&api.url, pages, page_size, scenario.rate_limit)?;

    let dir = tempfile::tempdir()?;
    let lake = dir.path().join("lake");
    let pipeline = dir.path().join("pipeline.toml");
    std::fs::write(
        &pipeline,
        format!(
            "[store]\nurl = \"{}\"\n[source]\napi_url = \"{}\"\npage_size = {page_size}\nrate_limit = {}\n",
            lake.display(),
            api.url,
            scenario.rate_limit
        ),
    )?;
    let (output, seconds, rss) = run_measured(
        Command::new(binary)
            .args(["backfill", "--resource", "appointments", "--pipeline"])
            .arg(&pipeline)
            .env("COCONUT_API_TOKEN", "bench-token")
            .env("RUST_LOG", "warn"),
    )?;
    drop(api);
    if !output.status.success() {
        return Err(format!(
            "the backfill failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }

    let records = landed(&lake.join("landing/appointments"))?;
    if records != expected {
        return Err(format!("landed {records} appointment rows, the API holds {expected}").into());
    }
    let latency_pace = 1_000.0 / scenario.latency_ms.max(1) as f64;
    let pace = match scenario.rate_limit {
        0 => latency_pace,
        limit => latency_pace.min(limit as f64),
    };
    let floor_seconds = pages as f64 / pace;
    let ceiling = records as f64 / floor_seconds;
    let rate = records as f64 / seconds;
    let bare_rate = records as f64 / bare_seconds;
    say(format!(
        "{}: {records} records in {seconds:.2} s = {rate:.0} records/s; ceiling {ceiling:.0} records/s \
         ({pages} pages at {pace:.1} pages/s = {floor_seconds:.2} s): {:.1}% of it; bare client fetching \
         {pages} pages: {bare_seconds:.2} s = {bare_rate:.0} records/s: {:.1}% of it; peak RSS {rss:.0} MiB",
        scenario.name,
        100.0 * rate / ceiling,
        100.0 * rate / bare_rate
    ));
    let summary = String::from_utf8_lossy(&output.stdout);
    if let Some(line) = summary.lines().find(|l| l.starts_with("appointments")) {
        say(format!("  {}", line.trim()));
    }
    Ok(())
}

/// Seconds a bare client takes to fetch `pages` pages one after another, paced like the
/// backfill when there is a rate limit, reading each body and nothing more.
fn bare_fetches(base: &str, pages: u64, page_size: u64, rate_limit: u64) -> Result<f64> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let interval = (rate_limit > 0).then(|| Duration::from_secs_f64(1.0 / rate_limit as f64));
        let started = Instant::now();
        for page in 1..=pages {
            if let Some(interval) = interval {
                tokio::time::sleep_until((started + interval * (page - 1) as u32).into()).await;
            }
            let url = format!("{base}/appointments?page={page}&limit={page_size}&sort=updated_at");
            let response = client.get(url).bearer_auth("bench-token").send().await?;
            response.error_for_status()?.bytes().await?;
        }
        Ok(started.elapsed().as_secs_f64())
    })
}

/// The number of appointments the API announces.
fn total(base: &str) -> Result<u64> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let body = runtime.block_on(async {
        reqwest::Client::new()
            .get(format!("{base}/appointments?limit=1"))
            .bearer_auth("bench-token")
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await
    })?;
    let document: serde_json::Value = serde_json::from_slice(&body)?;
    document["meta"]["pagination"]["total"]
        .as_u64()
        .ok_or_else(|| "the listing announces no total".into())
}

/// Landed rows, which must be one per record: a full run meets each record once.
fn landed(folder: &Path) -> Result<u64> {
    let (rows, _) = parquet_rows(folder)?;
    if rows == 0 {
        return Err(format!("nothing landed in {}", folder.display()).into());
    }
    Ok(rows)
}

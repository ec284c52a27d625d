//! Receiver throughput: signed webhooks of about 1 KB over 64 connections into
//! `coconut-lake serve` on a local-folder store, next to a bare axum handler that answers
//! 200 without any work, both measured in this invocation with the same sender.
//!
//! Both servers run as child processes, so each one's peak RSS is its own; the sender is
//! the simulator's load mode (`simulate::webhooks::send`) in this process. After the run
//! the receiver is stopped with SIGTERM and the rows in its landing files are counted:
//! every acknowledged delivery must be there.
//!
//! The two take turns for seven rounds by default, each on a fresh process (and the receiver
//! on a fresh folder). The summary compares the best rate of each, gives every round's
//! ratio and their median, and the median CPU time per request of each server and of the
//! sender: on two shared cores the rates follow the machine's drifting speed, so a single
//! round says little.
//!
//! Run: `cargo bench --bench receive` (options: `-- --rounds R --seconds S --connections N
//! --dir D --sync B --flushes F`, where `D` holds the receiver's folders, the system temp
//! dir by default; `--sync true` makes the receiver fsync each file, which the pipeline
//! default does not; `F` sets `landing.concurrent_flushes`).

mod support;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use coconut_lake::land::LandingLimits;
use coconut_lake::simulate::webhooks::{Scheme, SendOptions, SendReport, events, send};
use coconut_lake::simulate::{Tenant, TenantOptions, generate};
use coconut_lake::source::signature::parse_secrets;
use support::{Result, Server, arg, cpu_seconds_of, parquet_rows, say};

const SECRET: &str = "whsec_YmVuY2htYXJrLXNlY3JldC1mb3ItcmVjZWl2ZXI=";

fn main() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if std::env::args().any(|a| a == "--bare") {
        return runtime.block_on(bare_server());
    }
    runtime.block_on(measure())
}

async fn measure() -> Result<()> {
    let seconds: u64 = arg("--seconds", 5);
    let connections: usize = arg("--connections", 64);
    let rounds: usize = arg("--rounds", 7);
    let dir: String = arg("--dir", std::env::temp_dir().display().to_string());
    let sync: bool = arg("--sync", LandingLimits::default().sync);
    let flushes: usize = arg("--flushes", 0);
    // The `[landing]` table: the pipeline's defaults but for what the options set.
    let mut landing = format!("sync = {sync}\n");
    if flushes > 0 {
        landing.push_str(&format!("concurrent_flushes = {flushes}\n"));
    }
    let tenant = Arc::new(generate(&TenantOptions {
        days: 7,
        ..TenantOptions::default()
    }));
    let sample = events(&tenant, None, None);
    let bytes: usize = sample
        .iter()
        .map(|e| e.body(&tenant, &e.id(&tenant, 0), false).len())
        .sum();
    say(format!(
        "payloads: {} distinct events cycled with fresh ids, {:.0} bytes on average; {connections} connections, {rounds} rounds of {seconds} s per server, bare and serve taking turns; [landing] {}",
        sample.len(),
        bytes as f64 / sample.len().max(1) as f64,
        landing.trim().replace('\n', ", ")
    ));

    // The two servers take turns, so that a slow spell of the machine weighs on both.
    let mut bare_rounds = Vec::new();
    let mut serve_rounds = Vec::new();
    // Every round's folder stays until the end: on a file system without a journal, ext4
    // scans past recently deleted inodes when it makes a file, which would slow the
    // rounds that follow a deletion.
    let mut lakes = Vec::new();
    for round in 1..=rounds.max(1) {
        let mut bare = Server::start(
            Command::new(std::env::current_exe()?).arg("--bare"),
            "listening on ",
        )?;
        let name = format!("round {round} bare handler");
        let (_, bare_round) =
            load_and_stop(&mut bare, &name, &tenant, connections, seconds).await?;

        let (serve_round, lake) =
            serve_round(&tenant, connections, seconds, round, &dir, &landing).await?;
        lakes.push(lake);
        say(format!(
            "round {round} serve vs bare: {:.2}x requests/s",
            serve_round.rate / bare_round.rate
        ));
        bare_rounds.push(bare_round);
        serve_rounds.push(serve_round);
    }
    summarize(&bare_rounds, &serve_rounds);
    Ok(())
}

/// One server's round: its rate, and the CPU time per acknowledged request of the server
/// and of this process's sender.
struct Round {
    rate: f64,
    server_us: f64,
    sender_us: f64,
}

/// The summary lines: the ratio of the best rate of each, every round's ratio and their
/// median (the figure least swayed by one fast or slow spell of the machine), and the
/// median CPU time per request of each server and of the sender.
fn summarize(bare: &[Round], serve: &[Round]) {
    let best = |rounds: &[Round]| rounds.iter().map(|r| r.rate).fold(0.0, f64::max);
    let ratios: Vec<f64> = serve
        .iter()
        .zip(bare)
        .map(|(s, b)| s.rate / b.rate)
        .collect();
    say(format!(
        "serve vs bare: {:.2}x best of each ({:.0} vs {:.0} requests/s); per round {}; median {:.2}x",
        best(serve) / best(bare),
        best(serve),
        best(bare),
        ratios
            .iter()
            .map(|r| format!("{r:.2}x"))
            .collect::<Vec<_>>()
            .join(" "),
        median(ratios.clone()),
    ));
    let cpu = |rounds: &[Round], of: fn(&Round) -> f64| median(rounds.iter().map(of).collect());
    say(format!(
        "CPU per request, median of rounds: bare handler {:.0} us, serve {:.0} us; sender {:.0} us with bare, {:.0} us with serve",
        cpu(bare, |r| r.server_us),
        cpu(serve, |r| r.server_us),
        cpu(bare, |r| r.sender_us),
        cpu(serve, |r| r.sender_us),
    ));
}

/// The median (the upper one of an even count); 0 for none.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// One run of the receiver with every default of the pipeline file but the `[landing]` keys
/// in `landing`, on a fresh local folder, which is returned; fails if an acknowledged
/// delivery is missing from its landing files.
async fn serve_round(
    tenant: &Arc<Tenant>,
    connections: usize,
    seconds: u64,
    round: usize,
    dir: &str,
    landing: &str,
) -> Result<(Round, tempfile::TempDir)> {
    let lake = tempfile::tempdir_in(dir)?;
    let pipeline = lake.path().join("pipeline.toml");
    std::fs::write(
        &pipeline,
        format!(
            "[store]\nurl = \"lake\"\n[source]\napi_url = \"http://127.0.0.1:1/api/v2\"\n\
             [landing]\n{landing}"
        ),
    )?;
    let mut serve = Server::start(
        Command::new(env!("CARGO_BIN_EXE_coconut-lake"))
            .args(["serve", "--listen", "127.0.0.1:0", "--pipeline"])
            .arg(&pipeline)
            .arg("--store")
            .arg(lake.path())
            .env("COCONUT_WEBHOOK_SECRET", SECRET)
            .env("RUST_LOG", "warn"),
        "receiving webhooks on ",
    )?;
    let name = format!("round {round} serve");
    let (serve_report, serve_round) =
        load_and_stop(&mut serve, &name, tenant, connections, seconds).await?;

    let (landed, files) = parquet_rows(&lake.path().join("landing"))?;
    say(format!(
        "round {round} landed rows {landed} in {files} files ({:.1} rows a file) for {} acknowledged deliveries{}",
        landed as f64 / files.max(1) as f64,
        serve_report.acknowledged,
        if landed >= serve_report.acknowledged {
            ""
        } else {
            " (MISSING ROWS)"
        }
    ));
    if landed < serve_report.acknowledged {
        return Err("acknowledged deliveries are missing from landing".into());
    }
    Ok((serve_round, lake))
}

/// Loads a started server, stops it and prints its line with its CPU time and peak RSS.
async fn load_and_stop(
    server: &mut Server,
    name: &str,
    tenant: &Arc<Tenant>,
    connections: usize,
    seconds: u64,
) -> Result<(SendReport, Round)> {
    let sender = std::process::id();
    let (cpu, sender_cpu) = (server.cpu_seconds(), cpu_seconds_of(sender));
    let sent = load(tenant, &server.url, connections, seconds).await?;
    let per_request = |seconds: f64| seconds * 1e6 / sent.acknowledged.max(1) as f64;
    let round = Round {
        rate: sent.rate,
        server_us: per_request(server.cpu_seconds() - cpu),
        sender_us: per_request(cpu_seconds_of(sender) - sender_cpu),
    };
    let rss = server.stop()?;
    report(name, &sent, rss, &round);
    Ok((sent, round))
}

/// Sends signed events for `seconds` over `connections` connections.
async fn load(
    tenant: &Arc<Tenant>,
    url: &str,
    connections: usize,
    seconds: u64,
) -> Result<SendReport> {
    let options = SendOptions {
        url: url.to_string(),
        scheme: Scheme::Standard,
        secrets: parse_secrets(SECRET)?,
        concurrency: connections,
        load_for: Some(Duration::from_secs(seconds)),
        ..SendOptions::default()
    };
    Ok(send(Arc::clone(tenant), options).await?)
}

/// One server's line, with the CPU time per acknowledged request of the server and of the
/// sender (steadier figures than the rate on a machine whose speed drifts).
fn report(name: &str, report: &SendReport, rss_mib: f64, round: &Round) {
    say(format!(
        "{name}: {} acknowledged, {} failed, {} retries in {:.1} s = {:.0} events/s; latency p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms; peak RSS {rss_mib:.0} MiB; CPU per request: server {:.0} us, sender {:.0} us; statuses {:?}",
        report.acknowledged,
        report.failed,
        report.retries,
        report.seconds,
        report.rate,
        report.latency_ms.p50,
        report.latency_ms.p90,
        report.latency_ms.p99,
        report.latency_ms.max,
        round.server_us,
        round.sender_us,
        report.statuses,
    ));
}

/// The baseline: answers 200 to every POST without reading a header or looking at the body
/// beyond receiving it.
async fn bare_server() -> Result<()> {
    let app = axum::Router::new().route(
        "/webhooks",
        axum::routing::post(|_: axum::body::Bytes| async { axum::http::StatusCode::OK }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    say(format!(
        "listening on http://{}/webhooks",
        listener.local_addr()?
    ));
    let terminate = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(terminate)
        .await?;
    Ok(())
}

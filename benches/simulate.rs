//! Simulator scale: how long generating a tenant of 1M appointments takes, and how many
//! admin API pages per second it serves on loopback, each next to a baseline measured in
//! the same invocation.
//!
//! - generation, against a plain copy of the generated tenant (the cost of merely writing
//!   that much data);
//! - API pages (100 appointments each, random pages of the `updated_at` listing, 8
//!   connections), against a bare axum handler answering a pre-rendered page of the same
//!   size with the same client.
//!
//! Run: `cargo bench --bench simulate` (options: `-- --appointments N --seconds S`).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use coconut_lake::simulate::api::{Api, ApiOptions};
use coconut_lake::simulate::{TenantOptions, generate};
use rand::{Rng, SeedableRng};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const CONNECTIONS: usize = 8;
const LIMIT: usize = 100;

#[tokio::main]
async fn main() -> Result<()> {
    let appointments: u64 = support::arg("--appointments", 1_000_000);
    let seconds: u64 = support::arg("--seconds", 5);
    let days = 35;
    let options = TenantOptions {
        days,
        appointments_per_day: appointments.div_ceil(u64::from(days)),
        walk_ins_per_day: appointments.div_ceil(u64::from(days)) * 2 / 3,
        locations: 40,
        staff: 400,
        ..TenantOptions::default()
    };

    let started = Instant::now();
    let tenant = generate(&options);
    let generation = started.elapsed();
    let started = Instant::now();
    let copy = tenant.clone();
    let copying = started.elapsed();
    drop(copy);
    say(format!(
        "generate: {} appointments, {} walk-ins, {} clients in {:.2} s (a plain copy: {:.2} s, {:.1}x); peak RSS {:.0} MiB",
        tenant.appointments.len(),
        tenant.walk_ins.len(),
        tenant.clients.len(),
        generation.as_secs_f64(),
        copying.as_secs_f64(),
        generation.as_secs_f64() / copying.as_secs_f64(),
        support::peak_rss_mib(),
    ));

    let tenant = Arc::new(tenant);
    let started = Instant::now();
    let api = Arc::new(Api::new(Arc::clone(&tenant), ApiOptions::default()));
    say(format!("index: {:.2} s", started.elapsed().as_secs_f64()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(coconut_lake::simulate::api::run(
        listener,
        api,
        std::future::pending(),
    ));
    let pages = tenant.appointments.len().div_ceil(LIMIT) as u64;
    let url = format!("http://{address}/api/v2/appointments?limit={LIMIT}&sort=updated_at");

    // One page, kept as the bare handler's answer.
    let client = reqwest::Client::new();
    let sample = client
        .get(format!("{url}&page=1"))
        .bearer_auth("sim-token")
        .send()
        .await?
        .bytes()
        .await?;
    let bare = bare_server(sample.clone()).await?;

    let duration = Duration::from_secs(seconds);
    let bare_rate = load(&format!("{bare}?x=1"), 1, duration).await;
    let api_rate = load(&url, pages, duration).await;
    say(format!(
        "api: {:.0} pages/s ({:.0} records/s, {} KiB per page) vs bare handler {:.0} pages/s: {:.2}x; peak RSS {:.0} MiB",
        api_rate,
        api_rate * LIMIT as f64,
        sample.len() / 1024,
        bare_rate,
        api_rate / bare_rate,
        support::peak_rss_mib(),
    ));
    Ok(())
}

fn say(line: String) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// A handler that answers a fixed page without any work.
async fn bare_server(page: Bytes) -> Result<String> {
    let app = axum::Router::new().route(
        "/page",
        axum::routing::get(move || {
            let page = page.clone();
            async move { ([("content-type", "application/vnd.api+json")], page) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{address}/page"))
}

/// Fetches random pages over `CONNECTIONS` connections for `duration`; pages per second.
async fn load(url: &str, pages: u64, duration: Duration) -> f64 {
    let client = reqwest::Client::new();
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|n| {
            let (client, done, url) = (client.clone(), Arc::clone(&done), url.to_string());
            tokio::spawn(async move {
                let mut rng = rand::rngs::StdRng::seed_from_u64(n as u64);
                while started.elapsed() < duration {
                    let page = rng.random_range(1..=pages);
                    let response = client
                        .get(format!("{url}&page={page}"))
                        .bearer_auth("sim-token")
                        .send()
                        .await;
                    let ok = match response {
                        Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                        _ => false,
                    };
                    assert!(ok, "page {page} failed");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.await;
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

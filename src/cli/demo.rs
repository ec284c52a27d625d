//! `coconut-lake demo`: the whole flow on one machine. A simulated tenant serves its admin
//! API and sends its last days of changes as signed webhooks to the real receiver; a
//! backfill pulls every resource; the reports run; a short outcome summary is printed.
//! Everything goes through the same code as `serve`, `backfill` and `report`.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::{DemoArgs, output, report};
use crate::backfill::{Backfill, Plan, Progress, Start};
use crate::config::Pipeline;
use crate::land::{Lander, Store};
use crate::model::Converter;
use crate::receive::{Receiver, Verifier, WEBHOOK_PATH};
use crate::report::query::{Answer, run_query};
use crate::report::{Definitions, Parameters, open_query_session};
use crate::simulate::api::{Api, ApiOptions};
use crate::simulate::webhooks::{SendOptions, send};
use crate::simulate::{TenantOptions, generate};
use crate::source::signature::parse_secrets;

/// The demo's own token and secret: the simulated tenant and the receiver share them, and
/// they never leave the process.
const DEMO_TOKEN: &str = "demo-token";
const DEMO_SECRET: &str = "whsec_ZGVtby1zZWNyZXQtZm9yLWNvY29udXQtbGFrZQ==";

/// Runs the demo against the pipeline's store.
pub async fn run(pipeline: &Pipeline, args: &DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let store = Store::open(&pipeline.store.url)?;
    let tenant = Arc::new(generate(&TenantOptions {
        seed: args.seed,
        days: args.days,
        appointments_per_day: args.appointments_per_day,
        walk_ins_per_day: args.walk_ins_per_day,
        ..TenantOptions::default()
    }));
    output::line(format!(
        "simulated tenant: {} branches, {} appointments, {} walk-ins, {} clients over {} days",
        tenant.locations.len(),
        tenant.appointments.len(),
        tenant.walk_ins.len(),
        tenant.clients.len(),
        args.days
    ));

    // The tenant's admin API and the receiver, each on a free loopback port.
    let api_listener = TcpListener::bind("127.0.0.1:0").await?;
    let api_url = format!("http://{}/api/v2", api_listener.local_addr()?);
    let api = Arc::new(Api::new(
        Arc::clone(&tenant),
        ApiOptions {
            token: DEMO_TOKEN.into(),
            ..ApiOptions::default()
        },
    ));
    let (stop, stopped) = watch::channel(false);
    let api_stop = wait_for(stopped.clone());
    let api_task = tokio::spawn(crate::simulate::api::run(api_listener, api, api_stop));

    let secrets = parse_secrets(DEMO_SECRET)?;
    let converter = Arc::new(Converter::new(pipeline.convert_options()));
    let lander = Lander::start(store.clone(), pipeline.landing_limits());
    let receiver = Arc::new(Receiver {
        verifier: Verifier::Standard {
            secrets: secrets.clone(),
            tolerance: pipeline.receiver.tolerance.0,
        },
        converter: Arc::clone(&converter),
        lander: lander.clone(),
        store: store.clone(),
        body_limit: pipeline.receiver.body_limit.0 as usize,
        metrics: None,
    });
    let hook_listener = TcpListener::bind("127.0.0.1:0").await?;
    let hook_url = format!("http://{}{WEBHOOK_PATH}", hook_listener.local_addr()?);
    let receiver_task = tokio::spawn(crate::receive::run(
        hook_listener,
        receiver,
        wait_for(stopped.clone()),
    ));

    // The last days arrive as webhooks, with the duplicates and disorder of real delivery.
    let since = tenant.settled_at - i64::from(args.webhook_days) * 86_400;
    let sent = send(
        Arc::clone(&tenant),
        SendOptions {
            url: hook_url.clone(),
            secrets,
            concurrency: 16,
            duplicates: 0.02,
            reorder: 0.05,
            since: Some(since),
            ..SendOptions::default()
        },
    )
    .await
    .context("the simulated tenant could not deliver its webhooks")?;
    output::line(format!(
        "webhooks: {} events of the last {} days sent to {hook_url}, {} acknowledged, {} failed, {:.0}/s",
        sent.events, args.webhook_days, sent.acknowledged, sent.failed, sent.rate
    ));

    // Then one backfill of every resource, as `coconut-lake backfill` runs it.
    let plan = Plan {
        resources: pipeline.resources(),
        start: Start::Incremental,
        api_url: Some(api_url.clone()),
    };
    let job = Backfill::new(
        pipeline,
        DEMO_TOKEN,
        plan,
        store.clone(),
        lander.clone(),
        Arc::clone(&converter),
        Progress::for_stderr(),
    )
    .context("failed to set up the backfill")?;
    let reports = Arc::new(job).run(stopped.clone()).await;
    let records: u64 = reports.iter().map(|r| r.records).sum();
    output::line(format!("backfill: {records} records from {api_url}"));
    for report in &reports {
        if let Err(e) = &report.outcome {
            anyhow::bail!("the backfill of {} failed: {e}", report.entity);
        }
    }

    // Stop the tenant and the receiver; the receiver lands what it holds.
    let _ = stop.send(true);
    receiver_task.await?.context("the receiver failed")?;
    let _ = api_task.await;

    let runs = report::reports(pipeline, &store, &[], false).await?;
    output::line(format!("reports into {}", store.url_of("exports/")));
    for run in &runs {
        output::line(format!("  {}", report::summary(run)));
    }
    summary(pipeline, &store).await?;
    output::line(format!(
        "done in {:.1} s; query with: coconut-lake query \"SELECT * FROM appointment_outcomes LIMIT 10\"",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Resolves once `stop` turns true.
async fn wait_for(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Prints outcomes per branch from the exports and views.
async fn summary(pipeline: &Pipeline, store: &Store) -> anyhow::Result<()> {
    let parameters = Parameters::new(&pipeline.reports, chrono::Utc::now());
    let definitions = Definitions::load(&pipeline.reports.sql_dir, &parameters)?;
    let ctx = open_query_session(store, &definitions).await?;
    let sql = "
        WITH a AS (
          SELECT location_name, sum(scheduled) AS scheduled, sum(completed) AS completed,
                 sum(no_show) AS no_show, sum(cancelled_late) AS late_cancels
          FROM appointment_outcomes GROUP BY location_name),
        w AS (
          SELECT location_name, count(*) AS walk_ins,
                 sum(CASE WHEN is_abandoned THEN 1 ELSE 0 END) AS abandoned,
                 percentile_cont(0.5) WITHIN GROUP
                   (ORDER BY CASE WHEN is_served THEN wait_seconds END) AS wait_p50,
                 sum(CASE WHEN is_within_sla THEN 1 ELSE 0 END) AS within_sla,
                 sum(CASE WHEN is_served THEN 1 ELSE 0 END) AS served
          FROM walk_in_facts GROUP BY location_name)
        SELECT a.location_name, a.scheduled, a.completed, a.no_show, a.late_cancels,
               w.walk_ins, w.abandoned, w.wait_p50, w.within_sla, w.served
        FROM a JOIN w ON a.location_name = w.location_name
        ORDER BY a.location_name";
    let answer = run_query(&ctx, sql).await?;
    let rows = rows_of(&answer);
    let percent = |part: f64, whole: f64| {
        if whole > 0.0 {
            format!("{:.1}%", 100.0 * part / whole)
        } else {
            "-".to_string()
        }
    };
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let n = |i: usize| r[i].parse::<f64>().unwrap_or(0.0);
            vec![
                r[0].clone(),
                r[1].clone(),
                percent(n(2), n(1)),
                percent(n(3), n(1)),
                r[4].clone(),
                r[5].clone(),
                percent(n(6), n(5)),
                format!("{:.1} min", n(7) / 60.0),
                percent(n(8), n(9)),
            ]
        })
        .collect();
    output::line("");
    output::table(
        &[
            "branch",
            "appointments",
            "completed",
            "no-show",
            "late cancels",
            "walk-ins",
            "abandoned",
            "median wait",
            "within SLA",
        ],
        &table,
    );
    output::line("");
    Ok(())
}

/// The cells of a result as display strings.
fn rows_of(answer: &Answer) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for batch in &answer.batches {
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| {
                arrow::util::display::ArrayFormatter::try_new(
                    c.as_ref(),
                    &arrow::util::display::FormatOptions::default(),
                )
            })
            .collect();
        for row in 0..batch.num_rows() {
            rows.push(
                formatters
                    .iter()
                    .map(|f| match f {
                        Ok(f) => f.value(row).to_string(),
                        Err(_) => String::new(),
                    })
                    .collect(),
            );
        }
    }
    rows
}

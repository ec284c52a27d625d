//! `coconut-lake backfill`: one incremental pull of the admin API, for cron, Kubernetes
//! CronJobs or Airflow; and the same job as `serve` runs it on a schedule.

use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::watch;

use super::{BackfillArgs, output, secrets};
use crate::backfill::{Backfill, Plan, Progress, Report, Start};
use crate::config::Pipeline;
use crate::land::{Lander, Store};
use crate::model::Converter;

/// A `--since` value that is neither an RFC 3339 instant nor a date.
#[derive(Debug, thiserror::Error)]
#[error(
    "--since {0:?}: expected an RFC 3339 time such as 2026-03-08T07:00:00Z, or a date such as 2026-03-08 (midnight UTC)"
)]
pub struct BadSince(String);

/// Reads `--since`.
pub fn parse_since(text: &str) -> Result<DateTime<Utc>, BadSince> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| BadSince(text.to_string()))
}

/// The job for `serve` or `backfill`: the pipeline's API token is required.
pub(super) fn job(
    pipeline: &Pipeline,
    plan: Plan,
    store: Store,
    lander: Lander,
    converter: Arc<Converter>,
    progress: Progress,
) -> anyhow::Result<Backfill> {
    let source = &pipeline.source;
    let token = secrets::read(
        "admin API token",
        &source.token_env,
        source.token_file.as_deref(),
    )?;
    Backfill::new(pipeline, &token, plan, store, lander, converter, progress)
        .context("failed to set up the HTTP client")
}

/// Runs one backfill and prints a line per resource.
pub async fn run(pipeline: &Pipeline, args: &BackfillArgs) -> anyhow::Result<()> {
    let resources = if args.resources.is_empty() {
        pipeline.resources()
    } else {
        args.resources.clone()
    };
    let start = match (&args.since, args.full) {
        (Some(since), _) => Start::Since(parse_since(since)?),
        (None, true) => Start::Full,
        (None, false) => Start::Incremental,
    };
    let store = Store::open(&pipeline.store.url)?;
    let lander = Lander::start(store.clone(), pipeline.landing_limits());
    let converter = Arc::new(Converter::new(pipeline.convert_options()));
    let plan = Plan {
        resources,
        start,
        api_url: args.api_url.clone(),
    };
    let job = Arc::new(job(
        pipeline,
        plan,
        store.clone(),
        lander.clone(),
        converter,
        Progress::for_stderr(),
    )?);
    let (stop, stopped) = watch::channel(false);
    let signals = tokio::spawn(async move {
        super::serve::shutdown_signal().await;
        let _ = stop.send(true);
    });
    let reports = job.run(stopped).await;
    signals.abort();
    lander.shutdown().await;

    output::line(format!("backfill into {}", store.url()));
    for report in &reports {
        output::line(summary(report));
    }
    failure(&reports, pipeline)
}

/// One line on one resource's run.
pub fn summary(report: &Report) -> String {
    let rate = report.records as f64 / report.seconds.max(0.001);
    let from = report
        .since
        .map_or_else(|| "the beginning".to_string(), |s| s.to_rfc3339());
    let checkpoint = report
        .checkpoint
        .map_or_else(|| "none".to_string(), |c| c.to_rfc3339());
    let outcome = match &report.outcome {
        Ok(()) => "complete".to_string(),
        Err(e) => format!("FAILED: {e}"),
    };
    format!(
        "{:<20} {:>9} records {:>6} pages {:>7.1} s {:>8.0}/s  from {from}, checkpoint {checkpoint}{}  {outcome}",
        report.entity.name(),
        report.records,
        report.pages,
        report.seconds,
        rate,
        if report.quarantined > 0 {
            format!(", {} quarantined", report.quarantined)
        } else {
            String::new()
        },
    )
}

/// An error naming every resource that did not finish; a refused token says so first.
fn failure(reports: &[Report], pipeline: &Pipeline) -> anyhow::Result<()> {
    if reports.iter().any(|r| {
        r.outcome
            .as_ref()
            .is_err_and(crate::backfill::BackfillError::is_unauthorized)
    }) {
        anyhow::bail!(
            "the admin API refused the token (from {} or {}): check that it is current and allowed to read every resource",
            pipeline.source.token_env,
            pipeline
                .source
                .token_file
                .as_ref()
                .map_or_else(|| "no token file".to_string(), |f| f.display().to_string())
        );
    }
    let failed: Vec<String> = reports
        .iter()
        .filter_map(|r| {
            r.outcome
                .as_ref()
                .err()
                .map(|e| format!("{}: {e}", r.entity))
        })
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "the backfill of {} resource(s) did not finish: {}",
            failed.len(),
            failed.join("; ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_instants_and_dates() {
        assert_eq!(
            parse_since("2026-03-08T02:00:00-05:00")
                .unwrap()
                .to_rfc3339(),
            "2026-03-08T07:00:00+00:00"
        );
        assert_eq!(
            parse_since("2026-03-08").unwrap().to_rfc3339(),
            "2026-03-08T00:00:00+00:00"
        );
        assert!(parse_since("yesterday").is_err());
    }
}

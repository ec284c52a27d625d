//! `coconut-lake report [NAME...]` and `coconut-lake query SQL`: the outcome reports
//! written to `exports/`, and analysts' queries over the views and exports.

use std::io::Write;

use anyhow::Context;
use chrono::Utc;

use super::{QueryArgs, ReportArgs, output};
use crate::config::Pipeline;
use crate::land::Store;
use crate::report::definitions::DefinitionError;
use crate::report::query::{Format, QueryError, render, run_query};
use crate::report::{
    Definitions, Parameters, ReportError, ReportRun, RunOptions, open_query_session, run_reports,
};

/// Runs the reports the pipeline defines (all, or those named) and prints a line each.
pub async fn run(pipeline: &Pipeline, args: &ReportArgs) -> anyhow::Result<()> {
    let store = Store::open(&pipeline.store.url)?;
    let runs = reports(pipeline, &store, &args.names, args.csv).await?;
    output::line(format!("reports from {}", store.url()));
    for run in &runs {
        output::line(summary(run));
    }
    Ok(())
}

/// Runs reports against a store with the pipeline's parameters and SQL folder.
pub async fn reports(
    pipeline: &Pipeline,
    store: &Store,
    names: &[String],
    csv: bool,
) -> Result<Vec<ReportRun>, ReportError> {
    let started_at = Utc::now();
    let parameters = Parameters::new(&pipeline.reports, started_at);
    let definitions = Definitions::load(&pipeline.reports.sql_dir, &parameters)?;
    let options = RunOptions {
        names: names.to_vec(),
        csv: csv || pipeline.reports.csv,
        run_id: format!(
            "{}-{:08x}",
            started_at.format("%Y%m%dT%H%M%SZ"),
            rand::random::<u32>()
        ),
        started_at,
    };
    run_reports(store, &definitions, &parameters, &options).await
}

/// One line on one report's export.
pub fn summary(run: &ReportRun) -> String {
    let files: Vec<&str> = run.manifest.files.iter().map(|f| f.path.as_str()).collect();
    format!(
        "{:<22} {:>8} rows {:>6.2} s  {}",
        run.manifest.report,
        run.rows,
        run.seconds,
        files.join(", ")
    )
}

/// Runs one query and writes its result to standard output or a file.
pub async fn query(pipeline: &Pipeline, args: &QueryArgs) -> anyhow::Result<()> {
    let store = Store::open(&pipeline.store.url)?;
    let parameters = Parameters::new(&pipeline.reports, Utc::now());
    let definitions = Definitions::load(&pipeline.reports.sql_dir, &parameters)?;
    let ctx = open_query_session(&store, &definitions).await?;
    let answer = run_query(&ctx, &args.sql).await?;
    if args.format == Format::Parquet && args.output.is_none() {
        anyhow::bail!(BadQuery("--format parquet needs --output FILE".into()));
    }
    let bytes = render(&answer, args.format)?;
    match &args.output {
        Some(path) => {
            std::fs::write(path, &bytes)
                .with_context(|| format!("failed to write {}", path.display()))?;
            output::line(format!(
                "{} rows written to {}",
                answer.rows(),
                path.display()
            ));
        }
        None => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&bytes);
        }
    }
    Ok(())
}

/// A query refused before it ran, for exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadQuery(String);

/// Whether an error is the user's: bad SQL, an unknown report, a bad flag combination.
pub fn is_usage(cause: &(dyn std::error::Error + 'static)) -> bool {
    cause.downcast_ref::<BadQuery>().is_some()
        || matches!(
            cause.downcast_ref::<QueryError>(),
            Some(QueryError::Invalid(_) | QueryError::NotARead)
        )
        || matches!(
            cause.downcast_ref::<DefinitionError>(),
            Some(DefinitionError::NoSuchReport { .. })
        )
        || matches!(
            cause.downcast_ref::<ReportError>(),
            Some(ReportError::Definitions(
                DefinitionError::NoSuchReport { .. }
            ))
        )
}

//! Running the definitions: a session over landing with every view registered in
//! dependency order, the reports computed from it and written to `exports/`, and the
//! session analysts query, which also sees the exports.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::SchemaRef;
use chrono::{DateTime, Utc};
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use object_store::ObjectStoreExt;

use super::definitions::{Definition, DefinitionError, Definitions, Parameters};
use super::export::{ExportError, Manifest, export_parquet, write_export};
use super::session::open_session;
use crate::land::Store;

/// Why reports could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The SQL files could not be read.
    #[error(transparent)]
    Definitions(#[from] DefinitionError),
    /// The session over the store could not be opened.
    #[error("failed to open the store's tables: {0}")]
    Session(#[source] DataFusionError),
    /// A view did not plan.
    #[error("view {name} ({path}) is invalid: {source}")]
    View {
        /// The view.
        name: String,
        /// Its file.
        path: String,
        /// The planner's complaint.
        source: DataFusionError,
    },
    /// A report failed to plan or run.
    #[error("report {name} ({path}) failed: {source}")]
    Report {
        /// The report.
        name: String,
        /// Its file.
        path: String,
        /// The cause.
        source: DataFusionError,
    },
    /// Its export could not be written.
    #[error(transparent)]
    Export(#[from] ExportError),
}

/// How one report run went.
#[derive(Debug, Clone)]
pub struct ReportRun {
    /// The manifest written.
    pub manifest: Manifest,
    /// Result rows.
    pub rows: u64,
    /// Wall time of the query and the export.
    pub seconds: f64,
}

/// A session over the store's landing tables with every view registered.
pub async fn open_views(
    store: &Store,
    definitions: &Definitions,
) -> Result<SessionContext, ReportError> {
    open_with(store, definitions, &BTreeSet::new()).await
}

/// Registers every view; those named in `materialize` and marked so are computed at once
/// and kept in memory, and the views after them read that result.
async fn open_with(
    store: &Store,
    definitions: &Definitions,
    materialize: &BTreeSet<String>,
) -> Result<SessionContext, ReportError> {
    let ctx = open_session(store).await.map_err(ReportError::Session)?;
    for view in &definitions.views {
        let keep = view.materialize && materialize.contains(&view.name);
        register_view(&ctx, view, keep).await?;
    }
    Ok(ctx)
}

async fn register_view(
    ctx: &SessionContext,
    view: &Definition,
    materialize: bool,
) -> Result<(), ReportError> {
    let invalid = |source| ReportError::View {
        name: view.name.clone(),
        path: view.path.display().to_string(),
        source,
    };
    let plan = ctx.sql(&view.sql).await.map_err(invalid)?;
    if !materialize {
        ctx.register_table(view.name.as_str(), plan.into_view())
            .map_err(invalid)?;
        return Ok(());
    }
    let started = Instant::now();
    let schema: SchemaRef = plan.schema().inner().clone();
    let partitions = plan.collect_partitioned().await.map_err(invalid)?;
    let rows: usize = partitions.iter().flatten().map(|b| b.num_rows()).sum();
    let table = MemTable::try_new(schema, partitions).map_err(invalid)?;
    ctx.register_table(view.name.as_str(), Arc::new(table))
        .map_err(invalid)?;
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(view = %view.name, rows, seconds, "view materialized");
    Ok(())
}

/// The analysts' session: every view, and every report's last export under the report's
/// name (reports not yet run are absent).
pub async fn open_query_session(
    store: &Store,
    definitions: &Definitions,
) -> Result<SessionContext, ReportError> {
    let ctx = open_views(store, definitions).await?;
    for report in &definitions.reports {
        let path = export_parquet(&report.name);
        if store.objects().head(&path.as_str().into()).await.is_err() {
            continue;
        }
        ctx.register_parquet(
            report.name.as_str(),
            store.url_of(&path),
            ParquetReadOptions::default(),
        )
        .await
        .map_err(|source| ReportError::Report {
            name: report.name.clone(),
            path,
            source,
        })?;
    }
    Ok(ctx)
}

/// What a report run needs besides the store.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Reports to run; all when empty.
    pub names: Vec<String>,
    /// Also write CSV.
    pub csv: bool,
    /// The run's id, recorded in each manifest.
    pub run_id: String,
    /// When the run started.
    pub started_at: DateTime<Utc>,
}

/// Runs the reports and replaces their exports; stops at the first failure, leaving that
/// report's previous export in place.
pub async fn run_reports(
    store: &Store,
    definitions: &Definitions,
    parameters: &Parameters,
    options: &RunOptions,
) -> Result<Vec<ReportRun>, ReportError> {
    let selected = definitions.select(&options.names)?;
    // Only the views the chosen reports read are worth computing ahead.
    let ctx = open_with(store, definitions, &definitions.views_read_by(&selected)).await?;
    let mut runs = Vec::new();
    for report in selected {
        let started = Instant::now();
        let failed = |source| ReportError::Report {
            name: report.name.clone(),
            path: report.path.display().to_string(),
            source,
        };
        let frame = ctx.sql(&report.sql).await.map_err(failed)?;
        let schema: SchemaRef = frame.schema().inner().clone();
        let batches = frame.collect().await.map_err(failed)?;
        let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
        let manifest = Manifest {
            report: report.name.clone(),
            run_id: options.run_id.clone(),
            generated_at: options.started_at,
            definitions_version: definitions.version.clone(),
            parameters: parameters.to_map(),
            files: Vec::new(),
        };
        let manifest = write_export(store, manifest, &schema, &batches, options.csv).await?;
        let seconds = started.elapsed().as_secs_f64();
        tracing::info!(report = %report.name, rows, seconds, "report exported");
        metrics::counter!(crate::telemetry::REPORT_RUNS, "report" => report.name.clone())
            .increment(1);
        runs.push(ReportRun {
            manifest,
            rows,
            seconds,
        });
    }
    Ok(runs)
}

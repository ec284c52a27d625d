//! Every command and flag, defined in one place, and the dispatch to each command's file.

mod backfill;
mod check;
mod demo;
mod land;
pub mod output;
mod report;
mod secrets;
mod serve;
mod simulate;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::{ConfigError, DEFAULT_PIPELINE, Pipeline};
use crate::telemetry::{LogFormat, init_logging};

/// Lands a Coconut tenant's engagement data as Parquet and computes outcome reports.
#[derive(Debug, Parser)]
#[command(name = "coconut-lake", version, about)]
pub struct Cli {
    /// Pipeline file.
    #[arg(long, global = true, env = "COCONUT_PIPELINE", default_value = DEFAULT_PIPELINE)]
    pub pipeline: PathBuf,
    /// Store URL or folder, overriding the pipeline's `store.url`.
    #[arg(long, global = true, env = "COCONUT_STORE")]
    pub store: Option<String>,
    /// Log line format (logs go to standard error; filter with RUST_LOG).
    #[arg(
        long,
        global = true,
        env = "COCONUT_LOG_FORMAT",
        value_enum,
        default_value_t
    )]
    pub log_format: LogFormat,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validates the pipeline file and prints what it would do.
    Check,
    /// Lands saved JSON:API documents or webhook events from files into the store.
    Land(LandArgs),
    /// Pulls admin API resources incrementally and lands them (one run, for cron).
    Backfill(BackfillArgs),
    /// Receives Coconut webhooks and lands them, until SIGINT or SIGTERM.
    Serve(ServeArgs),
    /// Runs the outcome reports and writes their exports.
    Report(ReportArgs),
    /// Runs one SQL query over the views and exports.
    Query(QueryArgs),
    /// Runs a simulated tenant, the receiver and a backfill into the store, then the
    /// reports, and prints an outcome summary.
    Demo(DemoArgs),
    /// Runs a simulated Coconut tenant: its admin API, its webhooks or its ground truth.
    Simulate(Box<simulate::SimulateArgs>),
}

/// Arguments of `land`.
#[derive(Debug, clap::Args)]
pub struct LandArgs {
    /// Files or folders of `.json` documents and `.ndjson` event lines; `-` reads stdin.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
}

/// Arguments of `serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "COCONUT_LISTEN", default_value = "127.0.0.1:8481")]
    pub listen: std::net::SocketAddr,
}

/// Arguments of `backfill`.
#[derive(Debug, clap::Args)]
pub struct BackfillArgs {
    /// Base URL of the admin API, overriding the pipeline's `source.api_url`.
    #[arg(long, env = "COCONUT_API_URL")]
    pub api_url: Option<String>,
    /// A resource to pull (repeatable); all of the pipeline's resources when left out.
    #[arg(long = "resource", value_name = "NAME")]
    pub resources: Vec<crate::source::Entity>,
    /// Pull everything again, ignoring the checkpoints.
    #[arg(long, conflicts_with = "since")]
    pub full: bool,
    /// Pull what changed at or after TIME (RFC 3339, or a date for midnight UTC),
    /// ignoring the checkpoints.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
}

/// Arguments of `report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Reports to run (file stems in `sql/reports/`); all when left out.
    pub names: Vec<String>,
    /// Also write CSV beside the Parquet file.
    #[arg(long)]
    pub csv: bool,
}

/// Arguments of `query`.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// One SQL statement (SELECT, WITH, EXPLAIN, SHOW or DESCRIBE).
    pub sql: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: crate::report::query::Format,
    /// Write the result to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Arguments of `demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Seed of the simulated tenant.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Days of simulated activity (the default window crosses the March and April 2026
    /// clock changes).
    #[arg(long, default_value_t = 35)]
    pub days: u32,
    /// Appointments per day across the tenant.
    #[arg(long, default_value_t = 300)]
    pub appointments_per_day: u64,
    /// Walk-ins per day across the tenant.
    #[arg(long, default_value_t = 200)]
    pub walk_ins_per_day: u64,
    /// The last this many days of changes arrive as webhooks; the backfill brings all.
    #[arg(long, default_value_t = 7)]
    pub webhook_days: u32,
}

/// Runs a parsed command line to completion.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    init_logging(cli.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    match cli.command {
        Command::Check => {
            let pipeline = pipeline(&cli.pipeline, cli.store.as_deref())?;
            runtime.block_on(check::run(&cli.pipeline, &pipeline))
        }
        Command::Land(ref args) => {
            let pipeline = pipeline(&cli.pipeline, cli.store.as_deref())?;
            runtime.block_on(land::run(&pipeline, args))
        }
        Command::Backfill(ref args) => {
            let pipeline = pipeline(&cli.pipeline, cli.store.as_deref())?;
            runtime.block_on(backfill::run(&pipeline, args))
        }
        Command::Serve(ref args) => {
            let pipeline = pipeline(&cli.pipeline, cli.store.as_deref())?;
            runtime.block_on(serve::run_serve(&pipeline, args))
        }
        Command::Report(ref args) => {
            let pipeline = pipeline(&cli.pipeline, cli.store.as_deref())?;
            runtime.block_on(report::run(&pipeline, args))
        }
        Command::Query(ref args) => {
            let pipeline = pipeline(&cli.pipeline, cli.store.as_deref())?;
            runtime.block_on(report::query(&pipeline, args))
        }
        Command::Demo(ref args) => {
            let pipeline = pipeline(&cli.pipeline, cli.store.as_deref())?;
            runtime.block_on(demo::run(&pipeline, args))
        }
        // The simulator speaks only the source contract; it reads no pipeline file.
        Command::Simulate(args) => runtime.block_on(simulate::run(*args)),
    }
}

/// Loads the pipeline file and applies `--store`.
fn pipeline(path: &std::path::Path, store: Option<&str>) -> anyhow::Result<Pipeline> {
    let mut pipeline = Pipeline::load(path)?;
    if let Some(store) = store {
        pipeline.store.url = store.to_string();
    }
    Ok(pipeline)
}

/// The process exit code for an error: 2 for a bad pipeline or input, 1 otherwise.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    let usage = error.chain().any(|cause| {
        cause.downcast_ref::<ConfigError>().is_some()
            || cause.downcast_ref::<land::InputError>().is_some()
            || cause.downcast_ref::<secrets::SecretError>().is_some()
            || cause.downcast_ref::<backfill::BadSince>().is_some()
            || report::is_usage(cause)
    });
    if usage { 2 } else { 1 }
}

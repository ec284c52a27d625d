//! `coconut-lake simulate`: runs the simulated tenant's admin API, sends its webhooks, or
//! writes its ground truth.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, NaiveDate};
use clap::{Args, Subcommand, ValueEnum};

use super::output;
use crate::simulate::api::{Api, ApiOptions};
use crate::simulate::webhooks::{Scheme, SendOptions, send};
use crate::simulate::{Faults, Tenant, TenantOptions, Time, TruthOptions, generate, write_truth};
use crate::source::Entity;
use crate::source::signature::parse_secrets;

/// Arguments of `simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// What to run.
    #[command(subcommand)]
    pub command: SimulateCommand,
}

/// The parts of the simulated tenant.
#[derive(Debug, Subcommand)]
pub enum SimulateCommand {
    /// Serves the tenant's admin API (JSON:API pages) until interrupted.
    Api(ApiArgs),
    /// Sends the tenant's changes as signed webhook events to a receiver.
    Webhooks(WebhookArgs),
    /// Writes the final state of every record and the expected outcome figures as Parquet.
    Truth(TruthArgs),
}

/// The size and seed of the simulated tenant.
#[derive(Debug, Clone, Args)]
pub struct TenantArgs {
    /// Seed of every random choice: the same seed and sizes give the same tenant.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of branches (each in one of ten time zones, in turn).
    #[arg(long, default_value_t = 6)]
    pub locations: u32,
    /// Number of services (at most 10).
    #[arg(long, default_value_t = 8)]
    pub services: u32,
    /// Number of staff, spread over the branches.
    #[arg(long, default_value_t = 30)]
    pub staff: u32,
    /// First business day (the default window crosses the 2026 clock changes of North
    /// America, Europe and New Zealand).
    #[arg(long, default_value = "2026-03-02")]
    pub start_date: NaiveDate,
    /// Number of calendar days.
    #[arg(long, default_value_t = 35)]
    pub days: u32,
    /// Appointments per day, tenant-wide, on average.
    #[arg(long, default_value_t = 300)]
    pub appointments_per_day: u64,
    /// Walk-ins per day, tenant-wide, on average.
    #[arg(long, default_value_t = 200)]
    pub walk_ins_per_day: u64,
    /// Number of clients [default: one per three appointments, at least 50].
    #[arg(long)]
    pub clients: Option<u64>,
}

impl TenantArgs {
    fn options(&self) -> TenantOptions {
        TenantOptions {
            seed: self.seed,
            locations: self.locations,
            services: self.services,
            staff: self.staff,
            start: self.start_date,
            days: self.days,
            appointments_per_day: self.appointments_per_day,
            walk_ins_per_day: self.walk_ins_per_day,
            clients: self.clients,
        }
    }

    /// Generates the tenant, logging how long it took.
    fn tenant(&self) -> Arc<Tenant> {
        let started = Instant::now();
        let tenant = generate(&self.options());
        tracing::info!(
            seed = self.seed,
            appointments = tenant.appointments.len(),
            walk_ins = tenant.walk_ins.len(),
            clients = tenant.clients.len(),
            seconds = started.elapsed().as_secs_f64(),
            "generated the simulated tenant"
        );
        Arc::new(tenant)
    }
}

/// Arguments of `simulate api`.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8480")]
    pub listen: SocketAddr,
    /// Bearer token clients must send.
    #[arg(
        long,
        env = "COCONUT_API_TOKEN",
        hide_env_values = true,
        default_value = "sim-token"
    )]
    pub token: String,
    /// Path prefix of the resources.
    #[arg(long, default_value = "/api/v2")]
    pub base_path: String,
    /// Requests per second before answering 429 with Retry-After (0: no limit).
    #[arg(long, default_value_t = 0.0)]
    pub rate_limit: f64,
    /// Milliseconds added to every data answer.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Share of data requests answered 503 (injected fault).
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Share of data requests answered late by --slow-ms.
    #[arg(long, default_value_t = 0.0)]
    pub slow_rate: f64,
    /// Delay of slow answers, in milliseconds.
    #[arg(long, default_value_t = 5_000)]
    pub slow_ms: u64,
    /// Share of data requests whose connection closes half way through the body.
    #[arg(long, default_value_t = 0.0)]
    pub truncate_rate: f64,
    /// Share of data requests answered 200 with half a JSON document.
    #[arg(long, default_value_t = 0.0)]
    pub malformed_rate: f64,
    /// Tenant time the clock starts at (RFC 3339) [default: after the last change].
    #[arg(long, value_parser = parse_time)]
    pub clock: Option<Time>,
    /// Tenant seconds that pass per real second, so the tenant keeps changing.
    #[arg(long, default_value_t = 0.0)]
    pub speed: f64,
    /// The tenant.
    #[command(flatten)]
    pub tenant: TenantArgs,
}

/// Signature schemes on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SchemeArg {
    /// Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
    Standard,
    /// Hex HMAC-SHA256 of the body in one header.
    Hmac,
}

/// Arguments of `simulate webhooks`.
#[derive(Debug, Args)]
pub struct WebhookArgs {
    /// The receiver's URL.
    #[arg(long)]
    pub url: String,
    /// Signature scheme.
    #[arg(long, value_enum, default_value = "standard")]
    pub scheme: SchemeArg,
    /// Header of the hex HMAC scheme.
    #[arg(long, default_value = "X-Coconut-Signature")]
    pub hmac_header: String,
    /// Signing secrets, `whsec_<base64>` or plain, comma-separated (every one signs).
    #[arg(long, env = "COCONUT_WEBHOOK_SECRET", hide_env_values = true)]
    pub secret: String,
    /// Deliveries in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Share of events delivered twice (same id).
    #[arg(long, default_value_t = 0.0)]
    pub duplicates: f64,
    /// Share of events delivered late, out of order.
    #[arg(long, default_value_t = 0.0)]
    pub reorder: f64,
    /// How many events a late or duplicate delivery may fall behind.
    #[arg(long, default_value_t = 50)]
    pub reorder_window: usize,
    /// Share of events whose data carries only the record's id and type.
    #[arg(long, default_value_t = 0.0)]
    pub id_only: f64,
    /// Only changes at or after this tenant time (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    pub since: Option<Time>,
    /// Only changes at or before this tenant time (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    pub until: Option<Time>,
    /// Attempts per delivery before giving up.
    #[arg(long, default_value_t = 12)]
    pub max_attempts: u32,
    /// First retry delay in milliseconds (doubling, with jitter, up to 30 s).
    #[arg(long, default_value_t = 250)]
    pub retry_base_ms: u64,
    /// Load mode: cycle through the events with fresh ids until this many were delivered.
    #[arg(long)]
    pub load_events: Option<u64>,
    /// Load mode: cycle through the events with fresh ids for this many seconds.
    #[arg(long)]
    pub load_seconds: Option<u64>,
    /// Print the report as JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// The tenant.
    #[command(flatten)]
    pub tenant: TenantArgs,
}

/// Arguments of `simulate truth`.
#[derive(Debug, Args)]
pub struct TruthArgs {
    /// Folder to write the Parquet files into.
    #[arg(long)]
    pub out: PathBuf,
    /// A walk-in called within this many minutes counts as served within the SLA.
    #[arg(long, default_value_t = 15)]
    pub sla_wait_minutes: u32,
    /// A client cancellation less than this many hours before the start is late.
    #[arg(long, default_value_t = 24)]
    pub late_cancel_hours: u32,
    /// The tenant.
    #[command(flatten)]
    pub tenant: TenantArgs,
}

fn parse_time(text: &str) -> Result<Time, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp())
        .map_err(|e| format!("not an RFC 3339 time ({e}), such as 2026-03-09T12:00:00Z"))
}

/// Runs a `simulate` command.
pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    match args.command {
        SimulateCommand::Api(args) => api(args).await,
        SimulateCommand::Webhooks(args) => webhooks(args).await,
        SimulateCommand::Truth(args) => truth(args),
    }
}

async fn api(args: ApiArgs) -> anyhow::Result<()> {
    let tenant = args.tenant.tenant();
    let options = ApiOptions {
        token: args.token,
        base_path: args.base_path,
        rate_limit: args.rate_limit,
        latency: Duration::from_millis(args.latency_ms),
        faults: Faults {
            error_rate: args.error_rate,
            slow_rate: args.slow_rate,
            slow_ms: args.slow_ms,
            truncate_rate: args.truncate_rate,
            malformed_rate: args.malformed_rate,
            ..Faults::default()
        },
        clock: args.clock,
        speed: args.speed,
        ..ApiOptions::default()
    };
    let base_path = options.base_path.clone();
    let api = Arc::new(Api::new(Arc::clone(&tenant), options));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("failed to listen on {}", args.listen))?;
    let address = listener
        .local_addr()
        .context("failed to read the bound address")?;
    output::line(format!(
        "simulated admin API on http://{address}{base_path}"
    ));
    for entity in Entity::ALL {
        output::line(format!(
            "  {:<20} {:>10} records",
            entity.resource(),
            tenant.len(entity)
        ));
    }
    crate::simulate::api::run(listener, api, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .context("the simulated admin API failed")
}

async fn webhooks(args: WebhookArgs) -> anyhow::Result<()> {
    let secrets = parse_secrets(&args.secret).context("invalid webhook secret")?;
    let tenant = args.tenant.tenant();
    let scheme = match args.scheme {
        SchemeArg::Standard => Scheme::Standard,
        SchemeArg::Hmac => Scheme::Hmac {
            header: args.hmac_header,
        },
    };
    let options = SendOptions {
        url: args.url,
        scheme,
        secrets,
        concurrency: args.concurrency,
        duplicates: args.duplicates,
        reorder: args.reorder,
        reorder_window: args.reorder_window,
        id_only: args.id_only,
        since: args.since,
        until: args.until,
        max_attempts: args.max_attempts,
        retry_base: Duration::from_millis(args.retry_base_ms),
        load_events: args.load_events,
        load_for: args.load_seconds.map(Duration::from_secs),
        ..SendOptions::default()
    };
    let report = send(tenant, options).await?;
    if args.json {
        output::line(serde_json::to_string(&report).context("failed to encode the report")?);
    } else {
        let l = &report.latency_ms;
        output::line(format!(
            "{} events, {} deliveries: {} acknowledged, {} failed, {} retries in {:.1} s ({:.0}/s)",
            report.events,
            report.deliveries,
            report.acknowledged,
            report.failed,
            report.retries,
            report.seconds,
            report.rate
        ));
        output::line(format!(
            "ack latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
            l.p50, l.p90, l.p99, l.max
        ));
        let statuses: Vec<String> = report
            .statuses
            .iter()
            .map(|(status, n)| match status {
                0 => format!("no answer: {n}"),
                s => format!("{s}: {n}"),
            })
            .collect();
        output::line(format!("answers: {}", statuses.join(", ")));
    }
    if report.failed > 0 {
        anyhow::bail!(
            "{} deliveries were given up on, such as {}",
            report.failed,
            report.failed_ids.join(", ")
        );
    }
    Ok(())
}

fn truth(args: TruthArgs) -> anyhow::Result<()> {
    let tenant = args.tenant.tenant();
    let options = TruthOptions {
        sla_wait_minutes: args.sla_wait_minutes,
        late_cancel_hours: args.late_cancel_hours,
    };
    let written = write_truth(&tenant, options, &args.out)?;
    let rows: Vec<Vec<String>> = written
        .iter()
        .map(|(path, rows)| vec![path.display().to_string(), rows.to_string()])
        .collect();
    output::table(&["file", "rows"], &rows);
    Ok(())
}

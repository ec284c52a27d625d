//! Logging setup and the names of every metric coconut-lake records.
//!
//! Metrics go through the `metrics` facade; labels are low-cardinality (table, source,
//! outcome), never ids.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::MakeWriterExt;

/// Rows written to landing files, by `table`.
pub const LANDED_ROWS: &str = "coconut_landed_rows_total";
/// Landing files written, by `table`.
pub const LANDED_FILES: &str = "coconut_landed_files_total";
/// Bytes of landing files written, by `table`.
pub const LANDED_BYTES: &str = "coconut_landed_bytes_total";
/// Rows per landing file, by `table`.
pub const FLUSH_ROWS: &str = "coconut_land_flush_rows";
/// Seconds from a flush's start to its file being in the store, by `table`.
pub const FLUSH_SECONDS: &str = "coconut_land_flush_seconds";
/// Seconds spent forcing a landing file and its folder to disk on a local folder, by
/// `table` (part of the flush latency).
pub const SYNC_SECONDS: &str = "coconut_land_sync_seconds";
/// Landing files that failed to write, by `table`.
pub const LAND_WRITE_ERRORS: &str = "coconut_land_write_errors_total";
/// Submissions refused because the landing queue was full, by `table`.
pub const LAND_OVERLOADED: &str = "coconut_land_overloaded_total";
/// Small files that the direct encoding failed on and the general writer wrote.
pub const DIRECT_ENCODE_FALLBACKS: &str = "coconut_land_direct_encode_fallbacks_total";

/// Webhook requests received, whatever their outcome.
pub const WEBHOOKS_RECEIVED: &str = "coconut_webhooks_received_total";
/// Webhook events landed (2xx answered), by `table`.
pub const WEBHOOKS_LANDED: &str = "coconut_webhooks_landed_total";
/// Webhook requests refused, by `reason` (unauthorized, too_large, unsupported_media_type,
/// bad_json, unusable, overloaded, store_failed).
pub const WEBHOOKS_REJECTED: &str = "coconut_webhooks_rejected_total";
/// Seconds from a webhook request's arrival to its answer, by `status` class.
pub const WEBHOOK_SECONDS: &str = "coconut_webhook_seconds";

/// Outbound HTTP attempts (admin API calls), by `status` class (`2xx`, `429`, `4xx`,
/// `5xx`, `none` when no answer came).
pub const HTTP_REQUESTS: &str = "coconut_http_requests_total";
/// Outbound HTTP retries.
pub const HTTP_RETRIES: &str = "coconut_http_retries_total";
/// Backfill runs of a resource, by `resource` and `outcome` (complete, stopped, failed).
pub const BACKFILL_RUNS: &str = "coconut_backfill_runs_total";
/// Admin API pages read by the backfill, by `resource`.
pub const BACKFILL_PAGES: &str = "coconut_backfill_pages_total";
/// Records landed by the backfill, by `resource`.
pub const BACKFILL_RECORDS: &str = "coconut_backfill_records_total";

/// Report exports written, by `report`.
pub const REPORT_RUNS: &str = "coconut_report_runs_total";

/// Histogram buckets for latencies, in seconds.
const SECONDS_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Histogram buckets for rows per file.
const ROWS_BUCKETS: [f64; 10] = [
    1.0, 10.0, 100.0, 1_000.0, 5_000.0, 10_000.0, 25_000.0, 50_000.0, 100_000.0, 500_000.0,
];

/// The process-wide Prometheus recorder, installed on first use; its handle renders the
/// text exposition format. `None` if another recorder was installed first.
pub fn prometheus() -> Option<metrics_exporter_prometheus::PrometheusHandle> {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    static HANDLE: std::sync::OnceLock<Option<metrics_exporter_prometheus::PrometheusHandle>> =
        std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full(FLUSH_ROWS.into()), &ROWS_BUCKETS));
            match builder.and_then(PrometheusBuilder::install_recorder) {
                Ok(handle) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed; /metrics will be empty");
                    None
                }
            }
        })
        .clone()
}

/// How log lines are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Installs the global log subscriber: `RUST_LOG` filters (default `info`), output goes to
/// standard error so standard output stays clean for command results.
pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr.with_max_level(tracing::Level::TRACE));
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

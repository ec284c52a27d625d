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
/// Landing files that failed to write, by `table`.
pub const LAND_WRITE_ERRORS: &str = "coconut_land_write_errors_total";
/// Submissions refused because the landing queue was full, by `table`.
pub const LAND_OVERLOADED: &str = "coconut_land_overloaded_total";

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

//! The pipeline file: where data goes, how the source is reached, and the report
//! parameters. Parsing is strict: an unknown key is an error naming its line and column.
//!
//! Secrets never live in the file, only the names of the environment variables or files
//! that hold them.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod units;

use units::optional_span;
pub use units::{ByteSize, Span};

use crate::land::LandingLimits;
use crate::model::ConvertOptions;
use crate::model::spec::spec;
use crate::model::time::parse_zone;
use crate::source::Entity;

/// The default pipeline file, relative to the working directory.
pub const DEFAULT_PIPELINE: &str = "pipelines/coconut.toml";

/// A pipeline file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("failed to read pipeline {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML of the pipeline's shape.
    #[error("invalid pipeline {path}:{line}:{column}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line of the fault.
        line: usize,
        /// 1-based column of the fault.
        column: usize,
        /// What is wrong, as the parser says.
        message: String,
    },
    /// A value parses but makes no sense.
    #[error("invalid pipeline {path}: {key}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The dotted key at fault, such as `source.page_size`.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// A whole pipeline file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// Where landed data, checkpoints and exports live.
    pub store: StoreConfig,
    /// How the Coconut admin API is reached and read.
    pub source: SourceConfig,
    /// How webhooks are authenticated and accepted.
    #[serde(default)]
    pub receiver: ReceiverConfig,
    /// How landed rows are batched into files.
    #[serde(default)]
    pub landing: LandingConfig,
    /// How often `serve` runs each job.
    #[serde(default)]
    pub schedules: Schedules,
    /// The named parameters of outcome definitions, and where the SQL lives.
    #[serde(default)]
    pub reports: ReportParameters,
    /// The analysts' HTTP query endpoint of `serve`.
    #[serde(default)]
    pub query: QueryConfig,
}

/// The `[query]` table: `POST /query` on `serve`, off unless its token is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueryConfig {
    /// Environment variable holding the bearer token the endpoint requires.
    pub token_env: String,
    /// A file holding the token, read when the variable is unset.
    pub token_file: Option<PathBuf>,
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig {
            token_env: "COCONUT_QUERY_TOKEN".into(),
            token_file: None,
        }
    }
}

/// The `[store]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// A folder path (relative to the working directory) or a URL: `file:///abs/dir`,
    /// `s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix`, `memory://`.
    pub url: String,
}

/// The `[source]` table: the Coconut admin API and the contract's changeable parts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Base URL of the admin API; resource paths are appended to it.
    pub api_url: String,
    /// Environment variable holding the API token.
    #[serde(default = "defaults::token_env")]
    pub token_env: String,
    /// File holding the API token, read when the variable is unset.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Header that carries the token.
    #[serde(default = "defaults::auth_header")]
    pub auth_header: String,
    /// Word before the token in that header; empty for the bare token.
    #[serde(default = "defaults::auth_scheme")]
    pub auth_scheme: String,
    /// Records asked for per page.
    #[serde(default = "defaults::page_size")]
    pub page_size: u32,
    /// Query parameter of the page number.
    #[serde(default = "defaults::page_param")]
    pub page_param: String,
    /// Query parameter of the page size.
    #[serde(default = "defaults::limit_param")]
    pub limit_param: String,
    /// Query parameter of the incremental watermark.
    #[serde(default = "defaults::updated_since_param")]
    pub updated_since_param: String,
    /// The `sort` value that orders records by last change.
    #[serde(default = "defaults::sort")]
    pub sort: String,
    /// Entities to backfill; all of them when left out.
    #[serde(default = "defaults::resources")]
    pub resources: Vec<String>,
    /// Resource paths that differ from the defaults, by entity name.
    #[serde(default)]
    pub resource_paths: BTreeMap<String, String>,
    /// How far before the checkpoint an incremental backfill starts again.
    #[serde(default = "defaults::overlap")]
    pub overlap: Span,
    /// Resources pulled at the same time.
    #[serde(default = "defaults::concurrency")]
    pub concurrency: usize,
    /// Requests per second the backfill sends at most, across resources; 0 for no limit
    /// (429 answers are still honoured).
    #[serde(default)]
    pub rate_limit: f64,
    /// Attempts per API call, the first included.
    #[serde(default = "defaults::max_attempts")]
    pub max_attempts: u32,
    /// Delay before the first retry; doubled for each later one, with jitter.
    #[serde(default = "defaults::retry_base")]
    pub retry_base: Span,
    /// Longest delay between retries (a longer `Retry-After` is still honoured).
    #[serde(default = "defaults::retry_max")]
    pub retry_max: Span,
    /// Timeout of one API request, body included.
    #[serde(default = "defaults::request_timeout")]
    pub request_timeout: Span,
    /// How long a backfill's lease on a resource lasts unless renewed; a crashed run's
    /// lease frees the resource after this.
    #[serde(default = "defaults::lease_ttl")]
    pub lease_ttl: Span,
    /// Zone for engagements whose record and location name none; unset leaves their
    /// `business_date` empty until the location is known.
    #[serde(default)]
    pub default_timezone: Option<String>,
    /// Attributes read under other names: entity, then column, then attribute.
    #[serde(default)]
    pub attribute_names: BTreeMap<String, BTreeMap<String, String>>,
    /// Status words mapped to the standard vocabulary after normalising.
    #[serde(default)]
    pub status_aliases: BTreeMap<String, String>,
}

/// How webhook signatures are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureScheme {
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature` headers (Standard Webhooks).
    #[default]
    StandardWebhooks,
    /// A hex HMAC-SHA256 of the body in one header.
    HmacSha256,
}

/// The `[receiver]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReceiverConfig {
    /// Which signature scheme senders use.
    pub signature: SignatureScheme,
    /// Environment variable holding the secrets, comma-separated for rotation.
    pub secrets_env: String,
    /// File holding the secrets, read when the variable is unset.
    pub secrets_file: Option<PathBuf>,
    /// Header of the plain HMAC scheme.
    pub hmac_header: String,
    /// Largest accepted difference between a signature timestamp and now.
    pub tolerance: Span,
    /// Largest accepted request body.
    pub body_limit: ByteSize,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            signature: SignatureScheme::StandardWebhooks,
            secrets_env: "COCONUT_WEBHOOK_SECRET".into(),
            secrets_file: None,
            hmac_header: "X-Coconut-Signature".into(),
            tolerance: Span(Duration::from_secs(300)),
            body_limit: ByteSize(1 << 20),
        }
    }
}

/// The `[landing]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LandingConfig {
    /// A file is written once this many rows wait.
    pub max_rows: usize,
    /// A file is written once this much data waits.
    pub max_bytes: ByteSize,
    /// How long a file waits for more rows after its first when a write slot is free
    /// (0: written at once; rows arriving while every slot is busy share the next file).
    pub linger: Span,
    /// Data that may wait across all tables before new submissions are refused.
    pub max_pending: ByteSize,
    /// Files of one table written at the same time.
    pub concurrent_flushes: usize,
    /// Rows per Parquet row group.
    pub row_group_rows: usize,
    /// On a local folder, force every file to disk (fsync) before it is acknowledged, so
    /// that an acknowledged row survives a power loss; cloud stores are durable anyway.
    pub sync: bool,
}

impl Default for LandingConfig {
    fn default() -> Self {
        let limits = LandingLimits::default();
        LandingConfig {
            max_rows: limits.max_rows,
            max_bytes: ByteSize(limits.max_bytes as u64),
            linger: Span(limits.linger),
            max_pending: ByteSize(limits.max_pending_bytes as u64),
            concurrent_flushes: limits.concurrent_flushes,
            row_group_rows: limits.row_group_rows,
            sync: limits.sync,
        }
    }
}

/// The `[schedules]` table: intervals of the jobs `serve` runs; `"off"` disables one.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Schedules {
    /// Interval of the incremental backfill.
    #[serde(deserialize_with = "optional_span")]
    pub backfill: Option<Span>,
    /// Interval of compaction of closed days.
    #[serde(deserialize_with = "optional_span")]
    pub compaction: Option<Span>,
    /// Interval of the report run.
    #[serde(deserialize_with = "optional_span")]
    pub reports: Option<Span>,
}

impl Default for Schedules {
    fn default() -> Self {
        let minutes = |m: u64| Some(Span(Duration::from_secs(m * 60)));
        Schedules {
            backfill: minutes(15),
            compaction: minutes(60),
            reports: minutes(60),
        }
    }
}

/// The `[reports]` table: parameters of the outcome definitions.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportParameters {
    /// A walk-in served within this many minutes of check-in meets the wait target.
    pub sla_wait_minutes: u32,
    /// A cancellation this many hours or less before the start is late.
    pub late_cancel_hours: u32,
    /// Minutes after the start before a confirmed appointment with no arrival counts as a
    /// no-show.
    pub no_show_grace_minutes: u32,
    /// Walk-in statuses that mean the client left without being served.
    pub abandoned_statuses: Vec<String>,
    /// Folder of the SQL definitions (`views/` and `reports/`), relative to the working
    /// directory.
    pub sql_dir: PathBuf,
    /// Whether exports include a CSV file beside the Parquet one.
    pub csv: bool,
}

impl Default for ReportParameters {
    fn default() -> Self {
        ReportParameters {
            sla_wait_minutes: 15,
            late_cancel_hours: 24,
            no_show_grace_minutes: 15,
            abandoned_statuses: vec!["cancelled".into(), "removed".into(), "no_show".into()],
            sql_dir: PathBuf::from("sql"),
            csv: false,
        }
    }
}

impl Pipeline {
    /// Reads and checks a pipeline file.
    pub fn load(path: &Path) -> Result<Pipeline, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Pipeline::parse(&text, path)
    }

    /// Parses and checks pipeline text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Pipeline, ConfigError> {
        let pipeline: Pipeline = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|s| line_column(text, s.start))
                .unwrap_or((1, 1));
            ConfigError::Parse {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        pipeline.validate(path)?;
        Ok(pipeline)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            key: key.to_string(),
            reason,
        };
        let source = &self.source;
        url::Url::parse(&source.api_url).map_err(|e| invalid("source.api_url", e.to_string()))?;
        if !(1..=10_000).contains(&source.page_size) {
            return Err(invalid("source.page_size", "must be 1 to 10000".into()));
        }
        if source.concurrency == 0 {
            return Err(invalid("source.concurrency", "must be at least 1".into()));
        }
        if !(source.rate_limit >= 0.0 && source.rate_limit.is_finite()) {
            return Err(invalid("source.rate_limit", "must be 0 or more".into()));
        }
        if source.max_attempts == 0 {
            return Err(invalid("source.max_attempts", "must be at least 1".into()));
        }
        if source.lease_ttl.0 < Duration::from_secs(1) {
            return Err(invalid("source.lease_ttl", "must be at least 1s".into()));
        }
        if source.request_timeout.0.is_zero() {
            return Err(invalid(
                "source.request_timeout",
                "must be more than 0".into(),
            ));
        }
        for name in &source.resources {
            name.parse::<Entity>()
                .map_err(|e| invalid("source.resources", e.to_string()))?;
        }
        for name in source.resource_paths.keys() {
            let key = format!("source.resource_paths.{name}");
            name.parse::<Entity>()
                .map_err(|e| invalid(&key, e.to_string()))?;
        }
        if let Some(zone) = &source.default_timezone {
            parse_zone(zone).map_err(|e| invalid("source.default_timezone", e))?;
        }
        for (name, renames) in &source.attribute_names {
            let key = format!("source.attribute_names.{name}");
            let entity = name
                .parse::<Entity>()
                .map_err(|e| invalid(&key, e.to_string()))?;
            for column in renames.keys() {
                if !spec(entity).columns.iter().any(|c| c.name == column) {
                    let reason = format!("{entity} has no column {column}");
                    return Err(invalid(&format!("{key}.{column}"), reason));
                }
            }
        }
        for status in &self.reports.abandoned_statuses {
            if status.is_empty() || !status.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                let reason = format!("{status:?} is not a status word (lowercase and _)");
                return Err(invalid("reports.abandoned_statuses", reason));
            }
        }
        let landing = &self.landing;
        if landing.max_rows == 0 || landing.row_group_rows == 0 {
            let reason = "max_rows and row_group_rows must be at least 1".to_string();
            return Err(invalid("landing", reason));
        }
        if landing.max_pending.0 < landing.max_bytes.0 {
            let reason = "must be at least landing.max_bytes".to_string();
            return Err(invalid("landing.max_pending", reason));
        }
        Ok(())
    }

    /// The entities to backfill, in the standard order.
    pub fn resources(&self) -> Vec<Entity> {
        let wanted: Vec<Entity> = self
            .source
            .resources
            .iter()
            .filter_map(|r| r.parse().ok())
            .collect();
        Entity::ALL
            .into_iter()
            .filter(|e| wanted.contains(e))
            .collect()
    }

    /// The admin API path of an entity.
    pub fn resource_path(&self, entity: Entity) -> String {
        self.source
            .resource_paths
            .iter()
            .find(|(name, _)| name.parse::<Entity>().ok() == Some(entity))
            .map_or_else(|| entity.resource().to_string(), |(_, p)| p.clone())
    }

    /// The conversion options the source section implies.
    pub fn convert_options(&self) -> ConvertOptions {
        let mut attribute_names: HashMap<Entity, HashMap<String, String>> = HashMap::new();
        for (name, renames) in &self.source.attribute_names {
            if let Ok(entity) = name.parse::<Entity>() {
                let renames = renames.iter().map(|(c, a)| (c.clone(), a.clone()));
                attribute_names.entry(entity).or_default().extend(renames);
            }
        }
        ConvertOptions {
            default_zone: self
                .source
                .default_timezone
                .as_deref()
                .and_then(|z| parse_zone(z).ok()),
            attribute_names,
            status_aliases: self.source.status_aliases.clone().into_iter().collect(),
        }
    }

    /// The landing writer limits the landing section implies.
    pub fn landing_limits(&self) -> LandingLimits {
        let l = &self.landing;
        LandingLimits {
            max_rows: l.max_rows,
            max_bytes: l.max_bytes.0 as usize,
            linger: l.linger.0,
            max_pending_bytes: l.max_pending.0 as usize,
            concurrent_flushes: l.concurrent_flushes.max(1),
            row_group_rows: l.row_group_rows,
            sync: l.sync,
        }
    }
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

mod defaults {
    use super::Span;
    use crate::source::Entity;
    use std::time::Duration;

    pub fn token_env() -> String {
        "COCONUT_API_TOKEN".into()
    }
    pub fn auth_header() -> String {
        "Authorization".into()
    }
    pub fn auth_scheme() -> String {
        "Bearer".into()
    }
    pub fn page_size() -> u32 {
        100
    }
    pub fn page_param() -> String {
        "page".into()
    }
    pub fn limit_param() -> String {
        "limit".into()
    }
    pub fn updated_since_param() -> String {
        "filter[updated_since]".into()
    }
    pub fn sort() -> String {
        "updated_at".into()
    }
    pub fn resources() -> Vec<String> {
        Entity::ALL.iter().map(|e| e.name().to_string()).collect()
    }
    pub fn overlap() -> Span {
        Span(Duration::from_secs(300))
    }
    pub fn concurrency() -> usize {
        4
    }
    pub fn max_attempts() -> u32 {
        8
    }
    pub fn retry_base() -> Span {
        Span(Duration::from_millis(500))
    }
    pub fn retry_max() -> Span {
        Span(Duration::from_secs(30))
    }
    pub fn request_timeout() -> Span {
        Span(Duration::from_secs(60))
    }
    pub fn lease_ttl() -> Span {
        Span(Duration::from_secs(120))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "[store]\nurl = \"lake\"\n[source]\napi_url = \"http://h/api\"\n";

    fn parse(text: &str) -> Result<Pipeline, ConfigError> {
        Pipeline::parse(text, Path::new("p.toml"))
    }

    #[test]
    fn a_minimal_file_takes_the_defaults() {
        let p = parse(MINIMAL).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.resources(), Entity::ALL.to_vec());
        assert_eq!(p.landing.linger, Span(Duration::ZERO));
        assert_eq!(p.reports.sla_wait_minutes, 15);
        assert_eq!(
            p.resource_path(Entity::QueueAppointments),
            "queue-appointments"
        );
    }

    #[test]
    fn a_misspelled_key_names_its_line_and_column() {
        let text = format!("{MINIMAL}[landing]\nmax_row = 5\n");
        let err = parse(&text).map(|_| ()).unwrap_err().to_string();
        assert!(
            err.starts_with("invalid pipeline p.toml:6:1: unknown field `max_row`"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            ("[landing]\nlinger = \"10 parsecs\"\n", "unknown unit"),
            ("[landing]\nmax_bytes = \"5XB\"\n", "unknown unit"),
            (
                "[source.attribute_names.appointments]\nbogus = \"x\"\n",
                "has no column bogus",
            ),
            ("[schedules]\nbackfill = \"soon\"\n", "not a duration"),
        ];
        for (extra, expected) in cases {
            let text = MINIMAL.to_string() + extra;
            let err = parse(&text).map(|_| ()).unwrap_err().to_string();
            assert!(err.contains(expected), "{extra}: {err}");
        }
        let zone = MINIMAL.to_string() + "default_timezone = \"Mars/Base\"\n";
        let err = parse(&zone).map(|_| ()).unwrap_err().to_string();
        assert!(err.contains("source.default_timezone"), "{err}");
    }

    #[test]
    fn off_disables_a_schedule() {
        let text = format!("{MINIMAL}[schedules]\ncompaction = \"off\"\n");
        let p = parse(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.schedules.compaction, None);
        assert!(p.schedules.backfill.is_some());
    }
}

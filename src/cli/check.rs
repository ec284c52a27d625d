//! `coconut-lake check`: validates the pipeline and prints the plan it describes.

use std::path::Path;

use anyhow::Context;

use super::output;
use crate::config::{Pipeline, SignatureScheme, Span};
use crate::land::Store;

/// Prints what the pipeline would do, after checking that its store opens and answers.
pub async fn run(path: &Path, pipeline: &Pipeline) -> anyhow::Result<()> {
    let store = Store::open(&pipeline.store.url)?;
    store
        .objects()
        .list_with_delimiter(None)
        .await
        .with_context(|| format!("store {} does not answer", store.url()))?;

    let source = &pipeline.source;
    let token = if std::env::var_os(&source.token_env).is_some() {
        "set"
    } else {
        "not set"
    };
    let secret = if std::env::var_os(&pipeline.receiver.secrets_env).is_some() {
        "set"
    } else {
        "not set"
    };
    let every = |s: Option<Span>| s.map_or_else(|| "off".to_string(), |s| s.to_string());
    let signature = match pipeline.receiver.signature {
        SignatureScheme::StandardWebhooks => "standard webhooks",
        SignatureScheme::HmacSha256 => "hmac-sha256",
    };
    let resources: Vec<String> = pipeline
        .resources()
        .into_iter()
        .map(|e| format!("{e} ({})", pipeline.resource_path(e)))
        .collect();
    let l = &pipeline.landing;
    let r = &pipeline.reports;

    output::line(format!("pipeline {} is valid", path.display()));
    output::line(format!("store      {}", store.url()));
    output::line(format!(
        "source     {} ({} {}), {} per page, overlap {}",
        source.api_url, source.token_env, token, source.page_size, source.overlap
    ));
    output::line(format!("resources  {}", resources.join(", ")));
    output::line(format!(
        "receiver   {signature}, secrets in {} ({secret}), body limit {}, tolerance {}",
        pipeline.receiver.secrets_env, pipeline.receiver.body_limit, pipeline.receiver.tolerance
    ));
    output::line(format!(
        "landing    files of up to {} rows or {}, linger {}, {} may wait",
        l.max_rows, l.max_bytes, l.linger, l.max_pending
    ));
    output::line(format!(
        "schedules  backfill {}, compaction {}, reports {}",
        every(pipeline.schedules.backfill),
        every(pipeline.schedules.compaction),
        every(pipeline.schedules.reports)
    ));
    output::line(format!(
        "reports    wait target {} min, late cancel {} h, no-show grace {} min, abandoned = {}",
        r.sla_wait_minutes,
        r.late_cancel_hours,
        r.no_show_grace_minutes,
        r.abandoned_statuses.join("|")
    ));
    Ok(())
}

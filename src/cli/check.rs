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
    let token = secret_status(&source.token_env, source.token_file.as_deref());
    let receiver = &pipeline.receiver;
    let secret = secret_status(&receiver.secrets_env, receiver.secrets_file.as_deref());
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
        "source     {} (token {token}), {} per page, overlap {}",
        source.api_url, source.page_size, source.overlap
    ));
    output::line(format!("resources  {}", resources.join(", ")));
    output::line(format!(
        "receiver   {signature} (secrets {secret}), body limit {}, tolerance {}",
        receiver.body_limit, receiver.tolerance
    ));
    output::line(format!(
        "landing    files of up to {} rows or {}, linger {}, {} may wait, {}",
        l.max_rows,
        l.max_bytes,
        l.linger,
        l.max_pending,
        match (l.sync, store.local_folder().is_some()) {
            (true, true) => "synced to disk before acknowledgement",
            (false, true) => "not synced to disk (a power loss can lose acknowledged rows)",
            (_, false) => "durable when the store's put returns",
        }
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

/// Where a secret would come from, without reading or showing it.
fn secret_status(variable: &str, file: Option<&Path>) -> String {
    if std::env::var_os(variable).is_some() {
        return format!("in {variable}");
    }
    match file {
        Some(path) if path.is_file() => format!("in {}", path.display()),
        Some(path) => format!(
            "missing: {variable} is unset and {} does not exist",
            path.display()
        ),
        None => format!("missing: {variable} is unset"),
    }
}

//! `coconut-lake land`: lands saved JSON:API documents and webhook events from files, the
//! offline twin of backfill and the receiver.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{LandArgs, output};
use crate::config::Pipeline;
use crate::land::{Lander, Store};
use crate::model::{Converter, Envelope, RowSet, Source, sha256_hex};
use crate::report::{open_session, table_counts};
use crate::source::{Document, Entity, WebhookEvent};

/// An input file that cannot be read as documents or events.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The file or folder could not be read.
    #[error("failed to read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not JSON, nor JSON lines.
    #[error("{path}:{line}: not JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The 1-based line (1 for a whole-file document).
        line: usize,
        /// The parser's complaint.
        source: serde_json::Error,
    },
}

/// How records from files are marked as authenticated: they were not, by a sender.
const VERIFIED_BY: &str = "file";

/// Lands every record of the inputs and prints what landed and what the store holds.
pub async fn run(pipeline: &Pipeline, args: &LandArgs) -> anyhow::Result<()> {
    let mut payloads = Vec::new();
    for path in expand(&args.inputs)? {
        payloads.extend(read_payloads(&path)?);
    }
    let converter = Converter::new(pipeline.convert_options());
    let received_at = Utc::now();
    let rows = sort_rows(&converter, payloads, received_at);

    let store = Store::open(&pipeline.store.url)?;
    let lander = Lander::start(store.clone(), pipeline.landing_limits());
    let today = received_at.date_naive();
    let submits = rows.into_tables().map(|rows| {
        let lander = lander.clone();
        async move {
            let batch = rows.to_batch()?;
            let landed = lander.submit(rows.table(), batch, today).await?;
            anyhow::Ok((rows.table(), rows.len(), landed.path))
        }
    });
    let results = futures::future::join_all(submits).await;
    lander.shutdown().await;

    let mut summary = Vec::new();
    for result in results {
        let (table, count, path) = result.context("failed to land records")?;
        summary.push(vec![table.to_string(), count.to_string(), path]);
    }
    output::line(format!("landed into {}", store.url()));
    output::table(&["table", "rows", "file"], &summary);

    let ctx = open_session(&store).await?;
    let totals: Vec<Vec<String>> = table_counts(&ctx)
        .await?
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(t, n)| vec![t.to_string(), n.to_string()])
        .collect();
    output::line("");
    output::line("the store now holds");
    output::table(&["table", "rows"], &totals);
    Ok(())
}

/// One parsed JSON value from an input, with the bytes it came from.
struct Payload {
    value: Value,
    bytes: Vec<u8>,
}

fn expand(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, InputError> {
    let mut files = Vec::new();
    for input in inputs {
        if !input.is_dir() {
            files.push(input.clone());
            continue;
        }
        let failed = |source| InputError::Read {
            path: input.clone(),
            source,
        };
        let mut found = Vec::new();
        for entry in std::fs::read_dir(input).map_err(failed)? {
            let path = entry.map_err(failed)?.path();
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or_default();
            if matches!(ext, "json" | "ndjson" | "jsonl") {
                found.push(path);
            }
        }
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

fn read_payloads(path: &Path) -> Result<Vec<Payload>, InputError> {
    let failed = |source| InputError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut bytes).map_err(failed)?;
    } else {
        bytes = std::fs::read(path).map_err(failed)?;
    }
    if let Ok(value) = serde_json::from_slice::<Value>(&bytes) {
        return Ok(vec![Payload { value, bytes }]);
    }
    let mut payloads = Vec::new();
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let value = serde_json::from_slice(line).map_err(|source| InputError::Json {
            path: path.to_path_buf(),
            line: i + 1,
            source,
        })?;
        payloads.push(Payload {
            value,
            bytes: line.to_vec(),
        });
    }
    Ok(payloads)
}

fn is_event(value: &Value) -> bool {
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    kind.contains('.') && value.get("data").is_some()
}

/// Converts every payload, learning location zones first so engagements get their day.
fn sort_rows(converter: &Converter, payloads: Vec<Payload>, received_at: DateTime<Utc>) -> RowSet {
    let mut set = RowSet::new();
    let (events, documents): (Vec<Payload>, Vec<Payload>) =
        payloads.into_iter().partition(|p| is_event(&p.value));

    let mut parsed = Vec::new();
    for payload in documents {
        match Document::from_value(payload.value) {
            Ok(doc) => parsed.push(doc),
            Err(e) => {
                let envelope = bad_payload_envelope(&payload.bytes, received_at);
                set.quarantine(&envelope, &e.to_string(), &payload.bytes);
            }
        }
    }
    for doc in &parsed {
        converter.learn_included(&doc.included);
        converter.learn_included(&doc.data);
    }
    for doc in &parsed {
        for resource in doc.data.iter().chain(&doc.included) {
            let entity = Entity::from_type(&resource.kind);
            let envelope = match entity {
                Some(e) => Envelope::for_backfill(e, resource, received_at, VERIFIED_BY),
                None => unknown_envelope(&resource.kind, resource.raw.as_bytes(), received_at),
            };
            set.add(converter, entity, resource, &envelope);
        }
    }
    for payload in events {
        match WebhookEvent::from_value(payload.value) {
            Ok(event) => {
                let envelope =
                    Envelope::for_webhook(&event, &payload.bytes, received_at, VERIFIED_BY);
                set.add(converter, event.entity(), &event.data, &envelope);
            }
            Err(e) => {
                let envelope = bad_payload_envelope(&payload.bytes, received_at);
                set.quarantine(&envelope, &e.to_string(), &payload.bytes);
            }
        }
    }
    set
}

fn unknown_envelope(kind: &str, bytes: &[u8], received_at: DateTime<Utc>) -> Envelope {
    let sha = sha256_hex(bytes);
    Envelope {
        event_id: format!("backfill:{kind}:{}", &sha[..16]),
        source: Source::Backfill,
        event_type: format!("{kind}.backfill"),
        received_at,
        verified_by: VERIFIED_BY.to_string(),
        occurred_at: None,
        payload_sha256: sha,
    }
}

fn bad_payload_envelope(bytes: &[u8], received_at: DateTime<Utc>) -> Envelope {
    let mut envelope = unknown_envelope("unparsed", bytes, received_at);
    envelope.event_type = String::new();
    envelope
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_and_documents_are_told_apart() {
        assert!(is_event(
            &json!({"type": "client.created", "data": {"id": 1}})
        ));
        assert!(!is_event(&json!({"data": [{"id": 1, "type": "clients"}]})));
        assert!(!is_event(&json!({"type": "clients", "data": {}})));
    }
}

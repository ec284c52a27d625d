//! The envelope every landing row carries: where the row came from and when.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::source::{Entity, Resource, WebhookEvent};

/// How a row reached coconut-lake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// Pushed by Coconut as a webhook.
    Webhook,
    /// Pulled from the admin API (or from a saved API document).
    Backfill,
}

impl Source {
    /// The value of the `source` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Webhook => "webhook",
            Source::Backfill => "backfill",
        }
    }
}

/// The envelope columns of one landing row.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The webhook id, or a stable hash of a backfilled record version.
    pub event_id: String,
    /// How the row arrived.
    pub source: Source,
    /// Such as `appointment.updated`, or `appointment.backfill` for pulled records.
    pub event_type: String,
    /// When coconut-lake received it.
    pub received_at: DateTime<Utc>,
    /// How the sender was authenticated, such as `standard_webhooks` or `api_token`.
    pub verified_by: String,
    /// When the change happened at the source, if the event says; used when the record
    /// itself has no `updated_at`.
    pub occurred_at: Option<DateTime<Utc>>,
    /// Hex SHA-256 of the payload as received (the request body, or the record's JSON).
    pub payload_sha256: String,
}

/// Hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Envelope {
    /// The envelope of a record read from the admin API. Its event id depends only on the
    /// entity, the id and the record's content, so pulling one version twice gives one id.
    pub fn for_backfill(
        entity: Entity,
        resource: &Resource,
        received_at: DateTime<Utc>,
        verified_by: &str,
    ) -> Envelope {
        let payload_sha256 = sha256_hex(resource.raw.as_bytes());
        Envelope {
            event_id: format!(
                "backfill:{}:{}:{}",
                entity,
                resource.id,
                &payload_sha256[..16]
            ),
            source: Source::Backfill,
            event_type: format!("{}.backfill", entity.event_prefix()),
            received_at,
            verified_by: verified_by.to_string(),
            occurred_at: None,
            payload_sha256,
        }
    }

    /// The envelope of a webhook delivery; `body` is the request body as received.
    pub fn for_webhook(
        event: &WebhookEvent,
        body: &[u8],
        received_at: DateTime<Utc>,
        verified_by: &str,
    ) -> Envelope {
        let occurred_at = event
            .occurred_at
            .as_deref()
            .and_then(|t| super::time::parse_timestamp(t, None).ok());
        Envelope {
            event_id: event.id.clone(),
            source: Source::Webhook,
            event_type: event.event_type.clone(),
            received_at,
            verified_by: verified_by.to_string(),
            occurred_at,
            payload_sha256: sha256_hex(body),
        }
    }

    /// The envelope of a payload that could not be read as a record or event, for its
    /// quarantine row: `id` is the sender's id if it gave one, else `unparsed:<sha16>`.
    pub fn for_unusable(
        id: Option<&str>,
        source: Source,
        body: &[u8],
        received_at: DateTime<Utc>,
        verified_by: &str,
    ) -> Envelope {
        let sha = sha256_hex(body);
        Envelope {
            event_id: id.map_or_else(|| format!("unparsed:{}", &sha[..16]), str::to_string),
            source,
            event_type: String::new(),
            received_at,
            verified_by: verified_by.to_string(),
            occurred_at: None,
            payload_sha256: sha,
        }
    }
}

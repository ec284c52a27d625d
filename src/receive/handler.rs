//! `POST /webhooks`: one delivery, from raw bytes to a landed row, and the status that
//! tells the sender what happened.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::json;

use super::Receiver;
use crate::land::LandError;
use crate::model::{Envelope, Rows, Source, Table, quarantine_row, unrecognized_row};
use crate::source::{ContractError, WebhookEvent};
use crate::telemetry as names;

/// Why a delivery was not accepted; each maps to one status.
#[derive(Debug)]
enum Refusal {
    TooLarge(usize),
    Unauthorized(String),
    UnsupportedMediaType(String),
    BadJson(String),
    /// Authenticated but unusable; the payload is already in quarantine.
    Unusable(String),
    Overloaded(String),
    StoreFailed(String),
    /// A row that does not fit its own table: a defect, answered 500 so the sender retries.
    Internal(String),
}

impl Refusal {
    fn reason(&self) -> &'static str {
        match self {
            Refusal::TooLarge(_) => "too_large",
            Refusal::Unauthorized(_) => "unauthorized",
            Refusal::UnsupportedMediaType(_) => "unsupported_media_type",
            Refusal::BadJson(_) => "bad_json",
            Refusal::Unusable(_) => "unusable",
            Refusal::Overloaded(_) => "overloaded",
            Refusal::StoreFailed(_) => "store_failed",
            Refusal::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (status, detail, retry_after) = match &self {
            Refusal::TooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body larger than {limit} bytes"),
                None,
            ),
            Refusal::Unauthorized(why) => (StatusCode::UNAUTHORIZED, why.clone(), None),
            Refusal::UnsupportedMediaType(given) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("content type must be application/json, not {given:?}"),
                None,
            ),
            Refusal::BadJson(why) => (StatusCode::BAD_REQUEST, why.clone(), None),
            Refusal::Unusable(why) => (StatusCode::UNPROCESSABLE_ENTITY, why.clone(), None),
            Refusal::Overloaded(why) => (StatusCode::TOO_MANY_REQUESTS, why.clone(), Some(1)),
            Refusal::StoreFailed(why) => (StatusCode::SERVICE_UNAVAILABLE, why.clone(), Some(2)),
            Refusal::Internal(why) => (StatusCode::INTERNAL_SERVER_ERROR, why.clone(), None),
        };
        metrics::counter!(names::WEBHOOKS_REJECTED, "reason" => self.reason()).increment(1);
        let body = json!({"error": self.reason(), "detail": detail}).to_string();
        let mut response =
            (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Receives one delivery.
pub async fn receive(State(receiver): State<Arc<Receiver>>, request: Request) -> Response {
    let started = Instant::now();
    metrics::counter!(names::WEBHOOKS_RECEIVED).increment(1);
    // The request taken whole, so that its headers are borrowed rather than copied.
    let (parts, body) = request.into_parts();
    let response = match accept(&receiver, &parts.headers, body).await {
        Ok(answer) => answer.into_response(),
        Err(refusal) => {
            if matches!(refusal, Refusal::StoreFailed(_) | Refusal::Internal(_)) {
                tracing::warn!(reason = refusal.reason(), detail = ?refusal, "webhook refused");
            } else {
                tracing::debug!(reason = refusal.reason(), detail = ?refusal, "webhook refused");
            }
            refusal.into_response()
        }
    };
    let class = match response.status().as_u16() {
        200..=299 => "2xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    metrics::histogram!(names::WEBHOOK_SECONDS, "status" => class)
        .record(started.elapsed().as_secs_f64());
    response
}

/// What a landed delivery is answered with.
struct Accepted {
    event_id: String,
    table: Table,
    file: String,
}

/// The body of a 200 answer.
#[derive(serde::Serialize)]
struct LandedBody<'a> {
    status: &'static str,
    event_id: &'a str,
    table: &'a str,
    file: &'a str,
}

impl IntoResponse for Accepted {
    fn into_response(self) -> Response {
        metrics::counter!(names::WEBHOOKS_LANDED, "table" => self.table.name()).increment(1);
        let body = serde_json::to_string(&LandedBody {
            status: "landed",
            event_id: &self.event_id,
            table: self.table.name(),
            file: &self.file,
        })
        .unwrap_or_default();
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }
}

async fn accept(receiver: &Receiver, headers: &HeaderMap, body: Body) -> Result<Accepted, Refusal> {
    let limit = receiver.body_limit;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(Refusal::TooLarge(limit));
    }
    // Reads at most `limit` bytes; a longer body fails here without being read further.
    let bytes = to_bytes(body, limit)
        .await
        .map_err(|_| Refusal::TooLarge(limit))?;

    let received_at = Utc::now();
    receiver
        .verifier
        .verify(headers, &bytes, received_at.timestamp())
        .map_err(|e| Refusal::Unauthorized(e.to_string()))?;
    let verified_by = receiver.verifier.name();

    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !is_json(content_type) {
        return Err(Refusal::UnsupportedMediaType(content_type.to_string()));
    }
    let header_id = headers.get("webhook-id").and_then(|v| v.to_str().ok());
    let event = match WebhookEvent::from_slice(&bytes) {
        Ok(event) => event,
        Err(ContractError::Json(e)) => return Err(Refusal::BadJson(format!("invalid json: {e}"))),
        Err(e) => {
            let envelope = Envelope::for_unusable(
                header_id,
                Source::Webhook,
                &bytes,
                received_at,
                verified_by,
            );
            return Err(quarantine(receiver, &envelope, &e.to_string(), &bytes).await);
        }
    };
    let envelope = Envelope::for_webhook(&event, &bytes, received_at, verified_by);
    let (table, row) = match event.entity() {
        None => (
            Table::Unrecognized,
            unrecognized_row(&envelope, &event.data),
        ),
        Some(entity) => {
            if entity == crate::source::Entity::Locations {
                receiver
                    .converter
                    .learn_included(std::slice::from_ref(&event.data));
            }
            match receiver.converter.convert(entity, &event.data, &envelope) {
                Ok(row) => (Table::Entity(entity), row),
                Err(e) => return Err(quarantine(receiver, &envelope, &e.to_string(), &bytes).await),
            }
        }
    };
    let file = land(receiver, table, row, received_at).await?;
    Ok(Accepted {
        event_id: event.id,
        table,
        file,
    })
}

/// Whether a content type is JSON: `application/json` or `application/<something>+json`,
/// with any parameters.
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Lands the payload in quarantine with its reason; the answer is 422 once it is stored,
/// or the landing failure if it could not be.
async fn quarantine(
    receiver: &Receiver,
    envelope: &Envelope,
    reason: &str,
    body: &[u8],
) -> Refusal {
    let row = quarantine_row(envelope, reason, body);
    match land(receiver, Table::Quarantine, row, envelope.received_at).await {
        Ok(_) => Refusal::Unusable(reason.to_string()),
        Err(failed) => failed,
    }
}

/// Submits one row and waits for its file to be in the store.
async fn land(
    receiver: &Receiver,
    table: Table,
    row: Vec<crate::model::Cell>,
    received_at: DateTime<Utc>,
) -> Result<String, Refusal> {
    let mut rows = Rows::new(table);
    rows.push(row);
    match receiver
        .lander
        .submit_rows(rows, received_at.date_naive())
        .await
    {
        Ok(landed) => Ok(landed.path),
        Err(e @ LandError::Overloaded { .. }) => Err(Refusal::Overloaded(e.to_string())),
        Err(e @ LandError::Schema { .. }) => Err(Refusal::Internal(e.to_string())),
        Err(e) => Err(Refusal::StoreFailed(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/vnd.coconut+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json(""));
        assert!(!is_json("application/x-www-form-urlencoded"));
    }
}

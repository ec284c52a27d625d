//! `POST /query` on `serve`: the analysts' query over HTTP, behind a bearer token. Off
//! unless a token is configured.
//!
//! The body is `{"sql": "...", "format": "json" | "csv" | "parquet"}` (JSON by default).
//! 401 without the token, 400 for a statement that does not parse or plan or is not a
//! read, 500 when it fails while running.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;

use super::definitions::{Definitions, Parameters};
use super::query::{Format, QueryError, render, run_query};
use super::run::open_query_session;
use crate::config::ReportParameters;
use crate::land::Store;

/// What the query endpoint needs.
pub struct QueryService {
    /// The store whose views and exports are queried.
    pub store: Store,
    /// The folder of the SQL definitions.
    pub sql_dir: std::path::PathBuf,
    /// The report parameters the views use.
    pub parameters: ReportParameters,
    /// The bearer token a request must carry.
    pub token: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryRequest {
    sql: String,
    #[serde(default)]
    format: Option<String>,
}

/// The route `POST /query`.
pub fn router(service: Arc<QueryService>) -> Router {
    Router::new()
        .route("/query", post(query))
        .with_state(service)
}

fn refuse(status: StatusCode, message: impl std::fmt::Display) -> Response {
    let body = serde_json::json!({ "error": message.to_string() });
    (status, axum::Json(body)).into_response()
}

async fn query(
    State(service): State<Arc<QueryService>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !same_secret(presented.as_bytes(), service.token.as_bytes()) {
        return refuse(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
    }
    let request: QueryRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!("expected {{\"sql\": ..., \"format\": ...}}: {e}"),
            );
        }
    };
    let format = match request.format.as_deref().unwrap_or("json") {
        "json" => Format::Json,
        "csv" => Format::Csv,
        "parquet" => Format::Parquet,
        other => {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!("unknown format {other:?} (json, csv or parquet)"),
            );
        }
    };

    let parameters = Parameters::new(&service.parameters, chrono::Utc::now());
    let definitions = match Definitions::load(&service.sql_dir, &parameters) {
        Ok(definitions) => definitions,
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let ctx = match open_query_session(&service.store, &definitions).await {
        Ok(ctx) => ctx,
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let answer = match run_query(&ctx, &request.sql).await {
        Ok(answer) => answer,
        Err(e @ (QueryError::Invalid(_) | QueryError::NotARead)) => {
            tracing::debug!(error = %e, "query refused");
            return refuse(StatusCode::BAD_REQUEST, e);
        }
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let content_type = match format {
        Format::Json => "application/json",
        Format::Csv => "text/csv; charset=utf-8",
        Format::Parquet => "application/vnd.apache.parquet",
        Format::Table => "text/plain; charset=utf-8",
    };
    match render(&answer, format) {
        Ok(bytes) => ([(header::CONTENT_TYPE, content_type)], bytes).into_response(),
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// Whether a presented token equals the configured one, in time that does not depend on
/// where they first differ.
fn same_secret(presented: &[u8], expected: &[u8]) -> bool {
    presented.len() == expected.len()
        && presented
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

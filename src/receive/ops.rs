//! Operations endpoints: liveness, readiness (the store answers) and Prometheus metrics.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use super::Receiver;

/// Always 200 while the process serves requests.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// 200 when the store answers a listing within five seconds, else 503.
pub async fn readyz(State(receiver): State<Arc<Receiver>>) -> Response {
    let objects = receiver.store.objects().clone();
    let probe = async move {
        let prefix = object_store::path::Path::from("landing");
        let mut listing = objects.list(Some(&prefix));
        match listing.next().await {
            None | Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(e),
        }
    };
    match tokio::time::timeout(Duration::from_secs(5), probe).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n").into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness probe: the store failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("store failed: {e}\n"),
            )
                .into_response()
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "store did not answer within 5 s\n",
        )
            .into_response(),
    }
}

/// The Prometheus text exposition of every metric the process recorded.
pub async fn metrics(State(receiver): State<Arc<Receiver>>) -> Response {
    let text = receiver
        .metrics
        .as_ref()
        .map(|h| h.render())
        .unwrap_or_default();
    let content_type = "text/plain; version=0.0.4; charset=utf-8";
    ([(header::CONTENT_TYPE, content_type)], text).into_response()
}

//! The webhook receiver: authenticates each delivery over its raw bytes, converts the
//! event, lands it through the group-commit writer, and answers 2xx only once the event's
//! landing file is in the store.
//!
//! Every refusal says why with its status: 401 unauthenticated, 413 too large, 415 not
//! JSON, 400 unparseable, 422 authenticated but unusable (the payload goes to quarantine
//! first), 429 writer full and 503 store failing (both with `Retry-After`, nothing claimed).

mod handler;
mod ops;
mod verify;
mod zones;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tokio::net::TcpListener;

pub use verify::Verifier;
pub use zones::learn_landed_zones;

use crate::land::{Lander, Store};
use crate::model::Converter;

/// The path webhooks are posted to.
pub const WEBHOOK_PATH: &str = "/webhooks";

/// Everything a request handler needs.
pub struct Receiver {
    /// Authenticates deliveries.
    pub verifier: Verifier,
    /// Turns event data into rows; learns location zones from location events.
    pub converter: Arc<Converter>,
    /// Lands rows.
    pub lander: Lander,
    /// The store, for the readiness probe.
    pub store: Store,
    /// Largest accepted body, in bytes.
    pub body_limit: usize,
    /// Renders `/metrics`; `None` when no Prometheus recorder could be installed.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

/// The receiver's routes: `POST /webhooks`, `GET /healthz`, `GET /readyz`, `GET /metrics`.
pub fn app(receiver: Arc<Receiver>) -> Router {
    Router::new()
        .route(WEBHOOK_PATH, post(handler::receive))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        // The handler reads the body itself, bounded by `body_limit`.
        .layer(DefaultBodyLimit::disable())
        .with_state(receiver)
}

/// Serves until `shutdown` resolves, then stops accepting, lets in-flight requests finish
/// and flushes the writer, so every request that was answered 2xx is in the store.
pub async fn run(
    listener: TcpListener,
    receiver: Arc<Receiver>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    run_with(listener, receiver, Router::new(), shutdown).await
}

/// [`run`] with more routes served beside the receiver's, such as `POST /query`.
pub async fn run_with(
    listener: TcpListener,
    receiver: Arc<Receiver>,
    extra: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let lander = receiver.lander.clone();
    let upkeep = receiver.metrics.clone().map(|handle| {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                tick.tick().await;
                handle.run_upkeep();
            }
        })
    });
    let served = axum::serve(listener, app(receiver).merge(extra))
        .with_graceful_shutdown(shutdown)
        .await;
    tracing::info!("receiver stopped accepting; flushing the landing writer");
    lander.shutdown().await;
    if let Some(upkeep) = upkeep {
        upkeep.abort();
    }
    served
}

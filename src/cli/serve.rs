//! `coconut-lake serve`: the webhook receiver, until SIGINT or SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use object_store::RetryConfig;

use super::{ServeArgs, output};
use crate::config::{Pipeline, ReceiverConfig, SignatureScheme};
use crate::land::{Lander, Store};
use crate::model::Converter;
use crate::receive::{Receiver, Verifier, WEBHOOK_PATH, run};
use crate::source::signature::{Secret, parse_secrets};

/// A missing or unreadable webhook secret.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// Neither the variable nor the file holds a secret.
    #[error("no webhook secret: set {variable}{}", file_hint(.file))]
    Missing {
        /// The environment variable.
        variable: String,
        /// The file, if the pipeline names one.
        file: Option<std::path::PathBuf>,
    },
    /// The file could not be read.
    #[error("failed to read the webhook secrets file {path}: {source}")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The secrets do not parse.
    #[error("invalid webhook secret: {0}")]
    Invalid(#[from] crate::source::signature::SignatureError),
}

fn file_hint(file: &Option<std::path::PathBuf>) -> String {
    file.as_ref()
        .map(|f| format!(" or write {}", f.display()))
        .unwrap_or_default()
}

/// Reads the secrets from the pipeline's variable, else its file; never logs them.
pub fn secrets(receiver: &ReceiverConfig) -> Result<Vec<Secret>, SecretError> {
    if let Ok(list) = std::env::var(&receiver.secrets_env) {
        return Ok(parse_secrets(&list)?);
    }
    let missing = || SecretError::Missing {
        variable: receiver.secrets_env.clone(),
        file: receiver.secrets_file.clone(),
    };
    let path = receiver.secrets_file.as_ref().ok_or_else(missing)?;
    if !path.exists() {
        return Err(missing());
    }
    let text = std::fs::read_to_string(path).map_err(|source| SecretError::Read {
        path: path.clone(),
        source,
    })?;
    Ok(parse_secrets(text.trim())?)
}

/// The receiver's store retry policy: a failing store answers 503 within seconds, and the
/// sender retries, instead of holding the request for minutes.
fn store_retry() -> RetryConfig {
    RetryConfig {
        max_retries: 2,
        retry_timeout: Duration::from_secs(10),
        ..RetryConfig::default()
    }
}

/// Runs the receiver until interrupted, then flushes.
pub async fn run_serve(pipeline: &Pipeline, args: &ServeArgs) -> anyhow::Result<()> {
    let config = &pipeline.receiver;
    let secrets = secrets(config)?;
    let verifier = match config.signature {
        SignatureScheme::StandardWebhooks => Verifier::Standard {
            secrets,
            tolerance: config.tolerance.0,
        },
        SignatureScheme::HmacSha256 => Verifier::Hmac {
            secrets,
            header: config.hmac_header.clone(),
        },
    };
    let store = Store::open_with_retry(&pipeline.store.url, store_retry())?;
    let receiver = Arc::new(Receiver {
        verifier,
        converter: Converter::new(pipeline.convert_options()),
        lander: Lander::start(store.clone(), pipeline.landing_limits()),
        store: store.clone(),
        body_limit: config.body_limit.0 as usize,
        metrics: crate::telemetry::prometheus(),
    });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("failed to listen on {}", args.listen))?;
    let address = listener
        .local_addr()
        .context("failed to read the bound address")?;
    tracing::info!(%address, store = %store.url(), scheme = receiver.verifier.name(), "receiver started");
    output::line(format!(
        "receiving webhooks on http://{address}{WEBHOOK_PATH}"
    ));
    output::line(format!("landing into {}", store.url()));
    run(listener, receiver, shutdown_signal())
        .await
        .context("the receiver failed")?;
    tracing::info!("receiver stopped");
    Ok(())
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutdown requested");
}

//! `coconut-lake serve`: the webhook receiver, the scheduled backfill and reports, and the
//! query endpoint, until SIGINT or SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use object_store::RetryConfig;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::secrets::{SecretError, read};
use super::{ServeArgs, backfill, output, report};
use crate::backfill::{Plan, Progress, Start};
use crate::config::{Pipeline, ReceiverConfig, SignatureScheme};
use crate::land::{Lander, Store};
use crate::model::Converter;
use crate::receive::{Receiver, Verifier, WEBHOOK_PATH, run_with};
use crate::source::signature::{Secret, parse_secrets};

/// Reads the secrets from the pipeline's variable, else its file; never logs them.
pub fn secrets(receiver: &ReceiverConfig) -> Result<Vec<Secret>, SecretError> {
    let list = read(
        "webhook secret",
        &receiver.secrets_env,
        receiver.secrets_file.as_deref(),
    )?;
    Ok(parse_secrets(&list)?)
}

/// The time one store request of the receiver may take: a landing put is a few KB, and a
/// store that hangs should reach the sender as a 503 while it still waits.
const STORE_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

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
    let store = Store::open_with(
        &pipeline.store.url,
        store_retry(),
        Some(STORE_REQUEST_TIMEOUT),
    )?;
    let converter = Arc::new(Converter::new(pipeline.convert_options()));
    let lander = Lander::start(store.clone(), pipeline.landing_limits());
    // Zones of locations landed before this start, read in the background: until they
    // are in, engagements at locations no event has placed yet land without a
    // business day, as they would without them.
    tokio::spawn({
        let (store, converter) = (store.clone(), Arc::clone(&converter));
        async move {
            match crate::receive::learn_landed_zones(&store, &converter).await {
                Ok(learned) => tracing::info!(learned, "learned the zones of landed locations"),
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the zones of landed locations")
                }
            }
        }
    });
    let receiver = Arc::new(Receiver {
        verifier,
        converter: Arc::clone(&converter),
        lander: lander.clone(),
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
    let extra = query_routes(pipeline, &store, address);
    let (stop, stopped) = watch::channel(false);
    let schedules = [
        backfill_schedule(pipeline, &store, &lander, &converter, stopped.clone()),
        report_schedule(pipeline, &store, stopped),
    ];
    // On a signal the schedules stop after their current page or report; the receiver
    // then stops accepting, answers what is in flight, and the landing writer lands the
    // rest.
    let shutdown = async move {
        shutdown_signal().await;
        let _ = stop.send(true);
        for schedule in schedules.into_iter().flatten() {
            let _ = schedule.await;
        }
    };
    run_with(listener, receiver, extra, shutdown)
        .await
        .context("the receiver failed")?;
    tracing::info!("receiver stopped");
    Ok(())
}

/// Starts the scheduled backfill, if the pipeline has one and the API token is there.
fn backfill_schedule(
    pipeline: &Pipeline,
    store: &Store,
    lander: &Lander,
    converter: &Arc<Converter>,
    stop: watch::Receiver<bool>,
) -> Option<JoinHandle<()>> {
    let every = pipeline.schedules.backfill?;
    let plan = Plan {
        resources: pipeline.resources(),
        start: Start::Incremental,
        api_url: None,
    };
    let job = backfill::job(
        pipeline,
        plan,
        store.clone(),
        lander.clone(),
        Arc::clone(converter),
        Progress::Quiet,
    );
    match job {
        Ok(job) => {
            output::line(format!(
                "backfilling {} every {every}",
                pipeline.source.api_url
            ));
            Some(tokio::spawn(crate::backfill::every(
                Arc::new(job),
                every.0,
                stop,
            )))
        }
        Err(e) => {
            tracing::warn!(error = %e, "the scheduled backfill is off");
            output::line(format!("scheduled backfill off: {e:#}"));
            None
        }
    }
}

/// `POST /query` when the pipeline's query token is set; no routes otherwise.
fn query_routes(pipeline: &Pipeline, store: &Store, address: std::net::SocketAddr) -> axum::Router {
    let config = &pipeline.query;
    match read(
        "query token",
        &config.token_env,
        config.token_file.as_deref(),
    ) {
        Ok(token) => {
            output::line(format!("answering queries on http://{address}/query"));
            crate::report::http::router(Arc::new(crate::report::http::QueryService {
                store: store.clone(),
                sql_dir: pipeline.reports.sql_dir.clone(),
                parameters: pipeline.reports.clone(),
                token,
            }))
        }
        Err(_) => {
            tracing::info!(variable = %config.token_env, "query endpoint off: no token");
            axum::Router::new()
        }
    }
}

/// Runs the reports every `schedules.reports`, the first time one interval after start.
fn report_schedule(
    pipeline: &Pipeline,
    store: &Store,
    mut stop: watch::Receiver<bool>,
) -> Option<JoinHandle<()>> {
    let every = pipeline.schedules.reports?;
    output::line(format!("reporting every {every}"));
    let every = every.0;
    let (pipeline, store) = (pipeline.clone(), store.clone());
    Some(tokio::spawn(async move {
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            match report::reports(&pipeline, &store, &[], false).await {
                Ok(runs) => tracing::info!(reports = runs.len(), "scheduled reports complete"),
                Err(e) => tracing::warn!(error = %e, "scheduled reports failed"),
            }
        }
    }))
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub(super) async fn shutdown_signal() {
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

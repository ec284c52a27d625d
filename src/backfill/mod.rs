//! The API backfill: pages through admin API resources and lands every record with
//! `source = backfill`, incrementally from a checkpoint per resource.
//!
//! One run of one resource: take the resource's lease, start from its checkpoint minus
//! the overlap (or from the beginning, or a given instant), page through the listing (see
//! [`pager`]), convert and land each page while the next one is fetched, and move the
//! checkpoint forward only over pages whose files are in the store. A run that is stopped
//! or fails keeps the checkpoint of what landed, and gives the lease back.

pub mod client;
pub mod pager;
pub mod progress;
pub mod state;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use client::{ApiClient, FetchError};
pub use progress::Progress;
pub use state::{Checkpoint, Lease, StateError};

use crate::config::Pipeline;
use crate::http::{Http, HttpError, RetryPolicy};
use crate::land::{LandError, Lander, Store};
use crate::model::{Converter, Envelope, RowSet, Table};
use crate::source::{Entity, Outline, OutlineRecord};
use crate::telemetry as names;
use pager::{Pager, Request, Seen};

/// How `verified_by` reads on backfilled rows: the API answered an authorised request.
const VERIFIED_BY: &str = "api_token";

/// Groups of pages whose files may be in flight at once, per resource.
const GROUPS_IN_FLIGHT: usize = 2;

/// Records gathered from pages before they are landed as one file: with two groups in
/// flight, 5,000 keeps a backfill under 200 MB (10,000 peaked at 207 MiB in the bench).
const GROUP_RECORDS: u64 = 5_000;

/// Least time between checkpoint writes while a run goes on.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(5);

/// Longest time a page waits for others to share its file.
const GROUP_WAIT: Duration = Duration::from_secs(2);

/// Where a run starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// From the checkpoint minus the overlap; from the beginning without a checkpoint.
    Incremental,
    /// From the beginning.
    Full,
    /// From this instant.
    Since(DateTime<Utc>),
}

/// What a backfill does, beyond the API and the store.
#[derive(Debug, Clone)]
pub struct Options {
    /// Resources to pull.
    pub resources: Vec<Entity>,
    /// Where to start.
    pub start: Start,
    /// Resources pulled at once.
    pub concurrency: usize,
    /// How far before the checkpoint an incremental run starts.
    pub overlap: Duration,
    /// Records per page.
    pub page_size: usize,
    /// Whether the listing is sorted by `updated_at`, so paging can re-anchor on it.
    pub keyset: bool,
    /// Lease time to live; renewed at a third of it.
    pub lease_ttl: Duration,
    /// Least time between checkpoint writes while a run goes on.
    pub checkpoint_every: Duration,
}

/// Why one resource's run ended early.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    /// A page could not be fetched or read.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// Its lease or checkpoint could not be handled.
    #[error(transparent)]
    State(#[from] StateError),
    /// A page's rows could not be landed.
    #[error("failed to land a page of {resource}: {source}")]
    Land {
        /// The resource.
        resource: Entity,
        /// The cause.
        source: LandError,
    },
    /// The run was asked to stop.
    #[error("stopped before the end")]
    Stopped,
}

impl BackfillError {
    /// Whether the API refused the credentials.
    pub fn is_unauthorized(&self) -> bool {
        matches!(
            self,
            BackfillError::Fetch(FetchError::Http(HttpError::Unauthorized { .. }))
        )
    }
}

/// How one resource's run went.
#[derive(Debug)]
pub struct Report {
    /// The resource.
    pub entity: Entity,
    /// Where it started (`None`: from the beginning).
    pub since: Option<DateTime<Utc>>,
    /// Records landed (a record met twice in one run counts once).
    pub records: u64,
    /// Records that went to quarantine instead.
    pub quarantined: u64,
    /// Pages fetched.
    pub pages: u64,
    /// Wall time.
    pub seconds: f64,
    /// The checkpoint at the end, if any.
    pub checkpoint: Option<DateTime<Utc>>,
    /// `Ok` when the listing was read to its end.
    pub outcome: Result<(), BackfillError>,
}

/// Which resources a run pulls, from where.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The resources.
    pub resources: Vec<Entity>,
    /// Where each starts.
    pub start: Start,
    /// A base URL replacing the pipeline's `source.api_url`.
    pub api_url: Option<String>,
}

/// The retry policy of the pipeline's `[source]` table.
pub fn retry_policy(pipeline: &Pipeline) -> RetryPolicy {
    let source = &pipeline.source;
    RetryPolicy {
        max_attempts: source.max_attempts,
        base: source.retry_base.0,
        max_delay: source.retry_max.0,
        timeout: source.request_timeout.0,
        ..RetryPolicy::default()
    }
}

/// A backfill of several resources against one API and one store.
pub struct Backfill {
    /// The admin API.
    pub api: ApiClient,
    /// The store of checkpoints and leases.
    pub store: Store,
    /// The landing writer.
    pub lander: Lander,
    /// The record converter (shared with the receiver inside `serve`).
    pub converter: Arc<Converter>,
    /// What to do.
    pub options: Options,
    /// Where progress goes.
    pub progress: Progress,
}

impl Backfill {
    /// The job a pipeline describes, for a plan, with the API token; it lands through
    /// `lander` and keeps its state in `store`.
    pub fn new(
        pipeline: &Pipeline,
        token: &str,
        plan: Plan,
        store: Store,
        lander: Lander,
        converter: Arc<Converter>,
        progress: Progress,
    ) -> Result<Backfill, HttpError> {
        let source = &pipeline.source;
        let rate = (source.rate_limit > 0.0).then_some(source.rate_limit);
        let http = Http::new(retry_policy(pipeline), rate)?;
        Ok(Backfill {
            api: ApiClient::new(pipeline, plan.api_url.as_deref(), token, http),
            store,
            lander,
            converter,
            options: Options {
                resources: plan.resources,
                start: plan.start,
                concurrency: source.concurrency.max(1),
                overlap: source.overlap.0,
                page_size: source.page_size as usize,
                keyset: source.sort == "updated_at",
                lease_ttl: source.lease_ttl.0,
                checkpoint_every: CHECKPOINT_EVERY,
            },
            progress,
        })
    }

    /// Pulls every resource of the options, at most `concurrency` at once, and reports on
    /// each. `stop` turning true ends the runs after their current page.
    pub async fn run(self: &Arc<Self>, stop: watch::Receiver<bool>) -> Vec<Report> {
        let run_id = run_id();
        tracing::info!(
            run_id,
            resources = self.options.resources.len(),
            "backfill started"
        );
        if self
            .options
            .resources
            .iter()
            .any(|e| matches!(e, Entity::Appointments | Entity::QueueAppointments))
        {
            self.learn_zones(&stop).await;
        }
        let reports: Vec<Report> = futures::stream::iter(self.options.resources.clone())
            .map(|entity| {
                let (job, stop, run_id) = (Arc::clone(self), stop.clone(), run_id.clone());
                async move { job.run_resource(entity, &run_id, stop).await }
            })
            .buffered(self.options.concurrency.max(1))
            .collect()
            .await;
        for report in &reports {
            let outcome = match &report.outcome {
                Ok(()) => "complete",
                Err(BackfillError::Stopped) => "stopped",
                Err(_) => "failed",
            };
            metrics::counter!(names::BACKFILL_RUNS, "resource" => report.entity.name(), "outcome" => outcome)
                .increment(1);
        }
        reports
    }

    /// Reads every location first, so that engagements get their branch's business day
    /// even when the locations themselves did not change since the last run.
    async fn learn_zones(&self, stop: &watch::Receiver<bool>) {
        let mut pager = Pager::new(None, self.options.page_size, self.options.keyset);
        while let Some(request) = pager.next_request().cloned() {
            if *stop.borrow() {
                return;
            }
            let page = self.api.fetch(Entity::Locations, &request).await;
            match page.and_then(|page| Ok((page.document()?, page))) {
                Ok((document, page)) => {
                    self.converter.learn_included(&document.data);
                    self.converter.learn_included(&document.included);
                    pager.advance(&seen(&page.outline), page.outline.total_pages);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not read locations for their zones; engagements may lack a business day");
                    return;
                }
            }
        }
    }

    async fn run_resource(
        &self,
        entity: Entity,
        run_id: &str,
        stop: watch::Receiver<bool>,
    ) -> Report {
        let tracker = self.progress.track(entity);
        let mut report = Report {
            entity,
            since: None,
            records: 0,
            quarantined: 0,
            pages: 0,
            seconds: 0.0,
            checkpoint: None,
            outcome: Ok(()),
        };
        let outcome =
            match Lease::acquire(&self.store, entity, run_id, self.options.lease_ttl).await {
                Ok(lease) => {
                    let keeper = LeaseKeeper::start(lease);
                    let outcome = self
                        .pull(entity, run_id, &keeper.lost, stop, &tracker, &mut report)
                        .await;
                    match keeper.finish().await {
                        Ok(()) => outcome,
                        Err(e) => outcome.and(Err(e.into())),
                    }
                }
                Err(e) => Err(e.into()),
            };
        report.records = tracker.records();
        report.pages = tracker.pages();
        report.seconds = tracker.elapsed().as_secs_f64();
        tracker.finish(match &outcome {
            Ok(()) => "done",
            Err(BackfillError::Stopped) => "stopped",
            Err(_) => "failed",
        });
        match &outcome {
            Ok(()) => tracing::info!(resource = %entity, records = report.records,
                pages = report.pages, seconds = report.seconds, "backfill of a resource complete"),
            Err(e) => tracing::warn!(resource = %entity, records = report.records, error = %e,
                "backfill of a resource ended early"),
        }
        report.outcome = outcome;
        report
    }

    async fn pull(
        &self,
        entity: Entity,
        run_id: &str,
        lost: &AtomicBool,
        mut stop: watch::Receiver<bool>,
        tracker: &progress::Tracker,
        report: &mut Report,
    ) -> Result<(), BackfillError> {
        let previous = Checkpoint::load(&self.store, entity).await?;
        let overlap = chrono::Duration::from_std(self.options.overlap).unwrap_or_default();
        let since = match self.options.start {
            Start::Full => None,
            Start::Since(at) => Some(at),
            Start::Incremental => previous.as_ref().map(|c| c.complete_before - overlap),
        };
        report.since = since;
        report.checkpoint = previous.as_ref().map(|c| c.complete_before);
        let mut progress = Landed {
            checkpoint: Checkpoint {
                resource: entity.name().to_string(),
                complete_before: previous.map_or(DateTime::<Utc>::MIN_UTC, |c| c.complete_before),
                records: 0,
                run_id: run_id.to_string(),
                run_started_at: Utc::now(),
                written_at: Utc::now(),
                finished: false,
            },
            advanced: None,
            written: Instant::now(),
            quarantined: 0,
        };
        let mut pager = Pager::new(since, self.options.page_size, self.options.keyset);
        let mut flights: VecDeque<Flight> = VecDeque::new();
        let mut group = Group::default();
        let mut fetching = pager
            .next_request()
            .cloned()
            .map(|request| self.spawn_fetch(entity, request));

        let mut result: Result<(), BackfillError> = Ok(());
        while let Some(fetch) = fetching.take() {
            if lost.load(Ordering::Relaxed) {
                fetch.abort();
                result = Err(BackfillError::Stopped);
                break;
            }
            let page = tokio::select! {
                page = fetch => page,
                _ = stop.wait_for(|s| *s) => {
                    result = Err(BackfillError::Stopped);
                    break;
                }
            };
            let page = match page {
                Ok(Ok(page)) => page,
                Ok(Err(e)) => {
                    result = Err(e.into());
                    break;
                }
                Err(_) => {
                    result = Err(BackfillError::Stopped);
                    break;
                }
            };
            if pager
                .next_request()
                .is_some_and(|r| r.page == 1 && r.since == since)
                && let Some(total) = page.outline.total
            {
                tracker.expect(total);
            }
            metrics::counter!(names::BACKFILL_PAGES, "resource" => entity.name()).increment(1);
            let step = pager.advance(&seen(&page.outline), page.outline.total_pages);
            // The next page is on its way while this one is read, converted and landed.
            fetching = pager
                .next_request()
                .cloned()
                .map(|request| self.spawn_fetch(entity, request));
            let document = match page.document() {
                Ok(document) => document,
                Err(e) => {
                    result = Err(e.into());
                    break;
                }
            };

            if entity == Entity::Locations {
                self.converter.learn_included(&document.data);
            }
            let received_at = Utc::now();
            let mut rows = RowSet::new();
            for &i in &step.keep {
                let resource = &document.data[i];
                let envelope = Envelope::for_backfill(entity, resource, received_at, VERIFIED_BY);
                rows.add(&self.converter, Some(entity), resource, &envelope);
            }
            group.add(rows, step.keep.len(), step.complete_before);
            if group.full() || fetching.is_none() {
                flights.push_back(self.spawn_landing(entity, std::mem::take(&mut group)));
            }
            // Settle landed groups in order; wait while too many are in flight.
            while flights
                .front()
                .is_some_and(|f| f.handle.is_finished() || flights.len() > GROUPS_IN_FLIGHT)
            {
                let Some(flight) = flights.pop_front() else {
                    break;
                };
                if let Err(e) = progress.settle(flight, entity, tracker).await {
                    result = Err(e);
                    break;
                }
            }
            if result.is_err() {
                break;
            }
            if progress.written.elapsed() >= self.options.checkpoint_every
                && !lost.load(Ordering::Relaxed)
                && let Err(e) = progress
                    .save(&self.store, entity, tracker.records(), report, false)
                    .await
            {
                result = Err(e);
                break;
            }
        }
        if let Some(fetch) = fetching {
            fetch.abort();
        }

        // Groups already handed to the writer still land, and the checkpoint covers the
        // ones that did, in order, up to the first that failed.
        if !group.is_empty() && result.is_err() {
            tracing::debug!(resource = %entity, records = group.kept, "dropping pages not yet handed to the writer");
        }
        let mut broken = result.is_err();
        while let Some(flight) = flights.pop_front() {
            if broken {
                let _ = flight.handle.await;
                continue;
            }
            if let Err(e) = progress.settle(flight, entity, tracker).await {
                result = Err(e);
                broken = true;
            }
        }
        report.quarantined = progress.quarantined;
        if !lost.load(Ordering::Relaxed) {
            let finished = result.is_ok() && pager.next_request().is_none();
            progress
                .save(&self.store, entity, tracker.records(), report, finished)
                .await?;
        }
        result
    }

    fn spawn_fetch(
        &self,
        entity: Entity,
        request: Request,
    ) -> JoinHandle<Result<client::Page, FetchError>> {
        let api = self.api.clone();
        tokio::spawn(async move { api.fetch(entity, &request).await })
    }

    /// Lands a group of pages; resolves to how many records went to quarantine. Its
    /// submissions arrive together, so the writer puts them in one file per table. A full
    /// writer is waited out, since a backfill can always slow down.
    fn spawn_landing(&self, entity: Entity, group: Group) -> Flight {
        let lander = self.lander.clone();
        let Group {
            pages,
            kept,
            complete_before,
            ..
        } = group;
        let page_count = pages.len() as u64;
        let handle = tokio::spawn(async move {
            let mut submissions = Vec::new();
            let mut quarantined = 0;
            for (rows, received_at) in pages {
                for rows in rows.into_tables() {
                    if rows.table() == Table::Quarantine {
                        quarantined += rows.len() as u64;
                        tracing::warn!(resource = %entity, records = rows.len(), "records went to quarantine");
                    }
                    let batch = rows.to_batch().map_err(|e| LandError::Schema {
                        table: rows.table(),
                        reason: e.to_string(),
                    })?;
                    submissions.push(submit_patiently(&lander, rows.table(), batch, received_at));
                }
            }
            for landed in futures::future::join_all(submissions).await {
                landed?;
            }
            Ok(quarantined)
        });
        Flight {
            handle,
            complete_before,
            kept,
            pages: page_count,
        }
    }
}

/// Submits a batch, waiting while the writer is full.
async fn submit_patiently(
    lander: &Lander,
    table: Table,
    batch: arrow::array::RecordBatch,
    received_at: DateTime<Utc>,
) -> Result<(), LandError> {
    let mut wait = Duration::from_millis(20);
    loop {
        match lander
            .submit(table, batch.clone(), received_at.date_naive())
            .await
        {
            Err(LandError::Overloaded { .. }) => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(1));
            }
            other => return other.map(|_| ()),
        }
    }
}

/// Pages converted but not yet handed to the writer.
#[derive(Default)]
struct Group {
    pages: Vec<(RowSet, DateTime<Utc>)>,
    kept: u64,
    complete_before: Option<DateTime<Utc>>,
    started: Option<Instant>,
}

impl Group {
    fn add(&mut self, rows: RowSet, kept: usize, complete_before: Option<DateTime<Utc>>) {
        self.started.get_or_insert_with(Instant::now);
        self.pages.push((rows, Utc::now()));
        self.kept += kept as u64;
        if complete_before.is_some() {
            self.complete_before = complete_before;
        }
    }

    /// Whether the group should land now: enough records, or it has waited long enough.
    fn full(&self) -> bool {
        self.kept >= GROUP_RECORDS || self.started.is_some_and(|s| s.elapsed() >= GROUP_WAIT)
    }

    fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }
}

/// A group on its way into the store.
struct Flight {
    handle: JoinHandle<Result<u64, LandError>>,
    complete_before: Option<DateTime<Utc>>,
    kept: u64,
    pages: u64,
}

/// What has landed of one resource's run, and its checkpoint.
struct Landed {
    checkpoint: Checkpoint,
    /// A completeness bound reached by landed groups but not yet written.
    advanced: Option<DateTime<Utc>>,
    written: Instant,
    quarantined: u64,
}

impl Landed {
    /// Waits for a group's files and counts it.
    async fn settle(
        &mut self,
        flight: Flight,
        entity: Entity,
        tracker: &progress::Tracker,
    ) -> Result<(), BackfillError> {
        let quarantined = flight
            .handle
            .await
            .map_err(|_| BackfillError::Stopped)?
            .map_err(|source| BackfillError::Land {
                resource: entity,
                source,
            })?;
        self.quarantined += quarantined;
        tracker.landed(flight.kept.saturating_sub(quarantined), flight.pages);
        metrics::counter!(names::BACKFILL_RECORDS, "resource" => entity.name())
            .increment(flight.kept);
        if flight.complete_before.is_some() {
            self.advanced = self.advanced.max(flight.complete_before);
        }
        Ok(())
    }

    /// Writes the checkpoint if landed groups moved it forward; it never moves back.
    async fn save(
        &mut self,
        store: &Store,
        entity: Entity,
        records: u64,
        report: &mut Report,
        finished: bool,
    ) -> Result<(), BackfillError> {
        self.written = Instant::now();
        let Some(at) = self.advanced.take() else {
            return Ok(());
        };
        if at <= self.checkpoint.complete_before && !finished {
            return Ok(());
        }
        let at = at.max(self.checkpoint.complete_before);
        self.checkpoint.complete_before = at;
        self.checkpoint.records = records;
        self.checkpoint.written_at = Utc::now();
        self.checkpoint.finished = finished;
        self.checkpoint.save(store, entity).await?;
        report.checkpoint = Some(at);
        Ok(())
    }
}

/// Runs the job at once and then every `interval` (start to start; a run longer than the
/// interval delays the next one), until `stop` turns true.
pub async fn every(job: Arc<Backfill>, interval: Duration, mut stop: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let reports = job.run(stop.clone()).await;
        let records: u64 = reports.iter().map(|r| r.records).sum();
        let failed: Vec<&str> = reports
            .iter()
            .filter(|r| r.outcome.is_err())
            .map(|r| r.entity.name())
            .collect();
        if failed.is_empty() {
            tracing::info!(records, "scheduled backfill complete");
        } else {
            tracing::warn!(records, failed = ?failed, "scheduled backfill ended early for some resources");
        }
    }
}

/// Ids and `updated_at` of a page's records, for the pager.
fn seen(outline: &Outline) -> Vec<Seen> {
    outline
        .records
        .iter()
        .map(|r| Seen {
            id: r.id.clone(),
            updated_at: updated_at(r),
        })
        .collect()
}

/// A record's `updated_at`, read with its own zone when it is written in local time.
fn updated_at(record: &OutlineRecord) -> Option<DateTime<Utc>> {
    let text = record.updated_at.as_deref()?;
    let zone = record
        .timezone
        .as_deref()
        .and_then(|z| crate::model::time::parse_zone(z).ok());
    crate::model::time::parse_timestamp(text, zone).ok()
}

/// Keeps a lease renewed in the background until the run finishes.
struct LeaseKeeper {
    lost: Arc<AtomicBool>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: JoinHandle<Result<(), StateError>>,
}

impl LeaseKeeper {
    fn start(mut lease: Lease) -> LeaseKeeper {
        let lost = Arc::new(AtomicBool::new(false));
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let every = (lease.ttl() / 3)
            .to_std()
            .unwrap_or(Duration::from_secs(10))
            .max(Duration::from_millis(100));
        let flag = Arc::clone(&lost);
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = &mut stopped => return lease.release().await,
                    () = tokio::time::sleep(every) => {
                        if let Err(e) = lease.renew().await {
                            flag.store(true, Ordering::Relaxed);
                            return Err(e);
                        }
                    }
                }
            }
        });
        LeaseKeeper {
            lost,
            stop: Some(stop),
            task,
        }
    }

    /// Releases the lease (unless it was lost) and reports how keeping it went.
    async fn finish(mut self) -> Result<(), StateError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(result) => result,
            Err(_) => Ok(()),
        }
    }
}

/// A run id: the start time and a random suffix.
fn run_id() -> String {
    format!(
        "{}-{:08x}",
        Utc::now().format("%Y%m%dT%H%M%SZ"),
        rand::random::<u32>()
    )
}

//! The landing writer: group commit of concurrent submissions into one file per table per
//! flush.
//!
//! A submission resolves only when the file holding its rows is in the store, or with the
//! error that kept it out. Pending data is bounded in bytes; past the bound a submission is
//! refused at once with [`LandError::Overloaded`] instead of queueing.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::error::ArrowError;
use chrono::{NaiveDate, Utc};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::encode::{LandingEncoder, WriteError, encode_landing, put_new};
use super::local::{LocalFolder, PutError};
use super::store::Store;
use super::{layout, staging};
use crate::model::{Cell, Rows, Table};
use crate::telemetry as names;

/// Limits of the landing writer.
#[derive(Debug, Clone)]
pub struct LandingLimits {
    /// A flush starts once this many rows are waiting.
    pub max_rows: usize,
    /// A flush starts once this many bytes (in memory) are waiting.
    pub max_bytes: usize,
    /// How long a flush waits for more submissions after the first, when a write slot is
    /// free. Zero flushes at once; submissions that arrive while every slot is busy still
    /// share the next file.
    pub linger: Duration,
    /// Bytes that may wait or be in flight across all tables before submissions are refused.
    pub max_pending_bytes: usize,
    /// Files of one table written at the same time.
    pub concurrent_flushes: usize,
    /// Rows per Parquet row group.
    pub row_group_rows: usize,
    /// On a local-folder store, force each file and the folder entries naming it to disk
    /// before its submissions resolve, so that an acknowledged row survives a power loss
    /// and not only a crash of the process. Off by default: it costs about two fifths of the
    /// receiver's throughput on the development machine. Cloud stores are durable when a
    /// put returns.
    pub sync: bool,
}

impl Default for LandingLimits {
    fn default() -> Self {
        LandingLimits {
            max_rows: 100_000,
            max_bytes: 64 << 20,
            linger: Duration::ZERO,
            max_pending_bytes: 256 << 20,
            concurrent_flushes: 1,
            row_group_rows: 128 * 1024,
            sync: false,
        }
    }
}

/// Why a submission was not landed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LandError {
    /// Too much is waiting already; try again later.
    #[error("landing queue is full: {requested} bytes asked, {limit} bytes may wait")]
    Overloaded {
        /// The submission's size in memory.
        requested: usize,
        /// The writer's bound.
        limit: usize,
    },
    /// The writer has shut down.
    #[error("landing writer is shut down")]
    Closed,
    /// The batch is not of the table's schema.
    #[error("batch does not fit the {table} schema: {reason}")]
    Schema {
        /// The table.
        table: Table,
        /// What differs.
        reason: String,
    },
    /// The file could not be written; nothing of it is in the store.
    #[error("failed to write {path}: {source}")]
    Write {
        /// The object path that was being written.
        path: String,
        /// The cause, shared by every submission in the file.
        source: Arc<WriteError>,
    },
}

/// Where a submission's rows landed.
#[derive(Debug, Clone, PartialEq)]
pub struct Landed {
    /// The object path of the file, relative to the store URL.
    pub path: String,
    /// Rows in that file, this submission's and others'.
    pub file_rows: usize,
}

struct Submission {
    payload: Payload,
    date: NaiveDate,
    bytes: usize,
    _permit: OwnedSemaphorePermit,
    reply: oneshot::Sender<Result<Landed, LandError>>,
}

/// A handle to the landing writer; cheap to clone and share between tasks.
#[derive(Clone)]
pub struct Lander {
    inner: Arc<Inner>,
}

struct Inner {
    limits: LandingLimits,
    budget: Arc<Semaphore>,
    queues: Mutex<Option<HashMap<Table, mpsc::UnboundedSender<Submission>>>>,
    flushers: Mutex<Vec<JoinHandle<()>>>,
    /// Removes unfinished uploads of stopped processes from a local-folder store.
    sweeper: Option<JoinHandle<()>>,
}

/// Files below this size are put into a local folder without `sync` on the flush's own
/// task; larger ones, which keep a thread longer, on the blocking pool.
const INLINE_PUT_BYTES: usize = 1 << 20;

/// Memory is counted in KiB permits so that large budgets fit a semaphore.
const PERMIT_BYTES: usize = 1024;

fn permits(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(PERMIT_BYTES)).unwrap_or(u32::MAX)
}

impl Lander {
    /// Starts one flusher task per table on the current Tokio runtime.
    pub fn start(store: Store, limits: LandingLimits) -> Lander {
        let budget = Arc::new(Semaphore::new(permits(limits.max_pending_bytes) as usize));
        let mut queues = HashMap::new();
        let mut flushers = Vec::new();
        let local = store
            .local_folder()
            .map(|folder| Arc::new(LocalFolder::new(folder, limits.sync)));
        let syncs = local.as_ref().is_some_and(|l| l.syncs());
        for table in Table::all() {
            let (tx, rx) = mpsc::unbounded_channel();
            queues.insert(table, tx);
            let flusher = Flusher {
                table,
                store: store.clone(),
                encoder: LandingEncoder::new(table.schema(), limits.row_group_rows)
                    .map(Arc::new)
                    .map_err(|e| Arc::new(WriteError::Parquet(e))),
                limits: limits.clone(),
                local: local.clone(),
            };
            flushers.push(tokio::spawn(flusher.run(rx)));
        }
        tracing::info!(store = %store.url(), max_rows = limits.max_rows,
            linger_ms = limits.linger.as_millis() as u64, sync = syncs,
            "landing writer started");
        let sweeper = store
            .local_folder()
            .map(|folder| tokio::spawn(sweep(folder)));
        Lander {
            inner: Arc::new(Inner {
                limits,
                budget,
                queues: Mutex::new(Some(queues)),
                flushers: Mutex::new(flushers),
                sweeper,
            }),
        }
    }

    /// Lands a batch of `table` received on the UTC day `date`; resolves when its file is
    /// in the store. Refuses at once when the writer is full.
    pub async fn submit(
        &self,
        table: Table,
        batch: RecordBatch,
        date: NaiveDate,
    ) -> Result<Landed, LandError> {
        if batch.schema().fields() != table.schema().fields() {
            let reason = format!("got columns {:?}", column_names(&batch));
            return Err(LandError::Schema { table, reason });
        }
        let bytes = batch.get_array_memory_size();
        self.enqueue(table, Payload::Batch(batch), bytes, date)
            .await
    }

    /// Lands rows of one table received on the UTC day `date`, like [`Lander::submit`];
    /// the rows become part of the next file's batch, which suits many small submissions
    /// (one webhook each) better than a batch apiece. Every cell is checked against the
    /// table's schema first, so one bad row never fails the file it would share.
    pub async fn submit_rows(&self, rows: Rows, date: NaiveDate) -> Result<Landed, LandError> {
        let table = rows.table();
        rows.check().map_err(|e| LandError::Schema {
            table,
            reason: e.to_string(),
        })?;
        let bytes = rows.memory_size();
        self.enqueue(table, Payload::Rows(rows.into_rows()), bytes, date)
            .await
    }

    async fn enqueue(
        &self,
        table: Table,
        payload: Payload,
        bytes: usize,
        date: NaiveDate,
    ) -> Result<Landed, LandError> {
        if payload.num_rows() == 0 {
            return Ok(Landed {
                path: String::new(),
                file_rows: 0,
            });
        }
        let limit = self.inner.limits.max_pending_bytes;
        let wanted = permits(bytes).min(permits(limit));
        let permit = match self.inner.budget.clone().try_acquire_many_owned(wanted) {
            Ok(permit) => permit,
            Err(tokio::sync::TryAcquireError::Closed) => return Err(LandError::Closed),
            Err(tokio::sync::TryAcquireError::NoPermits) => {
                metrics::counter!(names::LAND_OVERLOADED, "table" => table.name()).increment(1);
                return Err(LandError::Overloaded {
                    requested: bytes,
                    limit,
                });
            }
        };
        let (reply, answer) = oneshot::channel();
        let submission = Submission {
            payload,
            date,
            bytes,
            _permit: permit,
            reply,
        };
        {
            let queues = self.inner.queues.lock().map_err(|_| LandError::Closed)?;
            let queue = queues.as_ref().and_then(|q| q.get(&table));
            let queue = queue.ok_or(LandError::Closed)?;
            queue.send(submission).map_err(|_| LandError::Closed)?;
        }
        answer.await.map_err(|_| LandError::Closed)?
    }

    /// Stops taking submissions, lands everything already taken, and waits for it.
    pub async fn shutdown(&self) {
        let queues = self.inner.queues.lock().ok().and_then(|mut q| q.take());
        drop(queues);
        let flushers = self
            .inner
            .flushers
            .lock()
            .map(|mut f| std::mem::take(&mut *f))
            .unwrap_or_default();
        for flusher in flushers {
            if let Err(e) = flusher.await {
                tracing::error!(error = %e, "a landing flusher task failed");
            }
        }
        self.inner.budget.close();
        if let Some(sweeper) = &self.inner.sweeper {
            sweeper.abort();
        }
        tracing::info!("landing writer stopped");
    }
}

/// Removes stale staging files from a local-folder store (see [`staging`]): the whole tree
/// now, then the partitions of the last two UTC days every [`staging::STALE_AFTER`].
async fn sweep(folder: PathBuf) {
    let mut scope = vec![folder.clone()];
    loop {
        let folders = scope.clone();
        let swept = tokio::task::spawn_blocking(move || {
            staging::remove_stale_uploads(&folders, staging::STALE_AFTER)
        })
        .await;
        match swept {
            Ok(Ok(0)) => {}
            Ok(Ok(removed)) => {
                tracing::info!(removed, "removed unfinished uploads of a stopped process");
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "could not sweep unfinished uploads"),
            Err(e) => tracing::warn!(error = %e, "the unfinished-upload sweep failed"),
        }
        tokio::time::sleep(staging::STALE_AFTER).await;
        let today = Utc::now().date_naive();
        let days = [Some(today), today.pred_opt()];
        scope = days
            .into_iter()
            .flatten()
            .flat_map(|day| Table::all().map(move |table| layout::partition(table, day)))
            .map(|partition| folder.join(partition.as_ref()))
            .collect();
    }
}

/// What a submission carries: a built batch, or rows that the flush builds into one batch
/// with every other submission's rows, so that single-row submissions cost one column
/// builder per file instead of a record batch each.
enum Payload {
    Batch(RecordBatch),
    Rows(Vec<Vec<Cell>>),
}

impl Payload {
    fn num_rows(&self) -> usize {
        match self {
            Payload::Batch(batch) => batch.num_rows(),
            Payload::Rows(rows) => rows.len(),
        }
    }
}

fn column_names(batch: &RecordBatch) -> Vec<String> {
    let schema = batch.schema();
    schema.fields().iter().map(|f| f.name().clone()).collect()
}

/// Gathers one table's submissions into flushes.
struct Flusher {
    table: Table,
    store: Store,
    /// The table's encoding, or why its schema cannot be written (every flush fails then).
    encoder: Result<Arc<LandingEncoder>, Arc<WriteError>>,
    limits: LandingLimits,
    /// Puts files into a local-folder store, forcing them to disk with `limits.sync`.
    local: Option<Arc<LocalFolder>>,
}

impl Flusher {
    async fn run(self, mut queue: mpsc::UnboundedReceiver<Submission>) {
        let slots = Arc::new(Semaphore::new(self.limits.concurrent_flushes.max(1)));
        let this = Arc::new(self);
        while let Some(first) = queue.recv().await {
            // Take a write slot before gathering, so that whatever queues up while every
            // slot is busy joins this flush.
            let Ok(slot) = slots.clone().acquire_owned().await else {
                break;
            };
            let group = this.gather(first, &mut queue).await;
            let this = this.clone();
            tokio::spawn(async move {
                this.flush(group).await;
                drop(slot);
            });
        }
        // Wait for the flushes still writing.
        let all = this.limits.concurrent_flushes.max(1) as u32;
        let _ = slots.acquire_many(all).await;
    }

    async fn gather(
        &self,
        first: Submission,
        queue: &mut mpsc::UnboundedReceiver<Submission>,
    ) -> Vec<Submission> {
        let deadline = Instant::now() + self.limits.linger;
        let mut rows = first.payload.num_rows();
        let mut bytes = first.bytes;
        let mut group = vec![first];
        while rows < self.limits.max_rows && bytes < self.limits.max_bytes {
            let next = match queue.try_recv() {
                Ok(next) => next,
                Err(_) => match tokio::time::timeout_at(deadline, queue.recv()).await {
                    Ok(Some(next)) => next,
                    Ok(None) | Err(_) => break,
                },
            };
            rows += next.payload.num_rows();
            bytes += next.bytes;
            group.push(next);
        }
        group
    }

    async fn flush(&self, group: Vec<Submission>) {
        let mut by_date: BTreeMap<NaiveDate, Vec<Submission>> = BTreeMap::new();
        for submission in group {
            by_date.entry(submission.date).or_default().push(submission);
        }
        for (date, submissions) in by_date {
            self.write_day(date, submissions).await;
        }
    }

    /// One batch of every submission's rows, so that many small submissions encode as
    /// fast as one large one.
    fn merge(&self, submissions: &[Submission]) -> Result<RecordBatch, ArrowError> {
        let rows: Vec<&[Cell]> = submissions
            .iter()
            .filter_map(|s| match &s.payload {
                Payload::Rows(rows) => Some(rows.iter().map(Vec::as_slice)),
                Payload::Batch(_) => None,
            })
            .flatten()
            .collect();
        let mut batches: Vec<RecordBatch> = submissions
            .iter()
            .filter_map(|s| match &s.payload {
                Payload::Batch(batch) => Some(batch.clone()),
                Payload::Rows(_) => None,
            })
            .collect();
        if !rows.is_empty() {
            batches.push(Rows::build(self.table, &rows)?);
        }
        match batches.as_slice() {
            [one] => Ok(one.clone()),
            _ => concat_batches(&self.table.schema(), &batches),
        }
    }

    /// Writes one landing file and, when this store and the limits ask for it, forces it
    /// to disk; returns its size.
    async fn write_file(
        &self,
        path: &object_store::path::Path,
        encoder: &Arc<LandingEncoder>,
        batch: RecordBatch,
    ) -> Result<u64, WriteError> {
        let bytes = encode_landing(encoder, batch).await?;
        let Some(local) = &self.local else {
            return put_new(self.store.objects(), path, bytes).await;
        };
        let size = bytes.len() as u64;
        let synced = if local.syncs() || bytes.len() >= INLINE_PUT_BYTES {
            let (local, path) = (Arc::clone(local), path.to_string());
            tokio::task::spawn_blocking(move || local.put_new(&path, &bytes)).await?
        } else {
            // Without sync a small file's write ends in the page cache: less time than a
            // hop to the blocking pool takes, as for the encoding of a small file.
            local.put_new(path.as_ref(), &bytes)
        };
        match synced {
            Ok(took) if local.syncs() => {
                metrics::histogram!(names::SYNC_SECONDS, "table" => self.table.name())
                    .record(took.as_secs_f64());
                Ok(size)
            }
            Ok(_) => Ok(size),
            Err(PutError::Write(e)) => Err(WriteError::Local(e)),
            Err(PutError::Sync(e)) => Err(WriteError::Sync(e)),
        }
    }

    async fn write_day(&self, date: NaiveDate, submissions: Vec<Submission>) {
        let table = self.table.name();
        let started = Instant::now();
        let path = layout::new_file(self.table, date, Utc::now());
        let rows: usize = submissions.iter().map(|s| s.payload.num_rows()).sum();
        let written = match (&self.encoder, self.merge(&submissions)) {
            (Ok(encoder), Ok(batch)) => self
                .write_file(&path, encoder, batch)
                .await
                .map_err(Arc::new),
            (Err(e), _) => Err(Arc::clone(e)),
            (_, Err(e)) => Err(Arc::new(WriteError::Parquet(e.into()))),
        };

        let outcome = match written {
            Ok(bytes) => {
                let seconds = started.elapsed().as_secs_f64();
                metrics::counter!(names::LANDED_ROWS, "table" => table).increment(rows as u64);
                metrics::counter!(names::LANDED_FILES, "table" => table).increment(1);
                metrics::counter!(names::LANDED_BYTES, "table" => table).increment(bytes);
                metrics::histogram!(names::FLUSH_ROWS, "table" => table).record(rows as f64);
                metrics::histogram!(names::FLUSH_SECONDS, "table" => table).record(seconds);
                tracing::debug!(table, %path, rows, bytes, seconds, "landed file");
                Ok(Landed {
                    path: path.to_string(),
                    file_rows: rows,
                })
            }
            Err(e) => {
                metrics::counter!(names::LAND_WRITE_ERRORS, "table" => table).increment(1);
                tracing::warn!(table, %path, rows, error = %e, "failed to land file");
                Err(LandError::Write {
                    path: path.to_string(),
                    source: e,
                })
            }
        };
        for submission in submissions {
            // A submitter that stopped waiting still had its rows written (or not) above.
            let _ = submission.reply.send(outcome.clone());
        }
    }
}

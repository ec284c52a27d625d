//! `latest_version('<entity>')`: the current state of an entity, chosen from its
//! append-only change log in one hash pass instead of a sort.
//!
//! The rule is the one `sql/views/entity_current.sql` documents: per `id`, a full version
//! beats an id-only skeleton (no `created_at` and no `updated_at`), then the newest
//! `source_updated_at` (NULL last), then the newest `received_at`, then the greatest
//! `event_id` (for these two NULL first, as `DESC` orders it). [`REFERENCE_SQL`] is the same rule as a
//! window, which the tests compare against and the reports benchmark gives DuckDB.
//!
//! A winner can be the last row read, so every row of the columns the query reads is held
//! until the whole change log has been read: the table's projected size must fit memory
//! (reports hold the fact views in memory anyway).

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use arrow::array::{Array, AsArray, BooleanArray, PrimitiveArray, RecordBatch, StringArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{Int64Type, SchemaRef, TimestampMicrosecondType};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::hash_map::Entry;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, HashMap, Result, ScalarValue, plan_err};
use datafusion::datasource::TableType;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildStats, ChildrenPropertiesMode, DisplayAs, DisplayFormatType, Distribution, ExecutionPlan,
    Partitioning, PlanProperties, ReplaceChildrenOptions, Statistics, StatisticsArgs,
};
use futures::{StreamExt, TryStreamExt};

/// The window form of the rule, with `${entity}` naming the landing table.
pub const REFERENCE_SQL: &str = "SELECT * EXCLUDE (version_rank) FROM (
  SELECT *, row_number() OVER (
    PARTITION BY id
    ORDER BY
      CASE WHEN created_at IS NULL AND updated_at IS NULL THEN 1 ELSE 0 END,
      source_updated_at DESC NULLS LAST,
      received_at DESC,
      event_id DESC
  ) AS version_rank
  FROM ${entity}
) AS ranked
WHERE version_rank = 1";

/// The columns the rule reads, in the order [`Keys`] takes them.
const KEY_COLUMNS: [&str; 6] = [
    "id",
    "created_at",
    "updated_at",
    "source_updated_at",
    "received_at",
    "event_id",
];

/// The table function `latest_version(name)` over the landing tables it was given.
#[derive(Debug, Default)]
pub struct LatestVersions {
    tables: std::collections::BTreeMap<String, Arc<dyn TableProvider>>,
}

impl LatestVersions {
    /// Makes `name`'s change log available as `latest_version('name')`.
    pub fn with_table(mut self, name: &str, table: Arc<dyn TableProvider>) -> LatestVersions {
        self.tables.insert(name.to_string(), table);
        self
    }
}

impl TableFunctionImpl for LatestVersions {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let name = match args.exprs() {
            [Expr::Literal(ScalarValue::Utf8(Some(name)), _)] => name,
            _ => return plan_err!("latest_version takes one table name as a string literal"),
        };
        let Some(inner) = self.tables.get(name) else {
            let known: Vec<&str> = self.tables.keys().map(String::as_str).collect();
            return plan_err!("latest_version: no table {name:?} (tables: {known:?})");
        };
        let schema = inner.schema();
        let keys = KEY_COLUMNS.map(|c| schema.index_of(c));
        let Ok(keys) = keys.into_iter().collect::<std::result::Result<Vec<_>, _>>() else {
            return plan_err!("latest_version: {name} lacks one of the columns {KEY_COLUMNS:?}");
        };
        Ok(Arc::new(LatestTable {
            inner: inner.clone(),
            keys,
        }))
    }
}

/// One entity's current state as a table: scans the change log and keeps each id's latest
/// version.
#[derive(Debug)]
struct LatestTable {
    inner: Arc<dyn TableProvider>,
    /// Indices of [`KEY_COLUMNS`] in the inner schema.
    keys: Vec<usize>,
}

#[async_trait]
impl TableProvider for LatestTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let width = self.inner.schema().fields().len();
        let wanted: Vec<usize> = projection.cloned().unwrap_or_else(|| (0..width).collect());
        // Read what the query wants and what the rule needs, each once.
        let read: Vec<usize> = wanted
            .iter()
            .chain(&self.keys)
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let at = |column: &usize| read.iter().position(|c| c == column).unwrap_or_default();
        let rows = self.inner.scan(state, Some(&read), &[], None).await?;
        let rows: Arc<dyn ExecutionPlan> = Arc::new(CoalescePartitionsExec::new(rows));
        let schema = Arc::new(self.inner.schema().project(&wanted)?);
        Ok(Arc::new(LatestExec::new(
            rows,
            self.keys.iter().map(at).collect(),
            wanted.iter().map(at).collect(),
            schema,
        )))
    }
}

/// Keeps the latest version per id of its input (the scan's partitions read in parallel
/// and gathered): once every row has arrived, the rule's columns are ranked per id in a
/// sharded hash pass, and the winners leave batch by batch, in input order.
#[derive(Debug)]
struct LatestExec {
    /// The change log's columns that the query reads, and the rule's, in one partition.
    rows: Arc<dyn ExecutionPlan>,
    /// Indices of [`KEY_COLUMNS`] in `rows`.
    keys_in_rows: Vec<usize>,
    /// Indices of the output columns in `rows`.
    output: Vec<usize>,
    properties: Arc<PlanProperties>,
}

impl LatestExec {
    fn new(
        rows: Arc<dyn ExecutionPlan>,
        keys_in_rows: Vec<usize>,
        output: Vec<usize>,
        schema: SchemaRef,
    ) -> LatestExec {
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        LatestExec {
            rows,
            keys_in_rows,
            output,
            properties: Arc::new(properties),
        }
    }
}

impl DisplayAs for LatestExec {
    fn fmt_as(&self, _format: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "LatestExec: keys={:?}", self.keys_in_rows)
    }
}

impl ExecutionPlan for LatestExec {
    fn name(&self) -> &str {
        "LatestExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![Distribution::SinglePartition]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.rows]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let [rows]: [Arc<dyn ExecutionPlan>; 1] = children
            .try_into()
            .map_err(|_| DataFusionError::Internal("LatestExec takes one input".into()))?;
        Ok(Arc::new(LatestExec::new(
            rows,
            self.keys_in_rows.clone(),
            self.output.clone(),
            self.schema(),
        )))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    fn child_stats_requests(&self, _partition: Option<usize>) -> Vec<ChildStats> {
        vec![ChildStats::At(None)]
    }

    /// At most as many rows as the change log has: the planner needs the size to build
    /// joins on the small side (a branch table, not ten million appointments).
    fn statistics_from_inputs(
        &self,
        input: &[Arc<Statistics>],
        _args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        let mut statistics = Statistics::new_unknown(&self.schema());
        if let Some(rows) = input.first() {
            statistics.num_rows = rows.num_rows.to_inexact();
            statistics.total_byte_size = rows.total_byte_size.to_inexact();
        }
        Ok(Arc::new(statistics))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "LatestExec has one partition, not {partition}"
            )));
        }
        let rows = self.rows.execute(0, context)?;
        let (keys, output) = (self.keys_in_rows.clone(), self.output.clone());
        let picked = async move {
            let started = std::time::Instant::now();
            let batches: Vec<RecordBatch> = rows.try_collect().await?;
            let read_seconds = started.elapsed().as_secs_f64();
            let (batches, masks) = tokio::task::spawn_blocking(move || {
                let masks = Winners::from_batches(&batches, &keys).map(|w| w.masks(&batches));
                (batches, masks)
            })
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
            let masks = masks?;
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            let seconds = started.elapsed().as_secs_f64();
            tracing::debug!(rows, read_seconds, seconds, "latest versions picked");
            let kept = batches.into_iter().zip(masks).map(move |(batch, mask)| {
                let batch = batch.project(&output)?;
                if mask.true_count() == batch.num_rows() {
                    return Ok(batch);
                }
                Ok(filter_record_batch(&batch, &mask)?)
            });
            Ok::<_, DataFusionError>(futures::stream::iter(kept))
        };
        let stream = futures::stream::once(picked).try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema(),
            stream.boxed(),
        )))
    }
}

/// The rule's columns of one batch.
struct Keys {
    id: PrimitiveArray<Int64Type>,
    created: PrimitiveArray<TimestampMicrosecondType>,
    updated: PrimitiveArray<TimestampMicrosecondType>,
    source_updated: PrimitiveArray<TimestampMicrosecondType>,
    received: PrimitiveArray<TimestampMicrosecondType>,
    event: StringArray,
}

/// How one version ranks: the greater wins. Full beats skeleton; a `source_updated_at`
/// beats none (`DESC NULLS LAST`); for `received_at` and `event_id`, which sort `DESC`
/// with NULLs first, a NULL beats any value.
type Rank<'a> = (bool, Option<i64>, bool, Option<i64>, bool, Option<&'a str>);

impl Keys {
    /// The rule's columns of a batch, found at `at` in [`KEY_COLUMNS`] order.
    fn of(batch: &RecordBatch, at: &[usize]) -> Result<Keys> {
        let column = |i: usize| batch.column(at[i]);
        let timestamps = |i: usize| {
            column(i)
                .as_primitive_opt::<TimestampMicrosecondType>()
                .cloned()
                .ok_or_else(|| wrong(KEY_COLUMNS[i]))
        };
        Ok(Keys {
            id: column(0)
                .as_primitive_opt::<Int64Type>()
                .cloned()
                .ok_or_else(|| wrong("id"))?,
            created: timestamps(1)?,
            updated: timestamps(2)?,
            source_updated: timestamps(3)?,
            received: timestamps(4)?,
            event: column(5)
                .as_string_opt::<i32>()
                .cloned()
                .ok_or_else(|| wrong("event_id"))?,
        })
    }

    fn rank(&self, row: usize) -> Rank<'_> {
        let value =
            |a: &PrimitiveArray<TimestampMicrosecondType>| a.is_valid(row).then(|| a.value(row));
        let full = self.created.is_valid(row) || self.updated.is_valid(row);
        let received = value(&self.received);
        let event = self.event.is_valid(row).then(|| self.event.value(row));
        (
            full,
            value(&self.source_updated),
            received.is_none(),
            received,
            event.is_none(),
            event,
        )
    }
}

fn wrong(column: &str) -> DataFusionError {
    DataFusionError::Internal(format!(
        "latest_version: column {column} has an unexpected type"
    ))
}

/// Each id's winning version among a set of batches. Of versions that rank the same, the
/// first one read wins.
struct Winners {
    keys: Vec<Keys>,
    /// The position of each batch's first row among all rows.
    starts: Vec<usize>,
    /// Ids are split by hash into `1 << bits` shards, each a map from id to the position
    /// of its winner.
    bits: u32,
    shards: Vec<HashMap<i64, u32>>,
    /// The winner among rows without an id (they form one group, as in the window).
    no_id: Option<u32>,
    /// Rows in all.
    rows: usize,
}

impl fmt::Debug for Winners {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.debug_struct("Winners")
            .field("rows", &self.rows)
            .field("shards", &self.shards.len())
            .finish()
    }
}

impl Winners {
    /// Ids are split by hash into one shard per core, each picked on its own thread: every
    /// thread reads every id but keeps a map of its shard's only, so the random accesses
    /// into the maps, which are what the pass costs, are shared out.
    fn from_batches(batches: &[RecordBatch], at: &[usize]) -> Result<Winners> {
        let keys: Vec<Keys> = batches
            .iter()
            .map(|b| Keys::of(b, at))
            .collect::<Result<_>>()?;
        let mut starts = Vec::with_capacity(batches.len());
        let mut total = 0usize;
        for batch in batches {
            starts.push(total);
            total += batch.num_rows();
        }
        if u32::try_from(total).is_err() {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "latest_version reads at most {} rows at once, not {total}",
                u32::MAX
            )));
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let bits = cores.clamp(1, 16).next_power_of_two().trailing_zeros();
        let mut winners = Winners {
            keys,
            starts,
            bits,
            shards: Vec::new(),
            no_id: None,
            rows: total,
        };
        let picked: Vec<(HashMap<i64, u32>, Option<u32>)> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..1u64 << bits)
                .map(|shard| {
                    let winners = &winners;
                    scope.spawn(move || winners.pick_shard(shard))
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap_or_default())
                .collect()
        });
        for (map, no_id) in picked {
            winners.shards.push(map);
            winners.no_id = winners.no_id.or(no_id);
        }
        Ok(winners)
    }

    fn rank_at(&self, position: u32) -> Rank<'_> {
        let batch = self.starts.partition_point(|&s| s <= position as usize) - 1;
        self.keys[batch].rank(position as usize - self.starts[batch])
    }

    /// The winning position of each id in one shard; rows without an id are shard 0's.
    fn pick_shard(&self, shard: u64) -> (HashMap<i64, u32>, Option<u32>) {
        let mut best: HashMap<i64, u32> = HashMap::with_capacity(self.rows >> self.bits);
        let mut no_id: Option<u32> = None;
        for (batch, keys) in self.keys.iter().enumerate() {
            for (row, &id) in keys.id.values().iter().enumerate() {
                let here = (self.starts[batch] + row) as u32;
                if keys.id.is_null(row) {
                    if shard == 0 && no_id.is_none_or(|o| keys.rank(row) > self.rank_at(o)) {
                        no_id = Some(here);
                    }
                    continue;
                }
                if shard_of(id, self.bits) != shard {
                    continue;
                }
                match best.entry(id) {
                    Entry::Vacant(slot) => {
                        slot.insert(here);
                    }
                    Entry::Occupied(mut slot) => {
                        if keys.rank(row) > self.rank_at(*slot.get()) {
                            slot.insert(here);
                        }
                    }
                }
            }
        }
        (best, no_id)
    }

    /// For every batch, which of its rows are the winners.
    fn masks(&self, batches: &[RecordBatch]) -> Vec<BooleanArray> {
        let mut winners = vec![false; self.rows];
        let positions = self
            .shards
            .iter()
            .flat_map(|m| m.values())
            .chain(&self.no_id);
        for &position in positions {
            winners[position as usize] = true;
        }
        self.starts
            .iter()
            .zip(batches)
            .map(|(&start, b)| BooleanArray::from(winners[start..start + b.num_rows()].to_vec()))
            .collect()
    }
}

/// The shard of an id among `1 << bits`: the top bits of a multiplicative hash.
fn shard_of(id: i64, bits: u32) -> u64 {
    if bits == 0 {
        return 0;
    }
    (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use arrow::util::pretty::pretty_format_batches;
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;
    use rand::{Rng, SeedableRng};

    fn micros() -> DataType {
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    }

    /// A change log with few ids and few distinct values, so that ids repeat, values tie
    /// and NULLs meet each other; `version` spells out what the rule ranks by, so rows
    /// that rank the same read the same and either may win.
    fn change_log(seed: u64, rows: usize) -> RecordBatch {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let instant = |rng: &mut rand::rngs::StdRng| {
            (rng.random_range(0..4) != 0).then(|| rng.random_range(0..3i64) * 1_000_000)
        };
        let mut columns: [Vec<Option<i64>>; 4] = Default::default();
        let (mut ids, mut events, mut versions) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rows {
            ids.push(rng.random_range(0..40i64));
            let times: Vec<Option<i64>> = (0..4).map(|_| instant(&mut rng)).collect();
            let event =
                (rng.random_range(0..5) != 0).then(|| format!("e{}", rng.random_range(0..3)));
            let full = times[0].is_some() || times[1].is_some();
            versions.push(format!("{full} {:?} {:?} {event:?}", times[2], times[3]));
            for (column, time) in columns.iter_mut().zip(times) {
                column.push(time);
            }
            events.push(event);
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("created_at", micros(), true),
            Field::new("updated_at", micros(), true),
            Field::new("source_updated_at", micros(), true),
            Field::new("received_at", micros(), true),
            Field::new("event_id", DataType::Utf8, true),
            Field::new("version", DataType::Utf8, false),
        ]));
        let time = |c: &Vec<Option<i64>>| {
            Arc::new(TimestampMicrosecondArray::from(c.clone()).with_timezone("UTC")) as _
        };
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(ids)),
                time(&columns[0]),
                time(&columns[1]),
                time(&columns[2]),
                time(&columns[3]),
                Arc::new(StringArray::from(events)),
                Arc::new(StringArray::from(versions)),
            ],
        )
        .unwrap()
    }

    async fn rows(ctx: &SessionContext, from: &str) -> String {
        let sql = format!("SELECT id, version FROM ({from}) AS t ORDER BY id, version");
        let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
        pretty_format_batches(&batches).unwrap().to_string()
    }

    #[tokio::test]
    async fn the_hash_pass_keeps_what_the_window_keeps() {
        for seed in 0..20 {
            let batch = change_log(seed, 300);
            // Several batches in several partitions, so winners cross batch boundaries.
            let parts: Vec<Vec<RecordBatch>> = (0..3)
                .map(|p| (0..2).map(|b| batch.slice((p * 2 + b) * 50, 50)).collect())
                .collect();
            let table = Arc::new(MemTable::try_new(batch.schema(), parts).unwrap());
            let ctx = SessionContext::new();
            ctx.register_table("log", table.clone()).unwrap();
            let latest = LatestVersions::default().with_table("log", table);
            ctx.register_udtf("latest_version", Arc::new(latest));

            let window = rows(&ctx, &REFERENCE_SQL.replace("${entity}", "log")).await;
            let hashed = rows(&ctx, "SELECT * FROM latest_version('log')").await;
            assert_eq!(hashed, window, "seed {seed}");
            let ids = rows(&ctx, "SELECT DISTINCT id, '' AS version FROM log").await;
            assert_eq!(hashed.lines().count(), ids.lines().count(), "seed {seed}");
        }
    }

    #[tokio::test]
    async fn a_projection_without_the_rule_columns_still_applies_the_rule() {
        let batch = change_log(7, 200);
        let table = Arc::new(MemTable::try_new(batch.schema(), vec![vec![batch]]).unwrap());
        let ctx = SessionContext::new();
        ctx.register_table("log", table.clone()).unwrap();
        let latest = LatestVersions::default().with_table("log", table);
        ctx.register_udtf("latest_version", Arc::new(latest));
        let count = |sql: &'static str| {
            let ctx = ctx.clone();
            async move {
                let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
                pretty_format_batches(&batches).unwrap().to_string()
            }
        };
        let latest = count("SELECT count(*) AS n FROM latest_version('log')").await;
        let ids = count("SELECT count(DISTINCT id) AS n FROM log").await;
        assert_eq!(latest, ids);
    }

    #[tokio::test]
    async fn unknown_tables_and_bad_arguments_are_plan_errors() {
        let ctx = SessionContext::new();
        ctx.register_udtf("latest_version", Arc::new(LatestVersions::default()));
        for sql in [
            "SELECT * FROM latest_version('nope')",
            "SELECT * FROM latest_version(1)",
        ] {
            let err = ctx.sql(sql).await.err().map(|e| e.to_string());
            assert!(err.is_some_and(|e| e.contains("latest_version")), "{sql}");
        }
    }
}

//! The landing writer on real stores: a local folder, memory, and an S3 server.

use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use chrono::NaiveDate;
use coconut_lake::land::{LandError, Lander, LandingEncoder, LandingLimits, Store};
use coconut_lake::model::{Cell, Rows, Table};
use coconut_lake::source::Entity;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::errors::ParquetError;
use parquet::file::metadata::ParquetMetaData;

use crate::support::*;

fn day() -> NaiveDate {
    received_at().date_naive()
}

async fn round_trip_on(store: Store) -> TestResult {
    let lander = Lander::start(store.clone(), LandingLimits::default());
    for entity in Entity::ALL {
        let batch = fixture_batch(entity);
        let landed = lander
            .submit(Table::Entity(entity), batch.clone(), day())
            .await?;
        let expected = format!("landing/{entity}/date=2026-03-09/");
        assert!(landed.path.starts_with(&expected), "{}", landed.path);

        let read = read_table(&store, Table::Entity(entity)).await;
        assert_eq!(
            read.schema(),
            batch.schema(),
            "{entity} schema on {}",
            store.url()
        );
        assert_eq!(read, batch, "{entity} rows on {}", store.url());
    }
    lander.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn every_entity_reads_back_equal_on_a_local_folder() -> TestResult {
    let dir = tempfile::tempdir()?;
    round_trip_on(Store::open(
        dir.path().join("lake").to_str().unwrap_or_default(),
    )?)
    .await
}

#[tokio::test]
async fn every_entity_reads_back_equal_in_memory() -> TestResult {
    round_trip_on(Store::open("memory://")?).await
}

#[tokio::test]
async fn every_entity_reads_back_equal_on_s3() -> TestResult {
    round_trip_on(s3_store()).await
}

/// A writer whose flushes wait 200 ms for more, so that submissions made together share
/// one file.
fn lingering(store: &Store) -> Lander {
    let limits = LandingLimits {
        linger: Duration::from_millis(200),
        ..LandingLimits::default()
    };
    Lander::start(store.clone(), limits)
}

#[tokio::test]
async fn concurrent_submissions_share_files() -> TestResult {
    let dir = tempfile::tempdir()?;
    for store in stores(dir.path()) {
        let lander = lingering(&store);
        let table = Table::Entity(Entity::Clients);
        let batch = fixture_batch(Entity::Clients);
        let submits = (0..200).map(|_| lander.submit(table, batch.slice(0, 1), day()));
        let landed = futures::future::try_join_all(submits).await?;

        let files = list_parquet(&store, &table.prefix()).await;
        let mut paths: Vec<&str> = landed.iter().map(|l| l.path.as_str()).collect();
        paths.dedup();
        assert!(
            files.len() <= 4,
            "{} files for 200 submissions",
            files.len()
        );
        assert_eq!(read_table(&store, table).await.num_rows(), 200);
        assert!(
            landed
                .iter()
                .all(|l| files.iter().any(|f| f.as_ref() == l.path))
        );
        lander.shutdown().await;
    }
    Ok(())
}

#[tokio::test]
async fn rows_and_batches_submitted_together_share_a_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    for store in stores(dir.path()) {
        let lander = lingering(&store);
        let entity = Entity::Appointments;
        let table = Table::Entity(entity);
        let batch = fixture_batch(entity);
        let rows = fixture_rows(entity).into_rows();
        let singles = rows.iter().map(|row| {
            let mut one = Rows::new(table);
            one.push(row.clone());
            lander.submit_rows(one, day())
        });
        let (batched, singles) = futures::join!(
            lander.submit(table, batch.clone(), day()),
            futures::future::try_join_all(singles)
        );
        let (batched, singles) = (batched?, singles?);
        assert!(singles.iter().all(|l| l.path == batched.path));
        assert_eq!(batched.file_rows, 2 * batch.num_rows());

        // Each fixture row twice: once from the batch, once as a row of its own.
        let read = read_table(&store, table).await;
        let doubled = arrow::compute::concat_batches(&batch.schema(), [&batch, &batch])?;
        let sorted = |b: &arrow::array::RecordBatch| -> Vec<String> {
            let text =
                arrow::util::pretty::pretty_format_batches(std::slice::from_ref(b)).expect("table");
            let mut lines: Vec<String> = text.to_string().lines().map(str::to_string).collect();
            lines.sort();
            lines
        };
        assert_eq!(sorted(&read), sorted(&doubled), "on {}", store.url());
        lander.shutdown().await;
    }
    Ok(())
}

#[tokio::test]
async fn a_row_that_does_not_fit_is_refused_and_spoils_no_file() -> TestResult {
    let store = Store::open("memory://")?;
    let lander = Lander::start(store.clone(), LandingLimits::default());
    let table = Table::Entity(Entity::Clients);
    let mut rows = fixture_rows(Entity::Clients).into_rows();
    let mut bad = Rows::new(table);
    let mut row = rows.remove(0);
    row[0] = Cell::Int(7); // event_id is text
    bad.push(row);
    let refused = lander.submit_rows(bad, day()).await;
    assert!(
        matches!(&refused, Err(LandError::Schema { reason, .. }) if reason.contains("event_id")),
        "{refused:?}"
    );
    let mut short = Rows::new(table);
    short.push(vec![Cell::Null]);
    assert!(matches!(
        lander.submit_rows(short, day()).await,
        Err(LandError::Schema { .. })
    ));
    let mut good = Rows::new(table);
    good.push(rows.remove(0));
    lander.submit_rows(good, day()).await?;
    assert_eq!(read_table(&store, table).await.num_rows(), 1);
    lander.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_full_queue_refuses_at_once_and_keeps_what_it_took() -> TestResult {
    let store = Store::open("memory://")?;
    let batch = fixture_batch(Entity::Appointments);
    let limits = LandingLimits {
        linger: Duration::from_secs(30),
        max_pending_bytes: batch.get_array_memory_size() + 1024,
        max_bytes: usize::MAX,
        ..LandingLimits::default()
    };
    let lander = Lander::start(store.clone(), limits);
    let table = Table::Entity(Entity::Appointments);

    let first = tokio::spawn({
        let (lander, batch) = (lander.clone(), batch.clone());
        async move { lander.submit(table, batch, day()).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = std::time::Instant::now();
    let second = lander.submit(table, batch.clone(), day()).await;
    assert!(
        matches!(second, Err(LandError::Overloaded { .. })),
        "{second:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refusal was not immediate"
    );

    lander.shutdown().await;
    let landed = first.await??;
    assert_eq!(landed.file_rows, batch.num_rows());
    assert_eq!(read_table(&store, table).await, batch);
    Ok(())
}

#[tokio::test]
async fn a_failed_write_is_reported_and_claims_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path().join("lake").to_str().unwrap_or_default())?;
    // A plain file where the landing folder should be makes every write fail.
    store
        .objects()
        .put(
            &Path::from("landing"),
            PutPayload::from_static(b"not a folder"),
        )
        .await?;
    let lander = Lander::start(store.clone(), LandingLimits::default());
    let table = Table::Entity(Entity::Users);
    let result = lander
        .submit(table, fixture_batch(Entity::Users), day())
        .await;
    let Err(LandError::Write { path, .. }) = &result else {
        panic!("expected a write error, got {result:?}");
    };
    assert!(path.starts_with("landing/users/date=2026-03-09/"));
    assert!(list_parquet(&store, "landing").await.is_empty());

    // Once the store works again, so does the writer.
    store.objects().delete(&Path::from("landing")).await?;
    let landed = lander
        .submit(table, fixture_batch(Entity::Users), day())
        .await?;
    assert_eq!(landed.file_rows, 2);
    lander.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn rows_land_under_the_day_they_were_received() -> TestResult {
    let dir = tempfile::tempdir()?;
    for store in stores(dir.path()) {
        let limits = LandingLimits {
            linger: Duration::from_millis(100),
            ..LandingLimits::default()
        };
        let lander = Lander::start(store.clone(), limits);
        let table = Table::Entity(Entity::Services);
        let batch = fixture_batch(Entity::Services);
        let before = day().pred_opt().unwrap_or_default();
        let (a, b) = tokio::join!(
            lander.submit(table, batch.slice(0, 1), before),
            lander.submit(table, batch.slice(1, 1), day())
        );
        assert!(a?.path.contains("/date=2026-03-08/"));
        assert!(b?.path.contains("/date=2026-03-09/"));
        let files = list_parquet(&store, &table.prefix()).await;
        assert_eq!(files.len(), 2, "on {}", store.url());
        lander.shutdown().await;
    }
    Ok(())
}

#[tokio::test]
async fn a_missing_bucket_fails_the_submission_on_s3() -> TestResult {
    let base = s3_store();
    let bucket = base.url().host_str().unwrap_or_default().to_string();
    let missing = base.url().as_str().replace(&bucket, "no-such-bucket");
    let store = Store::open(&missing)?;
    let lander = Lander::start(store, LandingLimits::default());
    let table = Table::Entity(Entity::Clients);
    let result = lander
        .submit(table, fixture_batch(Entity::Clients), day())
        .await;
    assert!(matches!(result, Err(LandError::Write { .. })), "{result:?}");
    lander.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_batch_of_another_schema_is_refused() -> TestResult {
    let lander = Lander::start(Store::open("memory://")?, LandingLimits::default());
    let clients = fixture_batch(Entity::Clients);
    let result = lander
        .submit(Table::Entity(Entity::Users), clients, day())
        .await;
    assert!(
        matches!(result, Err(LandError::Schema { .. })),
        "{result:?}"
    );
    lander.shutdown().await;
    let after = lander
        .submit(
            Table::Entity(Entity::Users),
            fixture_batch(Entity::Users),
            day(),
        )
        .await;
    assert!(matches!(after, Err(LandError::Closed)), "{after:?}");
    Ok(())
}

fn read_parquet(bytes: bytes::Bytes) -> Result<(ParquetMetaData, RecordBatch), ParquetError> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?;
    let metadata = reader.metadata().as_ref().clone();
    let schema = reader.schema().clone();
    let batches: Vec<RecordBatch> = reader.build()?.collect::<Result<_, _>>()?;
    Ok((metadata, concat_batches(&schema, &batches)?))
}

/// Small files skip Parquet's general writer. Read back they equal their batch, and they
/// carry the general writer's schema, metadata, codecs and statistics for the same batch,
/// truncated bounds included.
#[test]
fn direct_small_files_match_the_general_writer() -> TestResult {
    for table in Table::all() {
        let schema = table.schema();
        let encoder = LandingEncoder::new(schema.clone(), 128 * 1024)?;
        assert!(encoder.encodes_small_files_directly(), "{}", table.name());
        for (seed, rows) in [(1, 1), (2, 2), (3, 17), (4, 300), (5, 1500)] {
            let batch = arbitrary_batch(&schema, rows, seed);
            let what = format!("{} with {rows} rows", table.name());
            let (direct, direct_rows) = read_parquet(encoder.encode(&batch)?)?;
            let (general, general_rows) = read_parquet(encoder.encode_general(&batch)?)?;
            assert_eq!(direct_rows, batch, "{what}: direct read back");
            assert_eq!(general_rows, batch, "{what}: general read back");

            let (d, g) = (direct.file_metadata(), general.file_metadata());
            assert_eq!(d.schema_descr(), g.schema_descr(), "{what}: schema");
            assert_eq!(
                d.key_value_metadata(),
                g.key_value_metadata(),
                "{what}: metadata"
            );
            assert_eq!(d.created_by(), g.created_by(), "{what}: created by");
            assert_eq!(d.num_rows(), g.num_rows(), "{what}: rows");
            assert_eq!((direct.num_row_groups(), general.num_row_groups()), (1, 1));
            let chunks = direct.row_group(0).columns();
            for (d, g) in chunks.iter().zip(general.row_group(0).columns()) {
                let column = format!("{what}: {}", d.column_path());
                assert_eq!(d.compression(), g.compression(), "{column} codec");
                assert_eq!(d.num_values(), g.num_values(), "{column} values");
                assert_eq!(d.statistics(), g.statistics(), "{column} statistics");
                assert_eq!(d.offset_index_offset(), None, "{column} offset index");
            }
        }
    }
    Ok(())
}

/// A staging file that a killed process left in a local store (`<name>#<n>`, older than
/// the sweep's age) is gone soon after a landing writer starts there, so that readers of
/// whole table folders do not trip on it; a recent one, perhaps a live upload, and the
/// landed files stay.
#[tokio::test]
async fn a_new_writer_removes_uploads_a_killed_process_left() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path().to_str().unwrap_or_default())?;
    let partition = dir.path().join("landing/clients/date=2026-03-01");
    std::fs::create_dir_all(&partition)?;
    let stale = partition.join("20260301T101010.000000Z-00.parquet#1");
    let fresh = partition.join("20260301T101011.000000Z-01.parquet#1");
    std::fs::write(&stale, b"PAR1 cut short")?;
    std::fs::write(&fresh, b"PAR1 being written")?;
    let an_hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&stale)?
        .set_modified(an_hour_ago)?;

    let lander = Lander::start(store.clone(), LandingLimits::default());
    let clients = Table::Entity(Entity::Clients);
    lander
        .submit(clients, fixture_batch(Entity::Clients), day())
        .await?;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while stale.exists() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    lander.shutdown().await;
    assert!(!stale.exists(), "the stale staging file is still there");
    assert!(fresh.exists(), "a recent staging file was removed");
    assert_eq!(list_parquet(&store, &clients.prefix()).await.len(), 1);
    Ok(())
}

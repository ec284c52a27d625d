//! Parquet encoding with the settings every reader accepts, and the one way files reach the
//! store: encoded whole off the async threads, then put once, never over an existing object.
//!
//! Landing files are bounded by the writer's limits, so a whole file fits in memory; one put
//! makes the file appear complete or not at all on every backend, with nothing partial to
//! clean up after a failure.

use std::sync::Arc;

use arrow::array::RecordBatch;
use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, PutMode, PutPayload};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

/// Why a Parquet file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Encoding failed.
    #[error("parquet encoding: {0}")]
    Parquet(#[from] ParquetError),
    /// The store refused the upload.
    #[error("store: {0}")]
    Store(#[from] object_store::Error),
    /// The encoding task died.
    #[error("encoding task: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Writer settings for landing and exports: zstd, plain types, row groups sized for scans.
pub fn writer_properties(row_group_rows: usize) -> WriterProperties {
    let level = ZstdLevel::try_new(3).unwrap_or_default();
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_max_row_group_row_count(Some(row_group_rows.max(1)))
        .set_created_by(concat!("coconut-lake ", env!("CARGO_PKG_VERSION")).to_string())
        .build()
}

/// Rows below which a landing file compresses only its `raw` column, without dictionaries
/// or page statistics.
///
/// Parquet builds a zstd compressor and decompressor for every column chunk it writes, and
/// a dictionary and statistics per page; for the few rows of a webhook flush that setup
/// costs more than the whole encoding, and the typed columns of so few rows compress to
/// next to nothing anyway. Larger files compress every column.
pub const SMALL_FILE_ROWS: usize = 4_096;

/// Writer settings for a landing file of `rows` rows: [`writer_properties`], with only the
/// `raw` column compressed when the file is small.
pub fn landing_properties(rows: usize, row_group_rows: usize) -> WriterProperties {
    let full = writer_properties(row_group_rows);
    if rows >= SMALL_FILE_ROWS {
        return full;
    }
    let level = ZstdLevel::try_new(3).unwrap_or_default();
    WriterProperties::builder()
        .set_compression(Compression::UNCOMPRESSED)
        .set_column_compression(ColumnPath::from("raw"), Compression::ZSTD(level))
        // Dictionaries and page statistics pay off over many rows, not a handful.
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_max_row_group_row_count(Some(row_group_rows.max(1)))
        .set_created_by(full.created_by().to_string())
        .build()
}

/// Encodes batches as one Parquet file in memory.
pub fn encode_parquet(
    batches: &[RecordBatch],
    properties: WriterProperties,
) -> Result<Bytes, ParquetError> {
    let Some(first) = batches.first() else {
        return Ok(Bytes::new());
    };
    let mut writer = ArrowWriter::try_new(Vec::new(), first.schema(), Some(properties))?;
    for batch in batches {
        writer.write(batch)?;
    }
    Ok(Bytes::from(writer.into_inner()?))
}

/// Writes batches as one new Parquet object and returns its size in bytes. Fails rather
/// than replace an object already at `path`.
pub async fn write_parquet(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
    batches: Vec<RecordBatch>,
    properties: WriterProperties,
) -> Result<u64, WriteError> {
    // A small file encodes in less time than a hop to the blocking pool takes.
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let bytes = if rows < SMALL_FILE_ROWS {
        encode_parquet(&batches, properties)?
    } else {
        tokio::task::spawn_blocking(move || encode_parquet(&batches, properties)).await??
    };
    let size = bytes.len() as u64;
    store
        .put_opts(path, PutPayload::from(bytes), PutMode::Create.into())
        .await?;
    Ok(size)
}

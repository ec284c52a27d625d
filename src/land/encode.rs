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
use parquet::file::properties::WriterProperties;

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
    let bytes = tokio::task::spawn_blocking(move || encode_parquet(&batches, properties)).await??;
    let size = bytes.len() as u64;
    store
        .put_opts(path, PutPayload::from(bytes), PutMode::Create.into())
        .await?;
    Ok(size)
}

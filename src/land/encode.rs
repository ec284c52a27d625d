//! Parquet encoding with the settings every reader accepts, streamed to the store.

use std::sync::Arc;

use arrow::array::RecordBatch;
use object_store::ObjectStore;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use parquet::arrow::AsyncArrowWriter;
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

/// Writes batches as one Parquet file; returns its size in bytes. On failure any partial
/// upload is aborted, so the path either holds the whole file or nothing.
pub async fn write_parquet(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
    batches: &[RecordBatch],
    properties: WriterProperties,
) -> Result<u64, WriteError> {
    let Some(first) = batches.first() else {
        return Ok(0);
    };
    let upload = BufWriter::new(store.clone(), path.clone());
    let mut writer = AsyncArrowWriter::try_new(upload, first.schema(), Some(properties))?;
    let mut result = Ok(());
    for batch in batches {
        result = writer.write(batch).await;
        if result.is_err() {
            break;
        }
    }
    if result.is_ok() {
        result = writer.finish().await.map(|_| ());
    }
    match result {
        Ok(()) => Ok(writer.bytes_written() as u64),
        Err(e) => {
            let mut upload = writer.into_inner();
            if let Err(abort) = upload.abort().await {
                tracing::warn!(%path, error = %abort, "failed to abort a partial upload");
            }
            Err(e.into())
        }
    }
}

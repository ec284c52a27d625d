//! Parquet encoding with the settings every reader accepts, and the one way files reach the
//! store: encoded whole off the async threads, then put once, never over an existing object.
//!
//! Landing files are bounded by the writer's limits, so a whole file fits in memory; one put
//! makes the file appear complete or not at all on every backend, with nothing partial to
//! clean up after a failure.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, PutMode, PutPayload};
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::arrow::{ArrowSchemaConverter, ArrowWriter, add_encoded_arrow_schema_to_metadata};
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::{ColumnPath, SchemaDescriptor};

use super::direct::DirectEncoder;
use crate::telemetry as names;

/// Why a Parquet file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Encoding failed.
    #[error("parquet encoding: {0}")]
    Parquet(#[from] ParquetError),
    /// The store refused the upload.
    #[error("store: {0}")]
    Store(#[from] object_store::Error),
    /// The encoding task, or the blocking task of a local put, died.
    #[error("encoding task: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The file could not be written into a local folder, or its name is taken.
    #[error("local folder: {0}")]
    Local(#[source] std::io::Error),
    /// The file was put in a local folder but could not be forced to disk.
    #[error("failed to sync to disk: {0}")]
    Sync(#[source] std::io::Error),
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

/// Rows below which a landing file compresses only its `raw` column and leaves out
/// dictionaries, page statistics and the offset index.
///
/// Parquet builds a zstd compressor and decompressor for every compressed column chunk,
/// and a dictionary, statistics and index entries per page; for the few rows of a webhook
/// flush that setup costs more than the whole encoding, and the typed columns of so few
/// rows compress to next to nothing anyway. Larger files compress every column.
pub const SMALL_FILE_ROWS: usize = 4_096;

/// One table's landing encoding, prepared once: the Parquet schema and the Arrow schema
/// embedded in every file are converted when the writer starts, not for each file, which
/// matters when a flush holds a few webhooks.
#[derive(Debug)]
pub struct LandingEncoder {
    schema: SchemaRef,
    parquet: SchemaDescriptor,
    small: WriterProperties,
    large: WriterProperties,
    /// The small-file encoding without Parquet's general writer, when the schema allows.
    direct: Option<DirectEncoder>,
}

impl LandingEncoder {
    /// The encoder of files of `schema`, with row groups of `row_group_rows`.
    pub fn new(schema: SchemaRef, row_group_rows: usize) -> Result<LandingEncoder, ParquetError> {
        let parquet = ArrowSchemaConverter::new().convert(&schema)?;
        let mut large = writer_properties(row_group_rows);
        let level = ZstdLevel::try_new(3).unwrap_or_default();
        let mut small = WriterProperties::builder()
            .set_compression(Compression::UNCOMPRESSED)
            .set_column_compression(ColumnPath::from("raw"), Compression::ZSTD(level))
            // Dictionaries, page statistics and page offsets pay off over many rows and
            // pages; a small file has one page per column.
            .set_dictionary_enabled(false)
            .set_statistics_enabled(EnabledStatistics::Chunk)
            .set_offset_index_disabled(true)
            .set_max_row_group_row_count(Some(row_group_rows.max(1)))
            .set_created_by(large.created_by().to_string())
            .build();
        add_encoded_arrow_schema_to_metadata(&schema, &mut large);
        add_encoded_arrow_schema_to_metadata(&schema, &mut small);
        let direct = DirectEncoder::new(schema.clone(), parquet.clone(), small.clone());
        Ok(LandingEncoder {
            schema,
            parquet,
            small,
            large,
            direct,
        })
    }

    /// Whether files under [`SMALL_FILE_ROWS`] rows skip Parquet's general writer; true for
    /// every landing table's schema.
    pub fn encodes_small_files_directly(&self) -> bool {
        self.direct.is_some()
    }

    /// Encodes one batch of the encoder's schema as a whole Parquet file.
    pub fn encode(&self, batch: &RecordBatch) -> Result<Bytes, ParquetError> {
        match &self.direct {
            Some(direct) if (1..SMALL_FILE_ROWS).contains(&batch.num_rows()) => {
                // A batch the direct encoding cannot write is a defect; the general
                // writer still lands it rather than refuse every retry of its senders.
                direct.encode(batch).or_else(|e| {
                    metrics::counter!(names::DIRECT_ENCODE_FALLBACKS).increment(1);
                    tracing::error!(error = %e, "direct encoding failed; using the general writer");
                    self.encode_general(batch)
                })
            }
            _ => self.encode_general(batch),
        }
    }

    /// Encodes with Parquet's general writer whatever the size: the reference that the
    /// direct small-file encoding is tested and measured against.
    pub fn encode_general(&self, batch: &RecordBatch) -> Result<Bytes, ParquetError> {
        let properties = if batch.num_rows() < SMALL_FILE_ROWS {
            &self.small
        } else {
            &self.large
        };
        let options = ArrowWriterOptions::new()
            .with_properties(properties.clone())
            .with_skip_arrow_metadata(true)
            .with_parquet_schema(self.parquet.clone());
        let mut writer =
            ArrowWriter::try_new_with_options(Vec::new(), self.schema.clone(), options)?;
        writer.write(batch)?;
        Ok(Bytes::from(writer.into_inner()?))
    }
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

/// Encodes a landing batch as one whole Parquet file with `encoder`: a small one on the
/// calling task, since it encodes in less time than a hop to the blocking pool takes, a
/// large one on the blocking pool.
pub async fn encode_landing(
    encoder: &Arc<LandingEncoder>,
    batch: RecordBatch,
) -> Result<Bytes, WriteError> {
    if batch.num_rows() < SMALL_FILE_ROWS {
        return Ok(encoder.encode(&batch)?);
    }
    let encoder = Arc::clone(encoder);
    Ok(tokio::task::spawn_blocking(move || encoder.encode(&batch)).await??)
}

/// Puts encoded bytes as a new object and returns their size; never over an existing one.
pub async fn put_new(
    store: &Arc<dyn ObjectStore>,
    path: &Path,
    bytes: Bytes,
) -> Result<u64, WriteError> {
    let size = bytes.len() as u64;
    store
        .put_opts(path, PutPayload::from(bytes), PutMode::Create.into())
        .await?;
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn batch(rows: usize) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new(
                "received_at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("raw", DataType::Utf8, true),
        ]));
        let ids: Vec<i64> = (0..rows as i64).collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(ids.clone())),
            Arc::new(TimestampMicrosecondArray::from(ids).with_timezone("UTC")),
            Arc::new(StringArray::from_iter_values(
                (0..rows).map(|i| format!("{{\"id\": {i}}}")),
            )),
        ];
        RecordBatch::try_new(schema, columns).unwrap_or_else(|e| panic!("bad fixture: {e}"))
    }

    #[test]
    fn prepared_encodings_read_back_with_their_arrow_schema() -> Result<(), ParquetError> {
        for rows in [3, SMALL_FILE_ROWS + 1] {
            let input = batch(rows);
            let encoder = LandingEncoder::new(input.schema(), 128 * 1024)?;
            let bytes = encoder.encode(&input)?;
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes.clone())?;
            let metadata = reader.metadata().clone();
            let output: Vec<RecordBatch> = reader.build()?.collect::<Result<_, _>>()?;
            let output = arrow::compute::concat_batches(&input.schema(), &output)?;
            assert_eq!(output, input, "{rows} rows");

            let chunks = metadata.row_group(0).columns();
            let codecs: Vec<String> = chunks.iter().map(|c| c.compression().to_string()).collect();
            let small = rows < SMALL_FILE_ROWS;
            if small {
                assert_eq!(codecs[..2], ["UNCOMPRESSED", "UNCOMPRESSED"]);
            } else {
                assert!(codecs[..2].iter().all(|c| c.starts_with("ZSTD")));
            }
            assert!(codecs[2].starts_with("ZSTD"), "raw is {}", codecs[2]);
            let offsets = chunks.iter().filter(|c| c.offset_index_offset().is_some());
            assert_eq!(offsets.count(), if small { 0 } else { chunks.len() });
            assert!(chunks.iter().all(|c| c.statistics().is_some()));
        }
        Ok(())
    }

    #[test]
    fn a_schema_the_direct_encoding_lacks_uses_the_general_writer() -> Result<(), ParquetError> {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Float64, true)]));
        let column: ArrayRef = Arc::new(arrow::array::Float64Array::from(vec![Some(1.5), None]));
        let input = RecordBatch::try_new(schema.clone(), vec![column])?;
        let encoder = LandingEncoder::new(schema, 1024)?;
        assert!(!encoder.encodes_small_files_directly());
        let reader = ParquetRecordBatchReaderBuilder::try_new(encoder.encode(&input)?)?;
        let output: Vec<RecordBatch> = reader.build()?.collect::<Result<_, _>>()?;
        assert_eq!(output, [input]);
        Ok(())
    }
}

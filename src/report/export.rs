//! Report outputs in `exports/<report>/`: the result as `<report>.parquet` (and
//! `<report>.csv` on request) and a `manifest.json` naming each file with its rows, size
//! and SHA-256, the definitions version and the parameters.
//!
//! Each file is replaced with a single put, which every store makes atomic: a reader sees
//! the previous run's file or this run's, never a mix or a partial file. The manifest is
//! written last, so once it names this run every file it lists is this run's.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::land::{Store, encode_parquet, writer_properties};
use crate::model::sha256_hex;

/// Rows per row group of an export.
const EXPORT_ROW_GROUP: usize = 131_072;

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Encoding failed.
    #[error("failed to encode {path}: {reason}")]
    Encode {
        /// The object being written.
        path: String,
        /// The encoder's complaint.
        reason: String,
    },
    /// The store refused the write.
    #[error("failed to write {path}: {source}")]
    Store {
        /// The object being written.
        path: String,
        /// The cause.
        source: object_store::Error,
    },
}

/// One file of an export, as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportFile {
    /// Its path relative to the store.
    pub path: String,
    /// `parquet` or `csv`.
    pub format: String,
    /// Data rows.
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
    /// Hex SHA-256 of its bytes.
    pub sha256: String,
}

/// `exports/<report>/manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The report's name.
    pub report: String,
    /// Id of the run that wrote it.
    pub run_id: String,
    /// When the run started.
    pub generated_at: DateTime<Utc>,
    /// Hash of the SQL definitions and parameters the run used.
    pub definitions_version: String,
    /// The parameter values.
    pub parameters: std::collections::BTreeMap<String, String>,
    /// The files.
    pub files: Vec<ExportFile>,
}

/// The folder of a report's export.
pub fn export_folder(report: &str) -> String {
    format!("exports/{report}")
}

/// The Parquet file of a report's export.
pub fn export_parquet(report: &str) -> String {
    format!("exports/{report}/{report}.parquet")
}

/// Types every reader takes: plain UTF-8 strings, microsecond timestamps, plain lists.
pub fn portable_batches(
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<(SchemaRef, Vec<RecordBatch>), arrow::error::ArrowError> {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| Field::new(f.name(), portable(f.data_type()), true))
        .collect();
    let target = Arc::new(Schema::new(fields));
    let converted = batches
        .iter()
        .map(|batch| {
            let columns = batch
                .columns()
                .iter()
                .zip(target.fields())
                .map(|(column, field)| cast(column, field.data_type()))
                .collect::<Result<Vec<ArrayRef>, _>>()?;
            RecordBatch::try_new(Arc::clone(&target), columns)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((target, converted))
}

fn portable(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
        DataType::Timestamp(_, zone) => DataType::Timestamp(TimeUnit::Microsecond, zone.clone()),
        DataType::Dictionary(_, value) => portable(value),
        DataType::ListView(item) | DataType::LargeList(item) | DataType::List(item) => {
            DataType::List(Arc::new(Field::new(
                "item",
                portable(item.data_type()),
                true,
            )))
        }
        other => other.clone(),
    }
}

/// Writes one report's result and its manifest; returns the manifest.
pub async fn write_export(
    store: &Store,
    manifest: Manifest,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    csv: bool,
) -> Result<Manifest, ExportError> {
    let report = manifest.report.clone();
    let parquet_path = export_parquet(&report);
    let encode_error = |path: &str| {
        let path = path.to_string();
        move |reason: String| ExportError::Encode { path, reason }
    };
    let (schema, batches) = portable_batches(schema, batches)
        .map_err(|e| encode_error(&parquet_path)(e.to_string()))?;
    let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();

    let mut files = Vec::new();
    let mut with_empty = batches.clone();
    if with_empty.is_empty() {
        with_empty.push(RecordBatch::new_empty(Arc::clone(&schema)));
    }
    let parquet = tokio::task::spawn_blocking(move || {
        encode_parquet(&with_empty, writer_properties(EXPORT_ROW_GROUP))
    })
    .await
    .map_err(|e| encode_error(&parquet_path)(e.to_string()))?
    .map_err(|e| encode_error(&parquet_path)(e.to_string()))?;
    files.push(put(store, &parquet_path, "parquet", rows, parquet).await?);

    if csv {
        let csv_path = format!("{}/{report}.csv", export_folder(&report));
        let bytes = encode_csv(&batches).map_err(|e| encode_error(&csv_path)(e.to_string()))?;
        files.push(put(store, &csv_path, "csv", rows, bytes).await?);
    } else {
        remove_stale_csv(store, &report).await;
    }

    let manifest = Manifest { files, ..manifest };
    let path = format!("{}/manifest.json", export_folder(&report));
    let body =
        serde_json::to_vec_pretty(&manifest).map_err(|e| encode_error(&path)(e.to_string()))?;
    put(store, &path, "json", 0, Bytes::from(body)).await?;
    Ok(manifest)
}

/// Puts a file whole, replacing what was there.
async fn put(
    store: &Store,
    path: &str,
    format: &str,
    rows: u64,
    bytes: Bytes,
) -> Result<ExportFile, ExportError> {
    let file = ExportFile {
        path: path.to_string(),
        format: format.to_string(),
        rows,
        bytes: bytes.len() as u64,
        sha256: sha256_hex(&bytes),
    };
    store
        .objects()
        .put(&Path::from(path), PutPayload::from(bytes))
        .await
        .map_err(|source| ExportError::Store {
            path: store.url_of(path),
            source,
        })?;
    Ok(file)
}

/// A CSV file left from a run that asked for one would outlive its manifest entry.
async fn remove_stale_csv(store: &Store, report: &str) {
    let path = Path::from(format!("{}/{report}.csv", export_folder(report)));
    match store.objects().delete(&path).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
        Err(e) => tracing::warn!(path = %path, error = %e, "could not remove an old CSV export"),
    }
}

/// CSV with a header row; timestamps in RFC 3339.
pub fn encode_csv(batches: &[RecordBatch]) -> Result<Bytes, arrow::error::ArrowError> {
    let mut out = Vec::new();
    {
        let mut writer = arrow::csv::WriterBuilder::new()
            .with_header(true)
            .build(&mut out);
        for batch in batches {
            writer.write(batch)?;
        }
    }
    Ok(Bytes::from(out))
}

/// Reads a report's manifest, if it has one.
pub async fn read_manifest(store: &Store, report: &str) -> Option<Manifest> {
    let path = Path::from(format!("{}/manifest.json", export_folder(report)));
    let bytes = store.objects().get(&path).await.ok()?.bytes().await.ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{StringViewArray, TimestampNanosecondArray};

    #[test]
    fn view_strings_and_nanoseconds_become_portable() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("s", DataType::Utf8View, true),
            Field::new(
                "t",
                DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                true,
            ),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringViewArray::from(vec!["a"])),
                Arc::new(TimestampNanosecondArray::from(vec![1_000_000]).with_timezone("UTC")),
            ],
        )
        .unwrap();
        let (schema, batches) = portable_batches(&schema, &[batch]).unwrap();
        assert_eq!(schema.field(0).data_type(), &DataType::Utf8);
        assert_eq!(
            schema.field(1).data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        assert_eq!(batches[0].num_rows(), 1);
        let csv = encode_csv(&batches).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&csv),
            "s,t\na,1970-01-01T00:00:00.001Z\n"
        );
    }
}

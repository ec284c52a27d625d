//! Analysts' queries: one SQL statement over the views and exports, rendered as a table,
//! CSV, JSON or Parquet.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;

use super::export::{encode_csv, portable_batches};
use crate::land::{encode_parquet, writer_properties};

/// How a result is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for a terminal.
    Table,
    /// CSV with a header row.
    Csv,
    /// A JSON array of objects.
    Json,
    /// A Parquet file.
    Parquet,
}

/// A query that could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The statement did not parse or plan (a user's mistake).
    #[error("invalid query: {0}")]
    Invalid(#[source] DataFusionError),
    /// It planned but failed while running.
    #[error("the query failed: {0}")]
    Failed(#[source] DataFusionError),
    /// Only reading statements are taken.
    #[error("only SELECT, WITH, EXPLAIN, SHOW and DESCRIBE statements can be run here")]
    NotARead,
    /// The result could not be rendered.
    #[error("failed to write the result as {format:?}: {reason}")]
    Render {
        /// The format.
        format: Format,
        /// Why.
        reason: String,
    },
}

/// A result: its schema and rows.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Columns.
    pub schema: SchemaRef,
    /// Rows.
    pub batches: Vec<RecordBatch>,
}

impl Answer {
    /// Rows in all.
    pub fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// Runs one reading statement.
pub async fn run_query(ctx: &SessionContext, sql: &str) -> Result<Answer, QueryError> {
    let first = sql
        .trim_start()
        .split(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !matches!(
        first.as_str(),
        "select" | "with" | "explain" | "show" | "describe" | "values" | ""
    ) {
        return Err(QueryError::NotARead);
    }
    let frame = ctx.sql(sql).await.map_err(QueryError::Invalid)?;
    let schema = frame.schema().inner().clone();
    let batches = frame.collect().await.map_err(QueryError::Failed)?;
    Ok(Answer { schema, batches })
}

/// Renders a result in a format.
pub fn render(answer: &Answer, format: Format) -> Result<Bytes, QueryError> {
    let failed = |reason: String| QueryError::Render { format, reason };
    let (schema, batches) =
        portable_batches(&answer.schema, &answer.batches).map_err(|e| failed(e.to_string()))?;
    match format {
        Format::Table => {
            let text = arrow::util::pretty::pretty_format_batches_with_schema(schema, &batches)
                .map_err(|e| failed(e.to_string()))?;
            Ok(Bytes::from(format!("{text}\n")))
        }
        Format::Csv => encode_csv(&batches).map_err(|e| failed(e.to_string())),
        Format::Json => {
            let mut out = Vec::new();
            {
                let mut writer = arrow::json::ArrayWriter::new(&mut out);
                let refs: Vec<&RecordBatch> = batches.iter().collect();
                writer
                    .write_batches(&refs)
                    .map_err(|e| failed(e.to_string()))?;
                writer.finish().map_err(|e| failed(e.to_string()))?;
            }
            if out.is_empty() {
                out.extend_from_slice(b"[]");
            }
            out.push(b'\n');
            Ok(Bytes::from(out))
        }
        Format::Parquet => {
            let mut batches = batches;
            if batches.is_empty() {
                batches.push(RecordBatch::new_empty(schema));
            }
            encode_parquet(&batches, writer_properties(131_072)).map_err(|e| failed(e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn formats_and_refusals() {
        let ctx = SessionContext::new();
        let answer = run_query(&ctx, "SELECT 1 AS n, 'a' AS s").await.unwrap();
        let csv = render(&answer, Format::Csv).unwrap();
        assert_eq!(&csv[..], b"n,s\n1,a\n");
        let json = render(&answer, Format::Json).unwrap();
        assert_eq!(&json[..], b"[{\"n\":1,\"s\":\"a\"}]\n");
        let table = String::from_utf8(render(&answer, Format::Table).unwrap().to_vec()).unwrap();
        assert!(table.contains("| n | s |"), "{table}");
        let parquet = render(&answer, Format::Parquet).unwrap();
        assert_eq!(&parquet[..4], b"PAR1");

        let bad = run_query(&ctx, "SELECT FROM nowhere WHERE")
            .await
            .unwrap_err();
        assert!(matches!(bad, QueryError::Invalid(_)), "{bad}");
        let write = run_query(&ctx, "CREATE TABLE t AS SELECT 1")
            .await
            .unwrap_err();
        assert!(matches!(write, QueryError::NotARead), "{write}");
        let empty = run_query(&ctx, "SELECT 1 AS n WHERE false").await.unwrap();
        assert_eq!(&render(&empty, Format::Json).unwrap()[..], b"[]\n");
    }
}

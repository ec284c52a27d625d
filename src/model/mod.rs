//! Arrow schemas of every landing table and the conversion of source records into rows.
//!
//! Every table starts with the same envelope columns; entity tables follow with `id`, the
//! branch-local columns of engagements, and the entity's own typed columns.

mod cell;
mod convert;
mod entities;
mod envelope;
mod rowset;
pub mod spec;
pub mod time;

use std::fmt;
use std::sync::{Arc, LazyLock};

use arrow::array::{RecordBatch, RecordBatchOptions};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;

pub use cell::{Cell, build_array, check_cell};
pub use convert::{ConvertError, ConvertOptions, Converter};
pub use envelope::{Envelope, Source, sha256_hex};
pub use rowset::RowSet;

use crate::source::{Entity, Resource};

/// A landing destination: one entity, events of unknown types, or quarantine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// Records of a known entity.
    Entity(Entity),
    /// Authenticated events of a type coconut-lake does not know, kept raw.
    Unrecognized,
    /// Authenticated payloads that could not be used, with the reason.
    Quarantine,
}

impl Table {
    /// Every table.
    pub fn all() -> impl Iterator<Item = Table> {
        Entity::ALL
            .into_iter()
            .map(Table::Entity)
            .chain([Table::Unrecognized, Table::Quarantine])
    }

    /// The folder below the store root, such as `landing/appointments` or `quarantine`.
    pub fn prefix(self) -> String {
        match self {
            Table::Entity(e) => format!("landing/{}", e.name()),
            Table::Unrecognized => "landing/unrecognized".to_string(),
            Table::Quarantine => "quarantine".to_string(),
        }
    }

    /// A short name for logs and metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            Table::Entity(e) => e.name(),
            Table::Unrecognized => "unrecognized",
            Table::Quarantine => "quarantine",
        }
    }

    fn index(self) -> usize {
        match self {
            Table::Entity(e) => Entity::ALL.iter().position(|x| *x == e).unwrap_or_default(),
            Table::Unrecognized => Entity::ALL.len(),
            Table::Quarantine => Entity::ALL.len() + 1,
        }
    }

    /// The table's Arrow schema.
    pub fn schema(self) -> SchemaRef {
        SCHEMAS[self.index()].clone()
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

static SCHEMAS: LazyLock<Vec<SchemaRef>> = LazyLock::new(|| {
    let mut schemas: Vec<SchemaRef> = Entity::ALL
        .into_iter()
        .map(|e| {
            let mut fields = envelope_fields();
            fields.extend(spec::entity_fields(spec::spec(e)));
            Arc::new(Schema::new(fields))
        })
        .collect();
    let mut unrecognized = envelope_fields();
    unrecognized.push(Field::new("resource_type", DataType::Utf8, true));
    unrecognized.push(Field::new("resource_id", DataType::Utf8, true));
    schemas.push(Arc::new(Schema::new(unrecognized)));
    let mut quarantine = envelope_fields();
    quarantine.push(Field::new("reason", DataType::Utf8, false));
    quarantine.push(Field::new("body", DataType::Binary, true));
    schemas.push(Arc::new(Schema::new(quarantine)));
    schemas
});

/// The envelope columns, in order.
fn envelope_fields() -> Vec<Field> {
    vec![
        Field::new("event_id", DataType::Utf8, true),
        Field::new("source", DataType::Utf8, false),
        Field::new("event_type", DataType::Utf8, true),
        Field::new("received_at", spec::utc_micros(), false),
        Field::new("verified_by", DataType::Utf8, true),
        Field::new("source_updated_at", spec::utc_micros(), true),
        Field::new("payload_sha256", DataType::Utf8, true),
        Field::new("raw", DataType::Utf8, true),
    ]
}

/// The row of an authenticated event whose type no entity recognises.
pub fn unrecognized_row(envelope: &Envelope, resource: &Resource) -> Vec<Cell> {
    let updated = envelope.occurred_at.map(|t| t.timestamp_micros());
    let mut row = convert::envelope_cells(envelope, updated, Some(&resource.raw));
    row.push(Cell::Text(resource.kind.clone()));
    row.push(Cell::Text(resource.id.clone()));
    row
}

/// The row of an authenticated payload that could not be used; `body` is kept whole.
pub fn quarantine_row(envelope: &Envelope, reason: &str, body: &[u8]) -> Vec<Cell> {
    let raw = std::str::from_utf8(body).ok();
    let mut row = convert::envelope_cells(envelope, None, raw);
    row.push(Cell::Text(reason.to_string()));
    row.push(Cell::Bytes(body.to_vec()));
    row
}

/// Rows of one table gathered before they become a record batch.
#[derive(Debug)]
pub struct Rows {
    table: Table,
    rows: Vec<Vec<Cell>>,
}

impl Rows {
    /// No rows yet.
    pub fn new(table: Table) -> Rows {
        Rows {
            table,
            rows: Vec::new(),
        }
    }

    /// Adds one row, as [`Converter::convert`] or the row functions build it.
    pub fn push(&mut self, row: Vec<Cell>) {
        self.rows.push(row);
    }

    /// How many rows there are.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table the rows belong to.
    pub fn table(&self) -> Table {
        self.table
    }

    /// Builds the record batch, checking every row against the table's schema.
    pub fn to_batch(&self) -> Result<RecordBatch, ArrowError> {
        let rows: Vec<&[Cell]> = self.rows.iter().map(Vec::as_slice).collect();
        Rows::build(self.table, &rows)
    }

    /// Checks every row against the table's schema without building anything: the width,
    /// and that each cell is of its column's kind.
    pub fn check(&self) -> Result<(), ArrowError> {
        let schema = self.table.schema();
        for row in &self.rows {
            check_width(self.table, schema.fields().len(), row)?;
            for (field, cell) in schema.fields().iter().zip(row) {
                check_cell(field, cell)?;
            }
        }
        Ok(())
    }

    /// An estimate of the bytes the rows hold in memory.
    pub fn memory_size(&self) -> usize {
        self.rows
            .iter()
            .map(|row| row.iter().map(Cell::memory_size).sum::<usize>())
            .sum()
    }

    /// The rows, each in schema order.
    pub fn into_rows(self) -> Vec<Vec<Cell>> {
        self.rows
    }

    /// Builds one record batch of `table` from rows gathered anywhere, checking each
    /// against the table's schema.
    pub fn build(table: Table, rows: &[&[Cell]]) -> Result<RecordBatch, ArrowError> {
        let schema = table.schema();
        let width = schema.fields().len();
        for row in rows {
            check_width(table, width, row)?;
        }
        let columns = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, field)| {
                let column: Vec<&Cell> = rows.iter().map(|r| &r[i]).collect();
                build_array(field, &column)
            })
            .collect::<Result<Vec<_>, _>>()?;
        RecordBatch::try_new_with_options(
            schema,
            columns,
            &RecordBatchOptions::new().with_row_count(Some(rows.len())),
        )
    }
}

fn check_width(table: Table, width: usize, row: &[Cell]) -> Result<(), ArrowError> {
    if row.len() == width {
        return Ok(());
    }
    Err(ArrowError::InvalidArgumentError(format!(
        "{table} row has {} cells, schema has {width}",
        row.len()
    )))
}

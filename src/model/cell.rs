//! Row values before they become Arrow arrays, and the one function that turns a column of
//! them into an array of any type the landing schemas use.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Int64Array, ListArray, StringArray,
    StructArray, TimestampMicrosecondArray,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::{DataType, Field, TimeUnit};
use arrow::error::ArrowError;

/// One value of a landing row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// No value.
    Null,
    /// UTF-8 text.
    Text(String),
    /// A 64-bit integer, ids included.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// Microseconds since the Unix epoch (UTC, or wall clock for local columns).
    Micros(i64),
    /// Days since 1970-01-01.
    Date(i32),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// A list of values of the list's item type.
    List(Vec<Cell>),
    /// The fields of a struct, in schema order.
    Struct(Vec<Cell>),
}

impl Cell {
    /// Text if present, otherwise null.
    pub fn text(value: Option<impl Into<String>>) -> Cell {
        value.map_or(Cell::Null, |v| Cell::Text(v.into()))
    }
}

impl Cell {
    /// An estimate of the bytes the cell holds, itself and what it points to.
    pub fn memory_size(&self) -> usize {
        let own = std::mem::size_of::<Cell>();
        match self {
            Cell::Text(s) => own + s.len(),
            Cell::Bytes(b) => own + b.len(),
            Cell::List(items) | Cell::Struct(items) => {
                own + items.iter().map(Cell::memory_size).sum::<usize>()
            }
            _ => own,
        }
    }
}

static NULL: Cell = Cell::Null;

/// Checks that a cell can become a value of `field`'s type, as [`build_array`] would take
/// it, without building anything.
pub fn check_cell(field: &Field, cell: &Cell) -> Result<(), ArrowError> {
    let fits = match (field.data_type(), cell) {
        (_, Cell::Null) => field.is_nullable(),
        (DataType::Utf8, Cell::Text(_))
        | (DataType::Int64, Cell::Int(_))
        | (DataType::Boolean, Cell::Bool(_))
        | (DataType::Date32, Cell::Date(_))
        | (DataType::Binary, Cell::Bytes(_))
        | (DataType::Timestamp(TimeUnit::Microsecond, _), Cell::Micros(_)) => true,
        (DataType::List(item), Cell::List(items)) => {
            return items.iter().try_for_each(|c| check_cell(item, c));
        }
        (DataType::Struct(fields), Cell::Struct(values)) if values.len() == fields.len() => {
            return fields
                .iter()
                .zip(values)
                .try_for_each(|(f, c)| check_cell(f, c));
        }
        _ => false,
    };
    if fits {
        return Ok(());
    }
    Err(ArrowError::InvalidArgumentError(format!(
        "column {}: a {cell:?} value does not fit {}",
        field.name(),
        field.data_type()
    )))
}

/// Builds one Arrow array of `field`'s type from a column of cells.
pub fn build_array(field: &Field, cells: &[&Cell]) -> Result<ArrayRef, ArrowError> {
    let mismatch = |cell: &Cell| {
        ArrowError::InvalidArgumentError(format!(
            "column {}: a {cell:?} value does not fit {}",
            field.name(),
            field.data_type()
        ))
    };
    macro_rules! scalar {
        ($array:ty, $pattern:pat => $value:expr) => {{
            let values = cells
                .iter()
                .map(|cell| match cell {
                    Cell::Null => Ok(None),
                    $pattern => Ok(Some($value)),
                    other => Err(mismatch(other)),
                })
                .collect::<Result<$array, _>>()?;
            Arc::new(values) as ArrayRef
        }};
    }
    let array = match field.data_type() {
        DataType::Utf8 => scalar!(StringArray, Cell::Text(s) => s.as_str()),
        DataType::Int64 => scalar!(Int64Array, Cell::Int(v) => *v),
        DataType::Boolean => scalar!(BooleanArray, Cell::Bool(v) => *v),
        DataType::Date32 => scalar!(Date32Array, Cell::Date(v) => *v),
        DataType::Binary => scalar!(BinaryArray, Cell::Bytes(v) => v.as_slice()),
        DataType::Timestamp(TimeUnit::Microsecond, zone) => {
            let values = cells
                .iter()
                .map(|cell| match cell {
                    Cell::Null => Ok(None),
                    Cell::Micros(v) => Ok(Some(*v)),
                    other => Err(mismatch(other)),
                })
                .collect::<Result<TimestampMicrosecondArray, _>>()?;
            Arc::new(values.with_timezone_opt(zone.clone())) as ArrayRef
        }
        DataType::List(item) => {
            let mut children: Vec<&Cell> = Vec::new();
            let mut lengths = Vec::with_capacity(cells.len());
            let mut valid = Vec::with_capacity(cells.len());
            for cell in cells {
                match cell {
                    Cell::List(items) => {
                        children.extend(items.iter());
                        lengths.push(items.len());
                        valid.push(true);
                    }
                    Cell::Null => {
                        lengths.push(0);
                        valid.push(false);
                    }
                    other => return Err(mismatch(other)),
                }
            }
            let values = build_array(item, &children)?;
            let offsets = OffsetBuffer::from_lengths(lengths);
            let nulls = Some(NullBuffer::from(valid));
            Arc::new(ListArray::try_new(item.clone(), offsets, values, nulls)?) as ArrayRef
        }
        DataType::Struct(fields) => {
            let mut valid = Vec::with_capacity(cells.len());
            for cell in cells {
                match cell {
                    Cell::Struct(values) if values.len() == fields.len() => valid.push(true),
                    Cell::Null => valid.push(false),
                    other => return Err(mismatch(other)),
                }
            }
            let columns = fields
                .iter()
                .enumerate()
                .map(|(i, child)| {
                    let column: Vec<&Cell> = cells
                        .iter()
                        .map(|cell| match cell {
                            Cell::Struct(values) => &values[i],
                            _ => &NULL,
                        })
                        .collect();
                    build_array(child, &column)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let nulls = Some(NullBuffer::from(valid));
            Arc::new(StructArray::try_new(fields.clone(), columns, nulls)?) as ArrayRef
        }
        other => {
            return Err(ArrowError::NotYetImplemented(format!(
                "column {}: landing schemas do not use {other}",
                field.name()
            )));
        }
    };
    Ok(array)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;
    use arrow::datatypes::Fields;

    #[test]
    fn builds_lists_of_structs_with_nulls() -> Result<(), ArrowError> {
        let item = Field::new(
            "item",
            DataType::Struct(Fields::from(vec![
                Field::new("client_id", DataType::Int64, true),
                Field::new("status", DataType::Utf8, true),
            ])),
            true,
        );
        let field = Field::new("attendees", DataType::List(Arc::new(item)), true);
        let one = Cell::List(vec![Cell::Struct(vec![Cell::Int(1), Cell::Null])]);
        let array = build_array(&field, &[&one, &Cell::Null, &Cell::List(vec![])])?;
        assert_eq!(array.len(), 3);
        assert_eq!(array.null_count(), 1);
        Ok(())
    }

    #[test]
    fn a_cell_of_the_wrong_kind_is_an_error() {
        let field = Field::new("id", DataType::Int64, true);
        let err = build_array(&field, &[&Cell::Text("x".into())]);
        assert!(err.is_err_and(|e| e.to_string().contains("column id")));
    }
}

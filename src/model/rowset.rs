//! Sorting converted records into per-table rows: known entities, unrecognized types, and
//! quarantine for records that cannot be converted. Nothing handed in is dropped.

use std::collections::BTreeMap;

use super::{Converter, Envelope, Rows, Table, quarantine_row, unrecognized_row};
use crate::source::{Entity, Resource};

/// Rows of several tables gathered from one payload or page.
#[derive(Debug, Default)]
pub struct RowSet {
    tables: BTreeMap<Table, Rows>,
}

impl RowSet {
    /// An empty set.
    pub fn new() -> RowSet {
        RowSet::default()
    }

    fn rows(&mut self, table: Table) -> &mut Rows {
        self.tables.entry(table).or_insert_with(|| Rows::new(table))
    }

    /// Adds one record: as a row of `entity`, as an unrecognized row when there is no
    /// entity, or to quarantine with the reason when it cannot be converted.
    pub fn add(
        &mut self,
        converter: &Converter,
        entity: Option<Entity>,
        resource: &Resource,
        envelope: &Envelope,
    ) {
        let Some(entity) = entity else {
            self.rows(Table::Unrecognized)
                .push(unrecognized_row(envelope, resource));
            return;
        };
        match converter.convert(entity, resource, envelope) {
            Ok(row) => self.rows(Table::Entity(entity)).push(row),
            Err(e) => self.quarantine(envelope, &e.to_string(), resource.raw.as_bytes()),
        }
    }

    /// Adds a payload that could not be used, whole, with the reason.
    pub fn quarantine(&mut self, envelope: &Envelope, reason: &str, body: &[u8]) {
        self.rows(Table::Quarantine)
            .push(quarantine_row(envelope, reason, body));
    }

    /// The gathered rows, one entry per table that has any.
    pub fn into_tables(self) -> impl Iterator<Item = Rows> {
        self.tables.into_values().filter(|r| !r.is_empty())
    }
}

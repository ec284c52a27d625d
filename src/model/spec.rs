//! Declarative column lists: each entity file says which attributes become which typed
//! columns, and this module turns those lists into Arrow fields.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, TimeUnit};

use crate::source::Entity;

/// How an attribute is read and typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A record id given as a number or numeric string; falls back to the to-one
    /// relationship named like the column without `_id`.
    Id,
    /// A whole number.
    Int,
    /// Free text; numbers and booleans are kept as their text.
    Text,
    /// A status word, normalised to lowercase with underscores and mapped through the
    /// pipeline's aliases.
    Status,
    /// An IANA time zone name, checked.
    Zone,
    /// A boolean, also accepted as 0/1 or "true"/"false".
    Bool,
    /// An instant, stored as microseconds in UTC.
    Timestamp,
    /// A list of ids; falls back to the to-many relationship of the same name.
    IdList,
    /// Appointment attendees: client id and per-attendee status.
    Attendees,
    /// Intake answers: question id and answer text (the `value` attribute).
    Answers,
}

/// One typed column read from one attribute.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// The column name in landing and views.
    pub name: &'static str,
    /// The attribute it is read from unless the pipeline renames it.
    pub attr: &'static str,
    /// How the attribute is read.
    pub kind: Kind,
}

/// Shorthand for a column read from the attribute of the same name.
pub const fn col(name: &'static str, kind: Kind) -> Column {
    Column {
        name,
        attr: name,
        kind,
    }
}

/// What is particular to one entity.
#[derive(Debug)]
pub struct EntitySpec {
    /// The entity described.
    pub entity: Entity,
    /// Typed columns after the envelope and `id`.
    pub columns: &'static [Column],
    /// For engagements, the timestamp column whose local date is the `business_date`.
    pub anchor: Option<&'static str>,
}

impl EntitySpec {
    /// The name of the wall-clock column derived from the anchor, such as `start_at_local`.
    pub fn local_column(&self) -> Option<String> {
        self.anchor.map(|a| format!("{a}_local"))
    }
}

/// The spec of an entity.
pub fn spec(entity: Entity) -> &'static EntitySpec {
    use super::entities::*;
    match entity {
        Entity::Appointments => &appointment::SPEC,
        Entity::QueueAppointments => &queue_appointment::SPEC,
        Entity::Clients => &client::SPEC,
        Entity::Locations => &location::SPEC,
        Entity::Services => &service::SPEC,
        Entity::Users => &user::SPEC,
        Entity::BookingShortcuts => &booking_shortcut::SPEC,
        Entity::QuickstreamBlocks => &quickstream_block::SPEC,
    }
}

/// A timestamp type every reader accepts: microseconds, UTC.
pub fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn pair(first: &str, second: &str, second_type: DataType) -> DataType {
    let fields = Fields::from(vec![
        Field::new(first, DataType::Int64, true),
        Field::new(second, second_type, true),
    ]);
    list_of(DataType::Struct(fields))
}

fn list_of(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", item, true)))
}

/// The Arrow type of a column kind.
pub fn data_type(kind: Kind) -> DataType {
    match kind {
        Kind::Id | Kind::Int => DataType::Int64,
        Kind::Text | Kind::Status | Kind::Zone => DataType::Utf8,
        Kind::Bool => DataType::Boolean,
        Kind::Timestamp => utc_micros(),
        Kind::IdList => list_of(DataType::Int64),
        Kind::Attendees => pair("client_id", "status", DataType::Utf8),
        Kind::Answers => pair("question_id", "answer", DataType::Utf8),
    }
}

/// The typed fields of an entity: `id`, the derived local columns, then its own columns.
pub fn entity_fields(spec: &EntitySpec) -> Vec<Field> {
    let mut fields = vec![Field::new("id", DataType::Int64, false)];
    if let Some(local) = spec.local_column() {
        fields.push(Field::new("business_date", DataType::Date32, true));
        fields.push(Field::new("timezone", DataType::Utf8, true));
        let wall_clock = DataType::Timestamp(TimeUnit::Microsecond, None);
        fields.push(Field::new(local, wall_clock, true));
    }
    for column in spec.columns {
        fields.push(Field::new(column.name, data_type(column.kind), true));
    }
    fields
}

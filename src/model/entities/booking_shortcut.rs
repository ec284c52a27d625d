//! Booking shortcuts: pre-filled booking links that a channel report groups by.

use crate::model::spec::{EntitySpec, Kind::*, col};
use crate::source::Entity;

/// Booking shortcut columns.
pub static SPEC: EntitySpec = EntitySpec {
    entity: Entity::BookingShortcuts,
    anchor: None,
    columns: &[
        col("name", Text),
        col("location_id", Id),
        col("service_id", Id),
        col("staff_id", Id),
        col("created_at", Timestamp),
        col("updated_at", Timestamp),
    ],
};

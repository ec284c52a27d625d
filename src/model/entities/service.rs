//! Services that clients book or walk in for.

use crate::model::spec::{EntitySpec, Kind::*, col};
use crate::source::Entity;

/// Service columns; `duration` is in minutes.
pub static SPEC: EntitySpec = EntitySpec {
    entity: Entity::Services,
    anchor: None,
    columns: &[
        col("name", Text),
        col("duration", Int),
        col("created_at", Timestamp),
        col("updated_at", Timestamp),
    ],
};

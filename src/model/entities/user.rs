//! Users: the staff who serve appointments and walk-ins.

use crate::model::spec::{EntitySpec, Kind::*, col};
use crate::source::Entity;

/// User columns.
pub static SPEC: EntitySpec = EntitySpec {
    entity: Entity::Users,
    anchor: None,
    columns: &[
        col("first_name", Text),
        col("last_name", Text),
        col("email", Text),
        col("role", Text),
        col("created_at", Timestamp),
        col("updated_at", Timestamp),
    ],
};

//! Locations (branches); their IANA time zone places every engagement on a business day.

use crate::model::spec::{EntitySpec, Kind::*, col};
use crate::source::Entity;

/// Location columns.
pub static SPEC: EntitySpec = EntitySpec {
    entity: Entity::Locations,
    anchor: None,
    columns: &[
        col("name", Text),
        col("timezone", Zone),
        col("city", Text),
        col("region", Text),
        col("country", Text),
        col("created_at", Timestamp),
        col("updated_at", Timestamp),
    ],
};

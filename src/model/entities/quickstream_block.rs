//! Quickstream blocks: windows of walk-in capacity at a location.

use crate::model::spec::{Column, EntitySpec, Kind::*, col};
use crate::source::Entity;

/// Quickstream block columns; the `limit` attribute becomes `capacity`, since `limit` is a
/// SQL keyword.
pub static SPEC: EntitySpec = EntitySpec {
    entity: Entity::QuickstreamBlocks,
    anchor: Some("start_at"),
    columns: &[
        col("location_id", Id),
        Column {
            name: "start_at",
            attr: "start",
            kind: Timestamp,
        },
        Column {
            name: "end_at",
            attr: "end",
            kind: Timestamp,
        },
        Column {
            name: "capacity",
            attr: "limit",
            kind: Int,
        },
        col("services", IdList),
        col("created_at", Timestamp),
        col("updated_at", Timestamp),
    ],
};

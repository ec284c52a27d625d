//! Clients: the people who book or walk in.

use crate::model::spec::{EntitySpec, Kind::*, col};
use crate::source::Entity;

/// Client columns.
pub static SPEC: EntitySpec = EntitySpec {
    entity: Entity::Clients,
    anchor: None,
    columns: &[
        col("external_id", Text),
        col("first_name", Text),
        col("last_name", Text),
        col("email", Text),
        col("phone", Text),
        col("cell_phone", Text),
        col("lang", Text),
        col("receive_sms", Bool),
        col("created_at", Timestamp),
        col("updated_at", Timestamp),
    ],
};

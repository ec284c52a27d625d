//! Walk-in queue appointments; `created_at` is the check-in time.

use crate::model::spec::{EntitySpec, Kind::*, col};
use crate::source::Entity;

/// Queue appointment columns.
pub static SPEC: EntitySpec = EntitySpec {
    entity: Entity::QueueAppointments,
    anchor: Some("created_at"),
    columns: &[
        col("location_id", Id),
        col("service_id", Id),
        col("preferred_staff_id", Id),
        col("staff_id", Id),
        col("status", Status),
        col("lang", Text),
        col("booked_through", Text),
        col("created_at", Timestamp),
        col("called_at", Timestamp),
        col("started_at", Timestamp),
        col("served_at", Timestamp),
        col("completed_at", Timestamp),
        col("cancelled_at", Timestamp),
        col("updated_at", Timestamp),
    ],
};

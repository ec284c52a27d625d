//! Pre-booked appointments, with attendees and intake answers.

use crate::model::spec::{Column, EntitySpec, Kind::*, col};
use crate::source::Entity;

/// Appointment columns; `start` and `end` become `start_at` and `end_at` so that SQL
/// needs no quoting.
pub static SPEC: EntitySpec = EntitySpec {
    entity: Entity::Appointments,
    anchor: Some("start_at"),
    columns: &[
        col("location_id", Id),
        col("service_id", Id),
        col("staff_id", Id),
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
        col("status", Status),
        col("meeting_method", Text),
        col("booked_through", Text),
        col("booking_shortcut_id", Id),
        col("workflow_id", Id),
        col("created_at", Timestamp),
        col("updated_at", Timestamp),
        col("arrived_at", Timestamp),
        col("started_at", Timestamp),
        col("served_at", Timestamp),
        col("completed_at", Timestamp),
        col("cancelled_at", Timestamp),
        col("cancelled_by", Text),
        col("attendees", Attendees),
        col("answers", Answers),
    ],
};

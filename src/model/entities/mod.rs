//! One file per entity: the attributes it keeps as typed columns. Everything else a record
//! carries stays in the `raw` column.

pub mod appointment;
pub mod booking_shortcut;
pub mod client;
pub mod location;
pub mod queue_appointment;
pub mod quickstream_block;
pub mod service;
pub mod user;

//! coconut-lake lands a Coconut tenant's engagement data as Parquet in object storage and
//! computes outcome reports over it.
//!
//! Data flows one way: [`source`] describes what Coconut sends, [`model`] turns it into Arrow
//! rows, [`land`] writes those rows to the store, and [`report`] reads what was landed.

pub mod backfill;
pub mod cli;
pub mod config;
pub mod http;
pub mod land;
pub mod model;
pub mod receive;
pub mod report;
pub mod simulate;
pub mod source;
pub mod telemetry;

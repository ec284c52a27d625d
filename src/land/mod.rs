//! The landing layer: stores, file layout, Parquet encoding and the group-commit writer.
//!
//! It knows nothing of where records came from; receive and backfill hand it record
//! batches of a [`crate::model::Table`].

mod direct;
mod durable;
mod encode;
pub mod layout;
mod local;
mod staging;
mod store;
mod writer;

pub use encode::{LandingEncoder, WriteError, encode_parquet, writer_properties};
pub use store::{Store, StoreError};
pub use writer::{LandError, Landed, Lander, LandingLimits};

//! A simulated Coconut tenant: a seeded generator, the admin API, a webhook sender and the
//! ground truth that tests compare the pipeline against.
//!
//! It speaks only the source contract ([`crate::source`]) and knows nothing of the
//! pipeline, so a real tenant and the simulator exercise the same code paths.

pub mod api;
mod faults;
mod generate;
mod listing;
mod render;
mod tenant;
mod truth;
mod vocabulary;
pub mod webhooks;

pub use faults::Faults;
pub use generate::{TenantOptions, generate};
pub use render::resource;
pub use tenant::{Change, Tenant, Time};
pub use truth::{TruthError, TruthOptions, write_truth};

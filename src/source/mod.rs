//! The Coconut source contract: entity names, JSON:API documents and webhook envelopes.
//!
//! Nothing here knows about HTTP servers or stores; every assumption about the wire format
//! that the pipeline file can change is applied by the callers through [`crate::config`].

mod entity;
mod envelope;
mod jsonapi;
pub mod signature;

pub use entity::Entity;
pub use envelope::WebhookEvent;
pub(crate) use jsonapi::kind_of as jsonapi_kind_of;
pub use jsonapi::{Document, Outline, OutlineRecord, Resource, parse_id};

/// A payload that does not follow the source contract.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    /// The bytes are not JSON at all.
    #[error("invalid json: {0}")]
    Json(#[from] serde_json::Error),
    /// The JSON does not have the shape the contract describes.
    #[error("{what}: {reason}")]
    Shape {
        /// Where in the payload the problem is, such as `data[3].id`.
        what: String,
        /// What is wrong there.
        reason: String,
    },
}

impl ContractError {
    pub(crate) fn shape(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Shape {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

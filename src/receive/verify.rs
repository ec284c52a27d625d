//! Authenticates a delivery from its headers and raw body, before anything is parsed.

use std::time::Duration;

use axum::http::HeaderMap;

use crate::source::signature::{
    Secret, SignatureError, StandardHeaders, verify_hmac_hex, verify_standard,
};

/// How deliveries are authenticated, from the pipeline's `[receiver]` table.
#[derive(Debug, Clone)]
pub enum Verifier {
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp` within `tolerance` of now, and
    /// a `v1,` signature by one of the secrets.
    Standard {
        /// Current secrets; several during a rotation.
        secrets: Vec<Secret>,
        /// Largest accepted distance between the timestamp and now.
        tolerance: Duration,
    },
    /// A hex HMAC-SHA256 of the body in one header.
    Hmac {
        /// Current secrets.
        secrets: Vec<Secret>,
        /// The header name.
        header: String,
    },
}

impl Verifier {
    /// The `verified_by` value landed with every row this verifier let in.
    pub fn name(&self) -> &'static str {
        match self {
            Verifier::Standard { .. } => "standard_webhooks",
            Verifier::Hmac { .. } => "hmac_sha256",
        }
    }

    /// Checks one delivery; compares signatures in constant time.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), SignatureError> {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        match self {
            Verifier::Standard { secrets, tolerance } => {
                let delivery = StandardHeaders {
                    id: text("webhook-id"),
                    timestamp: text("webhook-timestamp"),
                    signature: text("webhook-signature"),
                };
                let tolerance = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
                verify_standard(secrets, &delivery, body, now, tolerance)
            }
            Verifier::Hmac { secrets, header } => {
                verify_hmac_hex(secrets, text(header), header, body)
            }
        }
    }
}

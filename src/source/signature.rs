//! Webhook signatures as the source contract defines them: Standard Webhooks
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`), or a plain hex
//! HMAC-SHA256 of the body in one header. Both sides live here, so the simulator signs
//! exactly what the receiver checks.
//!
//! Comparisons are constant-time; several secrets may be valid at once for rotation. A
//! secret's bytes are never printed, not even by `Debug`.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a delivery's signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A required header is absent or empty.
    #[error("missing header: {0}")]
    MissingHeader(String),
    /// The timestamp header is not whole seconds since the epoch.
    #[error("invalid webhook-timestamp: not a unix time in seconds")]
    BadTimestamp,
    /// The timestamp is further from now than the tolerance allows.
    #[error(
        "webhook-timestamp is {skew_seconds} s from now, beyond the tolerance of {tolerance_seconds} s"
    )]
    OutsideTolerance {
        /// Distance between the header and the receiver's clock.
        skew_seconds: i64,
        /// The allowed distance.
        tolerance_seconds: i64,
    },
    /// No signature matches any configured secret.
    #[error("no signature matches a configured secret")]
    Mismatch,
    /// A configured secret cannot be decoded.
    #[error("invalid secret #{index}: {reason}")]
    BadSecret {
        /// 1-based position in the comma-separated list.
        index: usize,
        /// What is wrong (never the secret itself).
        reason: String,
    },
}

/// One signing secret: the bytes behind `whsec_<base64>`, or a plain string's bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// A secret from raw key bytes.
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Secret {
        Secret(bytes.into())
    }

    /// The `whsec_<base64>` form of the secret.
    pub fn to_whsec(&self) -> String {
        format!("whsec_{}", BASE64.encode(&self.0))
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.0).expect("HMAC accepts keys of any length")
    }
}

fn present<'a>(value: Option<&'a str>, name: &'static str) -> Result<&'a str, SignatureError> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| SignatureError::MissingHeader(name.to_string()))
}

/// Reads a comma-separated list of secrets; `whsec_` ones are base64, others are used as
/// their bytes. Blank entries are skipped; an empty list is an error.
pub fn parse_secrets(list: &str) -> Result<Vec<Secret>, SignatureError> {
    let mut secrets = Vec::new();
    for (i, entry) in list.split(',').enumerate() {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let secret = match entry.strip_prefix("whsec_") {
            Some(encoded) => {
                BASE64
                    .decode(encoded)
                    .map(Secret)
                    .map_err(|e| SignatureError::BadSecret {
                        index: i + 1,
                        reason: format!("whsec_ value is not base64: {e}"),
                    })?
            }
            None => Secret(entry.as_bytes().to_vec()),
        };
        secrets.push(secret);
    }
    if secrets.is_empty() {
        let reason = "no secret given".to_string();
        return Err(SignatureError::BadSecret { index: 1, reason });
    }
    Ok(secrets)
}

fn standard_mac(secret: &Secret, id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = secret.mac();
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `webhook-signature` value for one secret: `v1,<base64 HMAC-SHA256 of id.ts.body>`.
pub fn sign_standard(secret: &Secret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = standard_mac(secret, id, timestamp, body)
        .finalize()
        .into_bytes();
    format!("v1,{}", BASE64.encode(tag))
}

/// The three Standard Webhooks headers of one delivery, as received.
#[derive(Debug, Clone, Copy, Default)]
pub struct StandardHeaders<'a> {
    /// `webhook-id`.
    pub id: Option<&'a str>,
    /// `webhook-timestamp`, seconds since the epoch.
    pub timestamp: Option<&'a str>,
    /// `webhook-signature`, one or more space-separated `v1,<base64>`.
    pub signature: Option<&'a str>,
}

/// Checks a Standard Webhooks delivery: the timestamp within `tolerance_seconds` of `now`,
/// and one of the space-separated `v1,` signatures made with one of the secrets.
pub fn verify_standard(
    secrets: &[Secret],
    headers: &StandardHeaders<'_>,
    body: &[u8],
    now: i64,
    tolerance_seconds: i64,
) -> Result<(), SignatureError> {
    let id = present(headers.id, "webhook-id")?;
    let timestamp = present(headers.timestamp, "webhook-timestamp")?;
    let signatures = present(headers.signature, "webhook-signature")?;
    let sent: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    let skew = now.saturating_sub(sent);
    if skew.saturating_abs() > tolerance_seconds {
        return Err(SignatureError::OutsideTolerance {
            skew_seconds: skew,
            tolerance_seconds,
        });
    }
    let tags: Vec<Vec<u8>> = signatures
        .split_whitespace()
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|s| BASE64.decode(s).ok())
        .collect();
    for secret in secrets {
        let mac = standard_mac(secret, id, sent, body);
        if tags.iter().any(|tag| mac.clone().verify_slice(tag).is_ok()) {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

/// The plain scheme's header value: hex HMAC-SHA256 of the body.
pub fn sign_hmac_hex(secret: &Secret, body: &[u8]) -> String {
    let mut mac = secret.mac();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Checks the plain scheme: the header is the hex HMAC-SHA256 of the body with one of the
/// secrets (an optional `sha256=` prefix is allowed).
pub fn verify_hmac_hex(
    secrets: &[Secret],
    header: Option<&str>,
    header_name: &str,
    body: &[u8],
) -> Result<(), SignatureError> {
    let value = header
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| SignatureError::MissingHeader(header_name.to_string()))?;
    let value = value.strip_prefix("sha256=").unwrap_or(value);
    let tag = hex::decode(value).map_err(|_| SignatureError::Mismatch)?;
    for secret in secrets {
        let mut mac = secret.mac();
        mac.update(body);
        if mac.verify_slice(&tag).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_774_872_000;

    fn secrets(list: &str) -> Vec<Secret> {
        parse_secrets(list).expect("secrets")
    }

    fn headers<'a>(id: &'a str, timestamp: &'a str, signature: &'a str) -> StandardHeaders<'a> {
        StandardHeaders {
            id: Some(id),
            timestamp: Some(timestamp),
            signature: Some(signature),
        }
    }

    #[test]
    fn standard_signatures_verify_with_any_current_secret() {
        let old = Secret::from_bytes(b"old-key".to_vec());
        let new = Secret::from_bytes(b"new-key".to_vec());
        let both = [old.clone(), new.clone()];
        let body = br#"{"id":"evt_1"}"#;
        for signer in [&old, &new] {
            let header = sign_standard(signer, "evt_1", NOW, body);
            let ok = verify_standard(
                &both,
                &headers("evt_1", "1774872000", &header),
                body,
                NOW,
                300,
            );
            assert_eq!(ok, Ok(()));
        }
        // Several signatures in one header: one match is enough.
        let header = format!("v1,AAAA {}", sign_standard(&new, "evt_1", NOW, body));
        let ok = verify_standard(
            &[new],
            &headers("evt_1", "1774872000", &header),
            body,
            NOW,
            300,
        );
        assert_eq!(ok, Ok(()));
    }

    #[test]
    fn tampering_and_stale_timestamps_are_refused() {
        let key = secrets(&Secret::from_bytes(b"k".to_vec()).to_whsec());
        let body = b"{}";
        let header = sign_standard(&key[0], "evt_1", NOW, body);
        let check = |id, ts: &str, sig: &str, body: &[u8], now| {
            verify_standard(&key, &headers(id, ts, sig), body, now, 300)
        };
        assert_eq!(
            check("evt_1", "1774872000", &header, b"{ }", NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check("evt_2", "1774872000", &header, body, NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check("evt_1", "1774872001", &header, body, NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check("evt_1", "soon", &header, body, NOW),
            Err(SignatureError::BadTimestamp)
        );
        assert!(matches!(
            check("evt_1", "1774872000", &header, body, NOW + 301),
            Err(SignatureError::OutsideTolerance {
                skew_seconds: 301,
                ..
            })
        ));
        let no_id = StandardHeaders {
            id: None,
            ..headers("", "1", &header)
        };
        let missing = verify_standard(&key, &no_id, body, NOW, 300);
        assert_eq!(
            missing,
            Err(SignatureError::MissingHeader("webhook-id".into()))
        );
    }

    #[test]
    fn plain_hmac_verifies_hex_with_or_without_prefix() {
        let key = secrets("plain-secret");
        let body = b"payload";
        let tag = sign_hmac_hex(&key[0], body);
        let name = "X-Coconut-Signature";
        assert_eq!(verify_hmac_hex(&key, Some(&tag), name, body), Ok(()));
        let prefixed = format!("sha256={tag}");
        assert_eq!(verify_hmac_hex(&key, Some(&prefixed), name, body), Ok(()));
        assert_eq!(
            verify_hmac_hex(&key, Some("zz"), name, body),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_hmac_hex(&key, None, name, body),
            Err(SignatureError::MissingHeader(name.into()))
        );
    }

    #[test]
    fn secrets_parse_and_never_print() {
        let list = format!(
            " {} , raw-secret ,",
            Secret::from_bytes(b"abc".to_vec()).to_whsec()
        );
        let parsed = secrets(&list);
        assert_eq!(
            parsed,
            vec![
                Secret::from_bytes(b"abc".to_vec()),
                Secret::from_bytes(b"raw-secret".to_vec())
            ]
        );
        assert_eq!(format!("{parsed:?}"), "[Secret(..), Secret(..)]");
        assert!(parse_secrets("whsec_%%%").is_err());
        assert!(parse_secrets(" , ").is_err());
    }
}

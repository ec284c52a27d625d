//! Webhook signatures agree with an independent implementation (Python's hmac).

use std::process::Command;

use coconut_lake::source::signature::{
    Secret, StandardHeaders, parse_secrets, sign_standard, verify_hmac_hex, verify_standard,
};
use serde_json::Value;

use crate::support::*;

#[test]
fn python_and_rust_sign_alike() -> TestResult {
    let dir = tempfile::tempdir()?;
    let body = r#"{"id":"evt_ü1","type":"client.updated","data":{"id":7,"attributes":{"first_name":"Zoë"}}}"#;
    let body_file = dir.path().join("body.json");
    std::fs::write(&body_file, body)?;
    let key: Vec<u8> = (0..32).map(|_| rand::random::<u8>()).collect();
    let whsec = Secret::from_bytes(key).to_whsec();
    let secrets = parse_secrets(&whsec)?;
    let (id, timestamp) = ("evt_ü1", 1_774_872_000_i64);
    let ours = sign_standard(&secrets[0], id, timestamp, body.as_bytes());

    let output = Command::new(python())
        .arg(root().join("tests/python/webhook_sign.py"))
        .args([whsec.as_str(), id, &timestamp.to_string()])
        .arg(&body_file)
        .arg(&ours)
        .output()?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let theirs: Value = serde_json::from_slice(&output.stdout)?;

    assert_eq!(theirs["rust_verifies"], Value::Bool(true));
    assert_eq!(theirs["standard"].as_str(), Some(ours.as_str()));
    let standard = theirs["standard"].as_str().unwrap_or_default();
    let ts = timestamp.to_string();
    let headers = StandardHeaders {
        id: Some(id),
        timestamp: Some(&ts),
        signature: Some(standard),
    };
    let verified = verify_standard(&secrets, &headers, body.as_bytes(), timestamp + 10, 300);
    assert_eq!(verified, Ok(()));
    let plain = theirs["plain"].as_str();
    let header = "X-Coconut-Signature";
    assert_eq!(
        verify_hmac_hex(&secrets, plain, header, body.as_bytes()),
        Ok(())
    );
    Ok(())
}

//! The binary as a user runs it: `check` and `land`, with their exit codes.

use std::process::Command;

use crate::support::*;

#[test]
fn every_shipped_pipeline_checks() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("lake");
    for entry in std::fs::read_dir(root().join("pipelines"))? {
        let path = entry?.path();
        let pipeline = path.to_str().unwrap_or_default();
        let store = store.to_str().unwrap_or_default();
        let out = coconut_lake(&["check", "--pipeline", pipeline, "--store", store]);
        assert!(out.status.success(), "{pipeline}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("is valid"));
    }
    Ok(())
}

#[test]
fn a_misspelled_key_exits_2_naming_line_and_column() -> TestResult {
    let dir = tempfile::tempdir()?;
    let pipeline = dir.path().join("p.toml");
    let shipped = std::fs::read_to_string(root().join("pipelines/coconut.toml"))?;
    std::fs::write(&pipeline, shipped.replace("linger = ", "lingre = "))?;
    let out = coconut_lake(&["check", "--pipeline", pipeline.to_str().unwrap_or_default()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("unknown field `lingre`"), "{err}");
    assert!(err.contains("p.toml:"), "{err}");
    Ok(())
}

#[test]
fn land_puts_the_samples_in_the_store_and_counts_them() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("lake");
    let out = coconut_lake(&[
        "land",
        "samples",
        "--store",
        store.to_str().unwrap_or_default(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let holds = stdout
        .split("the store now holds")
        .nth(1)
        .unwrap_or_default();
    for line in [
        "appointments        3",
        "queue_appointments  2",
        "clients             4",
        "locations           3",
        "unrecognized        1",
        "quarantine          1",
    ] {
        assert!(holds.contains(line), "missing {line:?} in:\n{stdout}");
    }
    // Landing the same files again adds rows: landing is an append-only change log.
    let again = coconut_lake(&[
        "land",
        "samples",
        "--store",
        store.to_str().unwrap_or_default(),
    ]);
    assert!(text(&again.stdout).contains("appointments        6"));
    Ok(())
}

#[test]
fn unreadable_input_exits_2() {
    let out = coconut_lake(&["land", "no/such/file.json", "--store", "memory://"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("failed to read no/such/file.json"));
}

#[test]
fn check_says_where_secrets_are_without_showing_them() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("lake");
    let out = Command::new(env!("CARGO_BIN_EXE_coconut-lake"))
        .args(["check", "--store", store.to_str().unwrap_or_default()])
        .current_dir(root())
        .env("COCONUT_API_TOKEN", "tok-s3cr3t-value")
        .env_remove("COCONUT_WEBHOOK_SECRET")
        .output()?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("token in COCONUT_API_TOKEN"), "{stdout}");
    assert!(
        stdout.contains("secrets missing: COCONUT_WEBHOOK_SECRET is unset"),
        "{stdout}"
    );
    let everything = stdout + &text(&out.stderr);
    assert!(
        !everything.contains("s3cr3t"),
        "the token value was printed"
    );
    Ok(())
}

//! DuckDB and pyarrow read a landed tree, partitions included, and see the rows and types
//! coconut-lake wrote.

use std::collections::BTreeMap;
use std::process::Command;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Date32Array, Int64Array, RecordBatch,
    StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, TimeUnit};
use chrono::NaiveDate;
use coconut_lake::land::{Lander, LandingLimits, Store};
use coconut_lake::model::{Envelope, Rows, Source, Table, quarantine_row};
use coconut_lake::source::Entity;
use serde_json::{Map, Value, json};

use crate::support::*;

/// The JSON value of one array slot, normalised as the reader script normalises.
fn value_at(array: &ArrayRef, i: usize) -> Value {
    if array.is_null(i) {
        return Value::Null;
    }
    let any = array.as_any();
    match array.data_type() {
        DataType::Utf8 => json!(any.downcast_ref::<StringArray>().map(|a| a.value(i))),
        DataType::Int64 => json!(any.downcast_ref::<Int64Array>().map(|a| a.value(i))),
        DataType::Boolean => json!(any.downcast_ref::<BooleanArray>().map(|a| a.value(i))),
        DataType::Binary => json!(
            any.downcast_ref::<BinaryArray>()
                .map(|a| hex::encode(a.value(i)))
        ),
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            json!(
                any.downcast_ref::<TimestampMicrosecondArray>()
                    .map(|a| a.value(i))
            )
        }
        DataType::Date32 => {
            let days = any.downcast_ref::<Date32Array>().map_or(0, |a| a.value(i));
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
            json!((epoch + chrono::Duration::days(i64::from(days))).to_string())
        }
        DataType::List(_) => {
            let items = array.as_list::<i32>().value(i);
            Value::Array((0..items.len()).map(|j| value_at(&items, j)).collect())
        }
        DataType::Struct(fields) => {
            let s = array.as_struct();
            let object: Map<String, Value> = fields
                .iter()
                .zip(s.columns())
                .map(|(f, c)| (f.name().clone(), value_at(c, i)))
                .collect();
            Value::Object(object)
        }
        other => panic!("no normal form for {other}"),
    }
}

fn rows_of(batch: &RecordBatch) -> Vec<Value> {
    let schema = batch.schema();
    let mut rows: Vec<Value> = (0..batch.num_rows())
        .map(|i| {
            let object: Map<String, Value> = schema
                .fields()
                .iter()
                .zip(batch.columns())
                .map(|(f, c)| (f.name().clone(), value_at(c, i)))
                .collect();
            Value::Object(object)
        })
        .collect();
    rows.sort_by_key(|r| r["event_id"].to_string());
    rows
}

/// What DuckDB calls each Arrow type the landing schemas use.
fn duckdb_type(data_type: &DataType) -> String {
    match data_type {
        DataType::Utf8 => "VARCHAR".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Binary => "BLOB".into(),
        DataType::Date32 => "DATE".into(),
        DataType::Timestamp(_, Some(_)) => "TIMESTAMP WITH TIME ZONE".into(),
        DataType::Timestamp(_, None) => "TIMESTAMP".into(),
        DataType::List(item) => format!("{}[]", duckdb_type(item.data_type())),
        DataType::Struct(fields) => {
            let parts: Vec<String> = fields
                .iter()
                .map(|f| format!("{} {}", f.name(), duckdb_type(f.data_type())))
                .collect();
            format!("STRUCT({})", parts.join(", "))
        }
        other => panic!("no DuckDB name for {other}"),
    }
}

/// What pyarrow calls each Arrow type the landing schemas use.
fn pyarrow_type(data_type: &DataType) -> String {
    match data_type {
        DataType::Utf8 => "string".into(),
        DataType::Int64 => "int64".into(),
        DataType::Boolean => "bool".into(),
        DataType::Binary => "binary".into(),
        DataType::Date32 => "date32[day]".into(),
        DataType::Timestamp(_, Some(zone)) => format!("timestamp[us, tz={zone}]"),
        DataType::Timestamp(_, None) => "timestamp[us]".into(),
        DataType::List(item) => format!("list<item: {}>", pyarrow_type(item.data_type())),
        DataType::Struct(fields) => {
            let parts: Vec<String> = fields
                .iter()
                .map(|f| format!("{}: {}", f.name(), pyarrow_type(f.data_type())))
                .collect();
            format!("struct<{}>", parts.join(", "))
        }
        other => panic!("no pyarrow name for {other}"),
    }
}

async fn land_everything(store: &Store) -> BTreeMap<String, RecordBatch> {
    let lander = Lander::start(store.clone(), LandingLimits::default());
    let mut landed = BTreeMap::new();
    for entity in Entity::ALL {
        let batch = fixture_batch(entity);
        let day = received_at().date_naive();
        lander
            .submit(Table::Entity(entity), batch.clone(), day)
            .await
            .expect("land fixture");
        landed.insert(entity.name().to_string(), batch);
    }
    let envelope = Envelope {
        event_id: "evt_bad".into(),
        source: Source::Webhook,
        event_type: "appointment.updated".into(),
        received_at: received_at(),
        verified_by: "test".into(),
        occurred_at: None,
        payload_sha256: "ab".into(),
    };
    let mut rows = Rows::new(Table::Quarantine);
    rows.push(quarantine_row(&envelope, "not json", b"\xff\x00{oops"));
    let batch = rows.to_batch().expect("quarantine batch");
    let day = received_at().date_naive();
    lander
        .submit(Table::Quarantine, batch.clone(), day)
        .await
        .expect("land quarantine");
    landed.insert("quarantine".to_string(), batch);
    lander.shutdown().await;
    landed
}

#[tokio::test]
async fn duckdb_and_pyarrow_read_the_landed_tree() -> TestResult {
    let dir = tempfile::tempdir()?;
    let folder = dir.path().join("lake");
    let store = Store::open(folder.to_str().unwrap_or_default())?;
    let landed = land_everything(&store).await;

    assert_readers_see(&folder, &landed)
}

/// Runs both readers over a landed tree and checks that each sees every table's rows and
/// types as landed, with the `date=` partition as a date.
fn assert_readers_see(
    folder: &std::path::Path,
    landed: &BTreeMap<String, RecordBatch>,
) -> TestResult {
    let output = Command::new(python())
        .arg(root().join("tests/python/read_landing.py"))
        .arg(folder)
        .output()?;
    assert!(
        output.status.success(),
        "reader script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout)?;

    for (reader, type_name) in [
        ("duckdb", duckdb_type as fn(&DataType) -> String),
        ("pyarrow", pyarrow_type),
    ] {
        for (table, batch) in landed {
            let got = &seen[reader][table];
            assert_eq!(
                got["count"],
                json!(batch.num_rows()),
                "{reader} {table} count"
            );
            for field in batch.schema().fields() {
                let expected = type_name(field.data_type());
                let actual = &got["types"][field.name()];
                assert_eq!(
                    actual,
                    &json!(expected),
                    "{reader} {table}.{}",
                    field.name()
                );
            }
            let mut rows: Vec<Value> = got["rows"].as_array().cloned().unwrap_or_default();
            for row in &mut rows {
                let partition = row.as_object_mut().and_then(|r| r.remove("date"));
                assert_eq!(
                    partition,
                    Some(json!("2026-03-09")),
                    "{reader} {table} date="
                );
            }
            rows.sort_by_key(|r| r["event_id"].to_string());
            assert_eq!(rows, rows_of(batch), "{reader} {table} rows");
        }
        let any_table = landed.keys().next().map_or("", String::as_str);
        let partition_type = &seen[reader][any_table]["types"]["date"];
        let date = if reader == "duckdb" {
            "DATE"
        } else {
            "date32[day]"
        };
        assert_eq!(partition_type, &json!(date), "{reader} partition type");
    }
    Ok(())
}

/// Small files take the direct encoding; both readers read random rows of every table
/// from them: nulls at every level, empty and null lists, long multi-byte text, extreme
/// integers.
#[tokio::test]
async fn duckdb_and_pyarrow_read_small_files_of_random_rows() -> TestResult {
    let dir = tempfile::tempdir()?;
    let folder = dir.path().join("lake");
    let store = Store::open(folder.to_str().unwrap_or_default())?;
    let lander = Lander::start(store.clone(), LandingLimits::default());
    let mut landed = BTreeMap::new();
    for (seed, table) in Table::all().enumerate() {
        let batch = arbitrary_batch(&table.schema(), 40, seed as u64);
        lander
            .submit(table, batch.clone(), received_at().date_naive())
            .await?;
        landed.insert(table.name().to_string(), batch);
    }
    lander.shutdown().await;
    assert_readers_see(&folder, &landed)
}

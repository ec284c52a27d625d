//! Shared helpers: fixture records for every entity, stores under test, reading back.

use std::path::PathBuf;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use chrono::{DateTime, TimeZone, Utc};
use coconut_lake::land::Store;
use coconut_lake::model::{Converter, Envelope, Rows, Table};
use coconut_lake::source::{Entity, Resource};
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Value, json};

pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// The project root, where `samples/` and `pipelines/` live.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fixed receive time, so tests know the `date=` partition.
pub fn received_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 9, 14, 0, 0)
        .single()
        .unwrap_or_default()
}

/// Two records of each entity, with string ids, local times, non-ASCII text, missing
/// timestamps and attributes no schema knows.
pub fn fixture(entity: Entity) -> Vec<Value> {
    match entity {
        Entity::Appointments => vec![
            json!({"id": "5001", "type": "appointments", "attributes": {
                "location_id": 1, "service_id": "10", "staff_id": 100,
                "start": "2026-03-08 02:30:00", "end": "2026-03-08 03:30:00",
                "timezone": "America/Toronto", "status": "completed",
                "updated_at": "2026-03-08T09:40:00Z", "completed_at": "2026-03-08T09:40:00Z",
                "attendees": [{"client_id": 900, "status": "attended"}],
                "answers": [{"question_id": 3, "value": "Première maison"}],
                "brand_new_attribute": [1, 2, 3]}}),
            json!({"id": 5002, "type": "appointments", "attributes": {
                "location_id": "3", "start": "2026-10-25T00:30:00Z", "status": "confirmed"}}),
        ],
        Entity::QueueAppointments => vec![
            json!({"id": 7001, "attributes": {"location_id": 3, "status": "waiting",
                "created_at": "2026-03-29 01:30:00", "lang": "cy"}}),
            json!({"id": "7002", "attributes": {"location_id": 1, "status": "completed",
                "created_at": "2026-03-08T06:59:00Z", "served_at": "2026-03-08T07:20:00Z"}}),
        ],
        Entity::Clients => vec![
            json!({"id": 900, "attributes": {"first_name": "Zoë", "last_name": "Nguyễn",
                "receive_sms": "1", "external_id": "CRM-1"}}),
            json!({"id": "901", "attributes": {"first_name": "李", "last_name": "雷"}}),
        ],
        Entity::Locations => vec![
            json!({"id": 1, "attributes": {"name": "Main", "timezone": "America/Toronto"}}),
            json!({"id": 3, "attributes": {"name": "Kings Cross", "timezone": "Europe/London"}}),
        ],
        Entity::Services => vec![
            json!({"id": 10, "attributes": {"name": "Mortgage", "duration": "60"}}),
            json!({"id": 11, "attributes": {"name": "Account", "duration": 30}}),
        ],
        Entity::Users => vec![
            json!({"id": 100, "attributes": {"first_name": "Søren", "role": "advisor"}}),
            json!({"id": 101, "attributes": {}}),
        ],
        Entity::BookingShortcuts => vec![
            json!({"id": 7, "attributes": {"name": "Spring", "location_id": 1}}),
            json!({"id": 8, "attributes": {"name": "Été", "service_id": "11"}}),
        ],
        Entity::QuickstreamBlocks => vec![
            json!({"id": 70, "attributes": {"location_id": 3, "start": "2026-03-29 00:30:00",
                "end": "2026-03-29 03:00:00", "limit": 12, "services": [10, "11"]}}),
            json!({"id": 71, "attributes": {"location_id": 1},
                "relationships": {"services": {"data": [{"type": "services", "id": "10"}]}}}),
        ],
    }
}

/// A converter that knows the fixture locations' zones.
pub fn converter() -> Converter {
    let converter = Converter::default();
    converter.learn_location_zone(1, chrono_tz::America::Toronto);
    converter.learn_location_zone(3, chrono_tz::Europe::London);
    converter
}

/// The fixture of an entity as one record batch, enveloped as a backfill.
pub fn fixture_batch(entity: Entity) -> RecordBatch {
    fixture_rows(entity).to_batch().expect("fixture batch")
}

/// The fixture of an entity as rows, enveloped as a backfill.
pub fn fixture_rows(entity: Entity) -> Rows {
    let converter = converter();
    let mut rows = Rows::new(Table::Entity(entity));
    for value in fixture(entity) {
        let resource = Resource::from_value(value, "fixture").expect("fixture resource");
        let envelope = Envelope::for_backfill(entity, &resource, received_at(), "test");
        let row = converter.convert(entity, &resource, &envelope);
        rows.push(row.unwrap_or_else(|e| panic!("fixture does not convert: {e}")));
    }
    rows
}

/// Every Parquet object below a folder of the store, sorted by path.
pub async fn list_parquet(store: &Store, folder: &str) -> Vec<Path> {
    let prefix = Path::from(folder);
    let mut paths: Vec<Path> = store
        .objects()
        .list(Some(&prefix))
        .map_ok(|m| m.location)
        .try_collect()
        .await
        .expect("list store");
    paths.retain(|p| p.as_ref().ends_with(".parquet"));
    paths.sort();
    paths
}

/// Reads every landed file of a table back as one batch of the table's schema.
pub async fn read_table(store: &Store, table: Table) -> RecordBatch {
    let mut batches = Vec::new();
    for path in list_parquet(store, &table.prefix()).await {
        let bytes = store.objects().get(&path).await.expect("get").bytes().await;
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes.expect("read object"))
            .expect("open parquet")
            .build()
            .expect("build reader");
        let read: Vec<RecordBatch> = reader.collect::<Result<_, _>>().expect("read parquet");
        batches.extend(read);
    }
    concat_batches(&table.schema(), &batches).expect("concat")
}

/// Stores of every kind the suite runs against. S3 comes from `COCONUT_TEST_S3_URL`,
/// which `scripts/test` sets after starting an S3-compatible server on loopback.
pub fn stores(dir: &std::path::Path) -> Vec<Store> {
    let local = Store::open(dir.join("lake").to_str().expect("utf-8 path")).expect("file store");
    let memory = Store::open("memory://").expect("memory store");
    vec![local, memory, s3_store()]
}

/// A fresh prefix in the test S3 bucket.
pub fn s3_store() -> Store {
    let base = std::env::var("COCONUT_TEST_S3_URL").unwrap_or_else(|_| {
        panic!("COCONUT_TEST_S3_URL is not set: run the suite with scripts/test, which starts an S3 server")
    });
    let url = format!(
        "{}/run-{:016x}",
        base.trim_end_matches('/'),
        rand::random::<u64>()
    );
    Store::open(&url).unwrap_or_else(|e| panic!("cannot open {url}: {e}"))
}

/// The Python of the test virtual environment, with duckdb and pyarrow.
pub fn python() -> PathBuf {
    let python = std::env::var_os("COCONUT_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"));
    assert!(
        python.exists(),
        "no test python at {}: run the suite with scripts/test, which creates it",
        python.display()
    );
    python
}

/// Starts the simulated admin API on a free loopback port; returns its base URL.
pub async fn start_api(
    tenant: std::sync::Arc<coconut_lake::simulate::Tenant>,
    options: coconut_lake::simulate::api::ApiOptions,
) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let base = format!("http://{address}{}", options.base_path);
    let api = std::sync::Arc::new(coconut_lake::simulate::api::Api::new(tenant, options));
    tokio::spawn(coconut_lake::simulate::api::run(
        listener,
        api,
        std::future::pending(),
    ));
    base
}

/// Starts the simulated admin API with the tenant's clock at `clock` (tenant seconds);
/// returns its base URL.
pub async fn start_api_at(
    tenant: &std::sync::Arc<coconut_lake::simulate::Tenant>,
    clock: i64,
) -> String {
    let options = coconut_lake::simulate::api::ApiOptions {
        clock: Some(clock),
        ..coconut_lake::simulate::api::ApiOptions::default()
    };
    start_api(std::sync::Arc::clone(tenant), options).await
}

/// Posts JSON with the simulator's token.
pub async fn post_json(url: String, value: &Value) -> reqwest::Response {
    let request = reqwest::Client::new().post(url).bearer_auth("sim-token");
    let request = request.header("content-type", "application/json");
    request.body(value.to_string()).send().await.unwrap()
}

/// Switches the simulated API's faults.
pub async fn set_faults(base: &str, faults: Value) {
    let control = format!("{}/_sim/faults", base.trim_end_matches("/api/v2"));
    let response = post_json(control, &faults).await;
    assert_eq!(response.status(), reqwest::StatusCode::OK, "{faults}");
}

/// Runs the binary in the project folder, with no store or pipeline from the environment.
pub fn coconut_lake(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_coconut-lake"))
        .args(args)
        .current_dir(root())
        .env_remove("COCONUT_STORE")
        .env_remove("COCONUT_PIPELINE")
        .output()
        .expect("run coconut-lake")
}

/// Output bytes as text, for messages and comparisons.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A batch of `schema` with `rows` rows of random values: nulls wherever a field allows
/// them, empty and null lists, text with multi-byte characters and values past the
/// 64-byte statistics bound, bytes up to 0xff, extreme integers. `event_id`, when the
/// schema has it, is `evt_<row>` so that rows sort.
pub fn arbitrary_batch(
    schema: &arrow::datatypes::SchemaRef,
    rows: usize,
    seed: u64,
) -> RecordBatch {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let columns = schema
        .fields()
        .iter()
        .map(|field| {
            if field.name() == "event_id" {
                let ids = (0..rows).map(|i| format!("evt_{i:05}"));
                return std::sync::Arc::new(arrow::array::StringArray::from_iter_values(ids))
                    as arrow::array::ArrayRef;
            }
            arbitrary_array(field, rows, &mut rng)
        })
        .collect();
    RecordBatch::try_new(schema.clone(), columns).expect("arbitrary batch")
}

fn arbitrary_array(
    field: &arrow::datatypes::Field,
    len: usize,
    rng: &mut rand::rngs::StdRng,
) -> arrow::array::ArrayRef {
    use arrow::array::*;
    use arrow::buffer::{NullBuffer, OffsetBuffer};
    use arrow::datatypes::{DataType, TimeUnit};
    use rand::Rng;
    use std::sync::Arc;

    let valid: Vec<bool> = (0..len)
        .map(|_| !field.is_nullable() || rng.random_bool(0.75))
        .collect();
    let nulls = field.is_nullable().then(|| NullBuffer::from(valid.clone()));
    let pick =
        |rng: &mut rand::rngs::StdRng, valid: bool, f: &dyn Fn(&mut rand::rngs::StdRng) -> i64| {
            valid.then(|| f(rng))
        };
    match field.data_type() {
        DataType::Int64 => {
            let edge = [i64::MIN, i64::MAX, 0, -1];
            let values: Vec<Option<i64>> = valid
                .iter()
                .map(|&v| {
                    pick(rng, v, &|rng| {
                        if rng.random_bool(0.1) {
                            edge[rng.random_range(0..edge.len())]
                        } else {
                            rng.random_range(-1_000_000..1_000_000)
                        }
                    })
                })
                .collect();
            Arc::new(Int64Array::from(values))
        }
        DataType::Timestamp(TimeUnit::Microsecond, zone) => {
            let around_2026 = 1_772_000_000_000_000;
            let values: Vec<Option<i64>> = valid
                .iter()
                .map(|&v| {
                    pick(rng, v, &|rng| {
                        around_2026 + rng.random_range(-900_000_000_000_000..900_000_000_000_000)
                    })
                })
                .collect();
            Arc::new(TimestampMicrosecondArray::from(values).with_timezone_opt(zone.clone()))
        }
        DataType::Date32 => {
            let values: Vec<Option<i32>> = valid
                .iter()
                .map(|&v| v.then(|| rng.random_range(-20_000..40_000)))
                .collect();
            Arc::new(Date32Array::from(values))
        }
        DataType::Boolean => {
            let values: Vec<Option<bool>> = valid
                .iter()
                .map(|&v| v.then(|| rng.random_bool(0.5)))
                .collect();
            Arc::new(BooleanArray::from(values))
        }
        DataType::Utf8 => {
            let alphabet = [
                'a',
                'z',
                '~',
                'é',
                'ß',
                '中',
                '😀',
                '\u{7f}',
                '\u{7ff}',
                '\u{ffff}',
                '\u{10ffff}',
            ];
            let values: Vec<Option<String>> = valid
                .iter()
                .map(|&v| {
                    v.then(|| {
                        let n = rng.random_range(0..90);
                        (0..n)
                            .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                            .collect()
                    })
                })
                .collect();
            Arc::new(StringArray::from(values))
        }
        DataType::Binary => {
            let values: Vec<Option<Vec<u8>>> = valid
                .iter()
                .map(|&v| {
                    v.then(|| {
                        let n = rng.random_range(0..90);
                        (0..n)
                            .map(|_| [0u8, 1, 0x7f, 0xfe, 0xff][rng.random_range(0..5)])
                            .collect()
                    })
                })
                .collect();
            Arc::new(BinaryArray::from_iter(values))
        }
        DataType::List(item) => {
            let lengths: Vec<usize> = valid
                .iter()
                .map(|&v| if v { rng.random_range(0..4) } else { 0 })
                .collect();
            let values = arbitrary_array(item, lengths.iter().sum(), rng);
            let offsets = OffsetBuffer::from_lengths(lengths);
            Arc::new(ListArray::new(item.clone(), offsets, values, nulls))
        }
        DataType::Struct(fields) => {
            let children = fields
                .iter()
                .map(|f| arbitrary_array(f, len, rng))
                .collect();
            Arc::new(StructArray::new(fields.clone(), children, nulls))
        }
        other => panic!("no arbitrary values of {other}"),
    }
}

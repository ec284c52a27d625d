//! Small landing files: the direct encoding against Parquet's general writer, both run in
//! this invocation on the same batches.
//!
//! The batches are webhook rows of the three busiest tables, converted from the
//! simulator's events the way the receiver converts them, in files of `--rows` rows: 16 by
//! default, the size a flush reaches under the receive bench's 64 connections. The two
//! encoders take turns for `--rounds` rounds of `--files` files each; the best round of
//! each is reported, with every file read back to check that both hold the batch.
//!
//! Run: `cargo bench --bench encode` (options: `-- --rows N --rounds R --files F`).

mod support;

use std::time::Instant;

use arrow::array::RecordBatch;
use coconut_lake::land::LandingEncoder;
use coconut_lake::model::{Converter, Envelope, Rows, Table};
use coconut_lake::simulate::webhooks::events;
use coconut_lake::simulate::{TenantOptions, generate};
use coconut_lake::source::{Entity, WebhookEvent};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use support::{Result, arg, say};

/// One way to encode a batch as a whole file.
type Encode = fn(&LandingEncoder, &RecordBatch) -> parquet::errors::Result<bytes::Bytes>;

fn main() -> Result<()> {
    let rows: usize = arg("--rows", 16);
    let rounds: usize = arg("--rounds", 7);
    let files: usize = arg("--files", 300);
    let tenant = generate(&TenantOptions {
        days: 7,
        ..TenantOptions::default()
    });
    let converter = Converter::default();
    say(format!(
        "encode bench: files of {rows} webhook rows, {rounds} rounds of {files} files per encoder, taking turns"
    ));
    let mut total = [0.0, 0.0];
    for entity in [
        Entity::Appointments,
        Entity::QueueAppointments,
        Entity::Clients,
    ] {
        let mut batch = Rows::new(Table::Entity(entity));
        for event in events(&tenant, None, None) {
            if batch.len() == rows {
                break;
            }
            let body = event.body(&tenant, &event.id(&tenant, 0), false);
            let parsed = WebhookEvent::from_slice(&body)?;
            if parsed.entity() != Some(entity) {
                continue;
            }
            let envelope = Envelope::for_webhook(&parsed, &body, chrono::Utc::now(), "bench");
            batch.push(converter.convert(entity, &parsed.data, &envelope)?);
        }
        let batch = batch.to_batch()?;
        let encoder = LandingEncoder::new(batch.schema(), 128 * 1024)?;
        let encoders: [Encode; 2] = [LandingEncoder::encode_general, LandingEncoder::encode];
        let mut best = [f64::MAX; 2];
        let mut sizes = [0; 2];
        for _ in 0..rounds {
            for (i, encode) in encoders.iter().enumerate() {
                let started = Instant::now();
                for _ in 0..files {
                    sizes[i] = encode(&encoder, &batch)?.len();
                }
                let micros = started.elapsed().as_secs_f64() * 1e6 / files as f64;
                best[i] = best[i].min(micros);
            }
        }
        for encode in &encoders {
            let reader = ParquetRecordBatchReaderBuilder::try_new(encode(&encoder, &batch)?)?;
            let back: Vec<RecordBatch> = reader.build()?.collect::<std::result::Result<_, _>>()?;
            if back != [batch.clone()] {
                return Err(format!("{entity}: a file does not read back as its batch").into());
            }
        }
        say(format!(
            "{:<20} {:>2} columns: general {:6.1} µs/file {:6} bytes | direct {:6.1} µs/file {:6} bytes | {:.2}x faster",
            entity.name(),
            batch.num_columns(),
            best[0],
            sizes[0],
            best[1],
            sizes[1],
            best[0] / best[1]
        ));
        total[0] += best[0];
        total[1] += best[1];
    }
    say(format!(
        "all three tables: general {:.1} µs, direct {:.1} µs for one file each: {:.2}x faster",
        total[0],
        total[1],
        total[0] / total[1]
    ));
    Ok(())
}

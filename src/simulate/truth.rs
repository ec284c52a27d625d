//! Ground truth: the final state of every record, and the outcome figures the reports must
//! find, written as Parquet from the generator's own records (not from anything the
//! pipeline computes), so tests can compare the pipeline's views and reports against it.
//!
//! Definitions of the outcome figures, per location and branch-local business day:
//! - `appointments`: appointments whose final start falls on the day, whatever happened;
//!   `completed`, `no_show`, `cancelled` by final status; `cancelled_by_client`,
//!   `cancelled_by_staff`; `cancelled_late`: cancelled by the client less than
//!   `late_cancel_hours` before the start.
//! - `walk_ins`: check-ins on the day; `walk_ins_served`: final status completed;
//!   `walk_ins_abandoned`: final status cancelled, removed or no_show; waits are
//!   `called_at - created_at` in seconds over served walk-ins: `wait_median_seconds` (the
//!   mean of the two middle values for an even count), `wait_max_seconds`, and
//!   `served_within_sla`, the served walk-ins called within `sla_wait_minutes`.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use chrono::NaiveDate;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::generate::local_date;
use super::tenant::{Tenant, Time, reached};
use super::vocabulary::{BOOKED_THROUGH, LANGS, MEETING_METHODS, WALK_IN_CHANNELS};
use crate::source::Entity;

/// The report parameters the expected figures depend on.
#[derive(Debug, Clone, Copy)]
pub struct TruthOptions {
    /// A walk-in called within this many minutes was served within the SLA.
    pub sla_wait_minutes: u32,
    /// A client cancellation less than this many hours before the start is late.
    pub late_cancel_hours: u32,
}

impl Default for TruthOptions {
    fn default() -> Self {
        TruthOptions {
            sla_wait_minutes: 15,
            late_cancel_hours: 24,
        }
    }
}

/// Writing the truth failed.
#[derive(Debug, thiserror::Error)]
pub enum TruthError {
    /// A file could not be created or written.
    #[error("failed to write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Parquet encoding failed.
    #[error("failed to encode {path}: {source}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: parquet::errors::ParquetError,
    },
    /// The columns did not form a batch.
    #[error("failed to build the {table} table: {source}")]
    Arrow {
        /// The table.
        table: String,
        /// The cause.
        source: arrow::error::ArrowError,
    },
}

/// Writes `<entity>.parquet` for each entity and `outcomes.parquet` into `dir`, and
/// returns the files with their row counts.
pub fn write_truth(
    tenant: &Tenant,
    options: TruthOptions,
    dir: &Path,
) -> Result<Vec<(PathBuf, usize)>, TruthError> {
    std::fs::create_dir_all(dir).map_err(|source| TruthError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut tables: Vec<(String, RecordBatch)> = Vec::new();
    for entity in Entity::ALL {
        let batch = final_state(tenant, entity).map_err(|source| TruthError::Arrow {
            table: entity.name().into(),
            source,
        })?;
        tables.push((entity.name().to_string(), batch));
    }
    let outcomes = outcomes(tenant, options).map_err(|source| TruthError::Arrow {
        table: "outcomes".into(),
        source,
    })?;
    tables.push(("outcomes".into(), outcomes));

    let mut written = Vec::new();
    for (name, batch) in tables {
        let path = dir.join(format!("{name}.parquet"));
        write_parquet(&path, &batch)?;
        written.push((path, batch.num_rows()));
    }
    Ok(written)
}

fn write_parquet(path: &Path, batch: &RecordBatch) -> Result<(), TruthError> {
    let file = File::create(path).map_err(|source| TruthError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let parquet = |source| TruthError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let mut writer =
        ArrowWriter::try_new(file, batch.schema(), Some(properties)).map_err(parquet)?;
    writer.write(batch).map_err(parquet)?;
    writer.close().map_err(parquet)?;
    Ok(())
}

/// Columns of one table, built one after the other.
#[derive(Default)]
struct Table {
    fields: Vec<Field>,
    columns: Vec<ArrayRef>,
}

impl Table {
    fn int(mut self, name: &str, values: impl Iterator<Item = Option<i64>>) -> Self {
        self.fields.push(Field::new(name, DataType::Int64, true));
        self.columns.push(Arc::new(values.collect::<Int64Array>()));
        self
    }

    fn text<S: AsRef<str>>(mut self, name: &str, values: impl Iterator<Item = Option<S>>) -> Self {
        self.fields.push(Field::new(name, DataType::Utf8, true));
        self.columns.push(Arc::new(values.collect::<StringArray>()));
        self
    }

    fn time(mut self, name: &str, values: impl Iterator<Item = Option<Time>>) -> Self {
        let kind = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        self.fields.push(Field::new(name, kind, true));
        let micros = values.map(|v| v.map(|t| t * 1_000_000));
        let array = micros
            .collect::<TimestampMicrosecondArray>()
            .with_timezone("UTC");
        self.columns.push(Arc::new(array));
        self
    }

    fn date(mut self, name: &str, values: impl Iterator<Item = NaiveDate>) -> Self {
        self.fields.push(Field::new(name, DataType::Date32, true));
        let days = values.map(|d| Some(days_since_epoch(d)));
        self.columns.push(Arc::new(days.collect::<Date32Array>()));
        self
    }

    fn flag(mut self, name: &str, values: impl Iterator<Item = bool>) -> Self {
        self.fields.push(Field::new(name, DataType::Boolean, true));
        self.columns
            .push(Arc::new(values.map(Some).collect::<BooleanArray>()));
        self
    }

    fn float(mut self, name: &str, values: impl Iterator<Item = Option<f64>>) -> Self {
        self.fields.push(Field::new(name, DataType::Float64, true));
        self.columns
            .push(Arc::new(values.collect::<Float64Array>()));
        self
    }

    fn build(self) -> Result<RecordBatch, arrow::error::ArrowError> {
        RecordBatch::try_new(Arc::new(Schema::new(self.fields)), self.columns)
    }
}

fn days_since_epoch(date: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    (date - epoch).num_days() as i32
}

fn id(value: u64) -> Option<i64> {
    Some(value as i64)
}

/// The final state of every record of an entity, one row per record in id order.
fn final_state(t: &Tenant, entity: Entity) -> Result<RecordBatch, arrow::error::ArrowError> {
    let location = |i: u32| id(t.locations[i as usize].id);
    let service = |i: u32| id(t.services[i as usize].id);
    let user = |i: u32| id(t.users[i as usize].id);
    let zone = |i: u32| t.locations[i as usize].zone;
    let end = t.settled_at;
    match entity {
        Entity::Appointments => {
            let a = &t.appointments;
            Table::default()
                .int("id", a.iter().map(|a| id(a.id)))
                .int("location_id", a.iter().map(|a| location(a.location)))
                .int("service_id", a.iter().map(|a| service(a.service)))
                .int("staff_id", a.iter().map(|a| a.staff.and_then(user)))
                .time("start_at", a.iter().map(|a| Some(a.start)))
                .time("end_at", a.iter().map(|a| Some(a.end)))
                .date(
                    "business_date",
                    a.iter().map(|a| local_date(a.start, zone(a.location))),
                )
                .text("status", a.iter().map(|a| Some(a.status_at(end))))
                .text(
                    "meeting_method",
                    a.iter()
                        .map(|a| Some(MEETING_METHODS[usize::from(a.meeting_method)])),
                )
                .text(
                    "booked_through",
                    a.iter()
                        .map(|a| Some(BOOKED_THROUGH[usize::from(a.booked_through)])),
                )
                .int(
                    "booking_shortcut_id",
                    a.iter()
                        .map(|a| a.shortcut.and_then(|s| id(t.shortcuts[s as usize].id))),
                )
                .time("created_at", a.iter().map(|a| Some(a.created_at)))
                .time("updated_at", a.iter().map(|a| a.last_change()))
                .time("arrived_at", a.iter().map(|a| a.arrived_at))
                .time("started_at", a.iter().map(|a| a.started_at))
                .time("served_at", a.iter().map(|a| a.served_at))
                .time("completed_at", a.iter().map(|a| a.completed_at))
                .time("cancelled_at", a.iter().map(|a| a.cancelled_at))
                .text(
                    "cancelled_by",
                    a.iter().map(|a| a.cancelled_by.map(|c| c.word())),
                )
                .int("attendees", a.iter().map(|a| Some(a.clients.len() as i64)))
                .flag("rescheduled", a.iter().map(|a| a.rescheduled_at.is_some()))
                .build()
        }
        Entity::QueueAppointments => {
            let w = &t.walk_ins;
            Table::default()
                .int("id", w.iter().map(|w| id(w.id)))
                .int("location_id", w.iter().map(|w| location(w.location)))
                .int("service_id", w.iter().map(|w| service(w.service)))
                .int("client_id", w.iter().map(|w| w.client.and_then(id)))
                .int(
                    "preferred_staff_id",
                    w.iter().map(|w| w.preferred_staff.and_then(user)),
                )
                .int("staff_id", w.iter().map(|w| w.staff.and_then(user)))
                .text("status", w.iter().map(|w| Some(w.status_at(end))))
                .text("lang", w.iter().map(|w| Some(LANGS[usize::from(w.lang)])))
                .text(
                    "booked_through",
                    w.iter()
                        .map(|w| Some(WALK_IN_CHANNELS[usize::from(w.booked_through)])),
                )
                .date(
                    "business_date",
                    w.iter().map(|w| local_date(w.created_at, zone(w.location))),
                )
                .time("created_at", w.iter().map(|w| Some(w.created_at)))
                .time("called_at", w.iter().map(|w| w.called_at))
                .time("started_at", w.iter().map(|w| w.started_at))
                .time("served_at", w.iter().map(|w| w.served_at))
                .time("completed_at", w.iter().map(|w| w.completed_at))
                .time("cancelled_at", w.iter().map(|w| w.cancelled_at))
                .time("updated_at", w.iter().map(|w| w.last_change()))
                .build()
        }
        Entity::Clients => {
            let c = &t.clients;
            Table::default()
                .int("id", c.iter().map(|c| id(c.id)))
                .flag("has_external_id", c.iter().map(|c| c.has_external_id))
                .flag(
                    "receive_sms",
                    c.iter().map(|c| reached(c.sms_opt_in_at, end)),
                )
                .time("created_at", c.iter().map(|c| Some(c.created_at)))
                .time("updated_at", c.iter().map(|c| c.last_change()))
                .build()
        }
        Entity::Locations => {
            let l = &t.locations;
            Table::default()
                .int("id", l.iter().map(|l| id(l.id)))
                .text("name", l.iter().map(|l| Some(l.name.as_str())))
                .text("timezone", l.iter().map(|l| Some(l.zone.name())))
                .time("created_at", l.iter().map(|l| Some(l.created_at)))
                .build()
        }
        Entity::Services => {
            let s = &t.services;
            Table::default()
                .int("id", s.iter().map(|s| id(s.id)))
                .text("name", s.iter().map(|s| Some(s.name)))
                .int("duration", s.iter().map(|s| Some(i64::from(s.duration))))
                .time("created_at", s.iter().map(|s| Some(s.created_at)))
                .build()
        }
        Entity::Users => {
            let u = &t.users;
            Table::default()
                .int("id", u.iter().map(|u| id(u.id)))
                .text("role", u.iter().map(|u| Some(u.role)))
                .int("location_id", u.iter().map(|u| location(u.location)))
                .time("created_at", u.iter().map(|u| Some(u.created_at)))
                .build()
        }
        Entity::BookingShortcuts => {
            let s = &t.shortcuts;
            Table::default()
                .int("id", s.iter().map(|s| id(s.id)))
                .int("location_id", s.iter().map(|s| location(s.location)))
                .int("service_id", s.iter().map(|s| service(s.service)))
                .int("staff_id", s.iter().map(|s| s.staff.and_then(user)))
                .time("created_at", s.iter().map(|s| Some(s.created_at)))
                .build()
        }
        Entity::QuickstreamBlocks => {
            let b = &t.blocks;
            Table::default()
                .int("id", b.iter().map(|b| id(b.id)))
                .int("location_id", b.iter().map(|b| location(b.location)))
                .time("start_at", b.iter().map(|b| Some(b.start)))
                .time("end_at", b.iter().map(|b| Some(b.end)))
                .date(
                    "business_date",
                    b.iter().map(|b| local_date(b.start, zone(b.location))),
                )
                .int("capacity", b.iter().map(|b| Some(i64::from(b.limit))))
                .int("services", b.iter().map(|b| Some(b.services.len() as i64)))
                .time("created_at", b.iter().map(|b| Some(b.created_at)))
                .build()
        }
    }
}

/// Expected figures of one location and business day.
#[derive(Debug, Default, Clone)]
struct Day {
    appointments: i64,
    completed: i64,
    no_show: i64,
    cancelled: i64,
    cancelled_by_client: i64,
    cancelled_by_staff: i64,
    cancelled_late: i64,
    walk_ins: i64,
    served: i64,
    abandoned: i64,
    waits: Vec<i64>,
    within_sla: i64,
}

fn outcomes(t: &Tenant, options: TruthOptions) -> Result<RecordBatch, arrow::error::ArrowError> {
    let end = t.settled_at;
    let mut days: BTreeMap<(u64, NaiveDate), Day> = BTreeMap::new();
    let key = |location: u32, at: Time| {
        let l = &t.locations[location as usize];
        (l.id, local_date(at, l.zone))
    };
    let late = i64::from(options.late_cancel_hours) * 3_600;
    for a in &t.appointments {
        let day = days.entry(key(a.location, a.start)).or_default();
        day.appointments += 1;
        match a.status_at(end) {
            "completed" => day.completed += 1,
            "no_show" => day.no_show += 1,
            "cancelled" => {
                day.cancelled += 1;
                match a.cancelled_by {
                    Some(super::tenant::CancelledBy::Staff) => day.cancelled_by_staff += 1,
                    _ => {
                        day.cancelled_by_client += 1;
                        if a.cancelled_at.is_some_and(|c| a.start - c < late) {
                            day.cancelled_late += 1;
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let sla = i64::from(options.sla_wait_minutes) * 60;
    for w in &t.walk_ins {
        let day = days.entry(key(w.location, w.created_at)).or_default();
        day.walk_ins += 1;
        match w.status_at(end) {
            "completed" => {
                day.served += 1;
                let wait = w.called_at.unwrap_or(w.created_at) - w.created_at;
                day.waits.push(wait);
                day.within_sla += i64::from(wait <= sla);
            }
            "cancelled" | "removed" | "no_show" => day.abandoned += 1,
            _ => {}
        }
    }
    for day in days.values_mut() {
        day.waits.sort_unstable();
    }

    let rows: Vec<(&(u64, NaiveDate), &Day)> = days.iter().collect();
    let count = |f: fn(&Day) -> i64| rows.iter().map(move |(_, d)| Some(f(d)));
    Table::default()
        .int("location_id", rows.iter().map(|((l, _), _)| id(*l)))
        .date("business_date", rows.iter().map(|((_, d), _)| *d))
        .int("appointments", count(|d| d.appointments))
        .int("completed", count(|d| d.completed))
        .int("no_show", count(|d| d.no_show))
        .int("cancelled", count(|d| d.cancelled))
        .int("cancelled_by_client", count(|d| d.cancelled_by_client))
        .int("cancelled_by_staff", count(|d| d.cancelled_by_staff))
        .int("cancelled_late", count(|d| d.cancelled_late))
        .int("walk_ins", count(|d| d.walk_ins))
        .int("walk_ins_served", count(|d| d.served))
        .int("walk_ins_abandoned", count(|d| d.abandoned))
        .float(
            "wait_median_seconds",
            rows.iter().map(|(_, d)| median(&d.waits)),
        )
        .int(
            "wait_max_seconds",
            rows.iter().map(|(_, d)| d.waits.last().copied()),
        )
        .int("served_within_sla", count(|d| d.within_sla))
        .build()
}

/// The median of sorted values: the middle one, or the mean of the two middle ones.
fn median(sorted: &[i64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2] as f64),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) as f64 / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3]), Some(3.0));
        assert_eq!(median(&[1, 2, 10]), Some(2.0));
        assert_eq!(median(&[1, 2, 4, 10]), Some(3.0));
    }
}

//! Where landed files go: `<table prefix>/date=YYYY-MM-DD/<name>.parquet`, with names that
//! sort by the time they were made and never collide across processes.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, NaiveDate, Utc};
use object_store::path::Path;

use crate::model::Table;

static LAST_MICROS: AtomicI64 = AtomicI64::new(0);

/// A new file stem such as `20261203T171250.123456Z-9f2c41d07a3be815`: the UTC time, unique
/// and increasing within this process, then 64 random bits against other processes.
pub fn file_stem(now: DateTime<Utc>) -> String {
    let wanted = now.timestamp_micros();
    let previous = LAST_MICROS.fetch_max(wanted, Ordering::SeqCst);
    let micros = if previous >= wanted {
        LAST_MICROS.fetch_add(1, Ordering::SeqCst) + 1
    } else {
        wanted
    };
    let time = DateTime::<Utc>::from_timestamp_micros(micros).unwrap_or(now);
    format!(
        "{}-{:016x}",
        time.format("%Y%m%dT%H%M%S%.6fZ"),
        rand::random::<u64>()
    )
}

/// The `date=` folder of a table for one UTC day.
pub fn partition(table: Table, date: NaiveDate) -> Path {
    Path::from(format!(
        "{}/date={}",
        table.prefix(),
        date.format("%Y-%m-%d")
    ))
}

/// The path of a new Parquet file of a table for one UTC day.
pub fn new_file(table: Table, date: NaiveDate, now: DateTime<Utc>) -> Path {
    partition(table, date).join(format!("{}.parquet", file_stem(now)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Entity;

    #[test]
    fn names_sort_by_creation_and_never_repeat() {
        let now = Utc::now();
        let names: Vec<String> = (0..1000).map(|_| file_stem(now)).collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
        let by_time: Vec<&str> = names.iter().map(|n| &n[..23]).collect();
        assert!(by_time.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn paths_follow_the_layout() {
        let date = NaiveDate::from_ymd_opt(2026, 3, 8).unwrap_or_default();
        let path = new_file(Table::Entity(Entity::QueueAppointments), date, Utc::now());
        let text = path.to_string();
        assert!(text.starts_with("landing/queue_appointments/date=2026-03-08/"));
        assert!(text.ends_with(".parquet"));
    }
}

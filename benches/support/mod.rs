//! Shared by the benchmarks: generated appointment batches and peak memory.

// Each benchmark uses a part of this module.
#![allow(dead_code)]

use arrow::array::RecordBatch;
use chrono::{Duration, TimeZone, Utc};
use coconut_lake::model::{Converter, Envelope, Rows, Table};
use coconut_lake::source::{Entity, Resource};
use serde_json::json;

/// Appointment batches of `batch_rows`, varied the way a tenant's are.
pub fn appointment_batches(
    rows: usize,
    batch_rows: usize,
) -> Result<Vec<RecordBatch>, Box<dyn std::error::Error>> {
    let converter = Converter::default();
    let zones = ["America/Toronto", "America/Vancouver", "Europe/London"];
    let statuses = ["completed", "no_show", "cancelled", "confirmed", "served"];
    let base = Utc
        .with_ymd_and_hms(2026, 1, 1, 9, 0, 0)
        .single()
        .unwrap_or_default();
    let received = Utc::now();
    let mut out = Vec::with_capacity(rows / batch_rows + 1);
    let mut id = 0usize;
    while id < rows {
        let mut page = Rows::new(Table::Entity(Entity::Appointments));
        for _ in 0..batch_rows.min(rows - id) {
            let start = base + Duration::minutes((id * 7 % 525_600) as i64);
            let value = json!({"id": id, "type": "appointments", "attributes": {
                "location_id": id % 40, "service_id": id % 12, "staff_id": id % 300,
                "start": start.to_rfc3339(), "end": (start + Duration::minutes(30)).to_rfc3339(),
                "timezone": zones[id % zones.len()], "status": statuses[id % statuses.len()],
                "meeting_method": "in_person", "booked_through": "client_booking",
                "created_at": (start - Duration::days(3)).to_rfc3339(),
                "updated_at": (start + Duration::hours(1)).to_rfc3339(),
                "attendees": [{"client_id": id * 3 % 100_000, "status": "attended"}],
                "answers": [{"question_id": 1, "value": format!("answer {}", id % 17)}]}});
            let resource = Resource::from_value(value, "bench")?;
            let envelope =
                Envelope::for_backfill(Entity::Appointments, &resource, received, "bench");
            page.push(converter.convert(Entity::Appointments, &resource, &envelope)?);
            id += 1;
        }
        out.push(page.to_batch()?);
    }
    Ok(out)
}

/// The process's peak resident set size in MiB (Linux `VmHWM`).
pub fn peak_rss_mib() -> f64 {
    vm_hwm_mib(&std::fs::read_to_string("/proc/self/status").unwrap_or_default())
}

/// The `VmHWM` line of a `/proc/<pid>/status` text, in MiB (0 when absent).
pub fn vm_hwm_mib(status: &str) -> f64 {
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// Bytes of every file below a folder.
pub fn dir_bytes(path: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                total += entry.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    total
}

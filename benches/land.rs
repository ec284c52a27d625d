//! Landing throughput: 1M appointment records through the landing writer into a local
//! store, next to plain arrow-rs `ArrowWriter` writing the same batches to one local file
//! (the encoding ceiling). Each run happens in its own child process so that its peak RSS
//! is its own.
//!
//! Run: `cargo bench --bench land` (options: `-- --rows N --batch-rows N`).

use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::RecordBatch;
use chrono::{Duration, TimeZone, Utc};
use coconut_lake::land::{Lander, LandingLimits, Store, writer_properties};
use coconut_lake::model::{Converter, Envelope, Rows, Table};
use coconut_lake::source::{Entity, Resource};
use futures::StreamExt;
use parquet::arrow::ArrowWriter;
use serde_json::json;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

struct Options {
    rows: usize,
    batch_rows: usize,
    phase: Option<String>,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    Options {
        rows: value("--rows")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000),
        batch_rows: value("--batch-rows")
            .and_then(|v| v.parse().ok())
            .unwrap_or(100),
        phase: value("--phase"),
    }
}

/// Appointment batches of `batch_rows`, varied the way a tenant's are.
fn batches(rows: usize, batch_rows: usize) -> Result<Vec<RecordBatch>> {
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

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

fn dir_bytes(path: &std::path::Path) -> u64 {
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

/// One measured phase; prints `seconds bytes peak_rss_mib files` on one line.
fn phase(name: &str, opts: &Options) -> Result<()> {
    let input = batches(opts.rows, opts.batch_rows)?;
    let input_mib = input
        .iter()
        .map(|b| b.get_array_memory_size())
        .sum::<usize>() as f64
        / (1 << 20) as f64;
    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    let files = match name {
        "baseline" => {
            let file = std::fs::File::create(dir.path().join("all.parquet"))?;
            let schema = Table::Entity(Entity::Appointments).schema();
            let props = writer_properties(LandingLimits::default().row_group_rows);
            let mut writer = ArrowWriter::try_new(file, schema, Some(props))?;
            for batch in &input {
                writer.write(batch)?;
            }
            writer.close()?;
            1
        }
        "lander" => {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async {
                let store = Store::open(dir.path().join("lake").to_str().unwrap_or_default())?;
                let lander = Lander::start(store, LandingLimits::default());
                let day = Utc::now().date_naive();
                let table = Table::Entity(Entity::Appointments);
                let lander = Arc::new(lander);
                let results: Vec<_> = futures::stream::iter(input)
                    .map(|batch| {
                        let lander = lander.clone();
                        async move { lander.submit(table, batch, day).await }
                    })
                    .buffer_unordered(256)
                    .collect()
                    .await;
                let mut files: Vec<String> = Vec::new();
                for r in results {
                    files.push(r?.path);
                }
                files.sort();
                files.dedup();
                lander.shutdown().await;
                Ok::<usize, Box<dyn std::error::Error>>(files.len())
            })?
        }
        other => return Err(format!("unknown phase {other}").into()),
    };
    let seconds = started.elapsed().as_secs_f64();
    let bytes = dir_bytes(dir.path());
    let line = format!("{seconds} {bytes} {} {files} {input_mib}", peak_rss_mib());
    std::io::Write::write_all(&mut std::io::stdout(), format!("{line}\n").as_bytes())?;
    Ok(())
}

fn main() -> Result<()> {
    let opts = options();
    if let Some(name) = &opts.phase {
        return phase(name, &opts);
    }
    let me = std::env::current_exe()?;
    let mut report = String::new();
    report.push_str(&format!(
        "land bench: {} appointment rows in batches of {}\n",
        opts.rows, opts.batch_rows
    ));
    report.push_str("run       rows/s      MB/s   seconds  files  peak RSS MiB\n");
    let mut rates = Vec::new();
    for name in ["baseline", "lander"] {
        let out = Command::new(&me)
            .args(["--phase", name, "--rows", &opts.rows.to_string()])
            .args(["--batch-rows", &opts.batch_rows.to_string()])
            .output()?;
        if !out.status.success() {
            return Err(format!("{name}: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let v: Vec<f64> = text
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        let [seconds, bytes, rss, files, input_mib] = v[..] else {
            return Err(format!("{name}: unexpected output {text:?}").into());
        };
        let rate = opts.rows as f64 / seconds;
        rates.push(rate);
        report.push_str(&format!(
            "{name:<9} {rate:>10.0} {:>8.1} {seconds:>9.2} {files:>6} {rss:>13.0}   (input batches {input_mib:.0} MiB)\n",
            bytes / 1e6 / seconds
        ));
    }
    report.push_str(&format!(
        "lander / baseline rows/s: {:.2}x (goal >= 0.80x)\n",
        rates[1] / rates[0]
    ));
    std::io::Write::write_all(&mut std::io::stdout(), report.as_bytes())?;
    Ok(())
}

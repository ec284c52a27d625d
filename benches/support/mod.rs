//! Shared by the benchmarks: generated appointment batches, child processes measured for
//! time and peak memory, and row counts of landed files.

// Each benchmark uses a part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use arrow::array::RecordBatch;
use chrono::{Duration, TimeZone, Utc};
use coconut_lake::model::{Converter, Envelope, Rows, Table};
use coconut_lake::source::{Entity, Resource};
use serde_json::json;

/// Appointment batches of `batch_rows`, varied the way a tenant's are.
pub fn appointment_batches(rows: usize, batch_rows: usize) -> Result<Vec<RecordBatch>> {
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

/// A benchmark's error type: any error, reported by `main`.
pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The value after `name` among the benchmark's arguments, or `default` when it is
/// missing or does not parse.
pub fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Prints one line of the benchmark's report.
pub fn say(line: String) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// CPU seconds (user and system) that process `pid` has used so far, from
/// `/proc/<pid>/stat` in its clock ticks of 1/100 s; 0 when unreadable.
pub fn cpu_seconds_of(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name in parentheses may hold spaces; the fields after it do not.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(user), Some(system)) => (user + system) / 100.0,
        _ => 0.0,
    }
}

/// A server child process and the URL it printed.
pub struct Server {
    /// The process.
    pub child: Child,
    /// The URL from its start-up line.
    pub url: String,
}

impl Server {
    /// Starts the command and waits for the line that names its URL (the rest of the line
    /// after `marker`, up to the first space).
    pub fn start(command: &mut Command, marker: &str) -> Result<Server> {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            let Some(line) = lines.next() else {
                return Err(format!("the server exited before printing {marker:?}").into());
            };
            if let Some(rest) = line?.strip_prefix(marker) {
                break rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
            }
        };
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(Server { child, url })
    }

    /// CPU seconds (user and system) the process has used so far; see [`cpu_seconds_of`].
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds_of(self.child.id())
    }

    /// Reads the peak RSS, stops the process with SIGTERM and waits for it to exit 0.
    pub fn stop(&mut self) -> Result<f64> {
        let rss = peak_rss_of(self.child.id());
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        let status = self.child.wait()?;
        if !status.success() {
            return Err(format!("the server exited with {status}").into());
        }
        Ok(rss)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Peak resident set size of another process in MiB (Linux `VmHWM`).
pub fn peak_rss_of(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    vm_hwm_mib(&status)
}

/// Runs a command to its end, sampling its peak RSS until it exits; returns its output,
/// wall seconds and peak RSS in MiB.
pub fn run_measured(command: &mut Command) -> Result<(std::process::Output, f64, f64)> {
    let started = std::time::Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let out = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stderr, &mut text);
        text
    });
    // VmHWM only grows, so the last reading before the exit is the peak to within the
    // sampling interval.
    let mut rss: f64 = 0.0;
    let status = loop {
        rss = rss.max(peak_rss_of(pid));
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let seconds = started.elapsed().as_secs_f64();
    let output = std::process::Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    };
    Ok((output, seconds, rss))
}

/// Rows in every Parquet file below a folder, from the files' footers, and the number of
/// files.
pub fn parquet_rows(root: &std::path::Path) -> Result<(u64, u64)> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let (mut rows, mut files) = (0u64, 0u64);
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                let reader = SerializedFileReader::new(std::fs::File::open(&path)?)?;
                rows += reader.metadata().file_metadata().num_rows() as u64;
                files += 1;
            }
        }
    }
    Ok((rows, files))
}

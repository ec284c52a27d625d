//! Landing throughput: 1M appointment records through the landing writer into a local
//! store, next to plain arrow-rs `ArrowWriter` writing the same batches to one local file
//! (the encoding ceiling). Each run happens in its own child process so that its peak RSS
//! is its own.
//!
//! Run: `cargo bench --bench land` (options: `-- --rows N --batch-rows N`).

mod support;

use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use coconut_lake::land::{Lander, LandingLimits, Store, writer_properties};
use coconut_lake::model::Table;
use coconut_lake::source::Entity;
use futures::StreamExt;
use parquet::arrow::ArrowWriter;

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

/// One measured phase; prints `seconds bytes peak_rss_mib files` on one line.
fn phase(name: &str, opts: &Options) -> Result<()> {
    let input = support::appointment_batches(opts.rows, opts.batch_rows)?;
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
    let bytes = support::dir_bytes(dir.path());
    let line = format!(
        "{seconds} {bytes} {} {files} {input_mib}",
        support::peak_rss_mib()
    );
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

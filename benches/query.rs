//! Query speed over landed data: report-shaped DataFusion SQL over 1M appointments, the
//! measure for build-profile choices (a profile must not cost more than 10% here).
//!
//! Run: `cargo bench --bench query` (options: `-- --rows N --runs N`).

mod support;

use std::time::Instant;

use chrono::Utc;
use coconut_lake::land::{Lander, LandingLimits, Store};
use coconut_lake::model::Table;
use coconut_lake::report::open_session;
use coconut_lake::source::Entity;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const QUERIES: [(&str, &str); 5] = [
    (
        "outcomes",
        "SELECT business_date, location_id, service_id, count(*) AS booked,
                sum(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS completed,
                sum(CASE WHEN status = 'no_show' THEN 1 ELSE 0 END) AS no_show,
                avg(date_part('epoch', start_at) - date_part('epoch', created_at)) AS lead_s
         FROM appointments GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    ),
    (
        "latest",
        "SELECT count(*) FROM (
           SELECT id, row_number() OVER (PARTITION BY id
             ORDER BY source_updated_at DESC, received_at DESC) AS rn
           FROM appointments) WHERE rn = 1",
    ),
    (
        "median",
        "SELECT location_id, median(date_part('epoch', end_at) - date_part('epoch', start_at))
         FROM appointments GROUP BY 1 ORDER BY 1",
    ),
    (
        "heatmap",
        "SELECT location_id, date_part('dow', start_at_local) AS dow,
                date_part('hour', start_at_local) AS hour, count(*)
         FROM appointments GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    ),
    (
        "attendees",
        "SELECT count(DISTINCT a['client_id']) FROM (
           SELECT unnest(attendees) AS a FROM appointments)",
    ),
];

fn main() -> Result<()> {
    let rows: usize = support::arg("--rows", 1_000_000);
    let runs: usize = support::arg("--runs", 5).max(1);
    let runtime = tokio::runtime::Runtime::new()?;
    let dir = tempfile::tempdir()?;
    runtime.block_on(async {
        let store = Store::open(dir.path().join("lake").to_str().unwrap_or_default())?;
        let lander = Lander::start(store.clone(), LandingLimits::default());
        let day = Utc::now().date_naive();
        let table = Table::Entity(Entity::Appointments);
        for batch in support::appointment_batches(rows, 10_000)? {
            lander.submit(table, batch, day).await?;
        }
        lander.shutdown().await;

        let ctx = open_session(&store).await?;
        let mib = support::dir_bytes(dir.path()) as f64 / (1 << 20) as f64;
        let mut report =
            format!("query bench: {rows} appointment rows ({mib:.0} MiB), median of {runs} runs\n");
        let mut total = 0.0;
        for (name, sql) in QUERIES {
            let mut times = Vec::with_capacity(runs);
            for _ in 0..runs {
                let started = Instant::now();
                let batches = ctx.sql(sql).await?.collect().await?;
                std::hint::black_box(batches);
                times.push(started.elapsed().as_secs_f64() * 1000.0);
            }
            times.sort_by(f64::total_cmp);
            let median = times[times.len() / 2];
            total += median;
            report.push_str(&format!("{name:<10} {median:>9.1} ms\n"));
        }
        report.push_str(&format!("{:<10} {total:>9.1} ms\n", "total"));
        let rss = support::peak_rss_mib();
        report.push_str(&format!("peak RSS {rss:.0} MiB\n"));
        std::io::Write::write_all(&mut std::io::stdout(), report.as_bytes())?;
        Ok(())
    })
}

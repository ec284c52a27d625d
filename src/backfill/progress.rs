//! Progress of a running backfill: a bar per resource on a terminal, plain log lines
//! otherwise.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::source::Entity;

/// How often a resource logs its progress when there is no terminal.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Where progress goes.
#[derive(Debug, Clone)]
pub enum Progress {
    /// Bars on standard error.
    Bars(MultiProgress),
    /// A log line per resource every ten seconds.
    Log,
    /// Nowhere (the schedule inside `serve`, tests).
    Quiet,
}

impl Progress {
    /// Bars when standard error is a terminal, else log lines.
    pub fn for_stderr() -> Progress {
        use std::io::IsTerminal;
        if std::io::stderr().is_terminal() {
            Progress::Bars(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
        } else {
            Progress::Log
        }
    }

    /// A tracker for one resource's run.
    pub fn track(&self, entity: Entity) -> Tracker {
        let bar = match self {
            Progress::Bars(bars) => {
                let bar = bars.add(ProgressBar::no_length());
                let style = ProgressStyle::with_template(
                    "{prefix:>20} {bar:30} {human_pos:>10}/{human_len:10} records {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar());
                bar.set_style(style);
                bar.set_prefix(entity.name());
                Some(bar)
            }
            _ => None,
        };
        Tracker {
            entity,
            log: matches!(self, Progress::Log),
            bar,
            records: AtomicU64::new(0),
            pages: AtomicU64::new(0),
            started: Instant::now(),
            logged: Mutex::new(Instant::now()),
        }
    }
}

/// Counts of one resource's run, shown as they change.
#[derive(Debug)]
pub struct Tracker {
    entity: Entity,
    log: bool,
    bar: Option<ProgressBar>,
    records: AtomicU64,
    pages: AtomicU64,
    started: Instant,
    logged: Mutex<Instant>,
}

impl Tracker {
    /// The number of records the listing announced.
    pub fn expect(&self, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total.max(self.records.load(Ordering::Relaxed)));
        }
    }

    /// `pages` pages landed with `records` new records.
    pub fn landed(&self, records: u64, pages: u64) {
        let total = self.records.fetch_add(records, Ordering::Relaxed) + records;
        let pages = self.pages.fetch_add(pages, Ordering::Relaxed) + pages;
        let rate = total as f64 / self.started.elapsed().as_secs_f64().max(0.001);
        if let Some(bar) = &self.bar {
            if bar.length().is_some_and(|l| l < total) {
                bar.set_length(total);
            }
            bar.set_position(total);
            bar.set_message(format!("{pages} pages, {rate:.0}/s"));
        }
        if self.log {
            let mut logged = self.logged.lock().unwrap_or_else(|e| e.into_inner());
            if logged.elapsed() >= LOG_EVERY {
                *logged = Instant::now();
                tracing::info!(resource = %self.entity, records = total, pages,
                    rate = rate.round() as u64, "backfill progress");
            }
        }
    }

    /// Records landed so far.
    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }

    /// Pages landed so far.
    pub fn pages(&self) -> u64 {
        self.pages.load(Ordering::Relaxed)
    }

    /// Time since the run started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Ends the bar with a last word.
    pub fn finish(&self, word: &str) {
        if let Some(bar) = &self.bar {
            let length = bar.position();
            bar.set_length(length);
            bar.finish_with_message(word.to_string());
        }
    }
}

//! What can go wrong on the simulated admin API, switched on by flags at start or by tests
//! at run time (`POST /_sim/faults`): errors, slow answers, bodies cut off on the wire or
//! in the JSON, and a request-rate limit answered with 429 and `Retry-After`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::generate::mix;

/// The faults a data request may meet. Rates are probabilities per request, drawn from
/// a stream seeded by the tenant seed, so a run is repeatable for one request order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// The next this many data requests fail with `error_status`, whatever the rates say.
    pub fail_next: u32,
    /// Share of data requests answered with `error_status`.
    pub error_rate: f64,
    /// Status of injected errors; 503 when unset.
    pub error_status: Option<u16>,
    /// `Retry-After` seconds sent with injected errors, if any.
    pub error_retry_after: Option<u64>,
    /// Share of data requests delayed by `slow_ms` before the answer starts.
    pub slow_rate: f64,
    /// Delay of a slow answer, in milliseconds.
    pub slow_ms: u64,
    /// Share of data requests whose body stops half way and the connection closes, short
    /// of the announced `Content-Length`.
    pub truncate_rate: f64,
    /// Share of data requests answered 200 with a complete HTTP body holding only the
    /// first half of the JSON document.
    pub malformed_rate: f64,
}

/// What happens to one data request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status (and `Retry-After`, if set) instead of data.
    Error(u16, Option<u64>),
    /// Wait this long, then answer normally.
    Slow(Duration),
    /// Cut the body off on the wire.
    Truncate,
    /// Send half the JSON as a complete body.
    Malformed,
}

/// The fault settings in force and the stream their draws come from.
pub struct FaultState {
    settings: Mutex<Faults>,
    seed: u64,
    draws: AtomicU64,
}

impl FaultState {
    /// Faults with the given settings, drawing from a stream of `seed`.
    pub fn new(settings: Faults, seed: u64) -> FaultState {
        FaultState {
            settings: Mutex::new(settings),
            seed,
            draws: AtomicU64::new(0),
        }
    }

    /// Replaces the settings.
    pub fn set(&self, settings: Faults) {
        *self.settings.lock().unwrap_or_else(|e| e.into_inner()) = settings;
    }

    /// The settings in force.
    pub fn get(&self) -> Faults {
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Decides the fate of the next data request.
    pub fn draw(&self) -> Option<Fault> {
        let mut s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        let error = Fault::Error(s.error_status.unwrap_or(503), s.error_retry_after);
        if s.fail_next > 0 {
            s.fail_next -= 1;
            return Some(error);
        }
        let n = self.draws.fetch_add(1, Ordering::Relaxed);
        let x = (mix(self.seed, 0xFA17, n) >> 11) as f64 / (1u64 << 53) as f64;
        let mut edge = s.error_rate;
        if x < edge {
            return Some(error);
        }
        edge += s.slow_rate;
        if x < edge {
            return Some(Fault::Slow(Duration::from_millis(s.slow_ms)));
        }
        edge += s.truncate_rate;
        if x < edge {
            return Some(Fault::Truncate);
        }
        edge += s.malformed_rate;
        (x < edge).then_some(Fault::Malformed)
    }
}

/// A token bucket: `rate` requests per second, bursts of up to `rate`.
pub struct RateLimit {
    rate: f64,
    bucket: Mutex<(f64, Instant)>,
}

impl RateLimit {
    /// A limit of `rate` requests per second; 0 means no limit.
    pub fn new(rate: f64) -> RateLimit {
        RateLimit {
            rate,
            bucket: Mutex::new((rate, Instant::now())),
        }
    }

    /// Takes a token, or says how many whole seconds to wait before the next one.
    pub fn take(&self) -> Result<(), u64> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let mut bucket = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let (tokens, last) = *bucket;
        let tokens = (tokens + now.duration_since(last).as_secs_f64() * self.rate).min(self.rate);
        if tokens >= 1.0 {
            *bucket = (tokens - 1.0, now);
            Ok(())
        } else {
            *bucket = (tokens, now);
            Err(((1.0 - tokens) / self.rate).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_next_comes_first_then_rates_apply() {
        let faults = FaultState::new(
            Faults {
                fail_next: 2,
                error_status: Some(500),
                ..Faults::default()
            },
            1,
        );
        assert_eq!(faults.draw(), Some(Fault::Error(500, None)));
        assert_eq!(faults.draw(), Some(Fault::Error(500, None)));
        assert_eq!(faults.draw(), None);
        faults.set(Faults {
            truncate_rate: 0.5,
            ..Faults::default()
        });
        let cut = (0..1_000)
            .filter(|_| faults.draw() == Some(Fault::Truncate))
            .count();
        assert!((400..600).contains(&cut), "{cut} of 1000 truncated");
    }

    #[test]
    fn the_bucket_refuses_beyond_its_burst() {
        let limit = RateLimit::new(5.0);
        assert!((0..5).all(|_| limit.take().is_ok()));
        assert_eq!(limit.take(), Err(1));
        assert!(RateLimit::new(0.0).take().is_ok());
    }
}

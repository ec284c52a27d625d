//! The one retry policy of every outbound HTTP call: exponential backoff with jitter,
//! `Retry-After` honoured on 429 and 503, retries only where a repeat is safe, each retry
//! logged once, and a typed error when the attempts run out.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rand::Rng;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use tokio::time::Instant;

use crate::telemetry as names;

/// How often and how patiently a call is repeated.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Delay before the first retry; each later retry doubles it.
    pub base: Duration,
    /// Longest delay the doubling reaches.
    pub max_delay: Duration,
    /// Longest `Retry-After` that is waited for; a server asking for more ends the call.
    pub max_retry_after: Duration,
    /// Timeout of one attempt, answer and body included.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    /// Eight attempts over about a minute and a half of backoff.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(300),
            timeout: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1 for the first): the doubled base with jitter
    /// (between half and all of it), or what the server asked for if that is longer.
    pub fn delay(&self, retry: u32, asked: Option<Duration>, rng: &mut impl Rng) -> Duration {
        let doubled = self
            .base
            .saturating_mul(1 << retry.saturating_sub(1).min(20))
            .min(self.max_delay);
        let jittered = doubled.mul_f64(rng.random_range(0.5..=1.0));
        asked.map_or(jittered, |asked| asked.max(jittered))
    }
}

/// Whether a request may be sent again after it may have reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// Repeating it changes nothing (a GET, or a delivery with an idempotency key).
    Safe,
    /// Repeat only when the server certainly did not act on it: the connection was never
    /// made, or it answered 429.
    OnlyIfUnprocessed,
}

/// Why a call failed for good.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// 401 or 403: the credentials are wrong; retrying cannot help.
    #[error("{url} refused the credentials ({status})")]
    Unauthorized {
        /// The URL called.
        url: String,
        /// The answer.
        status: StatusCode,
    },
    /// Any other answer that retrying cannot fix, such as 400 or 404.
    #[error("{url} answered {status}: {detail}")]
    Status {
        /// The URL called.
        url: String,
        /// The answer.
        status: StatusCode,
        /// The start of the answer's body.
        detail: String,
    },
    /// Every attempt failed with something worth retrying.
    #[error("gave up on {url} after {attempts} attempts; the last: {last}")]
    Exhausted {
        /// The URL called.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// What the last attempt got.
        last: String,
    },
    /// The server asked to wait longer than the policy allows.
    #[error("{url} asked to wait {seconds} s before retrying, longer than the {limit} s allowed")]
    WaitTooLong {
        /// The URL called.
        url: String,
        /// The `Retry-After` asked for.
        seconds: u64,
        /// The policy's limit.
        limit: u64,
    },
    /// The request could not be sent at all in a way retrying would fix (a bad URL).
    #[error("cannot call {url}: {reason}")]
    Unsendable {
        /// The URL called.
        url: String,
        /// Why.
        reason: String,
    },
}

/// A successful answer, body read whole.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status (2xx).
    pub status: StatusCode,
    /// The body.
    pub body: Bytes,
    /// Attempts it took.
    pub attempts: u32,
}

/// What one attempt got, when it was not a success.
enum Failure {
    /// Worth another attempt, after at least the optional wait.
    Retry {
        reason: String,
        asked: Option<Duration>,
    },
    /// Final.
    Fatal(HttpError),
}

/// When the next request may go: spaced by the configured rate, and held back by the
/// server's last `Retry-After` (shared, so that one 429 slows every caller, not one).
#[derive(Debug, Default)]
struct Pace {
    interval: Option<Duration>,
    next_slot: Mutex<Option<Instant>>,
    held_until: Mutex<Option<Instant>>,
}

impl Pace {
    async fn wait_turn(&self) {
        let held = *self.held_until.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(until) = held {
            tokio::time::sleep_until(until).await;
        }
        if let Some(interval) = self.interval {
            let slot = {
                let mut next = self.next_slot.lock().unwrap_or_else(|e| e.into_inner());
                let slot = next.map_or_else(Instant::now, |n| n.max(Instant::now()));
                *next = Some(slot + interval);
                slot
            };
            tokio::time::sleep_until(slot).await;
        }
    }

    fn hold(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut held = self.held_until.lock().unwrap_or_else(|e| e.into_inner());
        if held.is_none_or(|h| h < until) {
            *held = Some(until);
        }
    }
}

/// An HTTP client that applies the retry policy to every call.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    policy: RetryPolicy,
    pace: Arc<Pace>,
}

impl Http {
    /// A client with the policy's per-attempt timeout, sending at most `per_second`
    /// requests a second when set.
    pub fn new(policy: RetryPolicy, per_second: Option<f64>) -> Result<Http, HttpError> {
        let client = reqwest::Client::builder()
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| HttpError::Unsendable {
                url: String::new(),
                reason: e.to_string(),
            })?;
        let pace = Pace {
            interval: per_second
                .filter(|r| *r > 0.0)
                .map(|r| Duration::from_secs_f64(1.0 / r)),
            ..Pace::default()
        };
        Ok(Http {
            client,
            policy,
            pace: Arc::new(pace),
        })
    }

    /// The policy in force.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// The underlying client, for building requests.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends the request `build` makes, again for every retry, until a 2xx whose body
    /// arrived whole, a final refusal, or the end of the attempts.
    pub async fn send(
        &self,
        url: &str,
        repeat: Repeat,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Answer, HttpError> {
        let attempts = self.policy.max_attempts.max(1);
        let mut last = String::new();
        for attempt in 1..=attempts {
            self.pace.wait_turn().await;
            let (reason, asked) = match self.attempt(url, repeat, build(&self.client)).await {
                Ok((status, body)) => {
                    return Ok(Answer {
                        status,
                        body,
                        attempts: attempt,
                    });
                }
                Err(Failure::Fatal(error)) => return Err(error),
                Err(Failure::Retry { reason, asked }) => {
                    if let Some(asked) = asked.filter(|a| *a > self.policy.max_retry_after) {
                        return Err(HttpError::WaitTooLong {
                            url: url.to_string(),
                            seconds: asked.as_secs(),
                            limit: self.policy.max_retry_after.as_secs(),
                        });
                    }
                    (reason, asked)
                }
            };
            last = reason;
            if attempt == attempts {
                break;
            }
            if let Some(asked) = asked {
                self.pace.hold(asked);
            }
            let wait = self.policy.delay(attempt, asked, &mut rand::rng());
            metrics::counter!(names::HTTP_RETRIES).increment(1);
            tracing::warn!(
                url,
                attempt,
                of = attempts,
                wait_ms = wait.as_millis() as u64,
                reason = %last,
                "retrying a call"
            );
            tokio::time::sleep(wait).await;
        }
        Err(HttpError::Exhausted {
            url: url.to_string(),
            attempts,
            last,
        })
    }

    async fn attempt(
        &self,
        url: &str,
        repeat: Repeat,
        request: reqwest::RequestBuilder,
    ) -> Result<(StatusCode, Bytes), Failure> {
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                metrics::counter!(names::HTTP_REQUESTS, "status" => "none").increment(1);
                let unsent = e.is_connect() || e.is_builder();
                if e.is_builder() {
                    return Err(Failure::Fatal(HttpError::Unsendable {
                        url: url.to_string(),
                        reason: e.to_string(),
                    }));
                }
                return if repeat == Repeat::Safe || unsent {
                    Err(Failure::Retry {
                        reason: describe(&e),
                        asked: None,
                    })
                } else {
                    Err(Failure::Fatal(HttpError::Exhausted {
                        url: url.to_string(),
                        attempts: 1,
                        last: format!("{} (not repeated: it may have been acted on)", describe(&e)),
                    }))
                };
            }
        };
        let status = response.status();
        metrics::counter!(names::HTTP_REQUESTS, "status" => status_class(status)).increment(1);
        let asked = retry_after(response.headers());
        let body = response.bytes().await;
        if status.is_success() {
            return match body {
                Ok(body) => Ok((status, body)),
                Err(e) if repeat == Repeat::Safe => Err(Failure::Retry {
                    reason: format!("the body broke off: {}", describe(&e)),
                    asked: None,
                }),
                Err(e) => Err(Failure::Fatal(HttpError::Exhausted {
                    url: url.to_string(),
                    attempts: 1,
                    last: format!("the body broke off: {}", describe(&e)),
                })),
            };
        }
        let detail = body
            .map(|b| String::from_utf8_lossy(&b[..b.len().min(300)]).into_owned())
            .unwrap_or_default();
        let retryable = match status {
            StatusCode::TOO_MANY_REQUESTS => true,
            StatusCode::REQUEST_TIMEOUT
            | StatusCode::INTERNAL_SERVER_ERROR
            | StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT => repeat == Repeat::Safe,
            _ => false,
        };
        if retryable {
            // Retry-After counts only where HTTP gives it meaning.
            let asked = matches!(
                status,
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
            )
            .then_some(asked)
            .flatten();
            return Err(Failure::Retry {
                reason: format!("{status}"),
                asked,
            });
        }
        let url = url.to_string();
        Err(Failure::Fatal(match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                HttpError::Unauthorized { url, status }
            }
            _ => HttpError::Status {
                url,
                status,
                detail,
            },
        }))
    }
}

/// A transport error in a few words, with its cause.
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_body() || error.is_decode() {
        "the body could not be read"
    } else {
        "the request failed"
    };
    match std::error::Error::source(error) {
        Some(cause) => format!("{kind}: {cause}"),
        None => kind.to_string(),
    }
}

fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200..=299 => "2xx",
        429 => "429",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// A `Retry-After` header as a wait: whole seconds, or an HTTP date (a date in the past
/// means no wait).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(text).ok()?;
    let left = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(left.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn delays_double_with_jitter_up_to_the_cap_and_yield_to_retry_after() {
        let policy = RetryPolicy {
            base: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            ..RetryPolicy::default()
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for (retry, full) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (30, 1000),
        ] {
            for _ in 0..50 {
                let d = policy.delay(retry, None, &mut rng).as_millis() as u64;
                assert!((full / 2..=full).contains(&d), "retry {retry}: {d} ms");
            }
        }
        let asked = Duration::from_secs(5);
        assert_eq!(policy.delay(1, Some(asked), &mut rng), asked);
        // A Retry-After shorter than the backoff does not shorten it.
        let d = policy.delay(4, Some(Duration::from_millis(1)), &mut rng);
        assert!(d >= Duration::from_millis(400));
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(
            RETRY_AFTER,
            "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        let later = (chrono::Utc::now() + chrono::Duration::seconds(90))
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        headers.insert(RETRY_AFTER, later.parse().unwrap());
        let wait = retry_after(&headers).unwrap_or_default();
        assert!((85..=90).contains(&wait.as_secs()), "{wait:?}");
        headers.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }
}

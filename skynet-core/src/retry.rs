//! The one retry helper: exponential backoff with equal jitter, a cap on
//! each delay and on the number of retries, and a caller who classifies
//! each failure as worth retrying or final.
//!
//! Used by the LLM clients (every request, honouring `Retry-After`), the
//! Telegram Bot API client (429 `retry_after`, network failures) and the
//! engine (when a failed job runs again). Each keeps its own limits in
//! its own [`RetryPolicy`]. The gateway's start-up loops are not retries
//! in this sense: they try again at a fixed pause until a time budget
//! (`unreachable_grace`) runs out and stop at once on cancellation.

use rand::Rng;
use std::future::Future;
use std::time::Duration;

/// How often to try again and how long to wait first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (default 3).
    pub max_retries: u32,
    /// First delay; doubles each retry (default 500 ms).
    pub base: Duration,
    /// Longest delay, and the longest `Retry-After` honoured: a server
    /// asking for more ends the retrying with an error (default 30 s).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Delay before retry number `retry` (0-based): half of
    /// `base × 2^retry` fixed plus up to half random ("equal jitter"),
    /// capped at `max_delay`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(2u32.saturating_pow(retry.min(20)))
            .min(self.max_delay);
        let half = exp / 2;
        let jitter = rand::thread_rng().gen_range(0..=half.as_millis() as u64);
        half + Duration::from_millis(jitter)
    }

    /// The wait before retry `retry`, given the server's `Retry-After`
    /// (never shorter than it asks). `None`: the server asks for longer
    /// than `max_delay`, so give up now rather than hang.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Option<Duration> {
        let backoff = self.backoff(retry);
        match retry_after {
            Some(wait) if wait > self.max_delay => None,
            Some(wait) => Some(wait.max(backoff)),
            None => Some(backoff),
        }
    }
}

/// How one attempt failed, as its caller classifies it.
#[derive(Debug)]
pub enum Failure<R, F> {
    /// Worth another try, after at least this long if the other side
    /// said so (`Retry-After`).
    Retry(R, Option<Duration>),
    /// Final: retrying will not help.
    Fail(F),
}

/// Why [`retry`] stopped without a result.
#[derive(Debug)]
pub enum GaveUp<R, F> {
    /// An attempt failed for good.
    Fail(F),
    /// Every retry was used; `attempts` were made, the last failing so.
    Exhausted {
        /// The last attempt's failure.
        last: R,
        /// Attempts made (the first plus every retry).
        attempts: u32,
    },
    /// The other side asked to wait longer than the policy's `max_delay`.
    TooLong {
        /// The last attempt's failure.
        last: R,
        /// How long it asked for.
        asked: Duration,
    },
}

/// Run `attempt` until it succeeds, fails for good, or the policy's
/// retries run out, sleeping [`RetryPolicy::delay`] between attempts.
/// `on_retry` hears of each retry before its sleep (failure, 1-based
/// retry number, wait).
pub async fn retry<T, R, F, Fut>(
    policy: &RetryPolicy,
    mut attempt: impl FnMut() -> Fut,
    mut on_retry: impl FnMut(&R, u32, Duration),
) -> Result<T, GaveUp<R, F>>
where
    Fut: Future<Output = Result<T, Failure<R, F>>>,
{
    let mut retry = 0;
    loop {
        let (last, after) = match attempt().await {
            Ok(v) => return Ok(v),
            Err(Failure::Fail(e)) => return Err(GaveUp::Fail(e)),
            Err(Failure::Retry(last, after)) => (last, after),
        };
        if retry >= policy.max_retries {
            return Err(GaveUp::Exhausted {
                last,
                attempts: retry + 1,
            });
        }
        let Some(wait) = policy.delay(retry, after) else {
            return Err(GaveUp::TooLong {
                last,
                asked: after.unwrap_or_default(),
            });
        };
        retry += 1;
        on_retry(&last, retry, wait);
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let p = RetryPolicy {
            max_retries: 5,
            base: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
        };
        for _ in 0..50 {
            let d0 = p.backoff(0);
            assert!(d0 >= Duration::from_millis(50) && d0 <= Duration::from_millis(100));
            let d2 = p.backoff(2);
            assert!(d2 >= Duration::from_millis(200) && d2 <= Duration::from_millis(400));
            let d9 = p.backoff(9);
            assert!(d9 >= Duration::from_millis(500) && d9 <= Duration::from_millis(1000));
        }
    }

    #[test]
    fn retry_after_is_a_floor_and_too_long_gives_up() {
        let p = RetryPolicy {
            max_retries: 3,
            base: Duration::from_millis(10),
            max_delay: Duration::from_secs(5),
        };
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(2))),
            Some(Duration::from_secs(2))
        );
        assert_eq!(p.delay(0, Some(Duration::from_secs(6))), None);
        assert!(p.delay(0, None).is_some());
    }

    fn quick(max_retries: u32) -> RetryPolicy {
        RetryPolicy {
            max_retries,
            base: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        }
    }

    #[tokio::test]
    async fn retries_until_success_within_the_limit() {
        let calls = Cell::new(0);
        let mut heard = Vec::new();
        let out: Result<u32, GaveUp<&str, ()>> = retry(
            &quick(3),
            || {
                calls.set(calls.get() + 1);
                let n = calls.get();
                async move {
                    if n < 3 {
                        Err(Failure::Retry("busy", None))
                    } else {
                        Ok(n)
                    }
                }
            },
            |_, n, _| heard.push(n),
        )
        .await;
        assert_eq!(out.ok(), Some(3));
        assert_eq!(heard, [1, 2]);
    }

    #[tokio::test]
    async fn gives_up_when_exhausted_final_or_asked_to_wait_too_long() {
        let out: Result<(), GaveUp<&str, ()>> = retry(
            &quick(2),
            || async { Err(Failure::Retry("busy", None)) },
            |_, _, _| {},
        )
        .await;
        assert!(matches!(
            out,
            Err(GaveUp::Exhausted {
                last: "busy",
                attempts: 3
            })
        ));
        let out: Result<(), GaveUp<(), &str>> = retry(
            &quick(2),
            || async { Err(Failure::Fail("bad key")) },
            |_, _, _| {},
        )
        .await;
        assert!(matches!(out, Err(GaveUp::Fail("bad key"))));
        let out: Result<(), GaveUp<&str, ()>> = retry(
            &quick(2),
            || async { Err(Failure::Retry("later", Some(Duration::from_secs(60)))) },
            |_, _, _| {},
        )
        .await;
        assert!(
            matches!(out, Err(GaveUp::TooLong { last: "later", asked }) if asked == Duration::from_secs(60))
        );
    }
}

//! Where the health score comes from: a pluggable [`HealthSource`], else a
//! live, briefly cached `Provider::health` check.

use crate::provider::Provider;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Something that knows how healthy providers have been (for example a
/// monitor that checks them periodically and keeps a history). Plug one in
/// with [`crate::SkynetBuilder::health_source`].
pub trait HealthSource: Send + Sync {
    /// The provider's health as a ratio in `0..=1` (1 = healthy; a history
    /// may answer the share of recent checks that passed). `None` when it
    /// does not know: the scheduler then checks the provider live.
    fn health_ratio(&self, provider: &str) -> Option<f64>;
}

/// How long a live check may take before it counts as unhealthy.
pub const LIVE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a live check's answer is reused.
pub const LIVE_CHECK_TTL: Duration = Duration::from_secs(5);

/// Live `Provider::health` checks with a timeout, cached for
/// [`LIVE_CHECK_TTL`]: healthy = 1.0, unhealthy or too slow = 0.0.
/// Concurrent callers for one provider wait for one check instead of each
/// starting their own.
#[derive(Debug, Default)]
pub(crate) struct LiveHealth {
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

/// One provider's last answer, behind a lock held while it is refreshed.
type Slot = tokio::sync::Mutex<Option<(Instant, f64)>>;

impl LiveHealth {
    /// The provider's health ratio, checked now unless a recent answer is
    /// cached.
    pub(crate) async fn ratio(&self, provider: &Arc<dyn Provider>) -> f64 {
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(provider.name().to_string())
            .or_default()
            .clone();
        let mut last = slot.lock().await;
        if let Some((at, ratio)) = *last
            && at.elapsed() < LIVE_CHECK_TTL
        {
            return ratio;
        }
        let ratio = match tokio::time::timeout(LIVE_CHECK_TIMEOUT, provider.health()).await {
            Ok(h) if h.healthy => 1.0,
            _ => 0.0,
        };
        *last = Some((Instant::now(), ratio));
        ratio
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Command;
    use crate::provider::{Capabilities, ExecContext, Health, Output};
    use async_trait::async_trait;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Answers after `delay`, counting the checks.
    struct Probe {
        delay: Duration,
        checks: AtomicUsize,
    }

    #[async_trait]
    impl Provider for Probe {
        fn name(&self) -> &str {
            "probe"
        }
        fn capabilities(&self) -> Capabilities {
            Capabilities::default()
        }
        async fn health(&self) -> Health {
            self.checks.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            Health {
                healthy: true,
                message: "fine".into(),
            }
        }
        async fn execute(&self, _: &Command, _: ExecContext) -> crate::Result<Output> {
            Err(crate::Error::Provider {
                provider: "probe".into(),
                message: "runs nothing".into(),
            })
        }
    }

    fn probe(delay: Duration) -> (Arc<Probe>, Arc<dyn Provider>) {
        let p = Arc::new(Probe {
            delay,
            checks: AtomicUsize::new(0),
        });
        (p.clone(), p)
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_check_and_its_answer_is_cached() {
        let live = LiveHealth::default();
        let (counter, p) = probe(Duration::from_millis(100));
        let answers = futures::future::join_all((0..10).map(|_| live.ratio(&p))).await;
        assert!(answers.iter().all(|r| *r == 1.0));
        assert_eq!(counter.checks.load(Ordering::SeqCst), 1);
        assert_eq!(live.ratio(&p).await, 1.0);
        assert_eq!(counter.checks.load(Ordering::SeqCst), 1, "cached");
    }

    #[tokio::test]
    async fn a_check_slower_than_the_timeout_is_unhealthy() {
        let live = LiveHealth::default();
        let (_, p) = probe(LIVE_CHECK_TIMEOUT * 3);
        assert_eq!(live.ratio(&p).await, 0.0);
    }
}

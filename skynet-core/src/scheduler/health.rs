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
#[derive(Debug, Default)]
pub(crate) struct LiveHealth {
    cache: Mutex<HashMap<String, (Instant, f64)>>,
}

impl LiveHealth {
    /// The provider's health ratio, checked now unless a recent answer is
    /// cached.
    pub(crate) async fn ratio(&self, provider: &Arc<dyn Provider>) -> f64 {
        let name = provider.name();
        if let Some((at, ratio)) = self.lock().get(name).copied()
            && at.elapsed() < LIVE_CHECK_TTL
        {
            return ratio;
        }
        let ratio = match tokio::time::timeout(LIVE_CHECK_TIMEOUT, provider.health()).await {
            Ok(h) if h.healthy => 1.0,
            _ => 0.0,
        };
        self.lock()
            .insert(name.to_string(), (Instant::now(), ratio));
        ratio
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, f64)>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

//! Providers' recent history from the ledger, read at most every few
//! seconds (the query scans recent finished jobs; submits must stay cheap).

use crate::Result;
use crate::store::{ProviderStats, SharedStore};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Finished jobs per provider the success and latency scores look at.
pub const HISTORY_JOBS: u32 = 100;
/// How long one read of the history is reused.
pub const HISTORY_TTL: Duration = Duration::from_secs(10);

/// Provider stats by name, as of the last read.
pub(crate) type History = Arc<BTreeMap<String, ProviderStats>>;

/// The cached history. Concurrent callers wait for one read.
#[derive(Debug, Default)]
pub(crate) struct HistoryCache {
    cached: tokio::sync::Mutex<Option<(Instant, History)>>,
}

impl HistoryCache {
    /// The history, read from `store` unless the last read is recent.
    pub(crate) async fn get(&self, store: &SharedStore) -> Result<History> {
        let mut cached = self.cached.lock().await;
        if let Some((at, history)) = cached.as_ref()
            && at.elapsed() < HISTORY_TTL
        {
            return Ok(history.clone());
        }
        let history: History = Arc::new(
            store
                .provider_stats(HISTORY_JOBS)
                .await?
                .into_iter()
                .map(|s| (s.provider.clone(), s))
                .collect(),
        );
        *cached = Some((Instant::now(), history.clone()));
        Ok(history)
    }
}

//! Duration estimates from history: a plan's step is expected to take the
//! median of its last successful runs (same principal, action and command,
//! matched by a signature stored with each step checkpoint), else its
//! action's default. Medians are cached briefly so a burst of identical
//! submissions asks the ledger once; a step succeeding in this process
//! empties the cache (another process's runs count within [`FRESH_FOR`]).

use super::Skynet;
use crate::Principal;
use crate::plan::Plan;
use crate::store::step_signature as signature;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How many past runs of a step its median is taken over.
pub(crate) const RUNS: u32 = 20;
/// How long a looked-up median is reused.
const FRESH_FOR: Duration = Duration::from_secs(30);
/// Cached signatures at most (the cache is emptied when full).
const MAX_CACHED: usize = 4096;

/// A median looked up: when, in which generation, and the value (`None`:
/// no past run).
type Cached = (Instant, u64, Option<u64>);

/// Medians looked up recently, by signature.
#[derive(Default)]
pub(crate) struct EstimateCache {
    medians: Mutex<HashMap<String, Cached>>,
    /// Moves on each step that succeeds here: older entries are stale.
    generation: AtomicU64,
}

impl EstimateCache {
    /// A step succeeded in this process: its history changed.
    pub(crate) fn step_succeeded(&self) {
        self.generation.fetch_add(1, Ordering::Relaxed);
    }

    fn fresh(&self, signature: &str, now: Instant, generation: u64) -> Option<Option<u64>> {
        let medians = self.medians.lock().unwrap_or_else(|p| p.into_inner());
        medians
            .get(signature)
            .filter(|(at, g, _)| *g == generation && now.duration_since(*at) < FRESH_FOR)
            .map(|(_, _, median)| *median)
    }

    fn remember(
        &self,
        found: impl IntoIterator<Item = (String, Option<u64>)>,
        now: Instant,
        generation: u64,
    ) {
        let mut medians = self.medians.lock().unwrap_or_else(|p| p.into_inner());
        for (signature, median) in found {
            if medians.len() >= MAX_CACHED {
                medians.clear();
            }
            medians.insert(signature, (now, generation, median));
        }
    }
}

impl Skynet {
    /// Fill in `plan`'s estimates from `principal`'s past runs. The ledger
    /// being unreadable costs the estimate its history, never the plan.
    pub(crate) async fn estimate(&self, plan: &mut Plan, principal: &Principal) {
        let now = Instant::now();
        let cache = &self.inner.estimates;
        let generation = cache.generation.load(Ordering::Relaxed);
        let signatures: Vec<String> = plan.steps.iter().map(|s| signature(principal, s)).collect();
        let mut known: HashMap<String, Option<u64>> = HashMap::new();
        let mut missing: Vec<String> = Vec::new();
        for sig in &signatures {
            match cache.fresh(sig, now, generation) {
                Some(median) => {
                    known.insert(sig.clone(), median);
                }
                None if !missing.contains(sig) => missing.push(sig.clone()),
                None => {}
            }
        }
        if !missing.is_empty() {
            match self.inner.store.step_medians(&missing, RUNS).await {
                Ok(found) => {
                    let found: Vec<(String, Option<u64>)> = missing
                        .iter()
                        .map(|sig| (sig.clone(), found.get(sig).copied()))
                        .collect();
                    cache.remember(found.iter().cloned(), now, generation);
                    known.extend(found);
                }
                Err(e) => tracing::debug!(error = %e, "step history unavailable for estimates"),
            }
        }
        // The steps in order, each with the signature computed above.
        let mut by_step = signatures.iter();
        plan.estimate(|_| {
            by_step
                .next()
                .and_then(|sig| known.get(sig).copied().flatten())
        });
    }
}

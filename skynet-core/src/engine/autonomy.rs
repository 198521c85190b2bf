//! The loops that start work nobody asked for at that moment, started
//! together by `skynet serve` and `skynet worker`: the schedule loop
//! always (a ledger without schedules costs one query a second), the
//! webhook delivery loop always (without an endpoint it costs one query a
//! second), the initiative loop only when it is enabled.

use super::Skynet;
use super::schedules::SCHEDULE_POLL;
use crate::clock::{SharedClock, SystemClock};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

impl Skynet {
    /// Run the schedule loop, the webhook delivery loop (and the
    /// initiative loop, when enabled) on
    /// the system clock until `shutdown`; the returned task ends with them.
    pub fn spawn_autonomy(&self, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        let clock: SharedClock = Arc::new(SystemClock);
        let sk = self.clone();
        tokio::spawn(async move {
            let initiative = &sk.inner.initiative.config;
            let schedules = sk.run_schedules(clock.clone(), SCHEDULE_POLL, shutdown.clone());
            let webhooks = sk.run_webhooks(shutdown.clone());
            if initiative.enabled {
                tracing::info!(
                    every = ?initiative.interval,
                    per_hour = initiative.budget.per_hour,
                    per_day = initiative.budget.per_day,
                    "initiative engine on"
                );
                let proposals = sk.run_initiative(clock, initiative.interval, shutdown);
                tokio::join!(schedules, webhooks, proposals);
            } else {
                tokio::join!(schedules, webhooks);
            }
        })
    }
}

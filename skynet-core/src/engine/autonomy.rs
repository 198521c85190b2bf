//! The loops that start work nobody asked for at that moment, started
//! together by `skynet serve` and `skynet worker`: the schedule loop,
//! the trigger loop, the default handlers (conditions and the step
//! watcher) and the webhook delivery loop always (a ledger without
//! schedules, triggers or endpoints costs a few queries a second), gc
//! every retention interval (one process at a time by the ledger's gc
//! lease), the initiative loop only when it is enabled.

use super::Skynet;
use super::conditions::CONDITION_POLL;
use super::schedules::SCHEDULE_POLL;
use super::triggers::TRIGGER_POLL;
use crate::clock::{SharedClock, SystemClock};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

impl Skynet {
    /// Run the schedule loop, the trigger loop, the default handlers, the
    /// webhook delivery loop, gc (and the initiative loop, when enabled)
    /// on the system clock until `shutdown`; the returned task ends with
    /// them.
    pub fn spawn_autonomy(&self, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        let clock: SharedClock = Arc::new(SystemClock);
        let sk = self.clone();
        tokio::spawn(async move {
            let initiative = &sk.inner.initiative.config;
            let schedules = async {
                tokio::join!(
                    sk.run_schedules(clock.clone(), SCHEDULE_POLL, shutdown.clone()),
                    sk.run_triggers(clock.clone(), TRIGGER_POLL, shutdown.clone()),
                    sk.run_conditions(clock.clone(), CONDITION_POLL, shutdown.clone()),
                    sk.run_webhooks(shutdown.clone()),
                    sk.run_gc(shutdown.clone()),
                );
            };
            if initiative.enabled {
                tracing::info!(
                    every = ?initiative.interval,
                    per_hour = initiative.budget.per_hour,
                    per_day = initiative.budget.per_day,
                    "initiative engine on"
                );
                let proposals =
                    sk.run_initiative(clock.clone(), initiative.interval, shutdown.clone());
                tokio::join!(schedules, proposals);
            } else {
                schedules.await;
            }
        })
    }
}

//! Triggers in the engine: creating, listing, pausing and removing them
//! (owned by a principal, filtered in the store's queries), and the
//! durable consumer of the global event log that fires them
//! ([`Skynet::fire_triggers`], looped by [`Skynet::run_triggers`]).

use super::schedules::is_refusal;
use super::{Acting, Skynet, SubmitRequest};
use crate::clock::SharedClock;
use crate::events::{
    Consumer, EventHandler, EventPayload, EventType, NewSystemEvent, SystemEvent, TriggerFiring,
};
use crate::job::{JobOrigin, JobSource};
use crate::principal::{Principal, Visibility};
use crate::store::keys::Scope;
use crate::triggers::{
    self, MAX_INTENT, MAX_NAME, NewTrigger, TRIGGER_CONSUMER, Trigger, TriggerFired,
};
use crate::{Error, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Mutex;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the trigger loop reads the log by default.
pub const TRIGGER_POLL: Duration = Duration::from_secs(1);

/// What one round of the trigger consumer did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TriggerRound {
    /// Events of the listened types read.
    pub events: usize,
    /// Firings that made a job.
    pub fired: usize,
    /// Matches past a trigger's rate limit (recorded, no job).
    pub rate_limited: usize,
    /// Matches whose intent planning or the policy refused (recorded).
    pub refused: usize,
    /// Matches another process had already decided.
    pub already: usize,
    /// Events about jobs of a trigger, a schedule or the initiative
    /// engine, which never fire a trigger.
    pub loop_guarded: usize,
    /// Whether a full page was read: the log may have more now, to be
    /// read at once (a short page or a jump to the head waits for the
    /// next poll, so a busy log does not keep the loop writing its
    /// position back to back).
    pub more: bool,
}

impl Skynet {
    /// Create a trigger owned by `principal`. The event filter, payload
    /// conditions, rate limit and root are checked and the intent is
    /// planned and judged once (a dry run), so bad input is refused now;
    /// nothing is stored then.
    pub async fn add_trigger(&self, principal: &Principal, new: NewTrigger) -> Result<Trigger> {
        let intent = new.intent.trim().to_string();
        if intent.is_empty() {
            return Err(Error::InvalidInput(
                "give the trigger an intent: what to submit when a matching event happens".into(),
            ));
        }
        if intent.len() > MAX_INTENT {
            return Err(Error::InvalidInput(format!(
                "a trigger's intent is at most {MAX_INTENT} bytes"
            )));
        }
        triggers::listened_types(&new.on)?;
        triggers::check_conditions(&new.conditions)?;
        let rate = new.rate.unwrap_or_default();
        rate.check()?;
        let name = match new.name.as_deref().map(str::trim) {
            Some(n) if n.is_empty() || n.chars().count() > MAX_NAME => {
                return Err(Error::InvalidInput(format!(
                    "a trigger's name is 1 to {MAX_NAME} characters"
                )));
            }
            Some(n) => n.to_string(),
            None => intent.chars().take(60).collect(),
        };
        let root = match &new.base {
            Some(base) => super::roots::confined_root(base, new.root.as_deref())?,
            None => crate::policy::resolve_root(new.root.clone())?,
        };
        let req = firing_request(&intent, &root, principal);
        self.plan(&req).await?;
        let on: Vec<&str> = new
            .on
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        let trigger = Trigger {
            id: uuid::Uuid::now_v7().to_string(),
            name,
            principal: principal.clone(),
            on: on.join(","),
            conditions: new.conditions,
            intent,
            rate,
            paused: false,
            root,
            created_at: crate::store::chain::truncate_to_micros(Utc::now()),
            fired: 0,
            last_fired_at: None,
        };
        self.inner.store.insert_trigger(&trigger).await?;
        tracing::info!(trigger = %trigger.id, principal = %principal, on = %trigger.on,
            "trigger added");
        Ok(trigger)
    }

    /// The triggers `visibility` admits, oldest first.
    pub async fn triggers(&self, visibility: &Visibility) -> Result<Vec<Trigger>> {
        self.inner.store.triggers(visibility.only()).await
    }

    /// One trigger `visibility` admits ([`Error::TriggerNotFound`] otherwise).
    pub async fn trigger(&self, id: &str, visibility: &Visibility) -> Result<Trigger> {
        self.inner.store.trigger(id, visibility.only()).await
    }

    /// Pause a trigger: events fire it no more until resumed.
    pub async fn pause_trigger(&self, id: &str, visibility: &Visibility) -> Result<Trigger> {
        self.inner
            .store
            .set_trigger_paused(id, visibility.only(), true)
            .await
    }

    /// Resume a paused trigger (events that came while it was paused do
    /// not fire it: the consumer has read past them).
    pub async fn resume_trigger(&self, id: &str, visibility: &Visibility) -> Result<Trigger> {
        self.inner
            .store
            .set_trigger_paused(id, visibility.only(), false)
            .await
    }

    /// Remove a trigger (the jobs it made stay).
    pub async fn remove_trigger(&self, id: &str, visibility: &Visibility) -> Result<()> {
        self.inner.store.remove_trigger(id, visibility.only()).await
    }

    /// Read one page of the global log as the durable consumer
    /// [`TRIGGER_CONSUMER`] and fire, as of `now`, every enabled trigger
    /// each event matches, once per (trigger, event) across every process
    /// sharing the ledger. With no enabled trigger, the consumer moves to
    /// the head of the log (a trigger made later fires only on events
    /// from its creation anyway).
    pub async fn fire_triggers(&self, now: DateTime<Utc>) -> Result<TriggerRound> {
        let store = &self.inner.store;
        let consumer = Consumer::new(store.clone(), TRIGGER_CONSUMER);
        let active = store.active_triggers().await?;
        if active.is_empty() {
            // Nothing listens: skip to the head (nothing more to read now).
            let head = store.event_log_head().await?;
            if head > consumer.position().await? {
                store.advance_consumer(TRIGGER_CONSUMER, head).await?;
            }
            return Ok(TriggerRound::default());
        }
        let mut listened = Vec::new();
        let mut armed = Vec::new();
        for trigger in active {
            match trigger.types() {
                Ok(types) => {
                    for t in &types {
                        if !listened.contains(t) {
                            listened.push(*t);
                        }
                    }
                    armed.push((trigger, types));
                }
                Err(e) => tracing::warn!(trigger = %trigger.id, error = %e,
                    "a stored trigger's event filter no longer parses; it is skipped"),
            }
        }
        let handler = Firer {
            sk: self,
            armed,
            now,
            round: Mutex::new(TriggerRound::default()),
        };
        let polled = consumer.poll_page(&listened, &handler).await;
        let mut round = handler.take();
        round.more = polled?.more;
        Ok(round)
    }

    /// Fire triggers on `clock`'s time until `shutdown`: a page at once
    /// again while the log has more, else every `every`. Run by `skynet
    /// serve` and `skynet worker`; any number of processes may run it on
    /// one ledger. A consumer that never ran starts at the log's head.
    pub async fn run_triggers(
        &self,
        clock: SharedClock,
        every: Duration,
        shutdown: CancellationToken,
    ) {
        if let Err(e) = self.start_consumer_at_head(TRIGGER_CONSUMER).await {
            tracing::warn!(error = %e, "the trigger loop could not read the log's head");
        }
        loop {
            let busy = match self.fire_triggers(clock.now()).await {
                Ok(round) => round.more,
                Err(e) => {
                    tracing::warn!(error = %e, "the trigger loop failed a round; retrying");
                    false
                }
            };
            if busy && !shutdown.is_cancelled() {
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    }

    /// Give consumer `name` the log's head as its position if it has none
    /// yet, so a new consumer does not read the whole history.
    pub(crate) async fn start_consumer_at_head(&self, name: &str) -> Result<()> {
        let store = &self.inner.store;
        if store.consumer_position(name).await?.is_none() {
            let head = store.event_log_head().await?;
            store.advance_consumer(name, head).await?;
        }
        Ok(())
    }

    /// One trigger's decision about one event, in the global log (and the
    /// operator's log): the one place `trigger.fired` / `trigger.skipped`
    /// are emitted.
    async fn announce_trigger(
        &self,
        trigger: &Trigger,
        event: &SystemEvent,
        job: Option<&crate::Job>,
        skipped: Option<String>,
    ) {
        let firing = TriggerFiring {
            trigger: trigger.id.clone(),
            name: trigger.name.clone(),
            event: event.id,
            event_type: event.event_type.to_string(),
            reason: skipped
                .clone()
                .or_else(|| job.map(|j| j.status.as_str().to_string())),
        };
        let kind = if skipped.is_some() {
            "trigger_skipped"
        } else {
            "trigger_fired"
        };
        tracing::info!(event = kind, trigger = %trigger.id, on = %event.event_type, event_id = event.id,
            job = job.map(|j| j.id.to_string()).unwrap_or_default(),
            reason = skipped.as_deref().unwrap_or(""), "trigger decided");
        let payload = match skipped {
            Some(_) => EventPayload::TriggerSkipped(firing),
            None => EventPayload::TriggerFired(firing),
        };
        let mut note = NewSystemEvent::now("trigger", payload);
        note.job = job.map(|j| j.id.clone());
        self.note_event(&note).await;
    }

    /// Fire `trigger` for `event` as of `now`.
    async fn fire_trigger_for(
        &self,
        trigger: &Trigger,
        event: &SystemEvent,
        now: DateTime<Utc>,
        round: &Mutex<TriggerRound>,
    ) -> Result<()> {
        let count = |f: fn(&mut TriggerRound)| {
            if let Ok(mut r) = round.lock() {
                f(&mut r);
            }
        };
        let window = chrono::Duration::from_std(trigger.rate.window()).unwrap_or_default();
        let used = self
            .inner
            .store
            .trigger_firings_since(&trigger.id, now - window)
            .await?;
        // Past the limit: nothing is planned; the store records the skip.
        let (job, placed, error) = if used >= u64::from(trigger.rate.max_firings) {
            (None, None, None)
        } else {
            let req = firing_request(&trigger.intent, &trigger.root, &trigger.principal);
            match self.prepare_job(&req, &*self.inner.planner).await {
                Ok((mut job, placed)) => {
                    job.origin = Some(JobOrigin::Trigger {
                        trigger: trigger.id.clone(),
                        event: event.id,
                    });
                    (Some(job), Some(placed), None)
                }
                Err(e) if is_refusal(&e) => (None, None, Some(e.to_string())),
                Err(e) => return Err(e),
            }
        };
        // Past the limit (no job, no error), the store records the skip,
        // counting again under the trigger's lock.
        let firing = triggers::TriggerFiring {
            trigger: trigger.id.clone(),
            event: event.id,
            at: now,
            job,
            error: error.clone(),
        };
        let fired = self.inner.store.fire_trigger(&firing).await?;
        match fired {
            TriggerFired::Already => count(|r| r.already += 1),
            TriggerFired::RateLimited => {
                count(|r| r.rate_limited += 1);
                let why = format!("rate limit of {} reached", trigger.rate);
                self.announce_trigger(trigger, event, None, Some(why)).await;
            }
            TriggerFired::Now(None) => {
                count(|r| r.refused += 1);
                let why = error.unwrap_or_else(|| "refused".into());
                self.announce_trigger(trigger, event, None, Some(why)).await;
            }
            TriggerFired::Now(Some(job)) => {
                count(|r| r.fired += 1);
                self.announce_trigger(trigger, event, Some(&job), None)
                    .await;
                if let Some(placed) = placed {
                    self.announce_new(&job, placed).await;
                }
            }
        }
        Ok(())
    }
}

/// The consumer's handler for one round: the armed triggers and the time.
struct Firer<'a> {
    sk: &'a Skynet,
    armed: Vec<(Trigger, Vec<EventType>)>,
    now: DateTime<Utc>,
    round: Mutex<TriggerRound>,
}

impl Firer<'_> {
    fn take(&self) -> TriggerRound {
        self.round
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default()
    }
}

#[async_trait]
impl EventHandler for Firer<'_> {
    fn name(&self) -> &str {
        TRIGGER_CONSUMER
    }

    async fn handle(&self, event: &SystemEvent) -> Result<()> {
        if let Ok(mut r) = self.round.lock() {
            r.events += 1;
        }
        let matching: Vec<&Trigger> = self
            .armed
            .iter()
            .filter(|(t, types)| t.matches(types, event))
            .map(|(t, _)| t)
            .collect();
        if matching.is_empty() {
            return Ok(());
        }
        // Loops are impossible by construction: nothing that happens to a
        // job started by a trigger, a schedule or the initiative engine
        // fires a trigger.
        if let Some(id) = &event.job {
            match self.sk.inner.store.get_job(id).await {
                Ok(job) if job.source.is_autonomous() => {
                    if let Ok(mut r) = self.round.lock() {
                        r.loop_guarded += 1;
                    }
                    return Ok(());
                }
                Ok(_) => {}
                // A job gone from the ledger fires nothing.
                Err(Error::JobNotFound(_)) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        for trigger in matching {
            self.sk
                .fire_trigger_for(trigger, event, self.now, &self.round)
                .await?;
        }
        Ok(())
    }
}

/// The submit request of one firing.
fn firing_request(intent: &str, root: &std::path::Path, principal: &Principal) -> SubmitRequest {
    SubmitRequest {
        intent: intent.to_string(),
        root: Some(root.to_path_buf()),
        source: JobSource::Trigger,
        principal: principal.clone(),
        ..Default::default()
    }
}

impl Acting<'_> {
    /// Create a trigger owned by the caller (needs `admin`: a trigger
    /// reads every event of the log; its root is confined to `base` as the
    /// caller's submits are).
    pub async fn add_trigger(&self, new: NewTrigger) -> Result<Trigger> {
        self.require_trigger_admin()?;
        self.sk.add_trigger(&self.grant().principal, new).await
    }

    /// The caller's triggers (everyone's with `read:all` or `admin`).
    pub async fn triggers(&self) -> Result<Vec<Trigger>> {
        self.sk.triggers(&self.visibility()).await
    }

    /// One of the caller's triggers.
    pub async fn trigger(&self, id: &str) -> Result<Trigger> {
        self.sk.trigger(id, &self.visibility()).await
    }

    /// Pause one of the caller's triggers.
    pub async fn pause_trigger(&self, id: &str) -> Result<Trigger> {
        self.require_trigger_admin()?;
        self.sk.pause_trigger(id, &self.visibility()).await
    }

    /// Resume one of the caller's triggers.
    pub async fn resume_trigger(&self, id: &str) -> Result<Trigger> {
        self.require_trigger_admin()?;
        self.sk.resume_trigger(id, &self.visibility()).await
    }

    /// Remove one of the caller's triggers.
    pub async fn remove_trigger(&self, id: &str) -> Result<()> {
        self.require_trigger_admin()?;
        self.sk.remove_trigger(id, &self.visibility()).await
    }

    fn require_trigger_admin(&self) -> Result<()> {
        if self.grant().allows(Scope::Admin) {
            Ok(())
        } else {
            Err(Error::NotPermitted(
                "changing triggers needs the admin scope".into(),
            ))
        }
    }
}

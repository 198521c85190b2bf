//! The webhook delivery loop ([`Skynet::run_webhooks`]): a durable
//! consumer of the global event log that enqueues one delivery per
//! endpoint and event (the first ones leased straight into their lane, so
//! they need no claim), claims the other due deliveries in batches per
//! endpoint, sends them through [`Lanes`] (at most `concurrency` requests
//! at once, `per_endpoint` to any one endpoint; one sender task polls them
//! all) and records finished attempts in group commits: while one batch is
//! being written the next one gathers. The ledger so sees a claim per
//! batch and a commit per batch, not two per request, and a slow endpoint
//! holds only its own lane.

use super::Skynet;
use super::webhooks::Sent;
use crate::events::webhooks::lanes::{Lanes, Next};
use crate::events::webhooks::{self as wh, DeliveryAttempt, WebhookConfig};
use crate::events::{AlertRaised, EventPayload, NewSystemEvent};
use crate::store::event_log::{EventLogQuery, LogView};
use crate::store::webhooks::{
    AfterAttempt, AttemptRecord, ClaimedDelivery, NewDelivery, WebhookTarget,
};
use crate::{Error, Result};
use chrono::Utc;
use futures::FutureExt;
use futures::stream::{FuturesUnordered, StreamExt};
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Log rows read per page by the delivery loop.
const PAGE: u32 = 1000;
/// Pages of the log enqueued per round at most (the rest next round).
const PAGES_PER_ROUND: usize = 10;
/// How often an idle loop without any endpoint looks again.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// Finished attempts are recorded at most this often (or at once when
/// [`RECORD_BATCH`] of them wait): on a busy ledger every commit the loop
/// saves is one the workers' writes do not queue behind.
const RECORD_EVERY: Duration = Duration::from_millis(50);
/// Finished attempts that are recorded without waiting for [`RECORD_EVERY`].
const RECORD_BATCH: usize = 500;

/// The enabled endpoints by id.
type Endpoints = Arc<HashMap<String, Arc<WebhookTarget>>>;

/// A finished request: its endpoint (to free the lane) and, unless it
/// panicked, the delivery with what the request got.
type Finished = (String, Option<(ClaimedDelivery, Sent)>);

/// The loop's requests in flight, all polled by one sender task on the
/// loop's own thread: their wake-ups land on that task (many answers, one
/// wake), and the loop hears of them without crossing threads.
struct InFlight {
    send: mpsc::UnboundedSender<(ClaimedDelivery, Arc<WebhookTarget>)>,
    finished: mpsc::UnboundedReceiver<Finished>,
    /// Dropped with the loop: the sender ends.
    _stop: oneshot::Sender<()>,
}

/// Where the loop's ledger work runs: on the engine's runtime, which owns
/// the store's connections (a PostgreSQL connection belongs to the
/// runtime that opened it), while the loop and its requests run apart.
#[derive(Clone)]
struct Ledger(Handle);

impl Ledger {
    /// Start `work` on the engine's runtime.
    fn spawn<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> JoinHandle<T> {
        self.0.spawn(work)
    }

    /// Run `work` on the engine's runtime and wait for it; a panic or a
    /// runtime shutting down is an error like the work's own.
    async fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        self.spawn(work)
            .await
            .map_err(|e| Error::store("webhook delivery's ledger work", e))?
    }
}

/// Run the delivery loop on a thread of its own, on a single-threaded
/// runtime at the lowest CPU priority: delivery is background work, so a
/// burst of requests (and their connections' tasks, which hyper spawns
/// where the request runs) yields the cores to the engine's jobs instead
/// of queueing ahead of them or waking them late. Where no thread or
/// runtime can be made, it runs on the engine's runtime (`engine`) instead.
fn run_apart(delivery: impl Future<Output = ()> + Send + 'static, engine: &Handle) {
    type Delivery = Pin<Box<dyn Future<Output = ()> + Send>>;
    let delivery: Delivery = Box::pin(delivery);
    let (hand, take) = std::sync::mpsc::channel::<Delivery>();
    let fallback = engine.clone();
    // The runtime is made and dropped on the thread: dropping one in the
    // engine's async context (were the thread refused) would panic.
    let started = std::thread::Builder::new()
        .name("skynet-webhooks".into())
        .spawn(move || {
            let Ok(delivery) = take.recv() else { return };
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => {
                    background_priority();
                    runtime.block_on(delivery);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "webhooks: no runtime for delivery; it shares the engine's");
                    fallback.spawn(delivery);
                }
            }
        });
    match started {
        // The thread holds the receiving end until it has the loop.
        Ok(_) => {
            if let Err(back) = hand.send(delivery) {
                engine.spawn(back.0);
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "webhooks: no thread for delivery; it shares the runtime");
            engine.spawn(delivery);
        }
    }
}

/// Lower the calling thread to the lowest CPU priority (nice 19; on Linux
/// the nice value is per thread). Raising one's own nice value needs no
/// privilege; where it fails, delivery runs at normal priority.
fn background_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 19) {
        tracing::debug!(error = %e, "webhooks: delivery keeps the normal CPU priority");
    }
}

impl InFlight {
    /// Start the sender task on the current runtime (the loop's).
    fn start(sk: Skynet) -> Self {
        let (send, mut queued) = mpsc::unbounded_channel::<(ClaimedDelivery, Arc<WebhookTarget>)>();
        let (done, finished) = mpsc::unbounded_channel();
        let sender = async move {
            let mut requests = FuturesUnordered::new();
            loop {
                tokio::select! {
                    Some(one) = requests.next(), if !requests.is_empty() => {
                        if done.send(one).is_err() {
                            return;
                        }
                    }
                    next = queued.recv() => {
                        let Some((d, target)) = next else { return };
                        let sk = sk.clone();
                        requests.push(async move {
                            let endpoint = d.webhook.clone();
                            // A panicking request is not recorded: its lease
                            // lapses and it is sent again; its lane is freed.
                            let sent = AssertUnwindSafe(sk.send(&target, &d.id, &d.body))
                                .catch_unwind()
                                .await
                                .ok();
                            (endpoint, sent.map(|sent| (d, sent)))
                        });
                    }
                }
            }
        };
        // Dropping `stop` ends the sender, dropping what is in flight.
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            tokio::select! {
                () = sender => {}
                _ = stopped => {}
            }
        });
        InFlight {
            send,
            finished,
            _stop: stop,
        }
    }

    /// Free the lane of a finished request and keep what it got.
    fn take(
        (endpoint, outcome): Finished,
        lanes: &mut Lanes<ClaimedDelivery>,
        done: &mut Vec<(ClaimedDelivery, Sent)>,
    ) {
        lanes.finished(&endpoint);
        if let Some((d, sent)) = outcome {
            lanes.timed(&endpoint, Duration::from_millis(sent.duration_ms));
            done.push((d, sent));
        }
    }
}

impl Skynet {
    /// Run the delivery loop until `shutdown`: read new events into
    /// deliveries (every `poll`, at once again while the log has more),
    /// claim due deliveries per endpoint in batches, keep up to
    /// `concurrency` requests in flight (`per_endpoint` to one endpoint),
    /// record each attempt with what follows (delivered, retry after
    /// backoff, dead letter). `serve` and `worker` run it; any number of
    /// processes may share a ledger (claims are leased, enqueuing is
    /// idempotent).
    ///
    /// The loop and its requests run on a thread of their own at the
    /// lowest CPU priority (see [`run_apart`]); its ledger work runs on the
    /// caller's runtime. Dropping the returned future stops the loop too.
    pub async fn run_webhooks(&self, shutdown: CancellationToken) {
        let stop = shutdown.child_token();
        let _stop_on_drop = stop.clone().drop_guard();
        let engine = Handle::current();
        let ledger = Ledger(engine.clone());
        let (ended, end) = oneshot::channel();
        let sk = self.clone();
        run_apart(
            async move {
                sk.deliver(ledger, stop).await;
                let _ = ended.send(());
            },
            &engine,
        );
        if end.await.is_err() {
            // The thread's panic hook has printed why.
            tracing::error!("webhooks: the delivery loop panicked; delivery has stopped");
        }
    }

    /// The delivery loop of [`Skynet::run_webhooks`], on its thread.
    async fn deliver(&self, ledger: Ledger, shutdown: CancellationToken) {
        let config = self.inner.webhooks.config.clone();
        let lease = config.timeout * 2 + Duration::from_secs(5);
        // A claimed delivery still waiting by then is not sent: its lease
        // would lapse mid-request.
        let max_wait = lease.saturating_sub(config.timeout + Duration::from_secs(2));
        let mut lanes = Lanes::new(config.concurrency, config.endpoint_cap()).wait_budget(max_wait);
        let mut endpoints: Endpoints = Arc::default();
        let mut in_flight = InFlight::start(self.clone());
        let mut done: Vec<(ClaimedDelivery, Sent)> = Vec::new();
        let mut recording: Option<JoinHandle<()>> = None;
        let mut recorded_at = Instant::now();
        let mut next_scan = Instant::now();
        while !shutdown.is_cancelled() {
            if Instant::now() >= next_scan {
                next_scan = self
                    .scan_log(&ledger, &mut endpoints, &mut lanes, &config, lease)
                    .await;
            }
            if !endpoints.is_empty() {
                let unsendable = self
                    .claim_into(&ledger, &mut lanes, lease, config.poll)
                    .await;
                done.extend(unsendable);
            }
            Self::dispatch(&mut lanes, &endpoints, &mut in_flight, max_wait);
            // Group commit: one batch written at a time, at most every
            // RECORD_EVERY unless a full batch waits; what ends meanwhile
            // waits for the next.
            let record_due = recorded_at + RECORD_EVERY;
            if !done.is_empty()
                && recording.as_ref().is_none_or(JoinHandle::is_finished)
                && (done.len() >= RECORD_BATCH || Instant::now() >= record_due)
            {
                let (sk, batch, eps) = (self.clone(), std::mem::take(&mut done), endpoints.clone());
                let config = config.clone();
                recorded_at = Instant::now();
                recording = Some(ledger.spawn(async move {
                    sk.record_attempts(batch, &eps, &config).await;
                }));
            }
            let mut wake = next_scan.min(Instant::now() + config.poll);
            // A batch being written wakes the loop when it is done (the
            // branch below); waking for `record_due` meanwhile would spin.
            if !done.is_empty() && recording.is_none() {
                wake = wake.min(record_due.max(Instant::now()));
            }
            tokio::select! {
                () = shutdown.cancelled() => {}
                Some(one) = in_flight.finished.recv() => {
                    InFlight::take(one, &mut lanes, &mut done);
                    while let Ok(one) = in_flight.finished.try_recv() {
                        InFlight::take(one, &mut lanes, &mut done);
                    }
                }
                // A batch written: the next one may start.
                Some(_) = async {
                    match recording.as_mut() {
                        Some(r) => Some(r.await),
                        None => None,
                    }
                }, if recording.is_some() => {
                    recording = None;
                }
                () = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {}
            }
        }
        // Requests in flight are dropped: their leases lapse and another
        // round (here after a restart, or another process) sends them
        // again. What ended is recorded.
        drop(in_flight);
        if let Some(r) = recording.take() {
            let _ = r.await;
        }
        if !done.is_empty() {
            let sk = self.clone();
            let _ = ledger
                .spawn(async move { sk.record_attempts(done, &endpoints, &config).await })
                .await;
        }
    }

    /// Reload the enabled endpoints and enqueue new events of the log,
    /// the first of each endpoint's leased straight into its lane as far
    /// as it has room (no claim needed for them); returns when to scan
    /// again (now if the log has more).
    async fn scan_log(
        &self,
        ledger: &Ledger,
        endpoints: &mut Endpoints,
        lanes: &mut Lanes<ClaimedDelivery>,
        config: &WebhookConfig,
        lease: Duration,
    ) -> Instant {
        let sk = self.clone();
        // Shared with the scan on the ledger's runtime.
        let list: Arc<[WebhookTarget]> = match ledger
            .run(async move { sk.inner.store.enabled_webhooks().await })
            .await
        {
            Ok(list) => list.into(),
            Err(e) => {
                tracing::warn!(error = %e, "webhooks: loading endpoints failed; retrying");
                return Instant::now() + config.poll;
            }
        };
        lanes.keep(list.iter().map(|t| t.id.as_str()));
        let mut more = false;
        if !list.is_empty() {
            let asked_at = Instant::now();
            let room = lanes.wants(asked_at, Duration::ZERO).into_iter().collect();
            let (sk, targets) = (self.clone(), list.clone());
            let scanned = ledger
                .run(async move { sk.enqueue_from_log(&targets, room, lease).await })
                .await;
            match scanned {
                Ok(scan) => {
                    more = scan.more;
                    let mut in_lanes = 0;
                    for (endpoint, leased) in scan.leased {
                        in_lanes += leased.len() as u64;
                        lanes.offer(&endpoint, leased, asked_at);
                    }
                    // Only new rows left for a claim make a dry lane ask
                    // again: one that took them all leased has nothing
                    // more to claim (due retries wait for the poll, as
                    // before).
                    if scan.enqueued > in_lanes {
                        lanes.wake();
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "webhooks: reading the event log failed; retrying")
                }
            }
        }
        let poll = if list.is_empty() {
            IDLE_POLL
        } else {
            config.poll
        };
        *endpoints = Arc::new(
            list.iter()
                .map(|t| (t.id.clone(), Arc::new(t.clone())))
                .collect(),
        );
        if more {
            Instant::now()
        } else {
            Instant::now() + poll
        }
    }

    /// Enqueue the deliveries of new events of the global log for the
    /// enabled endpoints (up to [`PAGES_PER_ROUND`] pages), the first
    /// `room[endpoint]` of each leased for `lease` to this loop. Events
    /// the delivery loop reported itself are never delivered, so a
    /// failing endpoint cannot feed itself.
    async fn enqueue_from_log(
        &self,
        targets: &[WebhookTarget],
        mut room: HashMap<String, u32>,
        lease: Duration,
    ) -> Result<Scanned> {
        let store = &self.inner.store;
        let mut scanned = Scanned::default();
        let stored = store.consumer_position(wh::CONSUMER).await?;
        // A position never stored has no gap to record (see `note_gap`).
        let mut positioned = stored.is_some();
        let mut after = stored.unwrap_or(crate::events::EventPosition::START);
        let types = taken_types(targets);
        // A round that reads its last page full leaves more for the next.
        scanned.more = true;
        for _ in 0..PAGES_PER_ROUND {
            let page = store
                .poll_event_log(&EventLogQuery {
                    after,
                    limit: PAGE,
                    types: types.clone(),
                    job: None,
                    view: LogView::all(),
                })
                .await?;
            if positioned {
                crate::events::consumer::note_gap(store, wh::CONSUMER, after, &page).await?;
            }
            let mut rows = Vec::new();
            for event in page.events.iter().filter(|e| e.source != wh::SOURCE) {
                let takers: Vec<&WebhookTarget> = targets
                    .iter()
                    .filter(|t| {
                        event.at >= t.created_at && wh::filter_takes(&t.types, event.event_type)
                    })
                    .collect();
                if takers.is_empty() {
                    continue;
                }
                let body = wh::delivery_body(event)?;
                let position = event.position()?;
                let at = crate::store::chain::truncate_to_micros(Utc::now());
                for t in takers {
                    let leased = room.get_mut(&t.id).filter(|n| **n > 0).map(|n| {
                        *n -= 1;
                        crate::store::codec::plus(at, lease)
                    });
                    rows.push(NewDelivery {
                        id: format!("msg_{}", uuid::Uuid::now_v7().simple()),
                        webhook: t.id.clone(),
                        event_xid: position.xid,
                        event_id: position.id,
                        event_type: event.event_type.as_str().to_string(),
                        body: body.clone(),
                        at,
                        lease_until: leased,
                    });
                }
            }
            let done = store.enqueue_webhook_deliveries(&rows).await?;
            scanned.enqueued += done.new;
            scanned.take_leased(rows, &done.leased);
            after = after.max(page.next);
            positioned = true;
            if page.scanned < PAGE as usize {
                // A short page: the log is read to its end for now.
                scanned.more = false;
                break;
            }
        }
        // Stored once per round, not per page: enqueuing is idempotent, so
        // pages enqueued again after a crash add nothing. Another process
        // may be further on: the position only moves forward.
        if after > stored.unwrap_or(crate::events::EventPosition::START) {
            store.advance_consumer(wh::CONSUMER, after).await?;
        }
        Ok(scanned)
    }

    /// Claim what the lanes ask for, in one transaction. Returns the
    /// claimed deliveries that cannot be sent (their body was not stored
    /// and their event has been pruned from the log), as finished
    /// attempts that make them dead letters.
    async fn claim_into(
        &self,
        ledger: &Ledger,
        lanes: &mut Lanes<ClaimedDelivery>,
        lease: Duration,
        poll: Duration,
    ) -> Vec<(ClaimedDelivery, Sent)> {
        let asked_at = Instant::now();
        let wants = lanes.wants(asked_at, poll);
        if wants.is_empty() {
            return Vec::new();
        }
        let (sk, asked) = (self.clone(), wants.clone());
        let claimed = ledger
            .run(async move {
                let now = Utc::now();
                let until = crate::store::codec::plus(now, lease);
                sk.inner
                    .store
                    .claim_webhook_deliveries(now, until, &asked)
                    .await
            })
            .await
            .unwrap_or_else(|e| {
                // The lanes count as dry until the next poll.
                tracing::warn!(error = %e, "webhooks: claiming deliveries failed");
                Vec::new()
            });
        let mut by_endpoint: HashMap<String, Vec<ClaimedDelivery>> = HashMap::new();
        let mut unsendable = Vec::new();
        for d in claimed {
            if d.body.is_empty() {
                let error = "its event was pruned from the event log before it was delivered, \
                             so its body cannot be rebuilt";
                let sent = Sent {
                    error: Some(error.into()),
                    refused: true,
                    ..Sent::default()
                };
                unsendable.push((d, sent));
                continue;
            }
            by_endpoint.entry(d.webhook.clone()).or_default().push(d);
        }
        for (endpoint, asked) in wants {
            let got = by_endpoint.remove(&endpoint).unwrap_or_default();
            lanes.claimed(&endpoint, got, asked, asked_at);
        }
        unsendable
    }

    /// Start a request for every delivery the lanes let go now.
    fn dispatch(
        lanes: &mut Lanes<ClaimedDelivery>,
        endpoints: &Endpoints,
        in_flight: &mut InFlight,
        max_wait: Duration,
    ) {
        let now = Instant::now();
        while let Some(next) = lanes.next(now, max_wait) {
            let d = match next {
                Next::Send(d) => d,
                Next::Stale(d) => {
                    tracing::debug!(delivery = %d.id, "webhooks: a claim waited too long; its lease lapses");
                    continue;
                }
            };
            let Some(target) = endpoints.get(&d.webhook).cloned() else {
                lanes.finished(&d.webhook);
                continue;
            };
            if let Err(back) = in_flight.send.send((d, target)) {
                // The sender task is gone (it ends only with the loop).
                lanes.finished(&back.0.0.webhook);
            }
        }
    }

    /// Record finished attempts in one transaction: delivered, retried
    /// after backoff, or dead letters (each announced as an
    /// `alert.raised` event).
    async fn record_attempts(
        &self,
        done: Vec<(ClaimedDelivery, Sent)>,
        endpoints: &HashMap<String, Arc<WebhookTarget>>,
        config: &WebhookConfig,
    ) {
        let now = crate::store::chain::truncate_to_micros(Utc::now());
        let mut records = Vec::with_capacity(done.len());
        let mut dead = Vec::new();
        let mut gone = Vec::new();
        for (d, sent) in done {
            let attempt = d.attempts + 1;
            let in_round = attempt.saturating_sub(d.round_base);
            let then = if sent.delivered() {
                AfterAttempt::Delivered
            } else if sent.status == Some(410) {
                // 410 Gone: the receiver wants no more (the spec says to
                // stop sending): the endpoint is turned off.
                gone.push(d.webhook.clone());
                AfterAttempt::Dead
            } else if sent.refused || in_round >= config.max_attempts {
                AfterAttempt::Dead
            } else {
                let wait = config
                    .backoff
                    .delay(in_round - 1, sent.retry_after)
                    .unwrap_or(config.backoff.max_delay);
                AfterAttempt::RetryAt(crate::store::codec::plus(now, wait))
            };
            if then == AfterAttempt::Dead {
                dead.push((d.clone(), sent.clone(), attempt));
            }
            // Kept for the attempts that may follow; a delivered row
            // never needs it again.
            let body = (then != AfterAttempt::Delivered).then_some(d.body);
            records.push(AttemptRecord {
                attempt: DeliveryAttempt {
                    delivery: d.id,
                    webhook: d.webhook,
                    event_id: d.event_id,
                    attempt,
                    status: sent.status,
                    error: sent.error,
                    duration_ms: sent.duration_ms,
                    at: now,
                },
                then,
                body,
            });
        }
        if let Err(e) = self.inner.store.record_webhook_attempts(&records).await {
            // The leases lapse and the deliveries are sent again.
            tracing::warn!(error = %e, "webhooks: recording attempts failed");
            return;
        }
        gone.sort();
        gone.dedup();
        for id in gone {
            if let Err(e) = self.inner.store.set_webhook_enabled(&id, false).await {
                tracing::warn!(webhook = %id, error = %e, "webhooks: turning off an endpoint failed");
            }
        }
        for (d, sent, attempts) in dead {
            let url = endpoints
                .get(&d.webhook)
                .map(|t| wh::shown_url(&t.url))
                .unwrap_or_default();
            let why = sent.error.unwrap_or_else(|| "failed".into());
            let message = format!(
                "webhook delivery {} to {url} is a dead letter after {attempts} attempt(s): {why}; \
                 send it again with `skynet webhook redeliver {}`",
                d.id, d.id
            );
            tracing::warn!(webhook = %d.webhook, delivery = %d.id, "{message}");
            let event = NewSystemEvent::now(
                wh::SOURCE,
                EventPayload::AlertRaised(AlertRaised {
                    severity: "warning".into(),
                    subject: format!("webhook:{}", d.webhook),
                    message,
                }),
            );
            self.note_event(&event).await;
        }
    }
}

/// What one scan of the log enqueued.
#[derive(Default)]
struct Scanned {
    /// Deliveries that were new.
    enqueued: u64,
    /// The new ones leased to this loop, by endpoint, oldest first.
    leased: HashMap<String, Vec<ClaimedDelivery>>,
    /// The log has more than one round reads.
    more: bool,
}

impl Scanned {
    /// Keep the leased ones of `rows` that the store inserted (`leased`):
    /// a row another process enqueued first is its, lease and all.
    fn take_leased(&mut self, rows: Vec<NewDelivery>, leased: &[String]) {
        let leased: std::collections::HashSet<&str> = leased.iter().map(String::as_str).collect();
        for d in rows {
            if !leased.contains(d.id.as_str()) {
                continue;
            }
            self.leased
                .entry(d.webhook.clone())
                .or_default()
                .push(ClaimedDelivery {
                    id: d.id,
                    webhook: d.webhook,
                    event_id: d.event_id,
                    body: d.body,
                    attempts: 0,
                    round_base: 0,
                });
        }
    }
}

/// The event types some endpoint takes (empty: every type, as when an
/// endpoint has no filter), so the log's other rows are passed over
/// without decoding them.
fn taken_types(targets: &[WebhookTarget]) -> Vec<crate::events::EventType> {
    if targets.iter().any(|t| t.types.is_empty()) {
        return Vec::new();
    }
    crate::events::ALL_EVENT_TYPES
        .into_iter()
        .filter(|e| targets.iter().any(|t| wh::filter_takes(&t.types, *e)))
        .collect()
}

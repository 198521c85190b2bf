//! Durable consumers of the global event log: a named reader whose
//! position lives in the ledger (`event_consumers`), so it resumes where
//! it stopped after a crash or restart.
//!
//! Delivery is at least once: a page of events is handed to the handler in
//! commit order and the position is stored after the page (or, when the
//! handler fails, after the last event it handled). A consumer killed
//! mid-page sees that page's handled events again on restart and nothing
//! is lost; duplicates stay within one page ([`Consumer::page_size`]).
//!
//! A consumer whose stored position is inside a part of the log gc has
//! removed skips it and records the gap ([`note_gap`]: a `consumer.gap`
//! event and a warning) instead of failing: the events cannot come back,
//! and an error would hold back every later event too.

use super::{ConsumerGap, EventPayload, EventPosition, EventType, NewSystemEvent, SystemEvent};
use crate::Result;
use crate::store::SharedStore;
use crate::store::event_log::{EventLogQuery, EventPage, LogView};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Code that reacts to events, in process. A handler that returns an
/// error is given the same event again on the next poll.
#[async_trait]
pub trait EventHandler: Send + Sync {
    /// The durable consumer name (its position is stored under it).
    fn name(&self) -> &str;
    /// Only these types are handed over (empty: all).
    fn types(&self) -> Vec<EventType> {
        Vec::new()
    }
    /// Called once per page before [`EventHandler::handle`] sees any of
    /// its events, so a handler can read what it needs for all of them
    /// in one query instead of one per event. An error handles nothing
    /// (the page is read again on the next poll).
    async fn prepare(&self, _events: &[SystemEvent]) -> Result<()> {
        Ok(())
    }
    /// React to one event.
    async fn handle(&self, event: &SystemEvent) -> Result<()>;
}

/// A named reader of the global log that keeps its position in the ledger.
#[derive(Clone)]
pub struct Consumer {
    store: SharedStore,
    name: String,
    page: u32,
    view: LogView,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("name", &self.name)
            .finish()
    }
}

impl Consumer {
    /// Rows read per page by default: the most a page may hold, so a busy
    /// log costs a consumer few reads and few position writes (each a
    /// write transaction beside the workers').
    pub const DEFAULT_PAGE: u32 = 1000;

    /// The consumer `name` over `store`, seeing every event.
    pub fn new(store: SharedStore, name: impl Into<String>) -> Self {
        Consumer {
            store,
            name: name.into(),
            page: Self::DEFAULT_PAGE,
            view: LogView::all(),
        }
    }

    /// Read `rows` rows per page (1..=1000): the at-least-once window.
    pub fn page_size(mut self, rows: u32) -> Self {
        self.page = rows.clamp(1, 1000);
        self
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its stored position (the start of the log if it never stored one).
    pub async fn position(&self) -> Result<EventPosition> {
        Ok(self
            .store
            .consumer_position(&self.name)
            .await?
            .unwrap_or(EventPosition::START))
    }

    /// Hand one page of events after the stored position to `handle`, in
    /// order, then store the new position. Returns how many events were
    /// handed over. On a handler error the position moves only past the
    /// events handled before it, and the error is returned.
    pub async fn poll_once(
        &self,
        types: &[EventType],
        handler: &dyn EventHandler,
    ) -> Result<usize> {
        Ok(self.poll_page(types, handler).await?.handled)
    }

    /// [`Consumer::poll_once`], also saying whether the log has more
    /// after this page (a full page was scanned, whether or not its
    /// events passed `types`).
    pub async fn poll_page(
        &self,
        types: &[EventType],
        handler: &dyn EventHandler,
    ) -> Result<Polled> {
        let stored = self.store.consumer_position(&self.name).await?;
        let after = stored.unwrap_or(EventPosition::START);
        let page = self
            .store
            .poll_event_log(&EventLogQuery {
                after,
                limit: self.page,
                types: types.to_vec(),
                job: None,
                view: self.view.clone(),
            })
            .await?;
        if stored.is_some() {
            note_gap(&self.store, &self.name, after, &page).await?;
        }
        if !page.events.is_empty() {
            handler.prepare(&page.events).await?;
        }
        let mut handled = 0;
        for event in &page.events {
            if let Err(e) = handler.handle(event).await {
                // Everything before this event is done.
                let before = EventPosition {
                    id: event.id - 1,
                    ..event.position()?
                };
                if before > after {
                    self.store.advance_consumer(&self.name, before).await?;
                }
                return Err(e);
            }
            handled += 1;
        }
        if page.next > after {
            self.store.advance_consumer(&self.name, page.next).await?;
        }
        Ok(Polled {
            handled,
            more: page.scanned >= self.page as usize,
        })
    }
}

/// What one page of a poll did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Polled {
    /// Events handed to the handler.
    pub handled: usize,
    /// The page was full: the log may have more now.
    pub more: bool,
}

/// When `page` (read after `after`, the stored position of consumer
/// `name`) says gc removed events the consumer had not handled, record
/// the gap: a `consumer.gap` system event and a warning. The caller then
/// stores `page.next`, which is past the gap. Nothing when there is no
/// gap. A consumer that never stored a position has no gap to record.
pub async fn note_gap(
    store: &SharedStore,
    name: &str,
    after: EventPosition,
    page: &EventPage,
) -> Result<()> {
    let Some(last) = page.pruned.last() else {
        return Ok(());
    };
    let gap = ConsumerGap {
        consumer: name.to_string(),
        after: after.to_string(),
        through: last.through.clone(),
        events: page.pruned.iter().map(|a| a.count).sum(),
    };
    tracing::warn!(consumer = name, after = %gap.after, through = %gap.through,
        events = gap.events, "a durable consumer skips events gc removed before it read them");
    store
        .record_event(&NewSystemEvent::now(
            format!("consumer:{name}"),
            EventPayload::ConsumerGap(gap),
        ))
        .await
}

/// Run `handler` as the durable consumer of its name until `shutdown`:
/// poll every `interval` (at once again while pages come back full, of
/// its types or not), log handler errors and retry them on the next poll.
pub async fn run_handler(
    store: SharedStore,
    handler: Arc<dyn EventHandler>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let consumer = Consumer::new(store, handler.name());
    let types = handler.types();
    loop {
        let busy = match consumer.poll_page(&types, handler.as_ref()).await {
            Ok(polled) => polled.more,
            Err(e) => {
                tracing::warn!(consumer = consumer.name(), error = %e, "event handler failed; retrying");
                false
            }
        };
        if busy && !shutdown.is_cancelled() {
            continue;
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

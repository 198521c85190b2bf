//! Server-Sent Events from the ledger: a job's hash-chained events
//! (`/v1/jobs/{id}/events`: `id` = the event's `seq`, `event` = its kind),
//! or the global event log (`/v1/events`: job lifecycle and system events,
//! `id` = the event's position `XID-ID`, `event` = its type, filtered by
//! `?type=`). `data` is the event as JSON; where gc removed a prefix of
//! the global log the client was behind, an event `pruned` carries the
//! anchor (`id` = the end of the gap). A client that reconnects with
//! `Last-Event-ID` (or `?after=`) resumes after that position and misses
//! nothing, since both are read in commit order.
//!
//! Memory per stream is bounded: the stream is pulled by the connection
//! and reads at most one page from the ledger when it has nothing left to
//! send, so a client that stops reading stops the reads (TCP backpressure)
//! instead of piling events up in the server.

use super::job_id;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, ApiQuery};
use crate::metrics::BufferedEvents;
use crate::problems::{JobPath, Keyed, Query};
use crate::schema::EventsQuery;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use skynet_core::events::{EventPosition, EventType, SystemEvent};
use skynet_core::store::Event;
use skynet_core::store::event_log::EventLogQuery;
use skynet_core::store::event_log_anchors::EventLogAnchor;
use skynet_core::store::keys::{Grant, Scope};
use skynet_core::{JobId, Skynet};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Ledger events read per page (the most a stream holds in memory).
pub const PAGE: u32 = 100;

/// Where a stream reads: one job's chain, or the global log.
enum Source {
    /// A job's chained events after a seq.
    Chain { job: JobId, after: i64 },
    /// The global log after a position, of these types (empty: all).
    Log {
        after: EventPosition,
        types: Vec<EventType>,
    },
}

/// One stream's position and its (bounded) buffer.
struct Feed {
    sk: Skynet,
    /// Whom the stream is for: it carries only the events the caller may
    /// see.
    grant: Grant,
    source: Source,
    buffer: VecDeque<SseEvent>,
    bus: tokio::sync::broadcast::Receiver<skynet_core::JobEvent>,
    poll: Duration,
    shutdown: CancellationToken,
    held: BufferedEvents,
}

impl Feed {
    async fn next(mut self) -> Option<(Result<SseEvent, Infallible>, Feed)> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                self.held.sent_one();
                return Some((Ok(event), self));
            }
            if self.shutdown.is_cancelled() {
                return None;
            }
            match self.read_page().await {
                Ok(true) => continue,
                Ok(false) => {
                    if let Source::Chain { job, .. } = &self.source
                        && self.sk.get(job).await.is_ok_and(|j| j.status.is_terminal())
                        && self.bus.is_empty()
                    {
                        // A finished job's stream ends once it is drained.
                        return None;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "SSE stream: reading events failed");
                    return None;
                }
            }
            // Wait for news from this process, a poll for other
            // processes' writes, or shutdown.
            tokio::select! {
                _ = self.bus.recv() => {}
                _ = tokio::time::sleep(self.poll) => {}
                _ = self.shutdown.cancelled() => return None,
            }
        }
    }
}

impl Feed {
    /// Read one page into the buffer; whether the position moved.
    /// Events the caller may not see are skipped, not sent: the position
    /// moves past them all the same.
    async fn read_page(&mut self) -> skynet_core::Result<bool> {
        let acting = self.sk.acting_as(self.grant.clone());
        match &mut self.source {
            Source::Chain { job, after } => {
                let (page, last) = acting.events_after(Some(job), *after, PAGE).await?;
                if last <= *after {
                    return Ok(false);
                }
                *after = last;
                self.held.add(page.len() as i64);
                self.buffer.extend(page.iter().map(sse_event));
            }
            Source::Log { after, types } => {
                let page = acting
                    .event_log(EventLogQuery {
                        after: *after,
                        limit: PAGE,
                        types: types.clone(),
                        ..Default::default()
                    })
                    .await?;
                if page.next <= *after {
                    return Ok(false);
                }
                *after = page.next;
                self.held
                    .add((page.pruned.len() + page.events.len()) as i64);
                self.buffer.extend(page.pruned.iter().map(pruned_event));
                self.buffer.extend(page.events.iter().map(log_event));
            }
        }
        Ok(true)
    }
}

fn log_event(e: &SystemEvent) -> SseEvent {
    SseEvent::default()
        .id(e.position.clone())
        .event(e.event_type.as_str())
        .data(serde_json::to_string(e).unwrap_or_else(|_| "{}".into()))
}

/// Where gc removed a prefix of the log the client was behind: an SSE
/// event `pruned` with the anchor as data and its end as id, so a client
/// that reconnects resumes after the gap.
fn pruned_event(a: &EventLogAnchor) -> SseEvent {
    SseEvent::default()
        .id(a.through.clone())
        .event("pruned")
        .data(serde_json::to_string(a).unwrap_or_else(|_| "{}".into()))
}

fn sse_event(e: &Event) -> SseEvent {
    let kind = if e.kind.contains(['\n', '\r']) {
        "event"
    } else {
        e.kind.as_str()
    };
    SseEvent::default()
        .id(e.seq.to_string())
        .event(kind)
        .data(serde_json::to_string(e).unwrap_or_else(|_| "{}".into()))
}

/// Where to resume: `Last-Event-ID` wins over `?after=`.
fn resume_from(headers: &HeaderMap, q: &EventsQuery) -> ApiResult<i64> {
    match headers.get("last-event-id") {
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .ok_or_else(|| {
                ApiError::bad_request("Last-Event-ID must be an event seq (an integer)")
            }),
        None => match &q.after {
            None => Ok(0),
            Some(a) => a
                .trim()
                .parse()
                .map_err(|_| ApiError::bad_request("after must be an event seq (an integer)")),
        },
    }
}

/// Where to resume in the global log: `Last-Event-ID` wins over `?after=`.
fn resume_log_from(headers: &HeaderMap, q: &EventsQuery) -> ApiResult<EventPosition> {
    let text = match headers.get("last-event-id") {
        Some(v) => v
            .to_str()
            .map_err(|_| ApiError::bad_request("Last-Event-ID must be an event position"))?,
        None => q.after.as_deref().unwrap_or("0"),
    };
    text.parse().map_err(ApiError::from)
}

fn stream(
    state: &AppState,
    caller: &Caller,
    source: Source,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>> + use<>> {
    let feed = Feed {
        sk: state.sk.clone(),
        grant: caller.grant().clone(),
        source,
        buffer: VecDeque::new(),
        bus: state.sk.subscribe(),
        poll: state.config.sse_poll,
        shutdown: state.config.shutdown.clone(),
        held: BufferedEvents::new(state.metrics.clone()),
    };
    Sse::new(futures::stream::unfold(feed, Feed::next))
        .keep_alive(KeepAlive::new().interval(state.config.sse_keep_alive))
}

/// A job's events as SSE; ends when the job is finished and drained.
#[utoipa::path(get, path = "/v1/jobs/{id}/events", tag = "events",
    params(("id" = String, Path, description = "Job id"), EventsQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event seq")),
    responses(
        (status = 200, description = "An event stream", content_type = "text/event-stream", body = String),
        Keyed, JobPath,
    ),
    security(("api_key" = [])))]
pub(crate) async fn job_events(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    caller.require(Scope::Read)?;
    let id = job_id(&id)?;
    state.act(&caller, async |a| a.get(&id).await).await?;
    let after = resume_from(&headers, &q)?;
    Ok(stream(&state, &caller, Source::Chain { job: id, after }))
}

/// The global event log as SSE: lifecycle events of the jobs the caller
/// sees, and system events with `read:all` or `admin`; each SSE event's
/// data is a `SystemEvent`, except an event named `pruned` (the client's
/// position was before a range gc removed), whose data is an
/// `EventLogAnchor` and whose id is the end of that range.
#[utoipa::path(get, path = "/v1/events", tag = "events",
    params(EventsQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event position (XID-ID)")),
    responses(
        (status = 200, description = "An event stream", content_type = "text/event-stream", body = String),
        Keyed, Query,
    ),
    security(("api_key" = [])))]
pub(crate) async fn global_events(
    caller: Caller,
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    caller.require(Scope::Read)?;
    let after = resume_log_from(&headers, &q)?;
    let types = match &q.r#type {
        Some(t) => EventType::parse_filter(t).map_err(ApiError::from)?,
        None => Vec::new(),
    };
    Ok(stream(&state, &caller, Source::Log { after, types }))
}

//! Webhook endpoints and their deliveries, for every dialect: `webhooks`
//! (one row per endpoint, its secret in a column no listing selects),
//! `webhook_deliveries` (the outbox: one row per endpoint and event, keyed
//! so a page of the log read twice enqueues nothing twice; pending rows
//! are claimed under a short lease, so two processes never send one at
//! the same time; a delivery's latest attempt is kept in its row) and
//! `webhook_attempts` (the delivery log: the attempts before the latest).

use crate::events::webhooks::{
    Delivery, DeliveryAttempt, DeliveryState, SigningSecret, Webhook, shown_url,
};
use crate::principal::Principal;
use crate::store::codec::{LedgerRow, db, micros, time};
use crate::store::dialect::{Affected, Dialect};
use crate::store::ledger::{Ledger, commit};
use crate::store::sql::{SqlBuilder, query, query_with};
use crate::store::tx::Tx;
use crate::{Error, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// An endpoint as delivery needs it: the whole URL and the secret.
/// `Debug` shows neither.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    /// Its id.
    pub id: String,
    /// Who owns it.
    pub principal: Principal,
    /// The whole URL, tokens included (for the request only).
    pub url: String,
    /// The event filter (names or prefixes; empty: all).
    pub types: Vec<String>,
    /// The signing secret.
    pub secret: SigningSecret,
    /// Whether events are delivered to it.
    pub enabled: bool,
    /// When it was made (events before it are not delivered).
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookTarget")
            .field("id", &self.id)
            .field("url", &shown_url(&self.url))
            .field("types", &self.types)
            .finish_non_exhaustive()
    }
}

impl WebhookTarget {
    /// The endpoint as listings show it.
    pub fn view(&self) -> Webhook {
        Webhook {
            id: self.id.clone(),
            principal: self.principal.clone(),
            url: shown_url(&self.url),
            types: self.types.clone(),
            enabled: self.enabled,
            created_at: self.created_at,
        }
    }
}

/// A delivery to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// Its id (the `webhook-id` header).
    pub id: String,
    /// The endpoint.
    pub webhook: String,
    /// The event's position: transaction.
    pub event_xid: i64,
    /// The event's position: id.
    pub event_id: i64,
    /// The event's type.
    pub event_type: String,
    /// The body to sign and send. Not stored with a lease (its enqueuer
    /// sends it from memory; a claim rebuilds it from the event log).
    pub body: String,
    /// When it was enqueued (its first attempt is due then).
    pub at: DateTime<Utc>,
    /// Claimed by whoever enqueues it until then (it sends the first
    /// attempt itself, without a claim), or `None`: any claimer's.
    pub lease_until: Option<DateTime<Utc>>,
}

/// What [`WebhookStore::enqueue_webhook_deliveries`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Enqueued {
    /// Deliveries that were new.
    pub new: u64,
    /// The ids of the new ones enqueued with a lease, in no order.
    pub leased: Vec<String>,
}

/// A pending delivery claimed for one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedDelivery {
    /// Its id (the `webhook-id` header).
    pub id: String,
    /// The endpoint.
    pub webhook: String,
    /// The event's id.
    pub event_id: i64,
    /// The body to sign and send; empty when it was not stored and its
    /// event has been pruned from the log since: it cannot be sent.
    pub body: String,
    /// Attempts made before this one.
    pub attempts: u32,
    /// Attempts made before the last redelivery.
    pub round_base: u32,
}

/// What to do with a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAttempt {
    /// It was delivered.
    Delivered,
    /// Try again at this time.
    RetryAt(DateTime<Utc>),
    /// Give up: a dead letter.
    Dead,
}

/// One attempt's outcome, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    /// The attempt (delivery, number, answer, time).
    pub attempt: DeliveryAttempt,
    /// What happens next.
    pub then: AfterAttempt,
    /// The body, when more attempts may follow (a retry, or a dead letter
    /// that may be sent again): stored in a row enqueued without it, so
    /// those attempts need not rebuild it from the log.
    pub body: Option<String>,
}

/// Which deliveries to list.
#[derive(Debug, Clone, Default)]
pub struct DeliveryQuery {
    /// Only this endpoint's.
    pub webhook: Option<String>,
    /// Only in this state.
    pub state: Option<DeliveryState>,
    /// Only endpoints of this owner (`None`: everyone's).
    pub owner: Option<Principal>,
    /// At most this many, newest first (0: 100; at most 1000).
    pub limit: u32,
}

/// The webhook tables.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Store a new endpoint.
    async fn insert_webhook(&self, webhook: &WebhookTarget) -> Result<()>;
    /// Endpoints, oldest first (`owner`'s only when given), as listings
    /// show them.
    async fn webhooks(&self, owner: Option<&Principal>) -> Result<Vec<Webhook>>;
    /// One endpoint with its URL and secret, or [`Error::WebhookNotFound`]
    /// (also when `owner` is given and is not its owner).
    async fn webhook_target(&self, id: &str, owner: Option<&Principal>) -> Result<WebhookTarget>;
    /// Every enabled endpoint with its URL and secret (delivery).
    async fn enabled_webhooks(&self) -> Result<Vec<WebhookTarget>>;
    /// Remove an endpoint with its deliveries and their log;
    /// [`Error::WebhookNotFound`] as for [`WebhookStore::webhook_target`].
    async fn remove_webhook(&self, id: &str, owner: Option<&Principal>) -> Result<()>;
    /// Turn delivery to an endpoint on or off.
    async fn set_webhook_enabled(&self, id: &str, enabled: bool) -> Result<()>;
    /// Enqueue deliveries; one already there for the same endpoint and
    /// event is left as it is (and its lease too). Says how many were
    /// new and which of the new ones carry a lease: only those are the
    /// caller's.
    async fn enqueue_webhook_deliveries(&self, deliveries: &[NewDelivery]) -> Result<Enqueued>;
    /// Claim, for each `(endpoint, limit)` of `wants`, up to `limit` of
    /// that endpoint's pending deliveries due by `now` (oldest due first)
    /// and not claimed by anyone else, until `lease_until`; endpoints
    /// turned off get none. One transaction for all of them.
    async fn claim_webhook_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        wants: &[(String, u32)],
    ) -> Result<Vec<ClaimedDelivery>>;
    /// Record attempts and their deliveries' next step, in one transaction
    /// (a few statements for the whole batch).
    async fn record_webhook_attempts(&self, records: &[AttemptRecord]) -> Result<()>;
    /// Deliveries, newest first.
    async fn webhook_deliveries(&self, query: &DeliveryQuery) -> Result<Vec<Delivery>>;
    /// One delivery's attempts, oldest first ([`Error::DeliveryNotFound`]
    /// when it is not the `owner`'s).
    async fn webhook_attempts(
        &self,
        delivery: &str,
        owner: Option<&Principal>,
    ) -> Result<Vec<DeliveryAttempt>>;
    /// Send a delivered or dead delivery again from `now`, with the full
    /// number of attempts; [`Error::DeliveryNotFound`] when it is not the
    /// `owner`'s, [`Error::Conflict`] when it is still pending.
    async fn redeliver_webhook(
        &self,
        delivery: &str,
        owner: Option<&Principal>,
        now: DateTime<Utc>,
    ) -> Result<Delivery>;
}

const TARGET_COLUMNS: &str = "id, principal, url, types, secret, enabled, created_at";
const DELIVERY_COLUMNS: &str = "d.id, d.webhook_id, d.event_id, d.event_type, d.state, \
     d.attempts, d.next_attempt_at, d.last_status, d.last_error, d.created_at, d.finished_at";
/// `$2` is the owner the caller is limited to, or NULL for everyone.
const OWNED: &str = "(CAST($2 AS TEXT) IS NULL OR principal = $2)";

fn types_from(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

fn target_from_row(row: &impl LedgerRow) -> Result<WebhookTarget> {
    Ok(WebhookTarget {
        id: row.text("id")?,
        principal: Principal::new(row.text("principal")?)
            .map_err(|e| Error::store("malformed principal of a webhook", e))?,
        url: row.text("url")?,
        types: types_from(&row.text("types")?),
        secret: SigningSecret::parse(&row.text("secret")?)?,
        enabled: row.flag("enabled")?,
        created_at: time(row.int("created_at")?)?,
    })
}

fn view_from_row(row: &impl LedgerRow) -> Result<Webhook> {
    Ok(Webhook {
        id: row.text("id")?,
        principal: Principal::new(row.text("principal")?)
            .map_err(|e| Error::store("malformed principal of a webhook", e))?,
        url: shown_url(&row.text("url")?),
        types: types_from(&row.text("types")?),
        enabled: row.flag("enabled")?,
        created_at: time(row.int("created_at")?)?,
    })
}

fn small(v: i64, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::Store(format!("{what} {v} is out of range")))
}

fn status_from(v: Option<i64>) -> Option<u16> {
    v.and_then(|s| u16::try_from(s).ok())
}

fn delivery_from_row(row: &impl LedgerRow) -> Result<Delivery> {
    Ok(Delivery {
        id: row.text("id")?,
        webhook: row.text("webhook_id")?,
        event_id: row.int("event_id")?,
        event_type: row.text("event_type")?,
        state: DeliveryState::parse(&row.text("state")?)?,
        attempts: small(row.int("attempts")?, "attempts")?,
        next_attempt_at: time(row.int("next_attempt_at")?)?,
        last_status: status_from(row.opt_int("last_status")?),
        last_error: row.opt_text("last_error")?,
        created_at: time(row.int("created_at")?)?,
        finished_at: row.opt_int("finished_at")?.map(time).transpose()?,
    })
}

fn attempt_from_row(row: &impl LedgerRow) -> Result<DeliveryAttempt> {
    Ok(DeliveryAttempt {
        delivery: row.text("delivery_id")?,
        webhook: row.text("webhook_id")?,
        event_id: row.int("event_id")?,
        attempt: small(row.int("attempt")?, "attempt")?,
        status: status_from(row.opt_int("status")?),
        error: row.opt_text("error")?,
        duration_ms: u64::try_from(row.int("duration_ms")?).unwrap_or(0),
        at: time(row.int("at")?)?,
    })
}

/// Deliveries per multi-row insert (10 parameters each).
const ENQUEUE_CHUNK: usize = 400;
/// Attempts per pair of batch statements (2 and 10 parameters each).
const RECORD_CHUNK: usize = 200;

impl<D: Dialect> Ledger<D> {
    /// One delivery (of an endpoint of `owner`, when given).
    async fn owned_delivery(
        &self,
        conn: &mut D::Connection,
        id: &str,
        owner: Option<&Principal>,
    ) -> Result<Delivery> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhooks w \
             ON w.id = d.webhook_id WHERE d.id = $1 AND (CAST($2 AS TEXT) IS NULL OR w.principal = $2)"
        );
        let row = query::<D>(&sql)
            .bind(id)
            .bind(owner.map(Principal::as_str))
            .fetch_optional(&mut *conn)
            .await
            .map_err(db("loading a webhook delivery"))?;
        match row {
            Some(r) => delivery_from_row(&r),
            None => Err(Error::DeliveryNotFound(id.to_string())),
        }
    }
}

#[async_trait]
impl<D: Dialect> WebhookStore for Ledger<D> {
    async fn insert_webhook(&self, w: &WebhookTarget) -> Result<()> {
        query::<D>(
            "INSERT INTO webhooks (id, principal, url, types, secret, enabled, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(w.id.as_str())
        .bind(w.principal.as_str())
        .bind(w.url.as_str())
        .bind(w.types.join(","))
        .bind(w.secret.expose())
        .bind(w.enabled)
        .bind(micros(w.created_at))
        .execute(&self.write)
        .await
        .map_err(db("storing a webhook"))?;
        Ok(())
    }

    async fn webhooks(&self, owner: Option<&Principal>) -> Result<Vec<Webhook>> {
        // The secret column is not selected: a listing cannot show it.
        let rows = query::<D>(
            "SELECT id, principal, url, types, enabled, created_at FROM webhooks \
             WHERE (CAST($1 AS TEXT) IS NULL OR principal = $1) ORDER BY created_at, id",
        )
        .bind(owner.map(Principal::as_str))
        .fetch_all(&self.read)
        .await
        .map_err(db("listing webhooks"))?;
        rows.iter().map(view_from_row).collect()
    }

    async fn webhook_target(&self, id: &str, owner: Option<&Principal>) -> Result<WebhookTarget> {
        let sql = format!("SELECT {TARGET_COLUMNS} FROM webhooks WHERE id = $1 AND {OWNED}");
        let row = query::<D>(&sql)
            .bind(id)
            .bind(owner.map(Principal::as_str))
            .fetch_optional(&self.read)
            .await
            .map_err(db("loading a webhook"))?;
        match row {
            Some(r) => target_from_row(&r),
            None => Err(Error::WebhookNotFound(id.to_string())),
        }
    }

    async fn enabled_webhooks(&self) -> Result<Vec<WebhookTarget>> {
        let sql =
            format!("SELECT {TARGET_COLUMNS} FROM webhooks WHERE enabled ORDER BY created_at, id");
        let rows = query::<D>(&sql)
            .fetch_all(&self.read)
            .await
            .map_err(db("loading the enabled webhooks"))?;
        rows.iter().map(target_from_row).collect()
    }

    async fn remove_webhook(&self, id: &str, owner: Option<&Principal>) -> Result<()> {
        let mut tx = self.begin().await?;
        let found = query::<D>(&format!(
            "SELECT id FROM webhooks WHERE id = $1 AND {OWNED}{}",
            D::LOCK_ROW
        ))
        .bind(id)
        .bind(owner.map(Principal::as_str))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("loading a webhook"))?;
        if found.is_none() {
            return Err(Error::WebhookNotFound(id.to_string()));
        }
        for (sql, what) in [
            (
                "DELETE FROM webhook_attempts WHERE delivery_id IN \
                 (SELECT id FROM webhook_deliveries WHERE webhook_id = $1)",
                "removing a webhook's delivery log",
            ),
            (
                "DELETE FROM webhook_deliveries WHERE webhook_id = $1",
                "removing a webhook's deliveries",
            ),
            ("DELETE FROM webhooks WHERE id = $1", "removing a webhook"),
        ] {
            query::<D>(sql)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db(what))?;
        }
        commit(tx).await
    }

    async fn set_webhook_enabled(&self, id: &str, enabled: bool) -> Result<()> {
        let done = query::<D>("UPDATE webhooks SET enabled = $2 WHERE id = $1")
            .bind(id)
            .bind(enabled)
            .execute(&self.write)
            .await
            .map_err(db("turning a webhook on or off"))?;
        if done.rows_affected() == 0 {
            return Err(Error::WebhookNotFound(id.to_string()));
        }
        Ok(())
    }

    async fn enqueue_webhook_deliveries(&self, deliveries: &[NewDelivery]) -> Result<Enqueued> {
        let mut done = Enqueued::default();
        if deliveries.is_empty() {
            return Ok(done);
        }
        // The leased ones come back by id (an insert that found the row
        // there returns nothing, so a lease is never taken over); the rest
        // are only counted, so no row comes back for them.
        let (leased, free): (Vec<&NewDelivery>, Vec<&NewDelivery>) =
            deliveries.iter().partition(|d| d.lease_until.is_some());
        let mut tx = self.begin().await?;
        for (rows, returning) in [(leased, true), (free, false)] {
            for chunk in rows.chunks(ENQUEUE_CHUNK) {
                let mut qb = SqlBuilder::<D>::new(
                    "INSERT INTO webhook_deliveries (id, webhook_id, event_xid, event_id, \
                     event_type, body, state, next_attempt_at, created_at, lease_until) ",
                );
                qb.push_values(chunk, |row, d| {
                    row.push_bind(d.id.as_str())
                        .push_bind(d.webhook.as_str())
                        .push_bind(d.event_xid)
                        .push_bind(d.event_id)
                        .push_bind(d.event_type.as_str())
                        // Leased: sent from memory, rebuilt from the log if
                        // that attempt is lost. Most rows are delivered by
                        // it and never need the body again.
                        .push_bind(if d.lease_until.is_some() {
                            ""
                        } else {
                            d.body.as_str()
                        })
                        .push_bind(DeliveryState::Pending.as_str())
                        .push_bind(micros(d.at))
                        .push_bind(micros(d.at))
                        .push_bind(d.lease_until.map(micros));
                });
                qb.push(" ON CONFLICT (webhook_id, event_xid, event_id) DO NOTHING");
                if returning {
                    qb.push(" RETURNING id");
                }
                let (sql, args) = qb.into_parts()?;
                let stmt = query_with::<D>(&sql, args);
                if returning {
                    let rows = stmt
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(db("enqueuing webhook deliveries"))?;
                    for r in &rows {
                        done.leased.push(r.text("id")?);
                    }
                    done.new += rows.len() as u64;
                } else {
                    done.new += stmt
                        .execute(&mut *tx)
                        .await
                        .map_err(db("enqueuing webhook deliveries"))?
                        .rows_affected();
                }
            }
        }
        commit(tx).await?;
        Ok(done)
    }

    async fn claim_webhook_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        wants: &[(String, u32)],
    ) -> Result<Vec<ClaimedDelivery>> {
        let wants: Vec<&(String, u32)> = wants.iter().filter(|(_, n)| *n > 0).collect();
        if wants.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin().await?;
        let mut claimed = Vec::new();
        for (webhook, limit) in wants {
            // The state and lease conditions are repeated outside the
            // subquery: on PostgreSQL a row another claimer updated first
            // is re-checked against them, so no delivery is claimed twice.
            // `coalesce` keeps SQLite from reading the outer rows by the
            // state index (every pending row) instead of by id.
            let rows = query::<D>(
                "UPDATE webhook_deliveries SET lease_until = $2 \
                 WHERE id IN (SELECT d.id FROM webhook_deliveries d JOIN webhooks w \
                   ON w.id = d.webhook_id \
                   WHERE d.webhook_id = $4 AND d.state = 'pending' AND d.next_attempt_at <= $1 \
                   AND (d.lease_until IS NULL OR d.lease_until < $1) AND w.enabled \
                   ORDER BY d.next_attempt_at LIMIT $3) \
                 AND coalesce(state, '') = 'pending' \
                 AND (lease_until IS NULL OR lease_until < $1) \
                 RETURNING id, webhook_id, event_xid, event_id, body, attempts, round_base, \
                 next_attempt_at",
            )
            .bind(micros(now))
            .bind(micros(lease_until))
            .bind(i64::from(*limit))
            .bind(webhook.as_str())
            .fetch_all(&mut *tx)
            .await
            .map_err(db("claiming webhook deliveries"))?;
            let mut batch = rows
                .iter()
                .map(|r| {
                    Ok((
                        (r.int("next_attempt_at")?, r.int("event_xid")?),
                        ClaimedDelivery {
                            id: r.text("id")?,
                            webhook: r.text("webhook_id")?,
                            event_id: r.int("event_id")?,
                            body: r.text("body")?,
                            attempts: small(r.int("attempts")?, "attempts")?,
                            round_base: small(r.int("round_base")?, "round_base")?,
                        },
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            // RETURNING keeps no order: oldest due first, as claimed.
            batch.sort_by_key(|((due, _), d)| (*due, d.event_id));
            claimed.extend(batch);
        }
        let unstored: Vec<(i64, i64)> = claimed
            .iter()
            .filter(|(_, d)| d.body.is_empty())
            .map(|((_, xid), d)| (*xid, d.event_id))
            .collect();
        let mut bodies = Tx::<D>::delivery_bodies(&mut *tx, &unstored).await?;
        commit(tx).await?;
        Ok(claimed
            .into_iter()
            .map(|((_, xid), mut d)| {
                if d.body.is_empty() {
                    d.body = bodies.remove(&(xid, d.event_id)).unwrap_or_default();
                }
                d
            })
            .collect())
    }

    async fn record_webhook_attempts(&self, records: &[AttemptRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        for chunk in records.chunks(RECORD_CHUNK) {
            // A delivery's latest attempt lives in its row: the one before
            // it moves to the log first. A first attempt has none before
            // it, so most batches skip this statement. `attempts < v.attempt`
            // (here and below): of two senders of one attempt (a lease that
            // lapsed mid-request) the first to record wins, and nothing is
            // logged twice.
            let later: Vec<&AttemptRecord> =
                chunk.iter().filter(|r| r.attempt.attempt > 1).collect();
            if !later.is_empty() {
                let mut log = SqlBuilder::<D>::new("WITH v (id, attempt) AS (");
                log.push_values(later, |row, r| {
                    row.push_bind(r.attempt.delivery.as_str())
                        .push_bind(i64::from(r.attempt.attempt));
                });
                log.push(
                    ") INSERT INTO webhook_attempts (delivery_id, attempt, webhook_id, event_id, \
                     status, error, duration_ms, at) \
                     SELECT d.id, d.attempts, d.webhook_id, d.event_id, d.last_status, \
                     d.last_error, coalesce(d.last_duration_ms, 0), d.last_attempt_at \
                     FROM webhook_deliveries d JOIN v ON d.id = v.id \
                     WHERE d.state = 'pending' AND d.last_attempt_at IS NOT NULL \
                     AND d.attempts < v.attempt \
                     ON CONFLICT (delivery_id, attempt) DO NOTHING",
                );
                let (sql, args) = log.into_parts()?;
                query_with::<D>(&sql, args)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("logging webhook attempts"))?;
            }
            // Every delivery's next step in one statement: its values
            // joined in by id (`UPDATE ... FROM`, both dialects).
            let mut next = SqlBuilder::<D>::new(
                "WITH v (id, state, attempts, next_at, status, error, finished, at, duration, body) \
                 AS (",
            );
            next.push_values(chunk, |row, r| {
                let a = &r.attempt;
                let duration = i64::try_from(a.duration_ms).unwrap_or(i64::MAX);
                let (state, next_at, finished) = match r.then {
                    AfterAttempt::Delivered => (DeliveryState::Delivered, a.at, Some(micros(a.at))),
                    AfterAttempt::RetryAt(at) => (DeliveryState::Pending, at, None),
                    AfterAttempt::Dead => (DeliveryState::Dead, a.at, Some(micros(a.at))),
                };
                row.push_bind(a.delivery.as_str())
                    .push_bind(state.as_str())
                    .push_bind(i64::from(a.attempt))
                    .push_bind(micros(next_at))
                    .push_bind(a.status.map(i64::from))
                    .push_bind(a.error.as_deref())
                    .push_bind(finished)
                    .push_bind(micros(a.at))
                    .push_bind(duration)
                    .push_bind(r.body.as_deref());
            });
            next.push(
                ") UPDATE webhook_deliveries SET state = v.state, attempts = v.attempts, \
                 next_attempt_at = v.next_at, lease_until = NULL, last_status = v.status, \
                 last_error = v.error, finished_at = v.finished, last_attempt_at = v.at, \
                 last_duration_ms = v.duration, body = coalesce(v.body, webhook_deliveries.body) \
                 FROM v \
                 WHERE webhook_deliveries.id = v.id AND webhook_deliveries.state = 'pending' \
                 AND webhook_deliveries.attempts < v.attempts",
            );
            let (sql, args) = next.into_parts()?;
            query_with::<D>(&sql, args)
                .execute(&mut *tx)
                .await
                .map_err(db("recording webhook attempts"))?;
        }
        commit(tx).await
    }

    async fn webhook_deliveries(&self, q: &DeliveryQuery) -> Result<Vec<Delivery>> {
        let limit = match q.limit {
            0 => 100,
            n => n.min(1000),
        };
        // Only the filters given, and the state as a literal (one of three
        // fixed words): so the dead letters are listed by their own
        // partial index, on either backend.
        let mut qb = SqlBuilder::<D>::new(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhooks w \
             ON w.id = d.webhook_id WHERE TRUE"
        ));
        if let Some(owner) = &q.owner {
            qb.push(" AND w.principal = ").push_bind(owner.as_str());
        }
        if let Some(webhook) = &q.webhook {
            qb.push(" AND d.webhook_id = ").push_bind(webhook.as_str());
        }
        if let Some(state) = q.state {
            qb.push(&format!(" AND d.state = '{}'", state.as_str()));
        }
        qb.push(" ORDER BY d.created_at DESC, d.id DESC LIMIT ")
            .push_bind(i64::from(limit));
        let (sql, args) = qb.into_parts()?;
        let rows = query_with::<D>(&sql, args)
            .fetch_all(&self.read)
            .await
            .map_err(db("listing webhook deliveries"))?;
        rows.iter().map(delivery_from_row).collect()
    }

    async fn webhook_attempts(
        &self,
        delivery: &str,
        owner: Option<&Principal>,
    ) -> Result<Vec<DeliveryAttempt>> {
        let mut conn = self
            .read
            .acquire()
            .await
            .map_err(db("reading a webhook delivery"))?;
        self.owned_delivery(&mut conn, delivery, owner).await?;
        // The log holds the attempts before the latest; the latest is in
        // the delivery's row (in the log too for rows recorded before the
        // row kept it: their `last_attempt_at` is NULL).
        let rows = query::<D>(
            "SELECT delivery_id, attempt, webhook_id, event_id, status, error, duration_ms, at \
             FROM webhook_attempts WHERE delivery_id = $1 \
             UNION ALL SELECT id, attempts, webhook_id, event_id, last_status, last_error, \
             coalesce(last_duration_ms, 0), last_attempt_at FROM webhook_deliveries \
             WHERE id = $1 AND last_attempt_at IS NOT NULL ORDER BY 2",
        )
        .bind(delivery)
        .fetch_all(&mut *conn)
        .await
        .map_err(db("reading a webhook delivery's attempts"))?;
        rows.iter().map(attempt_from_row).collect()
    }

    async fn redeliver_webhook(
        &self,
        delivery: &str,
        owner: Option<&Principal>,
        now: DateTime<Utc>,
    ) -> Result<Delivery> {
        let mut tx = self.begin().await?;
        let d = self.owned_delivery(&mut tx, delivery, owner).await?;
        if d.state == DeliveryState::Pending {
            return Err(Error::Conflict(format!(
                "webhook delivery {delivery} is still pending (attempt {} made); it is sent again \
                 on its own",
                d.attempts
            )));
        }
        query::<D>(
            "UPDATE webhook_deliveries SET state = 'pending', round_base = attempts, \
             next_attempt_at = $2, lease_until = NULL, finished_at = NULL WHERE id = $1",
        )
        .bind(delivery)
        .bind(micros(now))
        .execute(&mut *tx)
        .await
        .map_err(db("redelivering a webhook delivery"))?;
        let d = self.owned_delivery(&mut tx, delivery, owner).await?;
        commit(tx).await?;
        Ok(d)
    }
}

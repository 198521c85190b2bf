//! `LISTEN skynet_jobs`: one background connection per store handle that
//! turns notifications into ticks of a watch channel; and the announcer
//! that sends the `NOTIFY` for queued inserts after they commit.

use super::PostgresStore;
use sqlx::postgres::PgListener;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// The channel the `jobs_notify_queued` trigger and the announcer notify.
const CHANNEL: &str = "skynet_jobs";
/// Pause before re-listening after the connection failed.
const RETRY: Duration = Duration::from_millis(500);

impl PostgresStore {
    /// The receiver of the wake-up signal, starting the listener on first
    /// use (inside a tokio runtime).
    pub(super) fn signal(&self) -> Option<watch::Receiver<u64>> {
        let mut slot = self.state.signal.lock().ok()?;
        if let Some(rx) = slot.as_ref() {
            return Some(rx.clone());
        }
        let (tx, rx) = watch::channel(0u64);
        tokio::spawn(listen(self.write.clone(), tx));
        *slot = Some(rx.clone());
        Some(rx)
    }
}

impl PostgresStore {
    /// Wake the queue's listeners: a job was inserted as queued and its
    /// transaction committed. Never waits; requests made while a `NOTIFY`
    /// is pending fold into it.
    pub(super) fn announce_queued(&self) {
        let _ = self.state.announce.try_send(());
    }
}

/// Start the task that sends one `NOTIFY` per request (requests that
/// arrive while one is queued fold into it), in its own transaction: a
/// notifying transaction with nothing else to commit needs no WAL flush,
/// so it does not hold the notification lock across an fsync. The task
/// ends when every store handle is gone.
pub(super) fn announcer(pool: sqlx::PgPool) -> mpsc::Sender<()> {
    let (tx, mut rx) = mpsc::channel(1);
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            if let Err(e) = sqlx::query("SELECT pg_notify($1, '')")
                .bind(CHANNEL)
                .execute(&pool)
                .await
            {
                // Workers poll as well: a lost wake-up costs one interval.
                tracing::debug!("NOTIFY {CHANNEL} failed: {e}");
            }
        }
    });
    tx
}

/// Tick `tx` on every notification until every receiver is gone. After a
/// connection failure it ticks once more when listening again, since
/// notifications sent meanwhile are lost and the queue must be re-read.
async fn listen(pool: sqlx::PgPool, tx: watch::Sender<u64>) {
    let tick = |tx: &watch::Sender<u64>| tx.send_modify(|n| *n = n.wrapping_add(1));
    loop {
        let connected = async {
            // A dedicated connection, made with the pool's options.
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = tokio::select! {
            l = connected => l,
            _ = tx.closed() => return,
        };
        match listener.as_mut() {
            Ok(listener) => {
                tick(&tx);
                loop {
                    tokio::select! {
                        n = listener.try_recv() => match n {
                            Ok(Some(_)) => tick(&tx),
                            // The connection dropped; try_recv reconnects
                            // on the next call. Wake everyone to re-read.
                            Ok(None) => tick(&tx),
                            Err(e) => {
                                tracing::debug!("LISTEN {CHANNEL} failed: {e}");
                                break;
                            }
                        },
                        _ = tx.closed() => return,
                    }
                }
            }
            Err(e) => tracing::debug!("LISTEN {CHANNEL}: connecting failed: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(RETRY) => {}
            _ = tx.closed() => return,
        }
    }
}

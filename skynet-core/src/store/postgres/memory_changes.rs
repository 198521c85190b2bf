//! `LISTEN skynet_memory`: the `memories_notify` trigger announces every
//! stored, re-embedded and deleted memory (`i:ID`, `u:ID`, `d:ID`); one
//! background connection per store handle fans them out to the vector
//! indexes of this process. After a lost connection it sends `*`, since
//! changes made meanwhile were missed and the index must catch up.

use super::PostgresStore;
use sqlx::postgres::PgListener;
use std::time::Duration;
use tokio::sync::broadcast;

/// The channel the `memories_notify` trigger notifies.
const CHANNEL: &str = "skynet_memory";
/// Changes buffered per subscriber; one that falls further behind is told
/// it lagged (and catches up by reading).
const BUFFER: usize = 16_384;
/// Pause before re-listening after the connection failed.
const RETRY: Duration = Duration::from_millis(500);

impl PostgresStore {
    /// A receiver of memory changes, starting the listener on first use
    /// (inside a tokio runtime).
    pub(super) fn memory_change_feed(&self) -> Option<broadcast::Receiver<String>> {
        tokio::runtime::Handle::try_current().ok()?;
        let mut slot = self.state.memory_changes.lock().ok()?;
        if let Some(tx) = slot.as_ref().filter(|tx| tx.receiver_count() > 0) {
            return Some(tx.subscribe());
        }
        let (tx, rx) = broadcast::channel(BUFFER);
        tokio::spawn(listen(self.write.clone(), tx.clone()));
        *slot = Some(tx);
        Some(rx)
    }
}

/// Forward notifications to `tx` until it has no receivers.
async fn listen(pool: sqlx::PgPool, tx: broadcast::Sender<String>) {
    loop {
        if tx.receiver_count() == 0 {
            return;
        }
        let connected = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match connected.await {
            Ok(mut listener) => {
                // Whatever changed before this connection listened.
                let _ = tx.send("*".into());
                loop {
                    let next = tokio::time::timeout(Duration::from_secs(5), listener.try_recv());
                    match next.await {
                        Ok(Ok(Some(n))) => {
                            if tx.send(n.payload().to_string()).is_err() {
                                return;
                            }
                        }
                        Ok(Ok(None)) => {
                            if tx.send("*".into()).is_err() {
                                return;
                            }
                        }
                        Ok(Err(e)) => {
                            tracing::debug!("LISTEN {CHANNEL} failed: {e}");
                            break;
                        }
                        // Idle: see whether anyone still listens.
                        Err(_) if tx.receiver_count() == 0 => return,
                        Err(_) => {}
                    }
                }
            }
            Err(e) => tracing::debug!("LISTEN {CHANNEL}: connecting failed: {e}"),
        }
        tokio::time::sleep(RETRY).await;
    }
}

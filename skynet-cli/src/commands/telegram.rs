//! `skynet telegram`: the Telegram bot plus in-process workers.

use super::worker::wait_for_stop_signal;
use crate::exit::Exit;
use skynet_core::config::Settings;
use skynet_core::engine::worker::default_worker_id;
use skynet_core::{Error, Result, WorkerOptions};
use skynet_telegram::{BotOptions, TelegramBot};
use std::io::Write;
use tokio_util::sync::CancellationToken;

/// Poll Telegram until SIGTERM/Ctrl-C, then let running jobs finish.
pub async fn run(settings: &Settings, workers: usize, out: &mut dyn Write) -> Result<Exit> {
    // Telegram users are remote callers: like `serve`'s, their steps read
    // their root only unless the operator configured a read scope.
    let sk = settings.clone().for_remote_callers().build().await?;
    let options = BotOptions {
        separation_of_duties: settings.separation_of_duties,
        ..BotOptions::default()
    };
    let bot = TelegramBot::new(sk.clone(), &settings.telegram, options)?;
    sk.sentinel().add_sink(
        std::sync::Arc::new(bot.alert_sink()),
        settings.sentinel.min_severity,
    );
    let shutdown = CancellationToken::new();
    let sentinel = sk.sentinel().spawn(shutdown.child_token());
    let stopper = shutdown.clone();
    tokio::spawn(async move {
        wait_for_stop_signal().await;
        tracing::info!("stop signal: finishing running jobs");
        stopper.cancel();
    });
    let worker = (workers > 0).then(|| {
        let sk = sk.clone();
        let stop = shutdown.clone();
        let opts = WorkerOptions {
            id: default_worker_id(),
            concurrency: workers,
            ..Default::default()
        };
        tokio::spawn(async move { sk.worker(opts, stop).await })
    });
    writeln!(
        out,
        "skynet telegram: polling {} for {} allowed user(s), {workers} workers",
        settings.telegram.api_url,
        settings.telegram.users.len()
    )?;
    out.flush()?;
    let polled = bot.run(shutdown.clone()).await;
    shutdown.cancel();
    if let Some(w) = worker {
        match w.await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(Error::Store(format!("worker task failed: {e}"))),
        }
    }
    let _ = sentinel.await;
    polled?;
    writeln!(out, "skynet telegram stopped")?;
    Ok(Exit::Ok)
}

/// Webhook mode for `skynet serve`: when `[telegram] webhook_url` is set,
/// register it with Telegram and return the route that receives updates
/// (status messages are kept up to date until `shutdown`).
pub async fn webhook(
    settings: &Settings,
    sk: &skynet_core::Skynet,
    shutdown: CancellationToken,
) -> Result<Option<axum::Router>> {
    let (Some(url), Some(secret)) = (
        &settings.telegram.webhook_url,
        &settings.telegram.webhook_secret,
    ) else {
        return Ok(None);
    };
    let options = BotOptions {
        separation_of_duties: settings.separation_of_duties,
        ..BotOptions::default()
    };
    let bot = TelegramBot::new(sk.clone(), &settings.telegram, options)?;
    bot.set_webhook(url, secret.expose()).await?;
    let watcher = bot.clone();
    tokio::spawn(async move { watcher.watch(shutdown).await });
    Ok(Some(skynet_telegram::webhook::router(
        bot,
        secret.expose().to_string(),
    )))
}

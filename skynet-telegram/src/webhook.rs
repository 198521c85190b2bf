//! Webhook mode: Telegram POSTs each update to a URL `skynet serve`
//! exposes, with the secret token given to `setWebhook` in the
//! `X-Telegram-Bot-Api-Secret-Token` header. A request without the right
//! token is refused before its body is read as an update; an update at or
//! below the stored cursor (a redelivery) is acknowledged and skipped.

use crate::bot::TelegramBot;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use skynet_core::{Error, Result};
use subtle::ConstantTimeEq;
use teloxide::payloads::SetWebhookSetters;
use teloxide::prelude::Requester;
use teloxide::requests::Request;
use teloxide::types::{AllowedUpdate, Update};

/// The header carrying the secret token.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// The path the webhook is served on.
pub const WEBHOOK_PATH: &str = "/telegram/webhook";

#[derive(Clone)]
struct Hook {
    bot: TelegramBot,
    secret: String,
}

/// A router serving [`WEBHOOK_PATH`] for `bot`, accepting requests that
/// carry `secret`.
pub fn router(bot: TelegramBot, secret: String) -> Router {
    Router::new()
        .route(WEBHOOK_PATH, post(receive))
        .with_state(Hook { bot, secret })
}

async fn receive(State(hook): State<Hook>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let given = headers
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !bool::from(given.ct_eq(hook.secret.as_bytes())) {
        tracing::warn!("telegram: refused a webhook request without the secret token");
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(update) = serde_json::from_slice::<Update>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    match hook.bot.handle_once(update).await {
        Ok(()) => StatusCode::OK,
        Err(e) => {
            tracing::error!("telegram: webhook update not recorded: {e}");
            // Telegram sends it again later.
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

/// Check a secret token is one Telegram accepts (1–256 of `A-Z a-z 0-9 _ -`).
pub fn check_secret(secret: &str) -> Result<()> {
    let ok = (1..=256).contains(&secret.len())
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::Config(
            "telegram: the webhook secret must be 1 to 256 characters of A-Z, a-z, 0-9, _ and -"
                .into(),
        ))
    }
}

impl TelegramBot {
    /// Tell Telegram to POST updates to `url` with `secret`.
    pub async fn set_webhook(&self, url: &str, secret: &str) -> Result<()> {
        check_secret(secret)?;
        let url = url.parse().map_err(|e| {
            Error::Config(format!("telegram: webhook URL {url:?} is not a URL: {e}"))
        })?;
        self.inner
            .api
            .bot()
            .set_webhook(url)
            .secret_token(secret)
            .allowed_updates([AllowedUpdate::Message, AllowedUpdate::CallbackQuery])
            .send()
            .await
            .map_err(|e| Error::Config(format!("telegram: setWebhook failed: {e}")))?;
        Ok(())
    }

    /// Handle an update unless the cursor is already past it, then move
    /// the cursor past it.
    pub async fn handle_once(&self, update: Update) -> Result<()> {
        let store = self.inner.sk.store();
        let id = i64::from(update.id.0);
        let next = store.cursor(self.cursor_name()).await?.unwrap_or(0);
        if id < next {
            return Ok(());
        }
        self.handle(update).await;
        store.advance_cursor(self.cursor_name(), id + 1).await?;
        Ok(())
    }

    /// Keep status messages up to date until `shutdown` (webhook mode:
    /// [`TelegramBot::run`] does this itself when polling).
    pub async fn watch(&self, shutdown: tokio_util::sync::CancellationToken) {
        crate::live::watch(self.clone(), shutdown).await;
    }
}

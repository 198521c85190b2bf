//! Sentinel alerts to Telegram: every admin of the bot gets them in their
//! private chat with the bot.

use crate::api::Api;
use crate::html::{Block, escape};
use async_trait::async_trait;
use skynet_core::sentinel::{Alert, AlertSink, Severity};
use skynet_core::{Error, Result};
use teloxide::types::ChatId;

/// An [`AlertSink`] that messages the bot's admins.
#[derive(Debug, Clone)]
pub struct TelegramAlerts {
    api: Api,
    chats: Vec<ChatId>,
}

impl TelegramAlerts {
    pub(crate) fn new(api: Api, chats: Vec<ChatId>) -> Self {
        TelegramAlerts { api, chats }
    }
}

#[async_trait]
impl AlertSink for TelegramAlerts {
    fn name(&self) -> &str {
        "telegram"
    }

    async fn deliver(&self, alert: &Alert) -> Result<()> {
        let icon = match alert.severity {
            Severity::Critical => "🚨",
            Severity::Warning => "⚠️",
            Severity::Info => "ℹ️",
        };
        let blocks = [
            Block::Html(format!(
                "{icon} <b>{}</b> from {}",
                escape(alert.severity.as_str()),
                escape(&alert.source)
            )),
            Block::Text(alert.message.clone()),
        ];
        let mut failed = None;
        for chat in &self.chats {
            if let Err(e) = self.api.send(*chat, &blocks, None).await {
                failed = Some(e);
            }
        }
        match failed {
            Some(e) => Err(Error::Io(std::io::Error::other(format!(
                "telegram: could not deliver an alert: {e}"
            )))),
            None => Ok(()),
        }
    }
}

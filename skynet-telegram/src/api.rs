//! The Bot API as the bot uses it: teloxide requests in HTML parse mode,
//! with Telegram's flood control honoured (a 429's `retry_after` is waited
//! out, then the call is made again).

use crate::html::{Block, MAX_MESSAGE, pack};
use skynet_core::retry::{Failure, GaveUp, RetryPolicy, retry};
use std::future::Future;
use std::time::Duration;
use teloxide::RequestError;
use teloxide::payloads::{
    AnswerCallbackQuerySetters, EditMessageTextSetters, GetUpdatesSetters, SendDocumentSetters,
    SendMessageSetters,
};
use teloxide::prelude::Requester;
use teloxide::requests::Request;
use teloxide::types::{
    AllowedUpdate, CallbackQueryId, ChatId, InlineKeyboardMarkup, InputFile, MessageId, ParseMode,
    Update,
};

/// Calls made again after a 429 or a network failure before giving up
/// (backoff from 200 ms); a 429 asking for more than two minutes gives up
/// instead of hanging.
const RETRY: RetryPolicy = RetryPolicy {
    max_retries: 5,
    base: Duration::from_millis(400),
    max_delay: Duration::from_secs(120),
};

/// A Bot API client.
#[derive(Clone)]
pub struct Api {
    bot: teloxide::Bot,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The bot holds the token: never print it.
        f.write_str("Api")
    }
}

impl Api {
    /// A client for the bot with `token` at `api_url`.
    pub fn new(token: &str, api_url: &str) -> skynet_core::Result<Self> {
        let url = api_url.parse().map_err(|e| {
            skynet_core::Error::Config(format!("telegram: api_url {api_url:?} is not a URL: {e}"))
        })?;
        Ok(Api {
            bot: teloxide::Bot::new(token).set_api_url(url),
        })
    }

    /// The teloxide bot, for calls this wrapper does not make.
    pub(crate) fn bot(&self) -> &teloxide::Bot {
        &self.bot
    }

    /// Run `call` until it succeeds, waiting out 429s (`retry_after`) and
    /// brief network failures, with core's one retry helper.
    async fn retrying<T, F, Fut>(&self, what: &str, call: F) -> Result<T, RequestError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, RequestError>>,
    {
        let attempt = || async {
            call().await.map_err(|e| match &e {
                RequestError::RetryAfter(s) => {
                    let wait = Duration::from_secs(u64::from(s.seconds()));
                    Failure::Retry(e, Some(wait))
                }
                RequestError::Network(_) | RequestError::Io(_) => Failure::Retry(e, None),
                _ => Failure::Fail(e),
            })
        };
        let heard = |e: &RequestError, _: u32, wait: Duration| {
            tracing::warn!(
                call = what,
                wait_ms = wait.as_millis() as u64,
                "telegram: retrying: {e}"
            );
        };
        retry(&RETRY, attempt, heard)
            .await
            .map_err(|gave_up| match gave_up {
                GaveUp::Fail(e)
                | GaveUp::Exhausted { last: e, .. }
                | GaveUp::TooLong { last: e, .. } => e,
            })
    }

    /// Updates after `offset`, waiting up to `timeout` for one.
    pub async fn updates(
        &self,
        offset: i32,
        timeout: Duration,
    ) -> Result<Vec<Update>, RequestError> {
        self.retrying("getUpdates", || {
            self.bot
                .get_updates()
                .offset(offset)
                .timeout(timeout.as_secs() as u32)
                .allowed_updates([AllowedUpdate::Message, AllowedUpdate::CallbackQuery])
                .send()
        })
        .await
    }

    /// Send `blocks` as one or more messages; the last carries `buttons`.
    /// Returns the ids of the messages sent.
    pub async fn send(
        &self,
        chat: ChatId,
        blocks: &[Block],
        buttons: Option<InlineKeyboardMarkup>,
    ) -> Result<Vec<MessageId>, RequestError> {
        let messages = pack(blocks, MAX_MESSAGE);
        let last = messages.len() - 1;
        let mut ids = Vec::with_capacity(messages.len());
        for (i, text) in messages.into_iter().enumerate() {
            let markup = if i == last { buttons.clone() } else { None };
            let sent = self
                .retrying("sendMessage", || {
                    let mut req = self
                        .bot
                        .send_message(chat, text.clone())
                        .parse_mode(ParseMode::Html);
                    if let Some(m) = markup.clone() {
                        req = req.reply_markup(m);
                    }
                    req.send()
                })
                .await?;
            ids.push(sent.id);
        }
        Ok(ids)
    }

    /// Replace a message's text (which must fit one message) and buttons;
    /// without `buttons` the message's buttons are removed. An unchanged
    /// text is not an error.
    pub async fn edit(
        &self,
        chat: ChatId,
        message: MessageId,
        html: &str,
        buttons: Option<InlineKeyboardMarkup>,
    ) -> Result<(), RequestError> {
        let result = self
            .retrying("editMessageText", || {
                let mut req = self
                    .bot
                    .edit_message_text(chat, message, html.to_string())
                    .parse_mode(ParseMode::Html);
                if let Some(m) = buttons.clone() {
                    req = req.reply_markup(m);
                }
                req.send()
            })
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(RequestError::Api(teloxide::ApiError::MessageNotModified)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Answer a button press (`alert`: shown as a dialog, not a toast).
    pub async fn answer(
        &self,
        id: &CallbackQueryId,
        text: &str,
        alert: bool,
    ) -> Result<(), RequestError> {
        self.retrying("answerCallbackQuery", || {
            self.bot
                .answer_callback_query(id.clone())
                .text(text.chars().take(200).collect::<String>())
                .show_alert(alert)
                .send()
        })
        .await
        .map(|_| ())
    }

    /// Send `bytes` as a document named `name`.
    pub async fn document(
        &self,
        chat: ChatId,
        name: &str,
        bytes: Vec<u8>,
        caption: &str,
    ) -> Result<(), RequestError> {
        self.retrying("sendDocument", || {
            self.bot
                .send_document(
                    chat,
                    InputFile::memory(bytes.clone()).file_name(name.to_string()),
                )
                .caption(caption.to_string())
                .send()
        })
        .await
        .map(|_| ())
    }
}

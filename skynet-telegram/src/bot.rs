//! The bot: long polling with the update offset stored in the ledger, each
//! update handled for its sender's [`Grant`] through [`Skynet::acting_as`].
//!
//! Updates of one batch are handled concurrently (as Telegram delivers two
//! people's button presses at once); the offset moves past the batch when
//! every update in it was handled, and a `/task` submits under an
//! idempotency key made of the update's id, so a restart that gets the
//! batch again neither loses an update nor runs one twice.

use crate::access::Access;
use crate::api::Api;
use crate::html::Block;
use crate::live::Cards;
use skynet_core::chat::ChatSession;
use skynet_core::config::TelegramSettings;
use skynet_core::engine::Acting;
use skynet_core::store::keys::{Grant, Scope};
use skynet_core::{Error, JobId, JobSource, Result, Skynet, SubmitRequest, Viewer};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use teloxide::types::{CallbackQuery, ChatId, Message, Update, UpdateKind};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The default personality of conversations.
pub const DEFAULT_PERSONALITY: &str = "You are SKYNET in a Telegram chat: professional, \
friendly and proactive, slightly playful, and safety-conscious. Keep answers short. Never \
claim that something ran: work you propose is shown to the user as a plan with Approve and \
Deny buttons, and runs only after the policy and, when needed, a human approved it.";

/// Tunables of the bot.
#[derive(Debug, Clone)]
pub struct BotOptions {
    /// How long one `getUpdates` call waits for an update (default 10 s;
    /// teloxide's HTTP client allows 17 s).
    pub poll_timeout: Duration,
    /// The shortest time between two edits of one status message (default 1 s).
    pub edit_interval: Duration,
    /// Log lines shown with a result (default 30).
    pub tail_lines: u32,
    /// A log longer than this (bytes) is also sent whole, as a document
    /// (default 3,000).
    pub attach_over: usize,
    /// Messages of conversation context kept per chat (default 10).
    pub history: usize,
    /// Refuse an approval by the job's own principal unless an admin (default true).
    pub separation_of_duties: bool,
}

impl Default for BotOptions {
    fn default() -> Self {
        BotOptions {
            poll_timeout: Duration::from_secs(10),
            edit_interval: Duration::from_secs(1),
            tail_lines: 30,
            attach_over: 3000,
            history: 10,
            separation_of_duties: true,
        }
    }
}

/// The Telegram front-end.
#[derive(Clone)]
pub struct TelegramBot {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) sk: Skynet,
    pub(crate) api: Api,
    access: Access,
    allow_groups: bool,
    personality: String,
    root: Option<PathBuf>,
    cursor: String,
    pub(crate) options: BotOptions,
    sessions: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<ChatSession>>>>,
    last_job: Mutex<HashMap<i64, JobId>>,
    refused: Mutex<HashSet<i64>>,
    pub(crate) cards: Cards,
}

impl std::fmt::Debug for TelegramBot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramBot")
            .field("cursor", &self.inner.cursor)
            .finish_non_exhaustive()
    }
}

/// Who sent an update, once they are known to be allowed.
pub(crate) struct Caller {
    pub(crate) user: i64,
    pub(crate) grant: Grant,
}

impl Caller {
    /// Refuse unless the caller's role holds `scope` (as the HTTP routes
    /// do before they call the engine).
    pub(crate) fn need(&self, scope: Scope, to: &str) -> Result<()> {
        if self.grant.allows(scope) {
            return Ok(());
        }
        Err(Error::NotPermitted(format!(
            "your role may not {to} (it needs `{scope}`: the approver or admin role); ask an \
             admin of this bot"
        )))
    }
}

impl TelegramBot {
    /// A bot over `sk` configured by `settings` (a token is required).
    pub fn new(sk: Skynet, settings: &TelegramSettings, options: BotOptions) -> Result<Self> {
        let token = settings.token.as_ref().ok_or_else(|| {
            Error::Config(
                "telegram: set TELEGRAM_BOT_TOKEN (or TELEGRAM_BOT_TOKEN_FILE, or [telegram] \
                 token_file) to the token @BotFather gave you"
                    .into(),
            )
        })?;
        if settings.users.is_empty() {
            return Err(Error::Config(
                "telegram: nobody may use the bot; set TELEGRAM_ALLOWED_USER_ID (your Telegram \
                 user id) or [telegram] users = [{ id = ..., role = \"admin\" }]"
                    .into(),
            ));
        }
        // The token's first part is the bot's public id: it names the
        // cursor without putting the secret in the ledger.
        let bot_id = token.expose().split(':').next().unwrap_or("bot");
        let bot_id: String = bot_id.chars().filter(char::is_ascii_digit).collect();
        Ok(TelegramBot {
            inner: Arc::new(Inner {
                api: Api::new(token.expose(), &settings.api_url)?,
                sk,
                access: Access::new(settings.users.clone()),
                allow_groups: settings.allow_groups,
                personality: settings
                    .personality
                    .clone()
                    .unwrap_or_else(|| DEFAULT_PERSONALITY.to_string()),
                root: settings.root.clone(),
                cursor: format!("telegram:updates:{bot_id}"),
                options,
                sessions: Mutex::default(),
                last_job: Mutex::default(),
                refused: Mutex::default(),
                cards: Cards::default(),
            }),
        })
    }

    /// A sentinel alert sink that messages every admin of the bot.
    pub fn alert_sink(&self) -> crate::alerts::TelegramAlerts {
        let admins = self.inner.access.admins().into_iter().map(ChatId).collect();
        crate::alerts::TelegramAlerts::new(self.inner.api.clone(), admins)
    }

    /// The ledger cursor holding the next update offset.
    pub fn cursor_name(&self) -> &str {
        &self.inner.cursor
    }

    /// Poll for updates and handle them until `shutdown`.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<()> {
        let store = self.inner.sk.store().clone();
        let mut offset = store.cursor(&self.inner.cursor).await?.unwrap_or(0);
        let live = tokio::spawn(crate::live::watch(self.clone(), shutdown.clone()));
        tracing::info!(offset, "telegram: polling for updates");
        while !shutdown.is_cancelled() {
            let timeout = self.inner.options.poll_timeout;
            let polled = tokio::select! {
                _ = shutdown.cancelled() => break,
                r = self.inner.api.updates(offset.clamp(0, i64::from(i32::MAX)) as i32, timeout) => r,
            };
            let updates = match polled {
                Ok(u) => u,
                Err(e) => {
                    tracing::warn!("telegram: getUpdates failed: {e}");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            };
            let Some(last) = updates.iter().map(|u| i64::from(u.id.0)).max() else {
                continue;
            };
            // One chat's messages in order (a conversation's turns depend
            // on each other); button presses and other chats at once.
            let mut batch = JoinSet::new();
            let mut chats: HashMap<i64, Vec<Update>> = HashMap::new();
            for update in updates {
                match &update.kind {
                    UpdateKind::Message(m) => chats.entry(m.chat.id.0).or_default().push(update),
                    _ => {
                        let bot = self.clone();
                        batch.spawn(async move { bot.handle(update).await });
                    }
                }
            }
            for (_, in_order) in chats {
                let bot = self.clone();
                batch.spawn(async move {
                    for update in in_order {
                        bot.handle(update).await;
                    }
                });
            }
            while let Some(done) = batch.join_next().await {
                if let Err(e) = done {
                    tracing::error!("telegram: an update's handler panicked: {e}");
                }
            }
            offset = store.advance_cursor(&self.inner.cursor, last + 1).await?;
        }
        live.abort();
        Ok(())
    }

    /// Handle one update.
    pub async fn handle(&self, update: Update) {
        let id = update.id.0;
        match update.kind {
            UpdateKind::Message(m) => self.on_message(id, m).await,
            UpdateKind::CallbackQuery(q) => self.on_press(q).await,
            _ => {}
        }
    }

    /// The caller behind a user id, or `None` after refusing them (once).
    async fn admit(&self, user: i64, chat: Option<ChatId>) -> Option<Caller> {
        match self.inner.access.grant(user) {
            Some(Ok(grant)) => Some(Caller { user, grant }),
            Some(Err(e)) => {
                tracing::error!(user, "telegram: cannot make a principal: {e}");
                None
            }
            None => {
                tracing::warn!(user, "telegram: refused a user who is not on the allowlist");
                let first = self
                    .inner
                    .refused
                    .lock()
                    .map(|mut r| r.insert(user))
                    .unwrap_or(false);
                if first && let Some(chat) = chat {
                    let text = "Sorry, this is a private SKYNET bot and you are not on its list \
                                of users. Ask its operator to add your Telegram user id.";
                    let _ = self
                        .inner
                        .api
                        .send(chat, &[Block::Text(text.into())], None)
                        .await;
                }
                None
            }
        }
    }

    async fn on_message(&self, update: u32, m: Message) {
        let Some(from) = m.from.as_ref() else { return };
        let Some(text) = m.text() else { return };
        if !m.chat.is_private() && !self.inner.allow_groups {
            tracing::debug!(chat = m.chat.id.0, "telegram: ignored a group message");
            return;
        }
        let Some(caller) = self.admit(from.id.0 as i64, Some(m.chat.id)).await else {
            return;
        };
        let text = text.trim();
        let reply = if let Some(command) = text.strip_prefix('/') {
            crate::commands::run(self, &caller, m.chat.id, update, command).await
        } else {
            self.converse(&caller, m.chat.id, text).await
        };
        if let Err(e) = reply {
            self.say(m.chat.id, &[Block::Text(error_text(&e, &caller))])
                .await;
        }
    }

    async fn on_press(&self, q: CallbackQuery) {
        let user = q.from.id.0 as i64;
        let Some(caller) = self.admit(user, None).await else {
            let _ = self
                .inner
                .api
                .answer(&q.id, "You are not allowed to use this bot.", true)
                .await;
            return;
        };
        crate::presses::press(self, &caller, q).await;
    }

    /// A plain message: one conversation turn.
    async fn converse(&self, caller: &Caller, chat: ChatId, text: &str) -> Result<()> {
        let session = {
            let mut sessions = self
                .inner
                .sessions
                .lock()
                .map_err(|_| Error::Store("telegram: the session table is poisoned".into()))?;
            sessions
                .entry(chat.0)
                .or_insert_with(|| {
                    let mut s = ChatSession::new(self.request(String::new(), None));
                    s.max_history = self.inner.options.history;
                    s.personality = Some(self.inner.personality.clone());
                    Arc::new(tokio::sync::Mutex::new(s))
                })
                .clone()
        };
        let mut session = session.lock().await;
        let reply = self.acting(caller).chat(&mut session, text).await?;
        drop(session);
        match reply {
            skynet_core::chat::ChatReply::Answer { text, .. } => {
                self.say(chat, &[Block::Text(text)]).await;
            }
            skynet_core::chat::ChatReply::Proposal { reply, job } => {
                self.say(chat, &[Block::Text(reply)]).await;
                self.remember(caller.user, &job.id);
                crate::live::show_plan(self, chat, &job).await;
            }
        }
        Ok(())
    }

    /// The engine acting for `caller`.
    pub(crate) fn acting(&self, caller: &Caller) -> Acting<'_> {
        self.inner
            .sk
            .acting_as(caller.grant.clone())
            .separation_of_duties(self.inner.options.separation_of_duties)
    }

    /// A submission from Telegram (the intent, the update it came in).
    pub(crate) fn request(&self, intent: String, update: Option<u32>) -> SubmitRequest {
        let mut req = SubmitRequest::new(intent).source(JobSource::Telegram);
        req.root = self.inner.root.clone();
        req.idempotency_key = update.map(|u| format!("telegram-update-{u}"));
        req
    }

    /// Remember `job` as the user's last.
    pub(crate) fn remember(&self, user: i64, job: &JobId) {
        if let Ok(mut last) = self.inner.last_job.lock() {
            last.insert(user, job.clone());
        }
    }

    /// The user's last job this run, if any.
    pub(crate) fn last_job(&self, user: i64) -> Option<JobId> {
        self.inner.last_job.lock().ok()?.get(&user).cloned()
    }

    /// Send blocks, logging (not failing on) a Bot API error.
    pub(crate) async fn say(&self, chat: ChatId, blocks: &[Block]) {
        if let Err(e) = self.inner.api.send(chat, blocks, None).await {
            tracing::warn!(chat = chat.0, "telegram: sendMessage failed: {e}");
        }
    }
}

/// What `caller` reads about a core error: its message, except what core
/// withholds from this viewer ([`Error::withheld_for`]: internals stay in
/// the operator's log, provider details need `admin`).
pub(crate) fn error_text(e: &Error, caller: &Caller) -> String {
    if e.is_internal() {
        tracing::error!("telegram: {e}");
    }
    match e.withheld_for(Viewer::of(&caller.grant)) {
        Some(words) => format!("⚠️ {words}"),
        None => format!("⚠️ {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skynet_core::Principal;

    fn caller(scopes: Vec<Scope>) -> Caller {
        Caller {
            user: 7,
            grant: Grant {
                principal: Principal::local(),
                scopes,
                actor: "telegram:7".into(),
            },
        }
    }

    #[test]
    fn a_non_admin_reads_no_provider_detail() {
        let failed = Error::Provider {
            provider: "ssh-prod".into(),
            message: "auth failed for deploy@10.0.0.7".into(),
        };
        let said = error_text(&failed, &caller(vec![Scope::Read, Scope::Approve]));
        assert_eq!(
            said,
            "⚠️ provider ssh-prod failed; the details need an admin key"
        );
        let admin = error_text(&failed, &caller(vec![Scope::Admin]));
        assert!(admin.contains("deploy@10.0.0.7"), "{admin}");
    }
}

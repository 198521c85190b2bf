//! The test harness: a real engine on SQLite in a temporary directory, its
//! worker, and the bot polling the local fake Bot API server.

#![allow(dead_code)]

pub mod fake_bot_api;

pub use fake_bot_api::*;
use skynet_core::config::{TelegramRole, TelegramSettings};
use skynet_core::llm::ApiKey;
use skynet_core::{EngineConfig, Skynet, SkynetBuilder, WorkerOptions};
use skynet_telegram::{BotOptions, TelegramBot};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The single user of `TELEGRAM_ALLOWED_USER_ID`: an admin.
pub const ADMIN: i64 = 1000;
/// Approvers.
pub const APPROVER: i64 = 2000;
pub const APPROVER2: i64 = 2001;
/// A viewer.
pub const VIEWER: i64 = 3000;
/// Not on the allowlist.
pub const STRANGER: i64 = 9999;

/// Engine tunables that keep tests quick.
pub fn fast() -> EngineConfig {
    EngineConfig {
        lease: Duration::from_secs(5),
        heartbeat: Duration::from_millis(100),
        poll_interval: Duration::from_millis(20),
        ..EngineConfig::default()
    }
}

/// The bot's settings against `fake`.
pub fn settings(fake: &FakeBotApi, root: PathBuf) -> TelegramSettings {
    TelegramSettings {
        token: Some(ApiKey::new(TOKEN)),
        api_url: fake.url.clone(),
        users: BTreeMap::from([
            (ADMIN, TelegramRole::Admin),
            (APPROVER, TelegramRole::Approver),
            (APPROVER2, TelegramRole::Approver),
            (VIEWER, TelegramRole::Viewer),
        ]),
        allow_groups: false,
        personality: None,
        root: Some(root),
        webhook_url: None,
        webhook_secret: None,
    }
}

/// Quick polling and edits.
pub fn options() -> BotOptions {
    BotOptions {
        poll_timeout: Duration::from_secs(1),
        edit_interval: Duration::from_millis(100),
        ..BotOptions::default()
    }
}

/// Engine, worker, bot and fake server.
pub struct Harness {
    pub fake: FakeBotApi,
    pub sk: Skynet,
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub db_url: String,
    pub stop: CancellationToken,
    bot_stop: CancellationToken,
    bot_task: Option<tokio::task::JoinHandle<skynet_core::Result<()>>>,
}

impl Harness {
    /// The default engine (rule planner, local provider).
    pub async fn start() -> Self {
        Self::with(|b| b).await
    }

    /// An engine from `configure(builder)`.
    pub async fn with(configure: impl FnOnce(SkynetBuilder) -> SkynetBuilder) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("work");
        std::fs::create_dir_all(&root).expect("root");
        let root = root.canonicalize().expect("canonical root");
        let db_url = format!("sqlite://{}", dir.path().join("skynet.db").display());
        let builder = Skynet::builder().database_url(&db_url).config(fast());
        let sk = configure(builder).build().await.expect("engine");
        let fake = FakeBotApi::start().await;
        let stop = CancellationToken::new();
        let worker = sk.clone();
        let worker_stop = stop.clone();
        tokio::spawn(async move {
            let opts = WorkerOptions {
                concurrency: 2,
                ..WorkerOptions::default()
            };
            worker.worker(opts, worker_stop).await
        });
        let mut h = Harness {
            fake,
            sk,
            dir,
            root,
            db_url,
            stop,
            bot_stop: CancellationToken::new(),
            bot_task: None,
        };
        h.start_bot();
        h
    }

    /// A bot over this engine and server.
    pub fn bot(&self) -> TelegramBot {
        TelegramBot::new(
            self.sk.clone(),
            &settings(&self.fake, self.root.clone()),
            options(),
        )
        .expect("bot")
    }

    fn start_bot(&mut self) {
        self.bot_stop = self.stop.child_token();
        let bot = self.bot();
        let stop = self.bot_stop.clone();
        self.bot_task = Some(tokio::spawn(async move { bot.run(stop).await }));
    }

    /// Stop the bot (as a process would stop) and wait for it.
    pub async fn stop_bot(&mut self) {
        self.bot_stop.cancel();
        if let Some(t) = self.bot_task.take() {
            t.await.expect("bot task").expect("bot ran");
        }
    }

    /// Start a fresh bot over the same ledger.
    pub async fn restart_bot(&mut self) {
        self.stop_bot().await;
        self.start_bot();
    }

    /// The first message in `chat` whose text contains `needle`.
    pub async fn message_with(&self, chat: i64, needle: &str) -> Sent {
        let needle = needle.to_string();
        self.fake
            .until(&format!("a message with {needle:?} in chat {chat}"), |f| {
                f.messages(chat)
                    .into_iter()
                    .find(|m| m.text.contains(&needle))
            })
            .await
    }

    /// The message `id` in `chat` once `cond` holds of it.
    pub async fn message_until(
        &self,
        chat: i64,
        id: i64,
        label: &str,
        cond: impl Fn(&Sent) -> bool,
    ) -> Sent {
        self.fake
            .until(label, |f| {
                f.messages(chat).into_iter().find(|m| m.id == id && cond(m))
            })
            .await
    }

    /// The callback data of a message's buttons (approve, deny).
    pub fn buttons(message: &Sent) -> Option<(String, String)> {
        let row = &message.markup.as_ref()?["inline_keyboard"][0];
        Some((
            row[0]["callback_data"].as_str()?.to_string(),
            row[1]["callback_data"].as_str()?.to_string(),
        ))
    }

    /// Answers given to button presses: (query id, text).
    pub fn answers(&self) -> Vec<(String, String)> {
        self.fake
            .calls_of("answerCallbackQuery")
            .into_iter()
            .map(|c| {
                (
                    c.body["callback_query_id"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                    c.body["text"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    /// The text of the answer to callback query `query`, once it is sent.
    pub async fn answer_to(&self, query: &str) -> String {
        self.fake
            .until(&format!("the answer to {query}"), |_| {
                self.answers().into_iter().find(|(q, _)| q == query)
            })
            .await
            .1
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

//! `[telegram]`: the Telegram front-end (`skynet telegram`). Who may use the
//! bot and with which role, where the Bot API is, where the token is.
//!
//! ```toml
//! [telegram]
//! api_url = "https://api.telegram.org"   # or a local Bot API server
//! token_file = "/etc/skynet/telegram-token"
//! allow_groups = false
//! personality_file = "/etc/skynet/personality.txt"
//! root = "/srv/work"                      # where the bot's jobs run
//! webhook_url = "https://bot.example.org/telegram/webhook"  # served by `skynet serve`
//! users = [{ id = 12345, role = "admin" }, { id = 678, role = "viewer" }]
//! ```
//!
//! The environment overrides: `TELEGRAM_BOT_TOKEN` (or
//! `TELEGRAM_BOT_TOKEN_FILE`), `TELEGRAM_API_URL`, `TELEGRAM_ALLOWED_USER_ID`
//! (the single-user case: that user is an admin), `TELEGRAM_USERS`
//! (`123:viewer,456:approver`), `TELEGRAM_ALLOW_GROUPS`,
//! `TELEGRAM_PERSONALITY_FILE`, `TELEGRAM_ROOT`, `TELEGRAM_WEBHOOK_URL` and
//! `TELEGRAM_WEBHOOK_SECRET` (webhook mode, behind `skynet serve`).

use super::layers::Layers;
use super::worker::parse_bool;
use crate::llm::ApiKey;
use crate::store::keys::Scope;
use crate::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Telegram's own Bot API server.
pub const DEFAULT_TELEGRAM_API_URL: &str = "https://api.telegram.org";

/// `[telegram]` in `skynet.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TelegramSection {
    api_url: Option<String>,
    token_file: Option<PathBuf>,
    allow_groups: Option<bool>,
    personality_file: Option<PathBuf>,
    root: Option<PathBuf>,
    webhook_url: Option<String>,
    #[serde(default)]
    users: Vec<UserEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    id: i64,
    role: String,
}

/// What a Telegram user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TelegramRole {
    /// Reads every job, its logs and health.
    Viewer,
    /// Reads, submits tasks, chats, approves and denies (with separation
    /// of duties on, not the jobs it submitted itself).
    Approver,
    /// Everything, including approving its own work.
    Admin,
}

impl TelegramRole {
    /// The scopes the role's grant holds.
    pub fn scopes(self) -> Vec<Scope> {
        match self {
            TelegramRole::Viewer => vec![Scope::ReadAll],
            TelegramRole::Approver => vec![Scope::ReadAll, Scope::Submit, Scope::Approve],
            TelegramRole::Admin => vec![Scope::Admin],
        }
    }

    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            TelegramRole::Viewer => "viewer",
            TelegramRole::Approver => "approver",
            TelegramRole::Admin => "admin",
        }
    }

    fn parse(text: &str) -> Result<Self> {
        match text.trim() {
            "viewer" => Ok(TelegramRole::Viewer),
            "approver" => Ok(TelegramRole::Approver),
            "admin" => Ok(TelegramRole::Admin),
            other => Err(Error::Config(format!(
                "telegram: unknown role {other:?}; use viewer, approver or admin"
            ))),
        }
    }
}

/// The resolved `[telegram]` settings.
#[derive(Debug, Clone)]
pub struct TelegramSettings {
    /// The bot's token (never shown), if one is configured.
    pub token: Option<ApiKey>,
    /// The Bot API's base URL (default Telegram's).
    pub api_url: String,
    /// Allowed users and their roles, by Telegram user id.
    pub users: BTreeMap<i64, TelegramRole>,
    /// Answer in group chats too (default: private chats only).
    pub allow_groups: bool,
    /// A personality prompt for conversations (default: the built-in one).
    pub personality: Option<String>,
    /// The directory the bot's jobs run in (default: the current one).
    pub root: Option<PathBuf>,
    /// Webhook mode: the public URL `skynet serve` receives updates at
    /// (ending in `/telegram/webhook`); `None` polls instead.
    pub webhook_url: Option<String>,
    /// The secret token Telegram sends with every webhook request
    /// (`TELEGRAM_WEBHOOK_SECRET`; required with a webhook URL).
    pub webhook_secret: Option<ApiKey>,
}

impl TelegramSection {
    /// Defaults, then this section, then `TELEGRAM_*`.
    pub(super) fn resolve(self, layers: &Layers) -> Result<TelegramSettings> {
        let token = match (
            layers.var("TELEGRAM_BOT_TOKEN"),
            layers
                .var("TELEGRAM_BOT_TOKEN_FILE")
                .map(PathBuf::from)
                .or(self.token_file),
        ) {
            (Some(t), _) if !t.trim().is_empty() => Some(ApiKey::new(t.trim())),
            (_, Some(file)) => Some(ApiKey::new(read_token_file(&file)?)),
            _ => None,
        };
        let api_url = layers
            .pick("TELEGRAM_API_URL", self.api_url)
            .map(|u| u.trim().trim_end_matches('/').to_string())
            .unwrap_or_else(|| DEFAULT_TELEGRAM_API_URL.to_string());
        if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
            return Err(Error::Config(format!(
                "telegram: api_url {api_url:?} must be an http:// or https:// URL"
            )));
        }
        let mut users = BTreeMap::new();
        for u in self.users {
            users.insert(u.id, TelegramRole::parse(&u.role)?);
        }
        if let Some(list) = layers.var("TELEGRAM_USERS") {
            users.clear();
            for entry in list.split(',').filter(|e| !e.trim().is_empty()) {
                let (id, role) = entry.split_once(':').ok_or_else(|| {
                    Error::Config(format!(
                        "TELEGRAM_USERS: {entry:?} is not `id:role` (e.g. 123:viewer)"
                    ))
                })?;
                users.insert(user_id("TELEGRAM_USERS", id)?, TelegramRole::parse(role)?);
            }
        }
        // The original single-user setting: that user is an admin.
        if let Some(id) = layers.var("TELEGRAM_ALLOWED_USER_ID") {
            users.insert(
                user_id("TELEGRAM_ALLOWED_USER_ID", &id)?,
                TelegramRole::Admin,
            );
        }
        let allow_groups = layers
            .pick("TELEGRAM_ALLOW_GROUPS", self.allow_groups)
            .map(|v| parse_bool("telegram allow_groups", &v))
            .transpose()?
            .unwrap_or(false);
        let personality = match layers
            .var("TELEGRAM_PERSONALITY_FILE")
            .map(PathBuf::from)
            .or(self.personality_file)
        {
            Some(p) => Some(std::fs::read_to_string(&p).map_err(|e| {
                Error::config_file(format!("telegram: personality file {}", p.display()), e)
            })?),
            None => None,
        };
        let root = layers.var("TELEGRAM_ROOT").map(PathBuf::from).or(self.root);
        let webhook_url = layers
            .pick("TELEGRAM_WEBHOOK_URL", self.webhook_url)
            .filter(|u| !u.trim().is_empty());
        let webhook_secret = layers
            .var("TELEGRAM_WEBHOOK_SECRET")
            .filter(|s| !s.trim().is_empty())
            .map(|s| ApiKey::new(s.trim()));
        if webhook_url.is_some() && webhook_secret.is_none() {
            return Err(Error::Config(
                "telegram: a webhook URL needs TELEGRAM_WEBHOOK_SECRET (1 to 256 of A-Z a-z 0-9 _ -), \
                 which Telegram sends back with every update"
                    .into(),
            ));
        }
        Ok(TelegramSettings {
            webhook_url,
            webhook_secret,
            token,
            api_url,
            users,
            allow_groups,
            personality,
            root,
        })
    }
}

fn user_id(what: &str, text: &str) -> Result<i64> {
    text.trim().parse().map_err(|_| {
        Error::Config(format!(
            "{what}: {text:?} is not a Telegram user id (a number)"
        ))
    })
}

/// The token in `path`: the file must not be readable by every user.
fn read_token_file(path: &Path) -> Result<String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path)
        .map_err(|e| Error::config_file(format!("telegram token file {}", path.display()), e))?;
    if meta.permissions().mode() & 0o004 != 0 {
        return Err(Error::Config(format!(
            "telegram token file {} is readable by every user; run `chmod 600 {}`",
            path.display(),
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::config_file(format!("telegram token file {}", path.display()), e))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(Error::Config(format!(
            "telegram token file {} is empty; write the bot's token into it",
            path.display()
        )));
    }
    Ok(token.to_string())
}

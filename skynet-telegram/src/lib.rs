//! # skynet-telegram
//!
//! The Telegram front-end (`skynet telegram`): a thin adapter over the
//! [`skynet_core`] facade, like the HTTP and CLI front-ends. Each allowed
//! Telegram user is the principal `telegram:<user id>` with its role's
//! scopes (`viewer`: read everything; `approver`: also submit, chat,
//! approve and deny; `admin`: everything), and every call goes through
//! [`Skynet::acting_as`](skynet_core::Skynet::acting_as), so ownership and
//! separation of duties hold here as they do over HTTP.
//!
//! - `/task` plans an intent; READ_ONLY work runs at once, anything riskier
//!   shows the plan (each step's risk, argv, deciding rule, the short hash)
//!   with Approve / Deny buttons bound to the plan hash ([`buttons`]).
//! - The plan message is edited as the job moves, and the result follows
//!   with the log tail ([`live`](crate::bot)).
//! - Plain messages are a conversation ([`Skynet::chat`](skynet_core::Skynet::chat))
//!   with a personality and the chat's last 10 messages.
//! - Long polling with the update offset kept in the ledger (a cursor), so
//!   a restart neither loses nor repeats an update; 429s are waited out.

pub mod access;
pub mod alerts;
pub mod api;
pub mod bot;
pub mod buttons;
mod commands;
pub mod html;
mod live;
mod presses;
pub mod render;
pub mod webhook;

pub use bot::{BotOptions, DEFAULT_PERSONALITY, TelegramBot};

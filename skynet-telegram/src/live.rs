//! Live status: each plan message the bot sent is a card it edits as the
//! job moves (queued → running step 2/3 → succeeded), at most once per
//! `edit_interval`; a finished job's result follows with the log tail, and
//! the whole log as a document when it is long.
//!
//! Cards are polled from the ledger (so a job approved over HTTP or run by
//! another worker process moves too); the engine's events only supply the
//! running step.

use crate::bot::TelegramBot;
use crate::buttons::keyboard;
use crate::html::{Block, MAX_MESSAGE, pack};
use crate::render::{self, Progress};
use skynet_core::job::Job;
use skynet_core::store::{LogLine, LogQuery};
use skynet_core::{JobEvent, JobId, JobStatus};
use std::collections::HashMap;
use std::sync::Mutex;
use teloxide::types::{ChatId, MessageId};
use tokio_util::sync::CancellationToken;

/// What a card showed last: status, running step, whether decided.
type Shown = (JobStatus, Option<u32>, bool);

#[derive(Debug, Clone)]
struct Card {
    chat: ChatId,
    message: MessageId,
    /// The plan and the card share one message.
    combined: bool,
    progress: Progress,
    shown: Option<Shown>,
}

/// The cards being kept up to date: a job may have several (the chat
/// that started it, chats that `/watch` it).
#[derive(Debug, Default)]
pub(crate) struct Cards {
    map: Mutex<HashMap<JobId, Vec<Card>>>,
}

impl Cards {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<JobId, Vec<Card>>) -> T) -> Option<T> {
        self.map.lock().ok().map(|mut m| f(&mut m))
    }

    /// Put `card` in, replacing one for the same message.
    fn put(&self, job: &JobId, card: Card) {
        self.with(|m| {
            let cards = m.entry(job.clone()).or_default();
            cards.retain(|c| c.message != card.message || c.chat != card.chat);
            cards.push(card);
        });
    }

    /// Take out the card of `message`.
    fn remove(&self, job: &JobId, chat: ChatId, message: MessageId) {
        self.with(|m| {
            if let Some(cards) = m.get_mut(job) {
                cards.retain(|c| c.message != message || c.chat != chat);
                if cards.is_empty() {
                    m.remove(job);
                }
            }
        });
    }
}

fn shown(job: &Job, progress: &Progress) -> Shown {
    let decided = job.approval.as_ref().is_some_and(|a| a.approver != "auto")
        || job.status == JobStatus::Denied;
    (job.status, progress.step, decided)
}

/// Whether the plan and its card fit in one message.
fn fits_in_one(job: &Job) -> bool {
    let mut all = render::plan_blocks(job);
    all.extend(render::card_blocks(job, &Progress::default()));
    all.push(Block::Html("x".repeat(120))); // room for the decision line
    pack(&all, MAX_MESSAGE).len() == 1
}

/// The card's text (one message).
fn card_html(job: &Job, progress: &Progress, combined: bool) -> String {
    let mut blocks = if combined {
        render::plan_blocks(job)
    } else {
        Vec::new()
    };
    blocks.extend(render::card_blocks(job, progress));
    let mut messages = pack(&blocks, MAX_MESSAGE);
    if messages.len() > 1 {
        messages = pack(&render::card_blocks(job, progress), MAX_MESSAGE);
    }
    messages.swap_remove(0)
}

fn buttons_for(job: &Job) -> Option<teloxide::types::InlineKeyboardMarkup> {
    let plan = job.plan.as_ref()?;
    let open =
        job.status == JobStatus::Planned && job.expires_at.is_none_or(|t| t > chrono::Utc::now());
    open.then(|| keyboard(&job.id, &plan.hash))
}

/// Send `job`'s plan (with Approve / Deny when it awaits approval) and keep
/// its card up to date until the job ends.
pub(crate) async fn show_plan(bot: &TelegramBot, chat: ChatId, job: &Job) {
    let api = &bot.inner.api;
    let combined = fits_in_one(job);
    let progress = Progress::default();
    let sent = if combined {
        let html = card_html(job, &progress, true);
        api.send(chat, &[Block::Html(html)], buttons_for(job)).await
    } else {
        match api.send(chat, &render::plan_blocks(job), None).await {
            Ok(_) => {
                let html = card_html(job, &progress, false);
                api.send(chat, &[Block::Html(html)], buttons_for(job)).await
            }
            Err(e) => Err(e),
        }
    };
    match sent {
        Ok(ids) => {
            if let Some(&message) = ids.last() {
                track(bot, job, chat, message, combined);
            }
        }
        Err(e) => tracing::warn!(job = %job.id, "telegram: could not send the plan: {e}"),
    }
}

fn track(bot: &TelegramBot, job: &Job, chat: ChatId, message: MessageId, combined: bool) {
    let card = Card {
        chat,
        message,
        combined,
        progress: Progress::default(),
        shown: Some(shown(job, &Progress::default())),
    };
    bot.inner.cards.put(&job.id, card);
}

/// A button decided `job`: edit its message now (buttons removed, who and
/// when) and keep it up to date.
pub(crate) async fn decided(bot: &TelegramBot, chat: ChatId, message: MessageId, job: &Job) {
    let known = bot.inner.cards.with(|m| {
        m.get(&job.id)
            .and_then(|cards| {
                cards
                    .iter()
                    .find(|c| c.message == message && c.chat == chat)
            })
            .map(|c| (c.combined, c.progress.clone()))
    });
    let (combined, progress) = known
        .flatten()
        .unwrap_or_else(|| (fits_in_one(job), Progress::default()));
    let html = card_html(job, &progress, combined);
    if let Err(e) = bot
        .inner
        .api
        .edit(chat, message, &html, buttons_for(job))
        .await
    {
        tracing::warn!(job = %job.id, "telegram: could not edit the plan message: {e}");
    }
    let card = Card {
        chat,
        message,
        combined,
        shown: Some(shown(job, &progress)),
        progress,
    };
    bot.inner.cards.put(&job.id, card);
}

/// Keep the cards up to date until `shutdown`.
pub(crate) async fn watch(bot: TelegramBot, shutdown: CancellationToken) {
    let mut events = bot.inner.sk.subscribe();
    let mut tick = tokio::time::interval(bot.inner.options.edit_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            event = events.recv() => {
                if let Ok(JobEvent::StepStarted { job, step, .. }) = event {
                    bot.inner.cards.with(|m| {
                        for c in m.get_mut(&job).into_iter().flatten() {
                            c.progress.step = Some(step);
                        }
                    });
                }
            }
            _ = tick.tick() => refresh(&bot).await,
        }
    }
}

/// One round: edit every card whose job moved; finish the ended ones.
async fn refresh(bot: &TelegramBot) {
    let cards: Vec<(JobId, Card)> = bot
        .inner
        .cards
        .with(|m| {
            m.iter()
                .flat_map(|(k, cards)| cards.iter().map(|c| (k.clone(), c.clone())))
                .collect()
        })
        .unwrap_or_default();
    for (id, card) in cards {
        let job = match bot.inner.sk.get(&id).await {
            Ok(job) => job,
            Err(e) => {
                tracing::warn!(job = %id, "telegram: cannot read a watched job: {e}");
                continue;
            }
        };
        let mut progress = card.progress.clone();
        if job.status != JobStatus::Running {
            progress.step = None;
        }
        let now = shown(&job, &progress);
        let expired = job.status == JobStatus::Planned
            && job.expires_at.is_some_and(|t| t <= chrono::Utc::now());
        if card.shown == Some(now) && !expired {
            continue;
        }
        let html = card_html(&job, &progress, card.combined);
        if let Err(e) = bot
            .inner
            .api
            .edit(card.chat, card.message, &html, buttons_for(&job))
            .await
        {
            tracing::warn!(job = %id, "telegram: could not edit a status message: {e}");
        }
        let finished = job.status.is_terminal() || expired;
        if finished {
            bot.inner.cards.remove(&id, card.chat, card.message);
        } else {
            bot.inner.cards.with(|m| {
                for c in m.get_mut(&id).into_iter().flatten() {
                    if c.message == card.message && c.chat == card.chat {
                        c.shown = Some(now);
                    }
                }
            });
        }
        if job.status.is_terminal() {
            send_result(bot, card.chat, &job).await;
        }
    }
}

/// The last `n` lines of output, at most about 3,000 characters.
pub(crate) fn tail(lines: &[LogLine], n: u32) -> String {
    let from = lines.len().saturating_sub(n as usize);
    let text: String = lines[from..]
        .iter()
        .map(|l| l.text.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let count = text.chars().count();
    if count > 3000 {
        let kept: String = text.chars().skip(count - 3000).collect();
        format!("…{kept}")
    } else {
        text
    }
}

/// A finished job's result: outcome and log tail, the whole log attached
/// when it is long.
async fn send_result(bot: &TelegramBot, chat: ChatId, job: &Job) {
    let lines = bot
        .inner
        .sk
        .logs(&job.id, &LogQuery::default())
        .await
        .unwrap_or_default();
    let full: String = lines.iter().map(|l| format!("{}\n", l.text)).collect();
    let attach = full.len() > bot.inner.options.attach_over;
    let blocks = render::result_blocks(job, &tail(&lines, bot.inner.options.tail_lines), attach);
    bot.say(chat, &blocks).await;
    if attach {
        attach_log(bot, chat, job, full).await;
    }
}

/// Send a job's whole log as a document.
pub(crate) async fn attach_log(bot: &TelegramBot, chat: ChatId, job: &Job, log: String) {
    let name = format!("job-{}.log", job.id);
    let caption = format!("Full log of job {}", render::short_id(job));
    if let Err(e) = bot
        .inner
        .api
        .document(chat, &name, log.into_bytes(), &caption)
        .await
    {
        tracing::warn!(job = %job.id, "telegram: could not send the log: {e}");
    }
}

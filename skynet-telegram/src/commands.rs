//! Slash commands. Every one acts for the caller's grant; job ids may be
//! any unique prefix the caller can see.

use crate::bot::{Caller, TelegramBot};
use crate::html::{Block, escape, short};
use crate::render;
use skynet_core::engine::HealthCheck;
use skynet_core::job::Job;
use skynet_core::plan::MIN_HASH_PREFIX;
use skynet_core::store::keys::Scope;
use skynet_core::store::{JobFilter, LogQuery};
use skynet_core::{Error, JobStatus, Result};
use teloxide::types::ChatId;

/// Jobs `/list` shows.
const LIST_LIMIT: u32 = 15;

/// Run `/command args` (the text after the slash).
pub(crate) async fn run(
    bot: &TelegramBot,
    caller: &Caller,
    chat: ChatId,
    update: u32,
    command: &str,
) -> Result<()> {
    let (name, args) = command
        .split_once(char::is_whitespace)
        .map_or((command, ""), |(n, a)| (n, a.trim()));
    // `/status@my_bot` in groups.
    let name = name.split('@').next().unwrap_or(name);
    match name {
        "start" | "help" => bot.say(chat, &[Block::Html(render::HELP.into())]).await,
        "task" => task(bot, caller, chat, update, args).await?,
        "status" => status(bot, caller, chat, args).await?,
        "list" => list(bot, caller, chat, args).await?,
        "approve" => approve(bot, caller, chat, args).await?,
        "deny" => deny(bot, caller, chat, args).await?,
        "cancel" => {
            caller.need(Scope::Approve, "cancel jobs")?;
            let job = job_arg(bot, caller, args).await?;
            let job = bot.acting(caller).cancel(&job.id).await?;
            bot.say(chat, &[done("cancelled", &job)]).await;
        }
        "logs" => logs(bot, caller, chat, args).await?,
        "watch" => {
            // The job's card here too: edited as it moves, the result
            // follows.
            let job = job_arg(bot, caller, args).await?;
            crate::live::show_plan(bot, chat, &job).await;
        }
        "health" => health(bot, chat).await,
        other => {
            bot.say(
                chat,
                &[Block::Html(format!(
                    "I do not know /{}. /help lists what I do.",
                    short(other, 40)
                ))],
            )
            .await
        }
    }
    Ok(())
}

fn done(what: &str, job: &Job) -> Block {
    Block::Html(format!(
        "Job <code>{}</code> {what}: <b>{}</b>",
        render::short_id(job),
        job.status
    ))
}

/// The job an argument names (default: the caller's last).
async fn job_arg(bot: &TelegramBot, caller: &Caller, arg: &str) -> Result<Job> {
    let arg = arg.split_whitespace().next().unwrap_or("");
    if arg.is_empty() {
        if let Some(id) = bot.last_job(caller.user) {
            return bot.acting(caller).get(&id).await;
        }
        return Err(Error::InvalidInput(
            "name a job: give its id or a unique prefix of it (see /list)".into(),
        ));
    }
    bot.acting(caller).resolve(arg).await
}

async fn task(
    bot: &TelegramBot,
    caller: &Caller,
    chat: ChatId,
    update: u32,
    args: &str,
) -> Result<()> {
    caller.need(Scope::Submit, "submit tasks")?;
    let intent = args
        .trim()
        .trim_matches(|c| c == '"' || c == '“' || c == '”')
        .trim();
    if intent.is_empty() {
        return Err(Error::InvalidInput(
            "say what to do: /task check git status".into(),
        ));
    }
    let req = bot.request(intent.to_string(), Some(update));
    let job = bot.acting(caller).submit(&req).await?;
    bot.remember(caller.user, &job.id);
    crate::live::show_plan(bot, chat, &job).await;
    Ok(())
}

async fn status(bot: &TelegramBot, caller: &Caller, chat: ChatId, args: &str) -> Result<()> {
    let job = job_arg(bot, caller, args).await?;
    let mut blocks = vec![Block::Html(format!(
        "Job <code>{}</code> · {}",
        render::short_id(&job),
        job.risk
    ))];
    blocks.push(Block::Text(format!("Task: {}", job.intent)));
    blocks.extend(render::card_blocks(&job, &Default::default()));
    bot.say(chat, &blocks).await;
    Ok(())
}

async fn list(bot: &TelegramBot, caller: &Caller, chat: ChatId, args: &str) -> Result<()> {
    let mut filter = JobFilter {
        limit: Some(LIST_LIMIT),
        ..JobFilter::default()
    };
    if let Some(s) = args.split_whitespace().next() {
        filter.statuses = vec![s.parse::<JobStatus>()?];
    }
    let jobs = bot.acting(caller).list(&filter).await?;
    let mut blocks: Vec<Block> = jobs.iter().map(render::list_line).collect();
    if blocks.is_empty() {
        blocks.push(Block::Text("No jobs.".into()));
    }
    bot.say(chat, &blocks).await;
    Ok(())
}

async fn approve(bot: &TelegramBot, caller: &Caller, chat: ChatId, args: &str) -> Result<()> {
    caller.need(Scope::Approve, "approve plans")?;
    let mut words = args.split_whitespace();
    let (Some(id), Some(hash)) = (words.next(), words.next()) else {
        return Err(Error::InvalidInput(format!(
            "approve with the job and the plan hash you reviewed: /approve <job> <first \
             {MIN_HASH_PREFIX} or more digits of the plan hash>"
        )));
    };
    if hash.len() < MIN_HASH_PREFIX {
        return Err(Error::InvalidInput(format!(
            "give at least {MIN_HASH_PREFIX} digits of the plan hash (it is on the plan message)"
        )));
    }
    let job = bot.acting(caller).resolve(id).await?;
    let job = bot.acting(caller).approve(&job.id, hash).await?;
    bot.say(chat, &[done("approved", &job)]).await;
    Ok(())
}

async fn deny(bot: &TelegramBot, caller: &Caller, chat: ChatId, args: &str) -> Result<()> {
    caller.need(Scope::Approve, "deny plans")?;
    let job = job_arg(bot, caller, args).await?;
    let reason = format!("denied by {} in Telegram", caller.grant.actor);
    let job = bot.acting(caller).deny(&job.id, Some(reason)).await?;
    bot.say(chat, &[done("denied", &job)]).await;
    Ok(())
}

async fn logs(bot: &TelegramBot, caller: &Caller, chat: ChatId, args: &str) -> Result<()> {
    let job = job_arg(bot, caller, args).await?;
    let acting = bot.acting(caller);
    let lines = acting.logs(&job.id, &LogQuery::default()).await?;
    let full: String = lines.iter().map(|l| format!("{}\n", l.text)).collect();
    let tail = crate::live::tail(&lines, bot.inner.options.tail_lines);
    let attach = full.len() > bot.inner.options.attach_over;
    bot.say(
        chat,
        &[
            Block::Html(format!(
                "Output of job <code>{}</code>",
                escape(&render::short_id(&job))
            )),
            if tail.is_empty() {
                Block::Html("<i>(no output)</i>".into())
            } else {
                Block::Pre(tail)
            },
        ],
    )
    .await;
    if attach {
        crate::live::attach_log(bot, chat, &job, full).await;
    }
    Ok(())
}

async fn health(bot: &TelegramBot, chat: ChatId) {
    let summary = bot.inner.sk.health(HealthCheck::Latest).await;
    let mut blocks = vec![Block::Html(format!(
        "Health: <b>{}</b> ({} ledger)",
        escape(&format!("{:?}", summary.verdict).to_lowercase()),
        summary.backend
    ))];
    for (name, c) in &summary.report.components {
        blocks.push(Block::Text(format!(
            "{name}: {} {}",
            format!("{:?}", c.status).to_lowercase(),
            c.message
        )));
    }
    bot.say(chat, &blocks).await;
}

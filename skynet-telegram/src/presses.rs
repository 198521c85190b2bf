//! Approve / Deny button presses. A press checks the job and the plan hash
//! its button carries; the core makes exactly one transition however many
//! presses race, and every other press is told what happened instead.

use crate::bot::{Caller, TelegramBot, error_text};
use crate::buttons::{Choice, Press};
use skynet_core::Error;
use skynet_core::store::keys::Scope;
use teloxide::types::CallbackQuery;

pub(crate) async fn press(bot: &TelegramBot, caller: &Caller, q: CallbackQuery) {
    let answer = |text: String, alert: bool| {
        let api = bot.inner.api.clone();
        let id = q.id.clone();
        async move {
            if let Err(e) = api.answer(&id, &text, alert).await {
                tracing::warn!("telegram: answerCallbackQuery failed: {e}");
            }
        }
    };
    let Some(press) = q.data.as_deref().and_then(Press::parse) else {
        answer("This button is not one of mine.".into(), true).await;
        return;
    };
    if let Err(e) = caller.need(Scope::Approve, "approve or deny plans") {
        return answer(error_text(&e), true).await;
    }
    let acting = bot.acting(caller);
    let job = match acting.get(&press.job).await {
        Ok(job) => job,
        Err(e) => return answer(error_text(&e), true).await,
    };
    let current = job.plan.as_ref().map_or("", |p| p.hash.as_str());
    if !current.starts_with(&press.hash) {
        tracing::info!(job = %job.id, user = caller.user, "telegram: refused a press for an older plan");
        return answer(
            "This plan has changed since these buttons were sent, so nothing was done. Review \
             the new plan and decide on that one."
                .into(),
            true,
        )
        .await;
    }
    let result = match press.choice {
        Choice::Approve => acting.approve(&press.job, &press.hash).await,
        Choice::Deny => {
            let reason = format!("denied by {} in Telegram", caller.grant.actor);
            acting.deny(&press.job, Some(reason)).await
        }
    };
    match result {
        Ok(job) => {
            let said = match press.choice {
                Choice::Approve => "Approved: it is queued and will run now.",
                Choice::Deny => "Denied: it will not run.",
            };
            answer(said.into(), false).await;
            if let Some(message) = &q.message {
                crate::live::decided(bot, message.chat().id, message.id(), &job).await;
            }
        }
        Err(Error::InvalidTransition { from, .. }) => {
            answer(format!("Already decided: the job is {from}."), false).await;
        }
        Err(e) => answer(error_text(&e), true).await,
    }
}

//! Approve / Deny button presses. A press checks the job and the plan hash
//! its button carries; the core makes exactly one transition however many
//! presses race, and every other press is told what happened instead.

use crate::bot::{Caller, TelegramBot, error_text};
use crate::buttons::{Choice, Press};
use skynet_core::Error;
use skynet_core::store::keys::Scope;
use teloxide::types::CallbackQuery;

/// What a press on an older plan's buttons is told.
const PLAN_CHANGED: &str = "This plan has changed since these buttons were sent, so nothing was \
                            done. Review the new plan and decide on that one.";

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
        return answer(error_text(&e, caller), true).await;
    }
    let acting = bot.acting(caller);
    let job = match acting.get(&press.job).await {
        Ok(job) => job,
        Err(e) => return answer(error_text(&e, caller), true).await,
    };
    // Core's `approve` refuses a stale hash itself; `deny` takes none, so a
    // Deny pressed under an older plan is checked here with core's rule.
    let denies_an_older_plan = matches!(press.choice, Choice::Deny)
        && !job
            .plan
            .as_ref()
            .is_some_and(|p| p.hash_matches(&press.hash));
    if denies_an_older_plan {
        return answer(PLAN_CHANGED.into(), true).await;
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
        Err(Error::StaleApproval { .. }) => {
            tracing::info!(job = %press.job, user = caller.user, "telegram: refused a press for an older plan");
            answer(PLAN_CHANGED.into(), true).await;
        }
        Err(Error::InvalidTransition { from, .. }) => {
            answer(format!("Already decided: the job is {from}."), false).await;
        }
        Err(e) => answer(error_text(&e, caller), true).await,
    }
}

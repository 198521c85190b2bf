//! The bot end to end against a local fake Bot API server (it speaks the
//! documented JSON of getUpdates, sendMessage, editMessageText,
//! answerCallbackQuery, sendDocument and setWebhook; see
//! `support/fake_bot_api.rs`), on the real engine with a SQLite ledger and
//! the local provider.

mod support;

use skynet_core::JobStatus;
use skynet_core::store::JobFilter;
use support::*;

/// `/task "check git status"` → the plan (READ_ONLY, so it is queued at
/// once, no buttons) → the card is edited as it runs → a result message
/// with the log tail.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fake_bot_api_task_check_git_status_plans_runs_and_reports() {
    let h = Harness::start().await;
    let git = std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(&h.root)
        .status()
        .expect("git");
    assert!(git.success());
    std::fs::write(h.root.join("notes.txt"), "hello").expect("write");
    h.fake
        .push(text_update(ADMIN, "/task \"check git status\""));
    let plan = h.message_with(ADMIN, "Plan hash").await;
    assert!(plan.text.contains("git"), "{}", plan.text);
    assert!(plan.text.contains("[READ_ONLY]"), "{}", plan.text);
    assert!(
        Harness::buttons(&plan).is_none(),
        "READ_ONLY needs no buttons"
    );
    let result = h.message_with(ADMIN, "✅ Job").await;
    assert!(result.text.contains("<b>succeeded</b>"), "{}", result.text);
    assert!(
        result.text.contains("notes.txt"),
        "the log tail: {}",
        result.text
    );
    h.message_until(ADMIN, plan.id, "the card shows succeeded", |m| {
        m.text.contains("<b>succeeded</b>")
    })
    .await;
    let jobs = h.sk.list(&JobFilter::default()).await.expect("list");
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].status, JobStatus::Succeeded);
    assert_eq!(jobs[0].principal.as_str(), format!("telegram:{ADMIN}"));
    assert_eq!(jobs[0].source, skynet_core::JobSource::Telegram);
    assert!(
        h.fake.calls().iter().all(|c| c.status == 200),
        "every call was accepted"
    );
}

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

/// Submit `/task write hi to a.txt` as `user` and return the plan message
/// once it shows its buttons.
async fn write_plan(h: &Harness, user: i64) -> Sent {
    h.fake.push(text_update(user, "/task write hi to a.txt"));
    let plan = h.message_with(user, "Plan hash").await;
    assert!(plan.text.contains("[WRITE]"), "{}", plan.text);
    assert!(plan.text.contains("Approval expires"), "{}", plan.text);
    plan
}

async fn only_job(h: &Harness) -> skynet_core::Job {
    let jobs = h.sk.list(&JobFilter::default()).await.expect("list");
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    jobs.into_iter().next().expect("one job")
}

/// `/task write hi to a.txt` → Approve / Deny buttons. A stranger's press,
/// a viewer's press and the submitter's own press (separation of duties)
/// are refused and change nothing; an admin's press runs it exactly once,
/// and the message is edited: buttons removed, who approved and when.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fake_bot_api_write_task_buttons_refuse_others_and_run_once() {
    let h = Harness::start().await;
    let plan = write_plan(&h, APPROVER).await;
    let (approve, deny) = Harness::buttons(&plan).expect("buttons");
    let job = only_job(&h).await;
    assert_eq!(job.status, JobStatus::Planned);
    assert!(approve.starts_with(&format!("a:{}:", job.id)), "{approve}");
    assert!(deny.starts_with(&format!("d:{}:", job.id)), "{deny}");

    let refused = [
        (STRANGER, "q-stranger", "not allowed"),
        (VIEWER, "q-viewer", "your role may not"),
        (APPROVER, "q-self", "separation of duties"),
    ];
    for (user, query, _) in refused {
        h.fake
            .push(press_update(user, APPROVER, plan.id, &approve, query));
    }
    for (_, query, says) in refused {
        let answer = h.answer_to(query).await;
        assert!(answer.contains(says), "{query}: {answer}");
    }
    let still = h.sk.get(&job.id).await.expect("get");
    assert_eq!(still.status, JobStatus::Planned, "nothing changed");
    assert!(still.approval.is_none());
    assert!(
        h.fake.messages(STRANGER).is_empty(),
        "a press gets no message"
    );
    assert!(!h.root.join("a.txt").exists());

    h.fake
        .push(press_update(ADMIN, APPROVER, plan.id, &approve, "q-admin"));
    let answer = h.answer_to("q-admin").await;
    assert!(answer.starts_with("Approved"), "{answer}");
    let edited = h
        .message_until(APPROVER, plan.id, "the plan message edited", |m| {
            m.text.contains("Approved by telegram:1000")
        })
        .await;
    assert!(edited.markup.is_none(), "the buttons are gone");
    assert!(edited.text.contains(" UTC"), "when: {}", edited.text);
    h.message_with(APPROVER, "✅ Job").await;
    assert_eq!(
        std::fs::read_to_string(h.root.join("a.txt")).expect("written"),
        "hi"
    );
    let done = h.sk.get(&job.id).await.expect("get");
    assert_eq!(done.status, JobStatus::Succeeded);
    assert_eq!(done.attempts, 1, "ran once");
    assert_eq!(
        done.approval.expect("approved").approver,
        format!("telegram:{ADMIN}")
    );
}

/// Twenty presses of Approve at once (two approvers, one batch of updates
/// handled concurrently): exactly one transition, one run; every other
/// press is told it was already decided.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fake_bot_api_twenty_concurrent_presses_make_one_transition() {
    let h = Harness::start().await;
    let plan = write_plan(&h, APPROVER).await;
    let (approve, _) = Harness::buttons(&plan).expect("buttons");
    let job = only_job(&h).await;
    for i in 0..20 {
        let user = if i % 2 == 0 { APPROVER2 } else { ADMIN };
        h.fake.push(press_update(
            user,
            APPROVER,
            plan.id,
            &approve,
            &format!("q{i}"),
        ));
    }
    let answers = h
        .fake
        .until("20 answers", |_| {
            Some(h.answers()).filter(|a| a.len() == 20)
        })
        .await;
    let approved = answers
        .iter()
        .filter(|(_, t)| t.starts_with("Approved"))
        .count();
    let decided = answers
        .iter()
        .filter(|(_, t)| t.starts_with("Already decided"))
        .count();
    assert_eq!((approved, decided), (1, 19), "{answers:?}");
    h.message_with(APPROVER, "✅ Job").await;
    let events = h.sk.events(&job.id).await.expect("events");
    let approvals = events
        .iter()
        .filter(|e| e.data.get("approver").is_some())
        .count();
    let data: Vec<&serde_json::Value> = events.iter().map(|e| &e.data).collect();
    assert_eq!(approvals, 1, "{data:?}");
    let done = h.sk.get(&job.id).await.expect("get");
    assert_eq!((done.status, done.attempts), (JobStatus::Succeeded, 1));
}

/// The plan in the ledger changes after the buttons were sent: the old
/// buttons refuse and change nothing; a button for the new plan works.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fake_bot_api_press_after_the_plan_changed_is_refused() {
    let h = Harness::start().await;
    let plan = write_plan(&h, APPROVER).await;
    let (approve, deny) = Harness::buttons(&plan).expect("buttons");
    let job = only_job(&h).await;
    let new_hash = "f".repeat(64);
    // Another plan replaces the one shown (as a re-plan would).
    {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&h.db_url)
            .await
            .expect("raw connection");
        sqlx::query(
            "UPDATE jobs SET plan = json_set(plan, '$.hash', ?1), plan_hash = ?1 WHERE id = ?2",
        )
        .bind(&new_hash)
        .bind(job.id.as_str())
        .execute(&mut conn)
        .await
        .expect("replace the plan");
    }
    h.fake.push(press_update(
        ADMIN,
        APPROVER,
        plan.id,
        &approve,
        "old-approve",
    ));
    h.fake
        .push(press_update(ADMIN, APPROVER, plan.id, &deny, "old-deny"));
    for query in ["old-approve", "old-deny"] {
        let answer = h.answer_to(query).await;
        assert!(answer.contains("plan has changed"), "{answer}");
    }
    let still = h.sk.get(&job.id).await.expect("get");
    assert_eq!(still.status, JobStatus::Planned);
    let fresh = skynet_telegram::buttons::Press::data(
        skynet_telegram::buttons::Choice::Deny,
        &job.id,
        &new_hash,
    );
    h.fake
        .push(press_update(ADMIN, APPROVER, plan.id, &fresh, "new-deny"));
    let answer = h.answer_to("new-deny").await;
    assert!(answer.starts_with("Denied"), "{answer}");
    assert_eq!(
        h.sk.get(&job.id).await.expect("get").status,
        JobStatus::Denied
    );
}

/// The bot stops mid-conversation and a new one starts on the same
/// ledger: it resumes at the stored offset (nothing handled twice, nothing
/// lost), and an update handled but not yet confirmed when the process
/// died is delivered again yet submits no second job.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fake_bot_api_restart_neither_loses_nor_repeats_an_update() {
    let mut h = Harness::start().await;
    for file in ["one", "two", "three"] {
        h.fake
            .push(text_update(APPROVER, &format!("/task read {file}.txt")));
    }
    h.fake
        .until("three jobs", |_| {
            Some(()).filter(|_| {
                h.fake
                    .messages(APPROVER)
                    .iter()
                    .filter(|m| m.text.contains("Plan hash"))
                    .count()
                    == 3
            })
        })
        .await;
    h.stop_bot().await;
    let stored =
        h.sk.store()
            .cursor(h.bot().cursor_name())
            .await
            .expect("cursor");
    assert_eq!(stored, Some(4), "the offset after update 3 is stored");
    // Sent while the bot is down.
    for file in ["four", "five"] {
        h.fake
            .push(text_update(APPROVER, &format!("/task read {file}.txt")));
    }
    // Update 6 is handled by a bot that dies before confirming it.
    let crashed = text_update(APPROVER, "/task read six.txt");
    let six = h.fake.push(crashed.clone());
    let mut handled = crashed;
    handled["update_id"] = serde_json::json!(six);
    let update: teloxide::types::Update = serde_json::from_value(handled).expect("update");
    h.bot().handle(update).await;
    h.restart_bot().await;
    h.fake
        .until("six plans", |_| {
            Some(()).filter(|_| {
                h.fake
                    .messages(APPROVER)
                    .iter()
                    .filter(|m| m.text.contains("Plan hash"))
                    .count()
                    >= 6
            })
        })
        .await;
    let jobs = h.sk.list(&JobFilter::default()).await.expect("list");
    let mut intents: Vec<String> = jobs.iter().map(|j| j.intent.clone()).collect();
    intents.sort();
    assert_eq!(
        intents,
        [
            "read five.txt",
            "read four.txt",
            "read one.txt",
            "read six.txt",
            "read three.txt",
            "read two.txt"
        ]
    );
    // Each update was handled once: one plan message per file (the
    // crashed bot's update 6 was shown by it and again after the restart,
    // but made one job). A long poll the stopped bot left open may still be
    // answered by the server; its updates were not confirmed, so they come
    // again, as Telegram does.
    let plans = h.fake.messages(APPROVER);
    for (file, times) in [
        ("one", 1),
        ("two", 1),
        ("three", 1),
        ("four", 1),
        ("five", 1),
    ] {
        let shown = plans
            .iter()
            .filter(|m| m.text.contains(&format!("Task: read {file}.txt")))
            .count();
        assert_eq!(shown, times, "{file}: {shown} plan messages");
    }
    let offsets = h.fake.offsets();
    assert!(
        offsets.contains(&4),
        "the new bot resumed at 4: {offsets:?}"
    );
}

/// A 429 from the Bot API is waited out for `retry_after`, then the call
/// is made again and the reply arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fake_bot_api_429_is_retried_after_retry_after() {
    let h = Harness::start().await;
    h.fake.throttle_once("sendMessage", 1);
    h.fake.push(text_update(ADMIN, "/help"));
    h.message_with(ADMIN, "/task").await;
    let sends = h.fake.calls_of("sendMessage");
    assert_eq!(sends.len(), 2, "one refused, one retried");
    assert_eq!((sends[0].status, sends[1].status), (429, 200));
    let waited = sends[1].at - sends[0].at;
    assert!(
        waited >= std::time::Duration::from_secs(1),
        "waited {waited:?}, retry_after was 1 s"
    );
    assert!(waited < std::time::Duration::from_secs(5), "{waited:?}");
}

/// A job printing `*_[`]`, markup and 10,000 characters, and an intent full
/// of them: every message parses (the fake refuses any that would not, as
/// Telegram does), none is over 4,096 characters, and the whole log comes
/// as a document.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fake_bot_api_escaping_never_breaks_a_message() {
    let h = Harness::start().await;
    let nasty = "*_[`] <b>not bold</b> & &amp; <pre> \"q\" 🙂\n";
    let content = format!("{nasty}{}\n{nasty}", "x<>&".repeat(2500));
    std::fs::write(h.root.join("weird.txt"), &content).expect("write");
    h.fake.push(text_update(ADMIN, "/task read weird.txt"));
    h.message_with(ADMIN, "✅ Job").await;
    let doc = h
        .fake
        .until("the log document", |f| {
            f.calls_of("sendDocument").into_iter().next()
        })
        .await;
    let name = doc.body["document_filename"].as_str().expect("a file name");
    assert!(name.starts_with("job-") && name.ends_with(".log"), "{name}");
    let content = doc.body["document_content"].as_str().expect("the file");
    assert!(
        content.contains(&"x<>&".repeat(2500)),
        "the whole log, unescaped"
    );
    assert!(content.contains("*_[`] <b>not bold</b>"));
    h.fake.push(text_update(
        ADMIN,
        &format!("/task {}", nasty.repeat(3).trim()),
    ));
    h.fake.push(text_update(ADMIN, "/logs"));
    h.fake
        .until("the answers to the nasty task and /logs", |f| {
            Some(()).filter(|_| f.calls_of("sendMessage").len() >= 6)
        })
        .await;
    for call in h.fake.calls() {
        assert!(call.status == 200, "{} refused: {}", call.method, call.body);
    }
    let messages = h.fake.messages(ADMIN);
    for m in &messages {
        check_html(&m.text).expect("valid");
    }
    assert!(
        messages.iter().any(|m| m
            .text
            .contains("*_[`] &lt;b&gt;not bold&lt;/b&gt; &amp; &amp;amp;")),
        "the output is shown literally, escaped"
    );
}

/// A viewer reads but may not submit, approve, deny or cancel; a stranger
/// gets one polite refusal however often they write; group chats are
/// ignored unless enabled.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fake_bot_api_viewers_and_strangers_change_nothing() {
    let h = Harness::start().await;
    let plan = write_plan(&h, APPROVER).await;
    let job = only_job(&h).await;
    let hash = job.plan.as_ref().expect("plan").hash.clone();
    let short_id = &job.id.as_str()[..8];
    for text in [
        "/task write x to b.txt".to_string(),
        format!("/approve {short_id} {}", &hash[..12]),
        format!("/deny {short_id}"),
        format!("/cancel {short_id}"),
        "hello there".to_string(),
    ] {
        h.fake.push(text_update(VIEWER, &text));
    }
    h.fake
        .push(text_update(VIEWER, &format!("/status {short_id}")));
    h.message_with(VIEWER, "Task: write hi to a.txt").await;
    let refusals = h
        .fake
        .until("five refusals", |f| {
            Some(f.messages(VIEWER)).filter(|m| {
                m.iter()
                    .filter(|m| m.text.contains("your role may not") || m.text.contains("`submit`"))
                    .count()
                    == 5
            })
        })
        .await;
    assert_eq!(refusals.len(), 6, "{refusals:#?}");
    assert_eq!(
        h.sk.get(&job.id).await.expect("get").status,
        JobStatus::Planned
    );
    assert_eq!(
        h.sk.list(&JobFilter::default()).await.expect("list").len(),
        1
    );

    for _ in 0..3 {
        h.fake.push(text_update(STRANGER, "/task rm -rf /"));
    }
    h.message_with(STRANGER, "private SKYNET bot").await;
    let mut group = text_update(ADMIN, "/task write x to c.txt");
    group["message"]["chat"] = serde_json::json!({"id": -100, "type": "group", "title": "ops"});
    h.fake.push(group);
    h.fake.push(text_update(ADMIN, "/list"));
    h.message_with(ADMIN, short_id).await;
    assert_eq!(h.fake.messages(STRANGER).len(), 1, "one refusal only");
    assert!(h.fake.messages(-100).is_empty(), "groups are off");
    assert_eq!(
        h.sk.list(&JobFilter::default()).await.expect("list").len(),
        1
    );
    let _ = plan;
}

/// The commands for clients without buttons: `/approve` needs the plan
/// hash (12 digits at least) and takes a job id prefix; `/status`,
/// `/logs`, `/list`, `/health` answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fake_bot_api_commands_approve_by_prefix_and_hash() {
    let h = Harness::start().await;
    write_plan(&h, APPROVER).await;
    let job = only_job(&h).await;
    let hash = job.plan.as_ref().expect("plan").hash.clone();
    let prefix = &job.id.as_str()[..10];
    h.fake
        .push(text_update(ADMIN, &format!("/approve {prefix}")));
    h.message_with(ADMIN, "plan hash you reviewed").await;
    h.fake.push(text_update(
        ADMIN,
        &format!("/approve {prefix} {}", &hash[..11]),
    ));
    h.message_with(ADMIN, "at least 12 digits").await;
    h.fake.push(text_update(
        ADMIN,
        &format!("/approve {prefix} 000000000000"),
    ));
    h.message_with(ADMIN, "stale approval").await;
    assert_eq!(
        h.sk.get(&job.id).await.expect("get").status,
        JobStatus::Planned
    );
    h.fake.push(text_update(
        ADMIN,
        &format!("/approve {prefix} {}", &hash[..12]),
    ));
    h.message_with(ADMIN, "approved: <b>queued</b>").await;
    h.message_with(APPROVER, "✅ Job").await;
    h.fake
        .push(text_update(ADMIN, &format!("/status {prefix}")));
    h.fake.push(text_update(ADMIN, "/list succeeded"));
    h.fake.push(text_update(ADMIN, "/health"));
    h.fake.push(text_update(ADMIN, "/status ffffffff"));
    h.message_with(ADMIN, "Health: <b>").await;
    h.message_with(ADMIN, "not found").await;
    h.message_with(ADMIN, "succeeded · WRITE").await;
}

/// A sentinel alert reaches the bot's admins (and nobody else), escaped.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fake_bot_api_sentinel_alerts_reach_the_admins() {
    use skynet_core::sentinel::{Alert, AlertSink, Severity};
    let h = Harness::start().await;
    let alert = Alert {
        severity: Severity::Critical,
        source: "queue".into(),
        message: "oldest job waited 31m <threshold 30m> & more".into(),
        at: chrono::Utc::now(),
    };
    h.bot()
        .alert_sink()
        .deliver(&alert)
        .await
        .expect("delivered");
    let got = h.message_with(ADMIN, "critical").await;
    assert!(
        got.text.contains("&lt;threshold 30m&gt; &amp; more"),
        "{}",
        got.text
    );
    for other in [APPROVER, APPROVER2, VIEWER] {
        assert!(h.fake.messages(other).is_empty());
    }
}

/// A Bot API that cannot be reached: the error says so without the token
/// (teloxide redacts it from request URLs), and the bot's Debug hides it.
#[tokio::test]
async fn fake_bot_api_unreachable_errors_never_show_the_token() {
    let h = Harness::start().await;
    let api = skynet_telegram::api::Api::new(TOKEN, "http://127.0.0.1:9").expect("api");
    let err = api
        .updates(0, std::time::Duration::ZERO)
        .await
        .expect_err("nothing listens on port 9");
    let secret = TOKEN.split(':').nth(1).expect("secret part");
    assert!(!err.to_string().contains(secret), "{err}");
    assert!(!format!("{err:?}").contains(secret));
    assert!(!format!("{:?}", h.bot()).contains(secret));
}

/// `/watch` follows another principal's job: its card (with buttons while
/// it awaits approval) is kept up to date here too, and the result comes
/// to both chats.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fake_bot_api_watch_notifies_another_chat_of_the_result() {
    let h = Harness::start().await;
    write_plan(&h, APPROVER).await;
    let job = only_job(&h).await;
    h.fake.push(text_update(
        ADMIN,
        &format!("/watch {}", &job.id.as_str()[..9]),
    ));
    let card = h.message_with(ADMIN, "Plan hash").await;
    let (approve, _) = Harness::buttons(&card).expect("buttons while planned");
    h.fake
        .push(press_update(ADMIN, ADMIN, card.id, &approve, "w1"));
    h.message_with(ADMIN, "✅ Job").await;
    h.message_with(APPROVER, "✅ Job").await;
    h.message_until(
        APPROVER,
        1,
        "the submitter's card shows the approval",
        |m| m.text.contains("Approved by telegram:1000") && m.markup.is_none(),
    )
    .await;
}

//! What the bot says, as [`Block`]s: plans with each step's risk, argv and
//! deciding rule; a status card that is edited as the job moves; results.

use crate::html::{Block, escape, short};
use chrono::{DateTime, Utc};
use skynet_core::job::Job;
use skynet_core::{JobFailure, JobStatus};

/// A job id as shown: its first 8 characters (commands accept any unique
/// prefix).
pub fn short_id(job: &Job) -> String {
    job.id.as_str().chars().take(8).collect()
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// An argv as one line, each argument quoted when it needs to be.
pub fn argv_line(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The plan: task, summary, every step with risk, argv and rule.
pub fn plan_blocks(job: &Job) -> Vec<Block> {
    let mut blocks = vec![
        Block::Html(format!(
            "<b>📋 Plan for job</b> <code>{}</code> · <b>{}</b>",
            short_id(job),
            job.risk
        )),
        Block::Text(format!("Task: {}", job.intent)),
    ];
    let Some(plan) = &job.plan else {
        return blocks;
    };
    blocks.push(Block::Html(format!("<i>{}</i>", short(&plan.summary, 300))));
    for (i, step) in plan.steps.iter().enumerate() {
        blocks.push(Block::Html(format!(
            "{}. <b>[{}]</b> {}",
            i + 1,
            step.risk,
            short(&step.description, 200)
        )));
        // A pipeline reads `a | b | c`; SKYNET connects the stages itself.
        let line = step
            .command
            .stages()
            .map(argv_line)
            .collect::<Vec<_>>()
            .join(" | ");
        blocks.push(Block::Pre(line));
        if let Some(rule) = step.decision.as_ref().and_then(|d| d.rule.as_deref()) {
            blocks.push(Block::Html(format!(
                "rule: <code>{}</code>",
                short(rule, 120)
            )));
        }
    }
    blocks
}

/// Progress shown on the card while a job runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// The step running now (0-based), if one is.
    pub step: Option<u32>,
}

/// The status card: hash, status (with the running step), the decision or
/// the approval's expiry.
pub fn card_blocks(job: &Job, progress: &Progress) -> Vec<Block> {
    let mut blocks = Vec::new();
    if let Some(plan) = &job.plan {
        blocks.push(Block::Html(format!(
            "Plan hash: <code>{}</code>",
            escape(plan.short_hash())
        )));
    }
    let steps = job.plan.as_ref().map_or(0, |p| p.steps.len());
    let status = match (job.status, progress.step) {
        (JobStatus::Running, Some(s)) => format!("running step {}/{steps}", s + 1),
        (s, _) => s.to_string(),
    };
    blocks.push(Block::Html(format!("Status: <b>{}</b>", escape(&status))));
    match (&job.approval, job.status) {
        (Some(a), _) if a.approver != "auto" => blocks.push(Block::Html(format!(
            "✅ Approved by {} at {}",
            short(&a.approver, 64),
            when(a.at)
        ))),
        (_, JobStatus::Denied) => blocks.push(Block::Html(format!(
            "❌ Denied{}",
            job.finished_at
                .map(|t| format!(" at {}", when(t)))
                .unwrap_or_default()
        ))),
        (_, JobStatus::Planned) => {
            if let Some(t) = job.expires_at {
                blocks.push(Block::Html(format!("Approval expires {}", when(t))));
            }
        }
        _ => {}
    }
    if job.status == JobStatus::Denied
        && let Some(e) = &job.error
    {
        blocks.push(Block::Text(JobFailure::message_of(e)));
    }
    blocks
}

/// The result: outcome, then the log tail.
pub fn result_blocks(job: &Job, tail: &str, full_log_attached: bool) -> Vec<Block> {
    let icon = if job.status == JobStatus::Succeeded {
        "✅"
    } else {
        "⚠️"
    };
    let mut blocks = vec![Block::Html(format!(
        "{icon} Job <code>{}</code> <b>{}</b>",
        short_id(job),
        job.status
    ))];
    if let Some(f) = job.failure() {
        blocks.push(Block::Text(f.without_provider_details().message));
    }
    if tail.trim().is_empty() {
        blocks.push(Block::Html("<i>(no output)</i>".into()));
    } else {
        blocks.push(Block::Pre(tail.to_string()));
    }
    if full_log_attached {
        blocks.push(Block::Html("The full log is attached.".into()));
    }
    blocks
}

/// One line of `/list`.
pub fn list_line(job: &Job) -> Block {
    Block::Html(format!(
        "<code>{}</code> {} · {} · {}",
        short_id(job),
        escape(job.status.as_str()),
        job.risk,
        short(&job.intent, 60)
    ))
}

/// `/help`.
pub const HELP: &str = "<b>SKYNET</b> plans and runs tasks; anything riskier than reading waits for your approval.\n\
/task &lt;what to do&gt; — plan it (read-only work runs at once)\n\
/status [job] — a job's status (default: your last)\n\
/list [status] — recent jobs\n\
/approve &lt;job&gt; &lt;plan hash, ≥ 12 digits&gt; — approve a plan\n\
/deny &lt;job&gt; — deny a plan\n\
/cancel &lt;job&gt; — cancel a job\n\
/logs &lt;job&gt; — a job's output\n\
/watch &lt;job&gt; — follow a job here: its status as it moves, then its result\n\
/health — how SKYNET is doing\n\
Job ids may be shortened to any unique prefix. Anything else you write is a conversation.";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::html::{MAX_MESSAGE, pack};
    use skynet_core::job::{Approval, JobSource};
    use skynet_core::plan::{Command, Plan, Step};
    use skynet_core::{Action, JobId, RiskLevel};

    fn job(status: JobStatus) -> Job {
        let step = |argv: &[&str]| Step {
            description: "Write <it>".into(),
            action: Action::ExecuteCommand {
                argv: argv.iter().map(|s| s.to_string()).collect(),
            },
            command: Command {
                argv: argv.iter().map(|s| s.to_string()).collect(),
                cwd: "/tmp".into(),
                env: Default::default(),
                timeout_ms: None,
                stdin: None,
                pipe: Vec::new(),
            },
            risk: RiskLevel::Write,
            decision: None,
            estimate_ms: None,
            network: None,
            artifacts: Vec::new(),
        };
        let plan = Plan::new(
            "two & three",
            vec![step(&["echo", "a b"]), step(&["true"]), step(&["ls"])],
            "test",
        );
        let now = chrono::Utc::now();
        serde_json::from_value(serde_json::json!({
            "id": JobId::new(), "intent": "do <things>", "status": status, "plan": plan,
            "risk": "WRITE", "root": "/tmp", "provider": "local", "priority": 0,
            "approval": null, "attempts": 1, "max_attempts": 3, "lease": null,
            "run_at": now, "timeout_ms": null, "created_at": now, "queued_at": null,
            "started_at": null, "finished_at": null, "error": null,
            "source": JobSource::Telegram, "idempotency_key": null,
        }))
        .expect("job")
    }

    #[test]
    fn the_card_shows_the_running_step_and_the_decision() {
        let mut running = job(JobStatus::Running);
        running.approval = Some(Approval {
            approver: "telegram:7".into(),
            plan_hash: running.plan.as_ref().expect("plan").hash.clone(),
            at: chrono::Utc::now(),
        });
        let card = pack(
            &card_blocks(&running, &Progress { step: Some(1) }),
            MAX_MESSAGE,
        );
        assert!(card[0].contains("running step 2/3"), "{}", card[0]);
        assert!(card[0].contains("Approved by telegram:7"), "{}", card[0]);
        let plan = pack(&plan_blocks(&running), MAX_MESSAGE);
        assert!(plan[0].contains("<pre>echo 'a b'</pre>"), "{}", plan[0]);
        assert!(plan[0].contains("Write &lt;it&gt;") && plan[0].contains("do &lt;things&gt;"));
    }

    #[test]
    fn a_pipeline_reads_as_its_stages_joined_by_bars() {
        let mut piped = job(JobStatus::Planned);
        let plan = piped.plan.as_mut().expect("plan");
        plan.steps[1].command.pipe = vec![
            skynet_core::plan::Stage::new(vec!["grep".into(), "a|b".into()]),
            skynet_core::plan::Stage::new(vec!["wc".into(), "-l".into()]),
        ];
        let text = pack(&plan_blocks(&piped), MAX_MESSAGE).join("");
        assert!(
            text.contains("<pre>true | grep 'a|b' | wc -l</pre>"),
            "{text}"
        );
    }
}

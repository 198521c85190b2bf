//! Human-readable output.

use skynet_core::action::SandboxProfile;
use skynet_core::provider::Stream;
use skynet_core::store::{Event, LogLine, StepRecord};
use skynet_core::view::PlanView;
use skynet_core::{Decision, Job, Plan};
use std::io::{self, Write};

/// `850 ms`, `2.5 s`, `3 min 20 s`.
fn duration(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms} ms"),
        1_000..=59_999 => format!("{:.1} s", ms as f64 / 1_000.0),
        _ => format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1_000),
    }
}

/// Print a plan with each step's risk and the rule behind it.
pub fn plan(out: &mut dyn Write, plan: &Plan, states: &[StepRecord]) -> io::Result<()> {
    let view = PlanView::with_states(plan, states);
    writeln!(
        out,
        "Plan {} ({}, by {} planner): {}",
        plan.short_hash(),
        plan.risk,
        plan.planner,
        printable(&plan.summary)
    )?;
    if let Some(u) = &plan.usage {
        let cost = u
            .estimated_cost_usd
            .map(|c| format!(", about ${c:.6}"))
            .unwrap_or_default();
        writeln!(
            out,
            "  model {}: {} tokens in, {} out{cost}",
            printable(&u.model),
            u.input_tokens,
            u.output_tokens
        )?;
    }
    if let Some(ms) = view.estimate_ms {
        writeln!(out, "  estimated duration: about {}", duration(ms))?;
    }
    if let Some(line) = &view.past_runs_line {
        writeln!(out, "  {}", printable(line))?;
    }
    for w in &plan.warnings {
        writeln!(out, "  warning: {}", printable(&w.message()))?;
    }
    for (i, s) in view.steps.iter().enumerate() {
        // A timed-out step names the level whose limit stopped it.
        let state = s
            .state
            .as_ref()
            .map(|r| match r.timeout {
                Some(t) => format!(
                    " [{}: {} limit, {}]",
                    r.status.as_str(),
                    t.level,
                    duration(t.limit_ms)
                ),
                None => format!(" [{}]", r.status.as_str()),
            })
            .unwrap_or_default();
        let estimate = s
            .estimate_ms
            .map(|ms| format!(" (~{})", duration(ms)))
            .unwrap_or_default();
        writeln!(
            out,
            "  {}. [{}] {}{}{}",
            i + 1,
            s.risk,
            printable(&s.description),
            estimate,
            state
        )?;
        writeln!(out, "       $ {}", pipeline_display(&s.command, &s.pipe))?;
        if let Some(target) = &s.network {
            writeln!(
                out,
                "       network: {} (SKYNET checks the address first)",
                printable(target)
            )?;
        }
        match s.sandbox_profile {
            SandboxProfile::Inspect => writeln!(
                out,
                "       sandbox: inspect (sees the host's processes and network, not their environments; opens no sockets)"
            )?,
            SandboxProfile::Host => writeln!(
                out,
                "       sandbox: host (runs on the host itself, outside the sandbox, once approved)"
            )?,
            _ => {}
        }
        if let Some(stdin) = &s.stdin {
            // The approver must see what will be written, escaped so
            // control characters cannot repaint the terminal.
            let shown: String = stdin
                .chars()
                .take(400)
                .collect::<String>()
                .escape_debug()
                .to_string();
            let more = if stdin.chars().count() > 400 {
                " ..."
            } else {
                ""
            };
            writeln!(out, "       stdin: \"{shown}\"{more}")?;
        }
        if let Some(d) = &s.decision {
            match &d.rule {
                Some(rule) => writeln!(out, "       policy: {} ({rule})", d.verdict.as_str())?,
                None => writeln!(
                    out,
                    "       policy: {} ({})",
                    d.verdict.as_str(),
                    printable(d.reasons.first().map_or("no rule matched", String::as_str))
                )?,
            }
        }
    }
    Ok(())
}

/// A step's command for display only: its argv, and ` | ` before each
/// further stage of a pipeline (SKYNET connects the stages itself; nothing
/// runs this line through a shell). A `|` inside a word is quoted.
pub fn pipeline_display(argv: &[String], pipe: &[Vec<String>]) -> String {
    std::iter::once(argv)
        .chain(pipe.iter().map(Vec::as_slice))
        .map(shell_display)
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Quote argv for display only (it is never executed through a shell).
pub fn shell_display(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c))
            {
                a.clone()
            } else if a.chars().any(char::is_control) {
                // $'...' with escapes: a control character must never reach
                // the approver's terminal raw (it could repaint the line).
                format!("$'{}'", a.escape_default())
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A line on stderr. A closed stderr (`2>&1 | head`) is not worth a panic.
pub fn err_line(text: &str) {
    let _ = writeln!(io::stderr(), "{text}");
}

/// Text from users, planners or jobs, safe for a terminal.
pub fn printable(text: &str) -> String {
    if text.chars().any(char::is_control) {
        text.escape_debug().to_string()
    } else {
        text.to_string()
    }
}
/// One line per job.
pub fn job_line(out: &mut dyn Write, job: &Job) -> io::Result<()> {
    writeln!(
        out,
        "{}  {:<12} {:<9} {}  {}",
        job.id,
        job.status.as_str(),
        job.risk.as_str(),
        job.created_at.format("%Y-%m-%d %H:%M:%S"),
        truncate(&printable(&job.intent), 60)
    )
}

/// A job with its plan and steps.
pub fn job(out: &mut dyn Write, job: &Job, states: &[StepRecord]) -> io::Result<()> {
    writeln!(out, "Job {}", job.id)?;
    writeln!(out, "  intent:   {}", printable(&job.intent))?;
    writeln!(out, "  status:   {}", job.status)?;
    writeln!(out, "  risk:     {}", job.risk)?;
    writeln!(out, "  root:     {}", job.root.display())?;
    writeln!(out, "  provider: {}", job.provider)?;
    writeln!(out, "  attempts: {}/{}", job.attempts, job.max_attempts)?;
    if let Some(a) = &job.approval {
        writeln!(
            out,
            "  approved: by {} at {} (plan {})",
            a.approver,
            a.at.to_rfc3339(),
            &a.plan_hash[..a.plan_hash.len().min(12)]
        )?;
    }
    if let Some(e) = job.error_message() {
        writeln!(out, "  error:    {e}")?;
    }
    if let Some(original) = &job.retry_of {
        writeln!(out, "  retry of: {original}")?;
    }
    if let Some(p) = &job.plan {
        writeln!(out, "  hash:     {}", p.hash)?;
        plan(out, p, states)?;
        if job.status == skynet_core::JobStatus::NeedsReview {
            writeln!(
                out,
                "Resolve it with: skynet review {} --requeue --plan-hash {} | --fail | --mark-succeeded [--reason TEXT]",
                job.id,
                p.short_hash()
            )?;
        }
    }
    Ok(())
}

/// A policy decision.
pub fn decision(out: &mut dyn Write, d: &Decision) -> io::Result<()> {
    writeln!(out, "{} {}", d.verdict.as_str(), d.risk)?;
    if let Some(rule) = &d.rule {
        writeln!(out, "  rule: {rule}")?;
    }
    for r in &d.reasons {
        writeln!(out, "  - {r}")?;
    }
    Ok(())
}

/// One stored output line: stderr lines go to stderr, the rest to `out`.
///
/// A step's output is escaped unless `raw`: colours, cursor moves or a
/// window-title sequence from a job must not drive the reader's terminal.
pub fn log_line(out: &mut dyn Write, line: &LogLine, raw: bool) -> io::Result<()> {
    let text = output_text(&line.text, raw);
    match line.stream {
        Stream::Stderr => {
            err_line(&text);
            Ok(())
        }
        _ => writeln!(out, "{text}"),
    }
}

/// A line of a step's output for a terminal: control characters other
/// than tab escaped (`\u{1b}`), the rest (Unicode included) as is; `raw`
/// keeps everything.
pub fn output_text(text: &str, raw: bool) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\t';
    if raw || !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// An audit event.
pub fn event(out: &mut dyn Write, e: &Event) -> io::Result<()> {
    writeln!(
        out,
        "{:>6}  {}  {:<14} {}  {}",
        e.seq,
        e.at.format("%Y-%m-%d %H:%M:%S%.3f"),
        e.kind,
        &e.hash[..12.min(e.hash.len())],
        e.data
    )
}

/// One line of the global event log: position, time, type, job (or
/// source), payload.
pub fn system_event(out: &mut dyn Write, e: &skynet_core::events::SystemEvent) -> io::Result<()> {
    let about = e
        .job
        .as_ref()
        .map_or_else(|| e.source.clone(), |j| j.to_string());
    writeln!(
        out,
        "{:>10}  {}  {:<24} {}  {}",
        e.position,
        e.at.format("%Y-%m-%d %H:%M:%S%.3f"),
        e.event_type.as_str(),
        about,
        serde_json::to_string(&e.payload).unwrap_or_default()
    )
}

/// One marker line where gc removed a prefix of the global event log:
/// `through` in the position column, then what went and when.
pub fn pruned_events(
    out: &mut dyn Write,
    a: &skynet_core::store::event_log_anchors::EventLogAnchor,
) -> io::Result<()> {
    writeln!(out, "{:>10}  {}", a.through, a.summary())
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

#[cfg(test)]
mod pipeline_tests {
    use super::*;

    #[test]
    fn a_pipeline_is_shown_with_bars_between_its_quoted_stages() {
        let sv = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            pipeline_display(
                &sv(&["du", "-ah", "my dir"]),
                &[sv(&["grep", "a|b"]), sv(&["head", "-n", "10"])]
            ),
            "du -ah 'my dir' | grep 'a|b' | head -n 10"
        );
        assert_eq!(pipeline_display(&sv(&["ls"]), &[]), "ls");
    }
}

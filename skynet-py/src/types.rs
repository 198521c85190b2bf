//! The typed results: `Job`, `Plan`, `Step`, `Decision`, `LogLine`,
//! `Event`. Each wraps the core value, exposes read-only attributes, a
//! `repr` that says what it is, and `to_dict()` with the same JSON shape the
//! CLI and HTTP API print (`skynet_core::view`).

use crate::convert::{datetime, json_to_py, rfc3339, to_py_dict};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use serde_json::json;
use skynet_core::store::{Event as CoreEvent, LogLine as CoreLogLine, StepRecord};
use skynet_core::view::{JobView, PlanView};
use skynet_core::{
    Action, Command as CoreCommand, Decision as CoreDecision, Job as CoreJob, JobStatus,
    Plan as CorePlan, RiskLevel, Step as CoreStep, Verdict,
};
use std::str::FromStr;

/// Short quoted text for reprs.
fn quoted(text: &str) -> String {
    const MAX: usize = 60;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}", format!("{}…", &text[..cut])),
        None => format!("{text:?}"),
    }
}

/// A policy decision on one command: its risk, the verdict (`"allow"`,
/// `"prompt"` or `"forbid"`), the deciding rule and the reasons.
///
/// >>> import skynet, tempfile
/// >>> sk = skynet.Skynet(home=tempfile.mkdtemp(), worker=False)
/// >>> d = sk.policy_check(["git", "status"])
/// >>> d.verdict, d.risk, d.allowed
/// ('allow', 'READ_ONLY', True)
/// >>> sk.policy_check(["rm", "-rf", "/"]).explain()
/// 'forbid (ADMIN) by rule `rm-root`: ...'
/// >>> sk.close()
#[pyclass(frozen, module = "skynet._skynet")]
#[derive(Clone)]
pub(crate) struct Decision {
    pub(crate) inner: CoreDecision,
}

impl From<CoreDecision> for Decision {
    fn from(inner: CoreDecision) -> Self {
        Decision { inner }
    }
}

#[pymethods]
impl Decision {
    /// `"READ_ONLY"`, `"WRITE"` or `"ADMIN"`.
    #[getter]
    fn risk(&self) -> &'static str {
        self.inner.risk.as_str()
    }
    /// `"allow"`, `"prompt"` or `"forbid"`.
    #[getter]
    fn verdict(&self) -> &'static str {
        self.inner.verdict.as_str()
    }
    /// Why, most important first.
    #[getter]
    fn reasons(&self) -> Vec<String> {
        self.inner.reasons.clone()
    }
    /// The deciding rule's name, if a rule decided.
    #[getter]
    fn rule(&self) -> Option<String> {
        self.inner.rule.clone()
    }
    /// May run without a human.
    #[getter]
    fn allowed(&self) -> bool {
        self.inner.verdict == Verdict::Allow
    }
    /// Never runs, whoever approves.
    #[getter]
    fn forbidden(&self) -> bool {
        self.inner.verdict == Verdict::Forbid
    }
    /// One line: verdict, risk, rule and reasons.
    fn explain(&self) -> String {
        self.inner.explain()
    }
    /// The decision as plain Python objects.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py_dict(py, &self.inner)
    }
    fn __repr__(&self) -> String {
        format!(
            "<Decision {} {}{}>",
            self.inner.verdict.as_str(),
            self.inner.risk,
            self.inner
                .rule
                .as_deref()
                .map(|r| format!(" rule={r:?}"))
                .unwrap_or_default()
        )
    }
}

/// One step of a plan: a description, the argv that runs, its risk, and
/// (once judged) the policy decision; steps of a job also carry their
/// state.
///
/// A Python planner builds steps from argv; the engine's policy judges
/// them, so the risk given here can only be raised, never lowered:
///
/// >>> import skynet
/// >>> skynet.Step("Show the date", ["date", "-u"])
/// <Step READ_ONLY "Show the date": date -u>
#[pyclass(frozen, module = "skynet._skynet")]
#[derive(Clone)]
pub(crate) struct Step {
    pub(crate) step: CoreStep,
    pub(crate) state: Option<StepRecord>,
}

#[pymethods]
impl Step {
    /// A step that runs `argv` (no shell) with at least `risk`.
    #[new]
    #[pyo3(signature = (description, argv, risk = "READ_ONLY"))]
    fn py_new(description: String, argv: Vec<String>, risk: &str) -> PyResult<Self> {
        if argv.is_empty() {
            return Err(PyValueError::new_err(
                "a step needs a program to run: argv is empty",
            ));
        }
        let risk = RiskLevel::from_str(&risk.to_ascii_uppercase())
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Step {
            step: CoreStep {
                description,
                action: Action::ExecuteCommand { argv: argv.clone() },
                command: CoreCommand::piped(vec![argv], "."),
                risk,
                decision: None,
                estimate_ms: None,
                network: None,
                artifacts: Vec::new(),
            },
            state: None,
        })
    }
    /// What a human reads.
    #[getter]
    fn description(&self) -> String {
        self.step.description.clone()
    }
    /// The program and its arguments.
    #[getter]
    fn argv(&self) -> Vec<String> {
        self.step.command.argv.clone()
    }
    /// Working directory.
    #[getter]
    fn cwd(&self) -> String {
        self.step.command.cwd.display().to_string()
    }
    /// Text fed to the program's stdin (what `write_file` writes).
    #[getter]
    fn stdin(&self) -> Option<String> {
        self.step.command.stdin.clone()
    }
    /// The catalog action, e.g. `{"kind": "git_status"}`.
    #[getter]
    fn action<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py_dict(py, &self.step.action)
    }
    /// Effective risk: `"READ_ONLY"`, `"WRITE"` or `"ADMIN"`.
    #[getter]
    fn risk(&self) -> &'static str {
        self.step.risk.as_str()
    }
    /// The policy decision behind the risk (None until judged).
    #[getter]
    fn decision(&self) -> Option<Decision> {
        self.step.decision.clone().map(Decision::from)
    }
    /// For a job's steps: `"pending"`, `"running"`, `"succeeded"`, ...
    #[getter]
    fn status(&self) -> Option<&'static str> {
        self.state.as_ref().map(|s| s.status.as_str())
    }
    /// For a job's finished steps: the exit code, if the program exited.
    #[getter]
    fn exit_code(&self) -> Option<i32> {
        self.state.as_ref().and_then(|s| s.exit_code)
    }
    /// The step as plain Python objects.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let s = &self.step;
        let value = json!({
            "description": s.description,
            "action": s.action,
            "command": s.command.argv,
            "pipe": s.command.pipe.iter().map(|p| &p.argv).collect::<Vec<_>>(),
            "cwd": s.command.cwd.display().to_string(),
            "stdin": s.command.stdin,
            "risk": s.risk,
            "decision": s.decision,
            "state": self.state,
        });
        json_to_py(py, &value)
    }
    fn __repr__(&self) -> String {
        format!(
            "<Step {} {}: {}>",
            self.step.risk,
            quoted(&self.step.description),
            self.step.command.display_line()
        )
    }
}

/// A plan: steps in order, the overall risk, and the content hash an
/// approval must name.
///
/// >>> import skynet
/// >>> p = skynet.Plan([skynet.Step("Show the date", ["date"])], summary="date")
/// >>> p.risk, len(p.steps), len(p.hash)
/// ('READ_ONLY', 1, 64)
#[pyclass(frozen, module = "skynet._skynet")]
#[derive(Clone)]
pub(crate) struct Plan {
    pub(crate) plan: CorePlan,
    pub(crate) states: Vec<StepRecord>,
}

impl From<CorePlan> for Plan {
    fn from(plan: CorePlan) -> Self {
        Plan {
            plan,
            states: Vec::new(),
        }
    }
}

#[pymethods]
impl Plan {
    /// A plan of `steps` (what a Python planner returns).
    #[new]
    #[pyo3(signature = (steps, summary = None))]
    fn py_new(steps: Vec<Bound<'_, Step>>, summary: Option<String>) -> PyResult<Self> {
        if steps.is_empty() {
            return Err(PyValueError::new_err("a plan needs at least one step"));
        }
        let steps: Vec<CoreStep> = steps.iter().map(|s| s.get().step.clone()).collect();
        let summary = summary.unwrap_or_else(|| {
            steps
                .iter()
                .map(|s| s.description.as_str())
                .collect::<Vec<_>>()
                .join(", then ")
        });
        Ok(CorePlan::new(summary, steps, "python").into())
    }
    /// One-line summary.
    #[getter]
    fn summary(&self) -> String {
        self.plan.summary.clone()
    }
    /// The steps, in order.
    #[getter]
    fn steps(&self) -> Vec<Step> {
        self.plan
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| Step {
                step: s.clone(),
                state: self.states.get(i).cloned(),
            })
            .collect()
    }
    /// Overall risk (the riskiest step).
    #[getter]
    fn risk(&self) -> &'static str {
        self.plan.risk.as_str()
    }
    /// SHA-256 of the steps: what `approve` names.
    #[getter]
    fn hash(&self) -> String {
        self.plan.hash.clone()
    }
    /// The first 12 hex digits of the hash (enough to approve with).
    #[getter]
    fn short_hash(&self) -> String {
        self.plan.short_hash().to_string()
    }
    /// Which planner made it.
    #[getter]
    fn planner(&self) -> String {
        self.plan.planner.clone()
    }
    /// How the requester's similar past runs ended, from memory:
    /// `"similar past runs: 3 succeeded, 1 failed: <reason>"` (None when
    /// memory knows none).
    #[getter]
    fn past_runs(&self) -> Option<String> {
        self.plan.past_runs.as_ref().map(|p| p.line())
    }
    /// What to know before approving: dicts with `kind`
    /// (`"repeated_failure"`), `message` and the kind's fields (`step`,
    /// `description`, `failures`, `window_hours`).
    #[getter]
    fn warnings<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> {
        self.plan
            .warnings
            .iter()
            .map(|w| {
                let mut v = serde_json::to_value(w).unwrap_or(serde_json::Value::Null);
                if let Some(o) = v.as_object_mut() {
                    o.insert("message".into(), w.message().into());
                }
                to_py_dict(py, &v)
            })
            .collect()
    }
    /// The plan as plain Python objects.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py_dict(py, &PlanView::with_states(&self.plan, &self.states))
    }
    fn __len__(&self) -> usize {
        self.plan.steps.len()
    }
    fn __repr__(&self) -> String {
        format!(
            "<Plan {} {} {} step{}: {}>",
            self.plan.short_hash(),
            self.plan.risk,
            self.plan.steps.len(),
            if self.plan.steps.len() == 1 { "" } else { "s" },
            quoted(&self.plan.summary)
        )
    }
}

/// A job: the intent, its judged plan, status, approval and timestamps.
#[pyclass(frozen, module = "skynet._skynet")]
#[derive(Clone)]
pub(crate) struct Job {
    pub(crate) job: CoreJob,
    pub(crate) states: Vec<StepRecord>,
}

impl From<CoreJob> for Job {
    fn from(job: CoreJob) -> Self {
        Job {
            job,
            states: Vec::new(),
        }
    }
}

#[pymethods]
impl Job {
    /// The job id (a UUIDv7 string).
    #[getter]
    fn id(&self) -> &str {
        self.job.id.as_str()
    }
    /// The intent as submitted.
    #[getter]
    fn intent(&self) -> String {
        self.job.intent.clone()
    }
    /// `"planned"`, `"queued"`, `"running"`, `"succeeded"`, `"failed"`, ...
    #[getter]
    fn status(&self) -> &'static str {
        self.job.status.as_str()
    }
    /// Overall risk of its plan.
    #[getter]
    fn risk(&self) -> &'static str {
        self.job.risk.as_str()
    }
    /// The judged plan (with step states when read with `get`/`wait`).
    #[getter]
    fn plan(&self) -> Option<Plan> {
        self.job.plan.clone().map(|plan| Plan {
            plan,
            states: self.states.clone(),
        })
    }
    /// The plan's hash (what `approve` names), if it has a plan.
    #[getter]
    fn plan_hash(&self) -> Option<String> {
        self.job.plan.as_ref().map(|p| p.hash.clone())
    }
    /// The sandbox root its steps run in.
    #[getter]
    fn root(&self) -> String {
        self.job.root.display().to_string()
    }
    /// The provider it runs on.
    #[getter]
    fn provider(&self) -> String {
        self.job.provider.clone()
    }
    /// Higher runs first.
    #[getter]
    fn priority(&self) -> i32 {
        self.job.priority
    }
    /// Claims so far.
    #[getter]
    fn attempts(&self) -> u32 {
        self.job.attempts
    }
    /// Who approved which plan hash, and when (None until approved).
    #[getter]
    fn approval<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.job
            .approval
            .as_ref()
            .map(|a| to_py_dict(py, a))
            .transpose()
    }
    /// Why it failed, was denied or cancelled.
    #[getter]
    fn error(&self) -> Option<String> {
        self.job.error_message()
    }
    /// Why it failed, as data: ``kind`` (``"step_failed"``,
    /// ``"timed_out"``, ``"provider"``, ``"cancelled"``, ``"denied"``,
    /// ``"needs_review"``, ``"other"``), ``message``, and ``step``,
    /// ``exit_code``, ``provider`` when known. None if it did not fail.
    #[getter]
    fn failure<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.job.failure().map(|f| to_py_dict(py, &f)).transpose()
    }
    /// Who submitted it (`"python"` from these bindings).
    #[getter]
    fn source(&self) -> &'static str {
        self.job.source.as_str()
    }
    /// The job this one submitted again (see ``retry``), if any.
    #[getter]
    fn retry_of(&self) -> Option<&str> {
        self.job.retry_of.as_ref().map(|id| id.as_str())
    }
    /// When it was created (aware UTC datetime).
    #[getter]
    fn created_at<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        datetime(py, &self.job.created_at)
    }
    /// When it entered the queue.
    #[getter]
    fn queued_at<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.job
            .queued_at
            .as_ref()
            .map(|t| datetime(py, t))
            .transpose()
    }
    /// When a worker first claimed it.
    #[getter]
    fn started_at<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.job
            .started_at
            .as_ref()
            .map(|t| datetime(py, t))
            .transpose()
    }
    /// When it finished.
    #[getter]
    fn finished_at<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.job
            .finished_at
            .as_ref()
            .map(|t| datetime(py, t))
            .transpose()
    }
    /// Finished, one way or another.
    #[getter]
    fn done(&self) -> bool {
        self.job.status.is_terminal()
    }
    /// Finished and succeeded.
    #[getter]
    fn ok(&self) -> bool {
        self.job.status == JobStatus::Succeeded
    }
    /// The job as plain Python objects (the CLI's `--json` shape).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py_dict(py, &JobView::new(&self.job, &self.states))
    }
    fn __repr__(&self) -> String {
        format!(
            "<Job {} {} {} {}>",
            self.job.id,
            self.job.status,
            self.job.risk,
            quoted(&self.job.intent)
        )
    }
}

/// One line of a job's output.
#[pyclass(frozen, module = "skynet._skynet")]
pub(crate) struct LogLine {
    pub(crate) line: CoreLogLine,
}

#[pymethods]
impl LogLine {
    /// Position in the job's log.
    #[getter]
    fn seq(&self) -> i64 {
        self.line.seq
    }
    /// Step index (0-based).
    #[getter]
    fn step(&self) -> u32 {
        self.line.step
    }
    /// `"stdout"`, `"stderr"` or `"system"`.
    #[getter]
    fn stream(&self) -> &'static str {
        self.line.stream.as_str()
    }
    /// The text (secrets redacted).
    #[getter]
    fn text(&self) -> String {
        self.line.text.clone()
    }
    /// When it was written.
    #[getter]
    fn at<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        datetime(py, &self.line.at)
    }
    /// The line as plain Python objects.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let l = &self.line;
        let value = json!({
            "seq": l.seq, "step": l.step, "stream": l.stream, "text": l.text, "at": rfc3339(&l.at),
        });
        json_to_py(py, &value)
    }
    fn __str__(&self) -> String {
        self.line.text.clone()
    }
    fn __repr__(&self) -> String {
        format!(
            "<LogLine {} step {} {}: {}>",
            self.line.seq,
            self.line.step,
            self.line.stream.as_str(),
            quoted(&self.line.text)
        )
    }
}

/// One entry of a job's hash-chained audit trail.
#[pyclass(frozen, module = "skynet._skynet")]
pub(crate) struct Event {
    pub(crate) event: CoreEvent,
}

#[pymethods]
impl Event {
    /// Position in the ledger.
    #[getter]
    fn seq(&self) -> i64 {
        self.event.seq
    }
    /// What happened (`"submitted"`, `"status"`, `"step_started"`, ...).
    #[getter]
    fn kind(&self) -> String {
        self.event.kind.clone()
    }
    /// Details, as plain Python objects.
    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.event.data)
    }
    /// When.
    #[getter]
    fn at<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        datetime(py, &self.event.at)
    }
    /// This event's chain hash.
    #[getter]
    fn hash(&self) -> String {
        self.event.hash.clone()
    }
    /// The previous event's chain hash.
    #[getter]
    fn prev_hash(&self) -> String {
        self.event.prev_hash.clone()
    }
    /// The event as plain Python objects.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py_dict(py, &self.event)
    }
    fn __repr__(&self) -> String {
        format!(
            "<Event {} {} at {}>",
            self.event.seq,
            self.event.kind,
            rfc3339(&self.event.at)
        )
    }
}

/// A page of the global event log: its events (plain dicts, the shape of
/// `docs/events.md`) and the position to read on from.
#[pyclass(frozen, module = "skynet._skynet")]
pub(crate) struct EventLogPage {
    pub(crate) page: skynet_core::store::event_log::EventPage,
}

#[pymethods]
impl EventLogPage {
    /// The events, oldest first, as dicts (`type`, `at`, `source`, `job`,
    /// `payload`, `id`, `position`).
    #[getter]
    fn events<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        crate::convert::to_py_dict(py, &self.page.events)
    }
    /// The ranges gc removed that the page's ``after`` was behind, oldest
    /// first, as dicts (``count``, ``first_id``, ``last_id``, ``through``,
    /// ``first_at``, ``last_at``, ``pruned_at``): the reader's gap, before
    /// ``events``. Empty unless the reader was behind a pruned prefix.
    #[getter]
    fn pruned<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        crate::convert::to_py_dict(py, &self.page.pruned)
    }
    /// The position to pass as ``after`` for the next page.
    #[getter]
    fn next(&self) -> String {
        self.page.next.to_string()
    }
    fn __repr__(&self) -> String {
        format!(
            "<EventLogPage {} events, {} pruned ranges, next {}>",
            self.page.events.len(),
            self.page.pruned.len(),
            self.page.next
        )
    }
}

/// A file a job kept as an artifact (its record; the bytes come from
/// ``artifact()`` or ``save_artifact()``).
#[pyclass(frozen, module = "skynet._skynet")]
pub(crate) struct Artifact {
    pub(crate) record: skynet_core::store::artifacts::ArtifactRecord,
}

#[pymethods]
impl Artifact {
    /// The job.
    #[getter]
    fn job_id(&self) -> String {
        self.record.job_id.to_string()
    }
    /// The step (0-based) that produced it.
    #[getter]
    fn step(&self) -> u32 {
        self.record.step
    }
    /// Its name: the file's path relative to the job's root.
    #[getter]
    fn name(&self) -> String {
        self.record.name.clone()
    }
    /// Size in bytes.
    #[getter]
    fn size(&self) -> u64 {
        self.record.size
    }
    /// Hex SHA-256 of its bytes.
    #[getter]
    fn sha256(&self) -> String {
        self.record.sha256.clone()
    }
    /// MIME type.
    #[getter]
    fn content_type(&self) -> String {
        self.record.content_type.clone()
    }
    /// When it was recorded.
    #[getter]
    fn created_at<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        datetime(py, &self.record.created_at)
    }
    /// The record as plain Python objects.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py_dict(py, &self.record)
    }
    fn __repr__(&self) -> String {
        format!(
            "<Artifact {} of {} ({} bytes)>",
            quoted(&self.record.name),
            self.record.job_id,
            self.record.size
        )
    }
}

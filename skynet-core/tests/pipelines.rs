//! Pipelines without a shell: stages connected by SKYNET itself, judged
//! stage by stage, run as one step, with and without the sandbox
//! (bubblewrap with `SKYNET_TEST_BWRAP=1`, Landlock with
//! `SKYNET_TEST_LANDLOCK=1`).
#![allow(clippy::unwrap_used)]

mod engine_support;
mod provider_support;

use async_trait::async_trait;
use engine_support::{drain_until_done, fast};
use provider_support::{Run, Step, alive, sandboxes, settles, sleeping_with};
use skynet_core::action::Action;
use skynet_core::plan::Command;
use skynet_core::planner::{RulePlanner, ScriptedPlanner};
use skynet_core::provider::mock::MockProvider;
use skynet_core::provider::{
    Capabilities, ExecContext, ExitKind, Health, LocalProvider, Output, Provider, Stream,
};
use skynet_core::store::LogQuery;
use skynet_core::{Error, JobStatus, RiskLevel, Skynet, SubmitRequest};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn sv(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn pipeline(stages: &[&[&str]], cwd: &Path) -> Command {
    Command::piped(stages.iter().map(|s| sv(s)).collect(), cwd)
}

/// The local provider without a sandbox, then under every real sandbox
/// this machine has.
fn providers(test: &str) -> Vec<(&'static str, LocalProvider)> {
    let mut all = vec![("no sandbox", LocalProvider::new())];
    all.extend(sandboxes(test));
    all
}

async fn run(provider: &LocalProvider, stages: &[&[&str]]) -> Run {
    let root = tempfile::tempdir().unwrap();
    Step::new(root.path())
        .run_on(provider, &pipeline(stages, root.path()), None)
        .await
        .unwrap()
}

#[tokio::test]
async fn output_flows_through_every_stage() {
    for (mode, local) in providers("output_flows_through_every_stage") {
        let r = run(
            &local,
            &[&["printf", "b\\nc\\na\\n"], &["sort"], &["head", "-n", "2"]],
        )
        .await;
        assert!(r.out.success(), "{mode}: {:?} {}", r.out, r.all());
        assert_eq!(r.texts(Stream::Stdout), ["a", "b"], "{mode}");
        assert_eq!(r.out.failed_stage, None, "{mode}");
        // Much more than a pipe holds, through three stages.
        let r = run(
            &local,
            &[&["seq", "1", "200000"], &["cat"], &["tail", "-n", "1"]],
        )
        .await;
        assert!(r.out.success(), "{mode}: {:?} {}", r.out, r.all());
        assert_eq!(r.texts(Stream::Stdout), ["200000"], "{mode}");
    }
}

#[tokio::test]
async fn the_steps_input_reaches_the_first_stage() {
    for (mode, local) in providers("the_steps_input_reaches_the_first_stage") {
        let root = tempfile::tempdir().unwrap();
        let mut cmd = pipeline(&[&["cat"], &["sort"]], root.path());
        cmd.stdin = Some("pear\napple\n".into());
        let r = Step::new(root.path())
            .run_on(&local, &cmd, None)
            .await
            .unwrap();
        assert!(r.out.success(), "{mode}: {:?} {}", r.out, r.all());
        assert_eq!(r.texts(Stream::Stdout), ["apple", "pear"], "{mode}");
    }
}

#[tokio::test]
async fn an_earlier_stage_cut_off_by_a_later_one_is_not_a_failure() {
    for (mode, local) in providers("an_earlier_stage_cut_off_by_a_later_one") {
        // `yes` never ends by itself: head closing the pipe kills it (SIGPIPE).
        let r = run(&local, &[&["yes"], &["head", "-n", "3"]]).await;
        assert!(r.out.success(), "{mode}: {:?} {}", r.out, r.all());
        assert_eq!(r.texts(Stream::Stdout), ["y", "y", "y"], "{mode}");
        assert_eq!(r.out.failed_stage, None, "{mode}");
    }
}

#[tokio::test]
async fn the_first_failing_stage_fails_the_step_and_is_named() {
    for (mode, local) in providers("the_first_failing_stage_fails_the_step") {
        let r = run(
            &local,
            &[&["printf", "x\\n"], &["sort", "--no-such-option"], &["cat"]],
        )
        .await;
        assert_eq!(
            (r.out.exit, r.out.exit_code, r.out.failed_stage),
            (ExitKind::Exited, Some(2), Some(1)),
            "{mode}: {}",
            r.all()
        );
        // Every stage's stderr is the step's.
        assert!(
            r.texts(Stream::Stderr).iter().any(|l| l.contains("sort")),
            "{mode}: {}",
            r.all()
        );
        // pipefail: the first in order, even when a later one fails too.
        let r = run(&local, &[&["false"], &["sh", "-c", "exit 3"]]).await;
        assert_eq!(
            (r.out.exit_code, r.out.failed_stage),
            (Some(1), Some(0)),
            "{mode}: {}",
            r.all()
        );
        let r = run(&local, &[&["echo", "x"], &["no-such-program-skynet"]]).await;
        assert_eq!(
            (r.out.exit_code, r.out.failed_stage),
            (Some(127), Some(1)),
            "{mode}: {}",
            r.all()
        );
        assert!(
            r.texts(Stream::Stderr)
                .iter()
                .any(|l| l.contains("cannot run `no-such-program-skynet`")),
            "{mode}: {}",
            r.all()
        );
    }
}

#[tokio::test]
async fn a_timeout_kills_every_stage() {
    for (i, (mode, local)) in providers("a_timeout_kills_every_stage")
        .into_iter()
        .enumerate()
    {
        // Each stage says its pid on stderr, then becomes a long sleep.
        let marker = format!("4242.{}{i}", std::process::id());
        let stage = format!("echo $$ >&2; exec sleep {marker}");
        let root = tempfile::tempdir().unwrap();
        let cmd = pipeline(
            &[
                &["sh", "-c", &stage],
                &["sh", "-c", &stage],
                &["sh", "-c", &stage],
            ],
            root.path(),
        );
        let mut step = Step::new(root.path());
        step.timeout = Some(Duration::from_millis(700));
        let started = Instant::now();
        let r = step.run_on(&local, &cmd, None).await.unwrap();
        assert_eq!(r.out.exit, ExitKind::TimedOut, "{mode}: {}", r.all());
        assert_eq!(r.out.failed_stage, None, "{mode}");
        assert!(started.elapsed() < Duration::from_secs(10), "{mode}");
        let pids: Vec<i32> = r
            .texts(Stream::Stderr)
            .iter()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        assert_eq!(pids.len(), 3, "{mode}: {}", r.all());
        settles(Duration::from_secs(5), || {
            let left = sleeping_with(&marker);
            // Without bubblewrap the pids are this machine's: each one is gone.
            let by_pid: Vec<i32> = if mode == "bubblewrap" {
                Vec::new()
            } else {
                pids.iter().copied().filter(|p| alive(*p)).collect()
            };
            (!left.is_empty() || !by_pid.is_empty())
                .then(|| format!("{mode}: stages outlived the step: {left:?} {by_pid:?}"))
        })
        .await;
    }
}

#[tokio::test]
async fn a_cancel_kills_every_stage() {
    for (i, (mode, local)) in providers("a_cancel_kills_every_stage")
        .into_iter()
        .enumerate()
    {
        let marker = format!("4343.{}{i}", std::process::id());
        let root = tempfile::tempdir().unwrap();
        let cmd = pipeline(&[&["sleep", &marker], &["sleep", &marker]], root.path());
        let step = Step::new(root.path());
        let cancel = step.cancel.clone();
        let canceller = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            cancel.cancel();
        });
        let r = step.run_on(&local, &cmd, None).await.unwrap();
        canceller.await.unwrap();
        assert_eq!(r.out.exit, ExitKind::Cancelled, "{mode}: {}", r.all());
        settles(Duration::from_secs(5), || {
            (!sleeping_with(&marker).is_empty())
                .then(|| format!("{mode}: stages outlived the cancel"))
        })
        .await;
    }
}

#[tokio::test]
async fn a_pipeline_costs_one_sandbox_start() {
    for (mode, local) in providers("a_pipeline_costs_one_sandbox_start") {
        // Each stage names the PID namespace it runs in.
        let ns = "readlink /proc/self/ns/pid";
        let cat_ns = "cat; readlink /proc/self/ns/pid";
        let before = local.launches();
        let r = run(
            &local,
            &[
                &["sh", "-c", ns],
                &["sh", "-c", cat_ns],
                &["sh", "-c", cat_ns],
            ],
        )
        .await;
        let after = local.launches();
        assert!(r.out.success(), "{mode}: {}", r.all());
        let seen = r.texts(Stream::Stdout);
        assert_eq!(seen.len(), 3, "{mode}: {}", r.all());
        assert!(seen.iter().all(|n| *n == seen[0]), "{mode}: {seen:?}");
        let ours = std::fs::read_link("/proc/self/ns/pid").unwrap();
        let (processes, sandboxes) = (
            after.processes - before.processes,
            after.sandboxes - before.sandboxes,
        );
        match mode {
            // One bubblewrap: one process started here, one sandbox, every
            // stage in its one PID namespace (not ours).
            "bubblewrap" => {
                assert_eq!((processes, sandboxes), (1, 1), "{mode}");
                assert_ne!(Path::new(seen[0]), ours, "{mode}");
            }
            // One restricted thread starts the three stages.
            "landlock" => assert_eq!((processes, sandboxes), (3, 1), "{mode}"),
            _ => {
                assert_eq!((processes, sandboxes), (3, 0), "{mode}");
                assert_eq!(Path::new(seen[0]), ours, "{mode}");
            }
        }
        // A single program costs the same one start.
        let before = local.launches();
        let r = run(&local, &[&["true"]]).await;
        assert!(r.out.success(), "{mode}: {}", r.all());
        let after = local.launches();
        assert_eq!(after.processes - before.processes, 1, "{mode}");
        assert_eq!(
            after.sandboxes - before.sandboxes,
            u64::from(mode != "no sandbox"),
            "{mode}"
        );
    }
}

// ---------------------------------------------------------------- engine

async fn engine(
    dir: &Path,
    planner: impl skynet_core::planner::Planner + 'static,
    providers: Vec<Arc<dyn Provider>>,
    default: &str,
) -> Skynet {
    let candidates: Vec<String> = providers.iter().map(|p| p.name().to_string()).collect();
    let mut b = Skynet::builder()
        .database_url(format!("sqlite://{}", dir.join("skynet.db").display()))
        .planner(Arc::new(planner))
        .default_provider(default)
        .candidates(candidates)
        .config(fast());
    for p in providers {
        b = b.provider(p);
    }
    b.build().await.unwrap()
}

/// An engine running every step on the local provider.
async fn local_engine(dir: &Path, planner: impl skynet_core::planner::Planner + 'static) -> Skynet {
    engine(dir, planner, vec![Arc::new(LocalProvider::new())], "local").await
}

fn piped(stages: &[&[&str]]) -> Action {
    Action::ExecutePipeline {
        stages: stages.iter().map(|s| sv(s)).collect(),
    }
}

#[tokio::test]
async fn a_later_write_stage_makes_the_plan_write_and_it_waits_for_approval() {
    let dir = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let planner = ScriptedPlanner::new(vec![piped(&[
        &["printf", "hello\\n"],
        &["tee", "out.txt"],
        &["wc", "-l"],
    ])]);
    let sk = local_engine(dir.path(), planner).await;
    let job = sk
        .submit(SubmitRequest::new("save hello").root(root.path()))
        .await
        .unwrap();
    let plan = job.plan.clone().unwrap();
    // The planner claimed nothing; the policy's stage 2 decides.
    assert_eq!(plan.risk, RiskLevel::Write);
    assert_eq!(
        job.status,
        JobStatus::Planned,
        "a WRITE plan waits for a human"
    );
    let decision = plan.steps[0].decision.clone().unwrap();
    assert!(
        decision.reasons[0].starts_with("stage 2 of 3 (`tee out.txt`) sets the pipeline's risk"),
        "{}",
        decision.explain()
    );
    assert_eq!(
        plan.steps[0].command.display_line(),
        "printf hello\\n | tee out.txt | wc -l"
    );
    assert!(
        !root.path().join("out.txt").exists(),
        "nothing ran before approval"
    );
    sk.approve(&job.id, &plan.hash, "alice").await.unwrap();
    let done = drain_until_done(&sk, &job.id).await;
    assert_eq!(done.status, JobStatus::Succeeded, "{:?}", done.error);
    assert_eq!(
        std::fs::read_to_string(root.path().join("out.txt")).unwrap(),
        "hello\n"
    );
    let logs = sk.logs(&job.id, &LogQuery::default()).await.unwrap();
    assert_eq!(
        logs.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(),
        ["1"]
    );
}

#[tokio::test]
async fn a_forbidden_stage_forbids_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let planner = ScriptedPlanner::new(vec![piped(&[&["echo", "x"], &["rm", "-rf", "/"]])]);
    let sk = local_engine(dir.path(), planner).await;
    let err = sk
        .submit(SubmitRequest::new("tidy").root(root.path()))
        .await
        .unwrap_err();
    let Error::Forbidden { decision } = &err else {
        panic!("forbidden, not {err}");
    };
    assert!(decision.reasons[0].starts_with("step 1 ("), "{err}");
    assert!(
        decision.reasons[1].starts_with("stage 2 of 2 (`rm -rf /`) is forbidden"),
        "{err}"
    );
}

#[tokio::test]
async fn a_failing_stage_fails_the_job_naming_the_stage() {
    let dir = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let planner = ScriptedPlanner::new(vec![piped(&[
        &["printf", "b\\na\\n"],
        &["sort", "--no-such-option"],
        &["head", "-n", "1"],
    ])]);
    let sk = local_engine(dir.path(), planner).await;
    let job = sk
        .submit(SubmitRequest::new("sort").root(root.path()))
        .await
        .unwrap();
    if job.status == JobStatus::Planned {
        let hash = job.plan.as_ref().unwrap().hash.clone();
        sk.approve(&job.id, &hash, "alice").await.unwrap();
    }
    let done = drain_until_done(&sk, &job.id).await;
    assert_eq!(done.status, JobStatus::Failed);
    let error = done.error.unwrap_or_default();
    assert!(
        error.contains("stage 2 of 3 (`sort --no-such-option`) exited with code 2"),
        "{error}"
    );
}

#[tokio::test]
async fn the_rule_planner_plans_the_largest_files_as_one_read_only_step() {
    let dir = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("big.bin"), vec![0u8; 300_000]).unwrap();
    std::fs::write(root.path().join("small.txt"), "x").unwrap();
    let sk = local_engine(dir.path(), RulePlanner::new()).await;
    let job = sk
        .submit(SubmitRequest::new("show the 2 largest files").root(root.path()))
        .await
        .unwrap();
    let plan = job.plan.clone().unwrap();
    assert_eq!(plan.steps.len(), 1);
    assert_eq!(
        plan.steps[0].command.display_line(),
        "du -ah -- . | sort -rh | head -n 2"
    );
    assert_eq!(plan.risk, RiskLevel::ReadOnly);
    assert_eq!(job.status, JobStatus::Queued, "READ_ONLY runs unasked");
    let done = drain_until_done(&sk, &job.id).await;
    assert_eq!(done.status, JobStatus::Succeeded, "{:?}", done.error);
    let logs = sk.logs(&job.id, &LogQuery::default()).await.unwrap();
    let lines: Vec<&str> = logs.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].ends_with("\t."), "the whole root first: {lines:?}");
    assert!(lines[1].ends_with("big.bin"), "{lines:?}");
}

/// A provider that runs single programs only (the trait's default).
struct OneArgv;

#[async_trait]
impl Provider for OneArgv {
    fn name(&self) -> &str {
        "one-argv"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            actions: Vec::new(),
            isolated: true,
            max_concurrency: 4,
        }
    }
    async fn health(&self) -> Health {
        Health {
            healthy: true,
            message: "ok".into(),
        }
    }
    async fn execute(&self, command: &Command, _ctx: ExecContext) -> skynet_core::Result<Output> {
        skynet_core::provider::refuse_pipeline("one-argv", command, "it runs one argv")?;
        unreachable!("only pipelines reach it in this test")
    }
}

#[tokio::test]
async fn pipelines_are_placed_only_on_providers_that_run_them() {
    let dir = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let planner = ScriptedPlanner::new(vec![piped(&[&["ls"], &["wc", "-l"]])]);
    let sk = engine(
        dir.path(),
        planner,
        vec![Arc::new(OneArgv), Arc::new(MockProvider::new())],
        "one-argv",
    )
    .await;
    // Left to the scheduler, the plan goes where pipelines run.
    let job = sk
        .submit(SubmitRequest::new("count").root(root.path()))
        .await
        .unwrap();
    assert_eq!(job.provider, "mock");
    // Asked for by name, the provider that cannot is refused up front.
    let mut req = SubmitRequest::new("count").root(root.path());
    req.provider = Some("one-argv".into());
    let err = sk.submit(req).await.unwrap_err();
    assert!(err.to_string().contains("cannot run pipeline"), "{err}");
    // And handed one anyway, it refuses with a typed error naming itself.
    let step = Step::new(root.path());
    let err = step
        .run_on(&OneArgv, &pipeline(&[&["ls"], &["wc"]], root.path()), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::PipelineUnsupported { provider, .. } if provider == "one-argv"),
        "{err}"
    );
}

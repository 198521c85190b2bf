"""The approval gate, end to end, with real processes (local provider)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

import skynet


def test_read_only_job_runs_at_once_and_returns_real_output(sk: skynet.Skynet, workdir: Path) -> None:
    job = sk.run("read README.md", cwd=workdir)
    assert job.status == "succeeded" and job.ok and job.done
    assert job.risk == "READ_ONLY"
    assert job.source == "python"
    assert job.approval is not None and job.approval["approver"] == "auto"
    assert [line.text for line in sk.logs(job.id)] == ["hello from the readme"]
    step = job.plan.steps[0] if job.plan else None
    assert step is not None and step.status == "succeeded" and step.exit_code == 0


def test_full_approve_flow_writes_the_file_exactly_once(sk: skynet.Skynet, workdir: Path) -> None:
    job = sk.submit("write 'hello' to notes.txt", cwd=workdir)
    assert job.status == "planned"
    assert job.risk == "WRITE"
    assert job.plan_hash is not None and len(job.plan_hash) == 64
    assert not (workdir / "notes.txt").exists()
    # The human reviews the plan, then approves exactly that plan.
    plan = sk.get(job.id).plan
    assert plan is not None and plan.steps[0].argv == ["tee", "--", "notes.txt"]
    approved = sk.approve(job.id, plan.short_hash, approver="alice")
    assert approved.status == "queued"
    assert approved.approval is not None and approved.approval["approver"] == "alice"
    done = sk.wait(job.id, timeout=60)
    assert done.status == "succeeded", done.error
    assert (workdir / "notes.txt").read_text() == "hello"
    # The audit trail records who approved which plan, and the run.
    changes = [(e.data.get("from"), e.data.get("to")) for e in sk.events(job.id) if e.kind == "status"]
    assert changes == [("planned", "queued"), ("queued", "running"), ("running", "succeeded")]
    approval = next(e.data for e in sk.events(job.id) if e.data.get("to") == "queued")
    assert approval["approver"] == "alice" and approval["plan_hash"] == job.plan_hash


def test_write_job_is_refused_without_approval_and_never_runs(sk: skynet.Skynet, workdir: Path) -> None:
    with pytest.raises(skynet.ApprovalRequired) as raised:
        sk.run("write 'x' to refused.txt", cwd=workdir)
    waiting = raised.value.job
    assert waiting is not None and waiting.status == "planned"
    assert raised.value.job_id == waiting.id
    # The in-process worker is running: it must not touch an unapproved job.
    with pytest.raises(skynet.Timeout):
        sk.wait(waiting.id, timeout=1.0)
    assert sk.get(waiting.id).status == "planned"
    assert sk.logs(waiting.id) == []
    assert not (workdir / "refused.txt").exists()


def test_run_with_approve_true_runs_a_write_plan(sk: skynet.Skynet, workdir: Path) -> None:
    job = sk.run("create a directory out, then write 'x' to out/a.txt", approve=True, cwd=workdir)
    assert job.status == "succeeded", job.error
    assert (workdir / "out" / "a.txt").read_text() == "x"


def test_approval_callback_sees_the_plan_and_decides(sk: skynet.Skynet, workdir: Path) -> None:
    seen: list[skynet.Plan] = []

    def only_notes(plan: skynet.Plan) -> bool:
        seen.append(plan)
        return all(step.argv[-1] == "notes.txt" for step in plan.steps)

    ok = sk.run("write 'a' to notes.txt", approve=only_notes, cwd=workdir)
    assert ok.status == "succeeded"
    denied = sk.run("write 'b' to other.txt", approve=only_notes, cwd=workdir)
    assert denied.status == "denied"
    assert not (workdir / "other.txt").exists()
    assert [p.risk for p in seen] == ["WRITE", "WRITE"]


def test_stale_approval_is_refused_and_the_job_stays_planned(sk: skynet.Skynet, workdir: Path) -> None:
    job = sk.submit("write 'x' to a.txt", cwd=workdir)
    other = sk.plan("write 'y' to a.txt", cwd=workdir)
    with pytest.raises(skynet.StaleApproval) as raised:
        sk.approve(job.id, other.hash)
    assert raised.value.given == other.hash and raised.value.actual == job.plan_hash
    assert sk.get(job.id).status == "planned"


def test_deny_and_cancel(sk: skynet.Skynet, workdir: Path) -> None:
    a = sk.submit("write 'x' to a.txt", cwd=workdir)
    assert sk.deny(a.id, reason="not today").status == "denied"
    assert sk.get(a.id).error == "not today"
    b = sk.submit("write 'x' to b.txt", cwd=workdir)
    assert sk.cancel(b.id).status == "cancelled"
    assert not (workdir / "a.txt").exists() and not (workdir / "b.txt").exists()


def test_forbidden_command_raises_and_nothing_is_stored(sk: skynet.Skynet, workdir: Path) -> None:
    with pytest.raises(skynet.PolicyForbidden) as raised:
        sk.run("run `rm -rf /`", approve=True, cwd=workdir)
    decision = raised.value.decision
    assert decision.forbidden and decision.rule == "rm-root"
    assert sk.jobs() == []


def test_forbidden_by_a_custom_policy_never_runs(
    make_skynet: Callable[..., skynet.Skynet], tmp_path: Path, workdir: Path
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(
        """
[[rule]]
name = "no-touch"
pattern = ["touch"]
forbid = true
reason = "touch is not allowed here"
match = [["touch", "x"]]
"""
    )
    sk = make_skynet(policy=rules)
    assert sk.policy_check(["touch", "marker"], root=workdir).rule == "no-touch"
    for approve in (False, True, lambda plan: True):
        with pytest.raises(skynet.PolicyForbidden):
            sk.run("run `touch marker`", approve=approve, cwd=workdir)
    assert not (workdir / "marker").exists()
    assert sk.jobs() == []


def test_jobs_filters_by_status(make_skynet: Callable[..., skynet.Skynet], workdir: Path) -> None:
    sk = make_skynet(default_provider="mock")
    done = sk.run("list the files", cwd=workdir)
    waiting = sk.submit("write 'x' to a.txt", cwd=workdir)
    assert {j.id for j in sk.jobs()} == {done.id, waiting.id}
    assert [j.id for j in sk.jobs(status="planned")] == [waiting.id]
    assert [j.id for j in sk.jobs(status=["succeeded"])] == [done.id]
    assert len(sk.jobs(status="planned,succeeded")) == 2
    assert len(sk.jobs(limit=1)) == 1
    with pytest.raises(skynet.InvalidInput):
        sk.jobs(status="bogus")


def test_context_manager_closes(tmp_path: Path, workdir: Path) -> None:
    with skynet.Skynet(home=tmp_path / "h", default_provider="mock") as sk:
        assert sk.run("list the files", cwd=workdir).ok
        assert "mock" in sk.providers and "local" in sk.providers


def test_an_approval_callback_that_raises_leaves_the_job_waiting(sk: skynet.Skynet, workdir: Path) -> None:
    def broken(plan: skynet.Plan) -> bool:
        raise ValueError("reviewer crashed")

    with pytest.raises(ValueError, match="reviewer crashed"):
        sk.run("write 'x' to a.txt", approve=broken, cwd=workdir)
    (waiting,) = sk.jobs(status="planned")
    assert waiting.intent == "write 'x' to a.txt"
    assert not (workdir / "a.txt").exists()


def test_the_global_event_log_pages_and_filters(sk: skynet.Skynet, workdir: Path) -> None:
    job = sk.run("read README.md", cwd=workdir)
    page = sk.event_log(types="job.*", job_id=job.id)
    types = [e["type"] for e in page.events]
    assert types == ["job.created", "job.planned", "job.queued", "job.started", "job.succeeded"]
    assert all(e["job"] == job.id and e["source"] == "ledger" for e in page.events)
    assert page.events[0]["payload"]["source"] == "python"
    assert sk.event_log(after=page.next, job_id=job.id).events == []
    with pytest.raises(skynet.InvalidInput):
        sk.event_log(types="job.exploded")

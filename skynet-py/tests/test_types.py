"""Typed results: attributes, reprs, to_dict."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Callable

import pytest

import skynet


@pytest.fixture
def mock_sk(make_skynet: Callable[..., skynet.Skynet]) -> skynet.Skynet:
    return make_skynet(default_provider="mock")


def test_job_attributes_repr_and_dict(mock_sk: skynet.Skynet, workdir: Path) -> None:
    job = mock_sk.run("check git status and list the files", cwd=workdir)
    assert repr(job).startswith(f"<Job {job.id} succeeded READ_ONLY ")
    assert isinstance(job.created_at, datetime.datetime) and job.created_at.tzinfo is not None
    assert job.finished_at is not None and job.finished_at >= job.created_at
    assert job.root == str(workdir)
    d = job.to_dict()
    json.dumps(d)  # plain objects only
    assert d["id"] == job.id and d["status"] == "succeeded" and d["source"] == "python"
    assert [s["command"] for s in d["plan"]["steps"]] == [["git", "status"], ["ls", "-la", "--", "."]]
    assert [s["state"]["status"] for s in d["plan"]["steps"]] == ["succeeded", "succeeded"]


def test_plan_step_decision(mock_sk: skynet.Skynet, workdir: Path) -> None:
    plan = mock_sk.plan("read README.md, then write 'x' to a.txt", cwd=workdir)
    assert repr(plan).startswith(f"<Plan {plan.short_hash} WRITE 2 steps: ")
    assert len(plan) == 2 and plan.hash.startswith(plan.short_hash)
    read, write = plan.steps
    assert repr(read) == '<Step READ_ONLY "Read README.md": cat -- README.md>'
    assert read.action == {"kind": "read_file", "path": "README.md"}
    assert read.cwd == str(workdir)
    assert write.decision is not None and write.decision.verdict == "prompt"
    assert write.stdin == "x"
    assert repr(read.decision).startswith("<Decision allow READ_ONLY rule=")
    assert plan.to_dict()["hash"] == plan.hash
    assert read.to_dict()["decision"]["verdict"] == "allow"


def test_policy_check(mock_sk: skynet.Skynet, workdir: Path) -> None:
    d = mock_sk.policy_check(["git", "push", "origin", "main"], root=workdir)
    assert (d.verdict, d.risk, d.rule) == ("prompt", "ADMIN", "git-push")
    assert d.reasons and "git-push" in d.explain()
    assert d.to_dict() == {"risk": "ADMIN", "verdict": "prompt", "reasons": d.reasons, "rule": "git-push"}
    assert mock_sk.policy_check(["cat", "../../etc/shadow"], root=workdir).forbidden
    with pytest.raises(TypeError):
        mock_sk.policy_check(42)  # type: ignore[arg-type]


def test_logs_tail_and_events_chain(mock_sk: skynet.Skynet, workdir: Path) -> None:
    job = mock_sk.run("check git status and list the files", cwd=workdir)
    logs = mock_sk.logs(job.id)
    assert [line.text for line in logs] == ["mock: git status", "mock: ls -la -- ."]
    assert [str(line) for line in mock_sk.logs(job.id, tail=1)] == ["mock: ls -la -- ."]
    assert logs[0].to_dict()["stream"] == "stdout"
    events = mock_sk.events(job.id)
    assert events[0].kind == "submitted"
    for prev, ev in zip(events, events[1:]):
        assert ev.prev_hash == prev.hash and ev.seq > prev.seq
    assert isinstance(events[0].data, dict) and events[0].to_dict()["kind"] == "submitted"


def test_step_and_plan_constructors_validate() -> None:
    with pytest.raises(ValueError, match="argv is empty"):
        skynet.Step("nothing", [])
    with pytest.raises(ValueError):
        skynet.Step("bad risk", ["ls"], risk="SCARY")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one step"):
        skynet.Plan([])
    p = skynet.Plan([skynet.Step("a", ["ls"]), skynet.Step("b", ["touch", "x"], risk="WRITE")])
    assert p.summary == "a, then b" and p.risk == "WRITE"

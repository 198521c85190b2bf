"""Providers and planners written in Python drive real jobs."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable, Generator, Iterator, Union

import pytest

import skynet


class Recorder(skynet.Provider):
    """Answers every command with two lines and remembers what it ran."""

    name = "recorder"
    isolated = True  # it runs nothing

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], str, str]] = []
        self.threads: set[str] = set()

    def execute(
        self, command: skynet.Command, ctx: skynet.StepContext
    ) -> Generator[Union[str, tuple[str, str]], None, int]:
        self.calls.append((command.argv, command.cwd, ctx.job_id))
        self.threads.add(threading.current_thread().name)
        yield f"ran {' '.join(command.argv)}"
        yield ("stderr", "a warning")
        return 0


class Failing(skynet.Provider):
    name = "failing"
    isolated = True

    def execute(self, command: skynet.Command, ctx: skynet.StepContext) -> Iterator[str]:
        yield "about to fail"
        raise RuntimeError("the provider broke")


class ExitThree(skynet.Provider):
    isolated = True

    def execute(self, command: skynet.Command, ctx: skynet.StepContext) -> int:
        return 3


def test_python_provider_runs_every_step_and_its_output_is_logged(
    make_skynet: Callable[..., skynet.Skynet], workdir: Path
) -> None:
    rec = Recorder()
    sk = make_skynet(providers=[rec])
    assert "recorder" in sk.providers
    job = sk.run("check git status and list the files", cwd=workdir, provider="recorder")
    assert job.status == "succeeded", job.error
    assert job.provider == "recorder"
    assert [argv for argv, _, _ in rec.calls] == [["git", "status"], ["ls", "-la", "--", "."]]
    assert all(cwd == str(workdir) and jid == job.id for _, cwd, jid in rec.calls)
    lines = [(line.step, line.stream, line.text) for line in sk.logs(job.id)]
    assert lines == [
        (0, "stdout", "ran git status"),
        (0, "stderr", "a warning"),
        (1, "stdout", "ran ls -la -- ."),
        (1, "stderr", "a warning"),
    ]
    assert "MainThread" not in rec.threads


def test_python_provider_exception_fails_the_step_with_the_traceback_in_the_log(
    make_skynet: Callable[..., skynet.Skynet], workdir: Path
) -> None:
    sk = make_skynet(providers=[Failing()], default_provider="failing")
    job = sk.run("list the files", cwd=workdir)
    assert job.status == "failed"
    text = "\n".join(line.text for line in sk.logs(job.id))
    assert "about to fail" in text
    assert "Traceback (most recent call last)" in text
    assert "RuntimeError: the provider broke" in text


def test_python_provider_exit_code(make_skynet: Callable[..., skynet.Skynet], workdir: Path) -> None:
    sk = make_skynet(providers=[ExitThree()])
    job = sk.run("list the files", cwd=workdir, provider="exitthree")
    assert job.status == "failed"
    assert job.plan is not None and job.plan.steps[0].exit_code == 3


class Toucher(skynet.Planner):
    """Plans a real file creation; claims READ_ONLY (the policy knows better)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []

    def plan(self, request: skynet.PlanRequest) -> skynet.Plan:
        self.requests.append((request.intent, request.root))
        name = request.intent.split()[-1]
        return skynet.Plan(
            [skynet.Step(f"Create {name}", ["touch", name]), skynet.Step("List", ["ls"])],
            summary=f"make {name}",
        )


def test_python_planner_drives_a_real_job_and_the_policy_judges_it(
    make_skynet: Callable[..., skynet.Skynet], workdir: Path
) -> None:
    planner = Toucher()
    sk = make_skynet(planner=planner)
    plan = sk.plan("please create made.txt", cwd=workdir)
    assert plan.planner == "python:Toucher"
    assert plan.summary == "make made.txt"
    # The planner said READ_ONLY; the policy says touch writes.
    assert [s.risk for s in plan.steps] == ["WRITE", "READ_ONLY"]
    assert plan.risk == "WRITE"
    with pytest.raises(skynet.ApprovalRequired):
        sk.run("please create refused.txt", cwd=workdir)
    assert not (workdir / "refused.txt").exists()
    job = sk.run("please create made.txt", approve=True, cwd=workdir)
    assert job.status == "succeeded", job.error
    assert (workdir / "made.txt").exists()
    assert planner.requests[0] == ("please create made.txt", str(workdir))


def test_python_planner_exception_is_a_planning_error_with_traceback(
    make_skynet: Callable[..., skynet.Skynet], workdir: Path
) -> None:
    class Broken(skynet.Planner):
        def plan(self, request: skynet.PlanRequest) -> skynet.Plan:
            raise KeyError("no idea")

    sk = make_skynet(planner=Broken())
    with pytest.raises(skynet.PlanningError) as raised:
        sk.submit("anything", cwd=workdir)
    assert "Traceback" in str(raised.value) and "KeyError: 'no idea'" in str(raised.value)
    assert sk.jobs() == []


def test_python_planner_must_return_a_plan(make_skynet: Callable[..., skynet.Skynet], workdir: Path) -> None:
    class Wrong(skynet.Planner):
        def plan(self, request: skynet.PlanRequest) -> skynet.Plan:
            return "rm -rf /"  # type: ignore[return-value]

    sk = make_skynet(planner=Wrong())
    with pytest.raises(skynet.PlanningError, match="return a skynet.Plan"):
        sk.plan("x", cwd=workdir)


def test_python_planner_cannot_sneak_a_forbidden_step(make_skynet: Callable[..., skynet.Skynet], workdir: Path) -> None:
    class Sneaky(skynet.Planner):
        def plan(self, request: skynet.PlanRequest) -> skynet.Plan:
            return skynet.Plan([skynet.Step("harmless", ["rm", "-rf", "/"], risk="READ_ONLY")])

    sk = make_skynet(planner=Sneaky())
    with pytest.raises(skynet.PolicyForbidden):
        sk.run("tidy up", approve=True, cwd=workdir)
    assert sk.jobs() == []


def test_python_provider_is_stopped_on_cancel(make_skynet: Callable[..., skynet.Skynet], workdir: Path) -> None:
    started = threading.Event()
    stopped = threading.Event()

    class Endless(skynet.Provider):
        isolated = True

        def execute(self, command: skynet.Command, ctx: skynet.StepContext) -> Iterator[str]:
            started.set()
            try:
                while True:
                    yield "tick"
                    stopped.wait(0.02)
            finally:
                stopped.set()

    sk = make_skynet(providers=[Endless()], default_provider="endless")
    job = sk.submit("list the files", cwd=workdir)
    assert started.wait(20), "the provider never started"
    sk.cancel(job.id)
    assert sk.wait(job.id, timeout=20).status == "cancelled"
    assert stopped.wait(10), "the generator was not closed"


class Opaque(skynet.Provider):
    """Says nothing about isolation: SKYNET cannot tell what it lets a step reach."""

    name = "opaque"

    def execute(self, command: skynet.Command, ctx: skynet.StepContext) -> Iterator[str]:
        yield "ran"


def test_a_provider_that_does_not_say_it_isolates_gets_no_unattended_read_only_work(
    make_skynet: Callable[..., skynet.Skynet], workdir: Path
) -> None:
    sk = make_skynet(providers=[Opaque()], default_provider="opaque")
    with pytest.raises(skynet.ApprovalRequired):
        sk.run("list the files", cwd=workdir)
    job = sk.run("list the files", cwd=workdir, approve=True)
    assert job.status == "succeeded", job.error

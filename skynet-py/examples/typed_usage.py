"""A small program using the `skynet` package; `mypy --strict` checks it
against the hand-written stubs (tests/run.sh runs that check)."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from typing import Iterator, Union

import skynet


class Shout(skynet.Provider):
    """Prints each command in capitals instead of running it."""

    name = "shout"

    def execute(self, command: skynet.Command, ctx: skynet.StepContext) -> Iterator[Union[str, tuple[str, str]]]:
        yield " ".join(command.argv).upper()
        if ctx.cancelled:
            yield ("stderr", "cancelled")


class OneStep(skynet.Planner):
    def plan(self, request: skynet.PlanRequest) -> skynet.Plan:
        return skynet.Plan([skynet.Step(f"Echo {request.intent}", ["echo", request.intent])])


def careful(plan: skynet.Plan) -> bool:
    return plan.risk != "ADMIN" and all(not s.argv[0].startswith("rm") for s in plan.steps)


def main() -> int:
    home = tempfile.mkdtemp()
    with skynet.Skynet(home=home, providers=[Shout()], default_provider="shout") as sk:
        decision: skynet.Decision = sk.policy_check(["git", "status"])
        print(decision.verdict, decision.risk, decision.rule)
        plan: skynet.Plan = sk.plan("check git status")
        for step in plan.steps:
            print(step.risk, step.argv, step.decision.rule if step.decision else None)
        try:
            job: skynet.Job = sk.run("write 'hi' to notes.txt", approve=careful, timeout=30.0)
        except skynet.PolicyForbidden as e:
            print("forbidden:", e.decision.explain())
            return 1
        except skynet.ApprovalRequired as e:
            print("waiting:", e.job_id)
            return 1
        lines: list[str] = [line.text for line in sk.logs(job.id)]
        print(job.status, job.ok, lines, job.to_dict()["status"])
        waiting = sk.submit("write 'x' to a.txt", priority=5)
        if waiting.plan_hash is not None:
            sk.approve(waiting.id, waiting.plan_hash, approver="me")
        finished = sk.wait(waiting.id, timeout=30)
        print(finished.finished_at.isoformat() if finished.finished_at else "-")
        print([e.kind for e in sk.events(finished.id)], len(sk.jobs(status=["succeeded"])))

    sk2 = skynet.Skynet(home=tempfile.mkdtemp(), planner=OneStep(), worker=False)
    print(sk2.plan("hello").planner)
    sk2.close()
    return asyncio.run(amain())


async def amain() -> int:
    async with skynet.AsyncSkynet(home=tempfile.mkdtemp(), default_provider="mock") as sk:
        jobs = await asyncio.gather(*(sk.submit("list the files") for _ in range(3)))
        done: list[skynet.Job] = await asyncio.gather(*(sk.wait(j.id, timeout=30) for j in jobs))

        async def yes(plan: skynet.Plan) -> bool:
            return plan.risk == "WRITE"

        written = await sk.run("write 'x' to a.txt", approve=yes)
        return 0 if all(j.ok for j in done) and written.ok else 1


if __name__ == "__main__":
    sys.exit(main())

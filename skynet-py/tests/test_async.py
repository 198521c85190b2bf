"""The asyncio API (pyo3-async-runtimes), run with asyncio.run."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import skynet


def test_gather_fifty_jobs(tmp_path: Path, workdir: Path) -> None:
    async def main() -> list[skynet.Job]:
        sk = skynet.AsyncSkynet(home=tmp_path / "home", default_provider="mock", concurrency=8)
        try:
            submitted = await asyncio.gather(
                *(sk.submit(f"read file{i}.txt", cwd=workdir) for i in range(50))
            )
            assert len({j.id for j in submitted}) == 50
            return await asyncio.gather(*(sk.wait(j.id, timeout=120) for j in submitted))
        finally:
            sk.close()

    done = asyncio.run(main())
    assert [j.status for j in done] == ["succeeded"] * 50
    assert {j.intent for j in done} == {f"read file{i}.txt" for i in range(50)}


def test_async_approve_flow_with_an_async_callback(tmp_path: Path, workdir: Path) -> None:
    async def main() -> None:
        async with skynet.AsyncSkynet(home=tmp_path / "home") as sk:
            plan = await sk.plan("write 'hi' to notes.txt", cwd=workdir)
            assert plan.risk == "WRITE"

            async def reviewer(p: skynet.Plan) -> bool:
                await asyncio.sleep(0)
                return p.hash == plan.hash

            job = await sk.run("write 'hi' to notes.txt", approve=reviewer, cwd=workdir)
            assert job.status == "succeeded", job.error
            assert (workdir / "notes.txt").read_text() == "hi"
            assert [line.text for line in await sk.logs(job.id)] == ["hi"]
            assert len(await sk.events(job.id)) >= 4
            assert (await sk.get(job.id)).ok
            assert len(await sk.jobs(status="succeeded")) == 1
            decision = await sk.policy_check(["git", "push"])
            assert decision.risk == "ADMIN"

            waiting = await sk.submit("write 'x' to a.txt", cwd=workdir)
            assert (await sk.approve(waiting.id, waiting.plan_hash or "")).status == "queued"
            other = await sk.submit("write 'y' to b.txt", cwd=workdir)
            assert (await sk.deny(other.id)).status == "denied"
            third = await sk.submit("write 'z' to c.txt", cwd=workdir)
            assert (await sk.cancel(third.id)).status == "cancelled"

    asyncio.run(main())


def test_async_errors_are_the_same_classes(tmp_path: Path, workdir: Path) -> None:
    async def main() -> None:
        sk = skynet.AsyncSkynet(home=tmp_path / "home", worker=False)
        try:
            with pytest.raises(skynet.PolicyForbidden):
                await sk.submit("run `rm -rf /`", cwd=workdir)
            with pytest.raises(skynet.ApprovalRequired):
                await sk.run("write 'x' to a.txt", cwd=workdir)
            with pytest.raises(skynet.JobNotFound):
                await sk.get("01a20000-0000-7000-8000-000000000000")
            job = await sk.submit("write 'x' to a.txt", cwd=workdir)
            with pytest.raises(skynet.Timeout):
                await sk.wait(job.id, timeout=0.1)
        finally:
            sk.close()

    asyncio.run(main())


def test_event_loop_stays_responsive_during_a_wait(tmp_path: Path, workdir: Path) -> None:
    async def main() -> int:
        async with skynet.AsyncSkynet(home=tmp_path / "home") as sk:
            ticks = 0

            async def tick() -> None:
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0.01)

            ticker = asyncio.ensure_future(tick())
            job = await sk.run("run `sleep 1`", approve=True, cwd=workdir)
            ticker.cancel()
            assert job.ok
            return ticks

    assert asyncio.run(main()) >= 30

"""Review (a job a lost worker left in needs_review) and retry (a finished
job's plan submitted again), blocking and asyncio.

The lost worker is simulated on the SQLite ledger itself: the job is put
in the state a worker leaves when it dies mid-step (running under a lease
that has lapsed, its WRITE step started), and the next worker's reaper
finds it."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Callable

import pytest

import skynet


def lose_its_worker(home: Path, job_id: str) -> None:
    """Leave `job_id` as a worker that died during its first step would."""
    con = sqlite3.connect(home / "skynet.db", timeout=10)
    try:
        with con:
            con.execute(
                "UPDATE jobs SET status = 'running', attempts = 1, lease_id = 'lost', "
                "lease_worker = 'lost-worker', lease_expires_at = 1 WHERE id = ?",
                (job_id,),
            )
            con.execute(
                "UPDATE steps SET status = 'running', started_at = 1 WHERE job_id = ? AND idx = 0",
                (job_id,),
            )
    finally:
        con.close()


def approved_write_job(sk: skynet.Skynet, workdir: Path, name: str) -> skynet.Job:
    job = sk.submit(f"write 'hi' to {name}", cwd=workdir)
    assert job.status == "planned" and job.plan_hash
    assert sk.approve(job.id, job.plan_hash).status == "queued"
    return job


def test_requeue_needs_the_plan_hash_then_runs_and_retry_waits_for_approval(
    make_skynet: Callable[..., skynet.Skynet], tmp_path: Path, workdir: Path
) -> None:
    first = make_skynet(worker=False)
    job = approved_write_job(first, workdir, "notes.txt")
    assert job.plan_hash
    lose_its_worker(tmp_path / "home", job.id)
    # A worker's reaper finds the lapsed lease mid-WRITE: a human decides.
    sk = make_skynet()
    assert sk.wait(job.id, timeout=30).status == "needs_review"

    with pytest.raises(skynet.InvalidInput, match="plan hash"):
        sk.review(job.id, "requeue")
    with pytest.raises(skynet.StaleApproval):
        sk.review(job.id, "requeue", plan_hash="0" * 64)
    with pytest.raises(skynet.InvalidInput, match="requeue, fail, mark_succeeded"):
        sk.review(job.id, "retry")  # type: ignore[arg-type]
    assert sk.get(job.id).status == "needs_review"

    queued = sk.review(
        job.id, "requeue", plan_hash=job.plan_hash[:12], reason="checked the disk", actor="ops"
    )
    assert queued.status == "queued"
    assert queued.approval is not None and queued.approval["approver"] == "ops"
    done = sk.wait(job.id, timeout=30)
    assert done.status == "succeeded", done.error
    assert (workdir / "notes.txt").read_text() == "hi"
    reviewed = [e.data for e in sk.events(job.id) if e.kind == "status" and "review" in e.data]
    assert reviewed == [
        {
            "from": "needs_review",
            "to": "queued",
            "actor": "ops",
            "approver": "ops",
            "plan_hash": job.plan_hash,
            "principal": "local",
            "review": "requeue",
            "reason": "checked the disk",
        }
    ]
    with pytest.raises(skynet.Conflict, match="is succeeded, not needs_review"):
        sk.review(job.id, "fail")

    retry = sk.retry(job.id)
    assert retry.id != job.id
    assert retry.retry_of == job.id
    assert retry.status == "planned", "a WRITE retry waits for approval"
    assert retry.source == "python"
    assert retry.to_dict()["retry_of"] == job.id
    with pytest.raises(skynet.Conflict, match="is planned and has not finished"):
        sk.retry(retry.id)


def test_async_review_fails_or_marks_succeeded_and_retry(tmp_path: Path, workdir: Path) -> None:
    home = tmp_path / "home"
    setup = skynet.Skynet(home=home, worker=False)
    try:
        failing = approved_write_job(setup, workdir, "a.txt")
        marking = approved_write_job(setup, workdir, "b.txt")
    finally:
        setup.close()
    for job in (failing, marking):
        lose_its_worker(home, job.id)

    async def main() -> None:
        async with skynet.AsyncSkynet(home=home) as sk:
            for job in (failing, marking):
                assert (await sk.wait(job.id, timeout=30)).status == "needs_review"
            failed = await sk.review(failing.id, "fail", reason="half written", actor="ops")
            assert failed.status == "failed"
            assert failed.error and "marked failed on review by ops: half written" in failed.error
            marked = await sk.review(marking.id, "mark_succeeded", plan_hash=marking.plan_hash)
            assert marked.ok
            assert marked.plan and [s.status for s in marked.plan.steps] == ["succeeded"]
            with pytest.raises(skynet.Conflict, match="not needs_review"):
                await sk.review(marking.id, "fail")
            retry = await sk.retry(failed.id)
            assert (retry.status, retry.retry_of) == ("planned", failed.id)

    asyncio.run(main())

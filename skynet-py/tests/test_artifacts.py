"""Artifacts from Python (records, bytes, a file), logs by time and
stream, and gc, sync and async."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import pytest

import skynet


def test_artifacts_list_bytes_and_save(sk: skynet.Skynet, workdir: Path) -> None:
    (workdir / "reports").mkdir()
    (workdir / "reports" / "junit.xml").write_text("<testsuite tests=\"1\"/>\n")
    job = sk.run("list the files", cwd=workdir, artifacts=["reports/*.xml"])
    assert job.ok
    listed = sk.artifacts(job.id)
    assert [a.name for a in listed] == ["reports/junit.xml"]
    record = listed[0]
    body = b"<testsuite tests=\"1\"/>\n"
    assert record.size == len(body)
    assert record.sha256 == hashlib.sha256(body).hexdigest()
    assert record.content_type == "application/xml"
    assert record.job_id == job.id and record.step == 0
    assert isinstance(record.created_at, datetime)
    assert record.to_dict()["name"] == "reports/junit.xml"
    assert sk.artifact(job.id, "reports/junit.xml") == body
    target = workdir / "copy.xml"
    assert sk.save_artifact(job.id, "reports/junit.xml", target) == len(body)
    assert target.read_bytes() == body
    with pytest.raises(skynet.JobNotFound):
        sk.artifact(job.id, "nope.xml")
    with pytest.raises(skynet.JobNotFound):
        sk.artifacts("00000000-0000-7000-8000-000000000000")


def test_logs_by_time_and_stream(sk: skynet.Skynet, workdir: Path) -> None:
    job = sk.run("read README.md", cwd=workdir)

    def texts(lines: list[skynet.LogLine]) -> list[str]:
        return [line.text for line in lines]

    assert texts(sk.logs(job.id, stream="stdout")) == ["hello from the readme"]
    assert texts(sk.logs(job.id, stream="stderr")) == []
    hour_ago = datetime.now(timezone.utc) - timedelta(hours=1)
    assert texts(sk.logs(job.id, since=hour_ago)) == ["hello from the readme"]
    assert texts(sk.logs(job.id, since="1h", until=hour_ago)) == []
    assert texts(sk.logs(job.id, until="2000-01-01T00:00:00Z")) == []
    with pytest.raises(skynet.InvalidInput):
        sk.logs(job.id, stream="stdin")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        sk.logs(job.id, since=datetime.now())


def test_gc_dry_run_lists_what_the_run_removes(
    make_skynet: Callable[..., skynet.Skynet],
    tmp_path: Path,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SKYNET_RETENTION_JOBS", "1ms")
    sk = make_skynet(home=tmp_path / "gc-home")
    job = sk.run("read README.md", cwd=workdir)
    dry = sk.gc(dry_run=True)
    assert dry["dry_run"] is True
    assert dry["jobs"]["job_ids"] == [job.id]
    real = sk.gc()
    assert real["jobs"] == dry["jobs"]
    # The memories forgotten with the removed jobs are reported too.
    assert isinstance(real["memories"], int)
    assert real["memories"] == dry["memories"]
    with pytest.raises(skynet.JobNotFound):
        sk.get(job.id)


def test_gc_prunes_the_event_log_and_pages_show_the_gap(
    make_skynet: Callable[..., skynet.Skynet],
    tmp_path: Path,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SKYNET_RETENTION_EVENTS", "1ms")
    sk = make_skynet(home=tmp_path / "events-home")
    sk.run("read README.md", cwd=workdir)
    before = sk.event_log(limit=1000).events
    assert sk.event_log().pruned == []
    dry = sk.gc(dry_run=True)
    assert dry["events"]["count"] == len(before)
    real = sk.gc()
    same = ("count", "first_id", "last_id", "first_at", "last_at")
    assert [real["events"][k] for k in same] == [dry["events"][k] for k in same]
    page = sk.event_log(limit=1000)
    (anchor,) = page.pruned
    assert anchor["count"] == len(before)
    assert (anchor["first_id"], anchor["last_id"]) == (before[0]["id"], before[-1]["id"])
    assert [e["type"] for e in page.events] == ["gc.completed"]
    assert page.events[0]["payload"]["events"] == len(before)
    assert sk.event_log(after=anchor["through"]).pruned == []


def test_async_artifacts_and_gc(tmp_path: Path, workdir: Path) -> None:
    (workdir / "out.txt").write_text("done\n")

    async def main() -> tuple[list[str], bytes, dict[str, object]]:
        sk = skynet.AsyncSkynet(home=tmp_path / "async-home")
        try:
            job = await sk.run("list the files", cwd=workdir, artifacts=["out.txt"])
            names = [a.name for a in await sk.artifacts(job.id)]
            body = await sk.artifact(job.id, "out.txt")
            report = await sk.gc(dry_run=True)
            return names, body, report
        finally:
            sk.close()

    names, body, report = asyncio.run(main())
    assert names == ["out.txt"]
    assert body == b"done\n"
    assert report["dry_run"] is True

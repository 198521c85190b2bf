"""`sk.memory`: store, search, similar, get, forget and stats through the
Rust core, blocking and asyncio, with the offline embedder."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

import skynet


def test_store_search_similar_forget(tmp_path: Path) -> None:
    with skynet.Skynet(home=tmp_path / "home", worker=False) as sk:
        m = sk.memory
        git = m.store(
            "check git status in the api repo",
            "task_execution",
            metadata={"repo": "api", "n": 3},
            tags=["git"],
            outcome="success",
            importance=0.9,
        )
        m.store("restart nginx after the config change", tags=["nginx"])
        m.store("rotate the tls certificates on the edge hosts")
        assert git.memory_type == "task_execution"
        assert git.metadata == {"repo": "api", "n": 3}
        assert git.tags == ["git"]
        assert git.outcome == "success"
        assert git.importance == pytest.approx(0.9)
        assert git.to_dict()["content"] == "check git status in the api repo"

        hits = m.search("git status", limit=2)
        assert hits and hits[0].memory.id == git.id
        assert hits[0].score > 0
        assert {"similarity", "relevance", "recency"} <= set(hits[0].parts)
        only_nginx = m.search("restart", tags=["nginx"])
        assert [h.memory.content for h in only_nginx] == ["restart nginx after the config change"]

        like = m.similar("git status of the api repo", limit=1)
        assert [h.memory.id for h in like] == [git.id]
        assert all(h.memory.id != git.id for h in m.similar(memory_id=git.id))

        stats = m.stats()
        assert stats["total"] == 3
        assert stats["by_type"] == {"note": 2, "task_execution": 1}

        got = m.get(git.id)
        assert got is not None and got.content == git.content
        assert m.forget(git.id) is True
        assert m.forget(git.id) is False
        assert m.get(git.id) is None
        assert m.stats()["total"] == 2


def test_bad_input_is_a_typed_error_and_stores_nothing(tmp_path: Path) -> None:
    with skynet.Skynet(home=tmp_path / "home", worker=False) as sk:
        with pytest.raises(skynet.InvalidInput, match="empty"):
            sk.memory.store("   ")
        with pytest.raises(skynet.InvalidInput):
            unknown: Any = "no_such_type"  # what an untyped caller may pass
            sk.memory.store("x", unknown)
        with pytest.raises(skynet.InvalidInput):
            sk.memory.store("x", importance=2.0)
        with pytest.raises(skynet.InvalidInput, match="content or memory_id"):
            sk.memory.similar()
        with pytest.raises(skynet.InvalidInput, match="limit"):
            sk.memory.search("x", limit=0)
        with pytest.raises(ValueError, match="JSON"):
            sk.memory.store("x", metadata={"f": object()})
        assert sk.memory.stats()["total"] == 0


def test_async_memory(tmp_path: Path) -> None:
    async def main() -> list[str]:
        sk = skynet.AsyncSkynet(home=tmp_path / "home", worker=False)
        try:
            stored = await asyncio.gather(
                *(sk.memory.store(f"deploy build {i} to staging") for i in range(5))
            )
            assert len({r.id for r in stored}) == 5
            hits = await sk.memory.search("deploy staging", limit=10)
            return [h.memory.id for h in hits]
        finally:
            sk.close()

    ids = asyncio.run(main())
    assert len(ids) == 5


def test_a_finished_job_is_remembered(tmp_path: Path, workdir: Path) -> None:
    with skynet.Skynet(home=tmp_path / "home", default_provider="mock") as sk:
        job = sk.run("list the files", cwd=workdir)
        assert job.status == "succeeded"
        # The engine writes a finished job's memory off the job's path.
        deadline = time.monotonic() + 20
        found: list[skynet.MemoryHit] = []
        while not found and time.monotonic() < deadline:
            found = sk.memory.search("list the files", memory_type="task_execution")
            time.sleep(0.05)
        assert [h.memory.job_id for h in found] == [job.id]
        assert found[0].memory.outcome == "success"


def test_forget_matching_keeps_pinned_and_pin_toggles(tmp_path: Path) -> None:
    with skynet.Skynet(home=tmp_path / "home", worker=False) as sk:
        m = sk.memory
        m.store("old note one", tags=["old"])
        m.store("old note two", tags=["old"])
        kept = m.store("old but pinned", tags=["old"], pinned=True)
        assert kept.pinned is True
        with pytest.raises(skynet.InvalidInput, match="condition"):
            m.forget_matching()
        with pytest.raises(skynet.InvalidInput, match="7d"):
            m.forget_matching(since="last tuesday")
        assert m.forget_matching(tags=["old"], since="1h") == 2
        assert m.stats()["pinned"] == 1
        assert m.pin(kept.id, pinned=False) is True
        assert m.pin("no-such-id") is False
        got = m.get(kept.id)
        assert got is not None and got.pinned is False
        assert m.forget_matching(tags=["old"]) == 1
        assert m.stats()["total"] == 0


def test_a_plan_shows_similar_past_runs(tmp_path: Path, workdir: Path) -> None:
    with skynet.Skynet(home=tmp_path / "home", default_provider="mock") as sk:
        job = sk.run("list the files", cwd=workdir)
        assert job.status == "succeeded"
        deadline = time.monotonic() + 20
        while (
            not sk.memory.search("list the files", memory_type="task_execution")
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        plan = sk.plan("list the files", cwd=workdir)
        assert plan.past_runs == "similar past runs: 1 succeeded"
        assert plan.warnings == []
        assert plan.to_dict()["past_runs"]["succeeded"] == 1

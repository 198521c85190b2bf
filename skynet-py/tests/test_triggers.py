"""`sk.triggers` and `sk.subscribe`: triggers added, listed, paused,
resumed and removed, bad input raising InvalidInput with nothing stored;
a Python callable receives typed events from a background task, an
exception in it is counted and delivery goes on, ``stop()`` ends it, and a
named (durable) subscription resumes where the last one stopped."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Callable

import pytest

import skynet


def until(check: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll ``check`` until it holds (fails after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def test_triggers_round_trip(sk: skynet.Skynet, workdir: Path) -> None:
    t = sk.triggers.add(
        "list the files", "provider.degraded", where={"provider": "docker"}, max="5/day",
        root=workdir,
    )
    assert t["on"] == "provider.degraded"
    assert t["conditions"] == {"provider": "docker"}
    assert t["rate"] == {"max_firings": 5, "window_secs": 86400}
    other = sk.triggers.add("list the files", "job.failed", root=workdir)
    assert other["rate"]["max_firings"] == 3
    assert [x["id"] for x in sk.triggers.list()] == [t["id"], other["id"]]
    assert sk.triggers.pause(t["id"])["paused"] is True
    assert sk.triggers.resume(t["id"])["paused"] is False
    sk.triggers.remove(t["id"])
    assert [x["id"] for x in sk.triggers.list()] == [other["id"]]
    with pytest.raises(skynet.TriggerNotFound) as raised:
        sk.triggers.remove(t["id"])
    assert raised.value.code == "not_found"


@pytest.mark.parametrize(
    ("on", "intent", "max"),
    [
        ("job.exploded", "list the files", None),
        ("", "list the files", None),
        ("job.failed", "  ", None),
        ("job.failed", "list the files", "0/hour"),
        ("trigger.*", "list the files", None),
    ],
)
def test_bad_triggers_raise_and_store_nothing(
    sk: skynet.Skynet, workdir: Path, on: str, intent: str, max: str | None
) -> None:
    with pytest.raises(skynet.InvalidInput):
        sk.triggers.add(intent, on, max=max, root=workdir)
    assert sk.triggers.list() == []


def test_a_callable_receives_typed_events(
    make_skynet: Callable[..., skynet.Skynet], workdir: Path
) -> None:
    sk = make_skynet(default_provider="mock")
    got: list[skynet.SystemEvent] = []
    threads: set[int] = set()

    def on_event(event: skynet.SystemEvent) -> None:
        threads.add(threading.get_ident())
        got.append(event)
        if len(got) == 1:
            raise RuntimeError("a callback that fails once")

    sub = sk.subscribe(on_event, ["job.*"])
    assert sub.active and sub.name is None
    job = sk.run("list the files", cwd=workdir)
    until(lambda: any(e.type == "job.succeeded" and e.job == job.id for e in got))
    types = [e.type for e in got if e.job == job.id]
    assert types[0] == "job.created"
    assert "job.started" in types
    first = got[0]
    assert first.source == "ledger"
    assert first.payload["intent"] == "list the files"
    assert first.at.tzinfo is not None
    assert first.to_dict()["type"] == "job.created"
    assert sub.errors == 1, "the exception was counted and delivery went on"
    assert sub.delivered == len(got)
    assert threading.get_ident() not in threads, "delivered from a background thread"
    sub.stop()
    assert not sub.active
    delivered = sub.delivered
    sk.run("list the files", cwd=workdir)
    time.sleep(0.5)  # nothing to wait for: a stopped subscription must stay silent
    assert sub.delivered == delivered


def test_a_named_subscription_resumes_where_it_stopped(
    make_skynet: Callable[..., skynet.Skynet], workdir: Path
) -> None:
    sk = make_skynet(default_provider="mock")
    seen: list[str] = []
    with sk.subscribe(lambda e: seen.append(e.job or ""), "job.succeeded", name="py-test") as sub:
        first = sk.run("list the files", cwd=workdir)
        until(lambda: first.id in seen)
    assert not sub.active
    # Stopped: a job finishes meanwhile; the next subscription of the
    # same name picks it up.
    second = sk.run("list the files", cwd=workdir)
    again: list[str] = []
    sub = sk.subscribe(lambda e: again.append(e.job or ""), "job.succeeded", name="py-test")
    until(lambda: second.id in again)
    assert first.id not in again
    sub.stop()
    with pytest.raises(skynet.InvalidInput):
        sk.subscribe(print, "job.exploded")


def test_async_handles(tmp_path: Path, workdir: Path) -> None:
    async def main() -> None:
        async with skynet.AsyncSkynet(home=tmp_path / "home", worker=False) as sk:
            t = await sk.triggers.add("list the files", "provider.*", root=workdir)
            assert [x["id"] for x in await sk.triggers.list()] == [t["id"]]
            sub = sk.subscribe(lambda e: None)
            sub.stop()

    asyncio.run(main())

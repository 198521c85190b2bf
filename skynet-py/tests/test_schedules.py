"""`sk.schedules` and `sk.initiative`: schedules added, listed, paused,
resumed and removed; bad input raises InvalidInput and stores nothing;
the initiative's kill switch is set and cleared; blocking and asyncio."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import skynet


def test_schedules_round_trip(sk: skynet.Skynet, workdir: Path) -> None:
    s = sk.schedules.add("list the files", "*/5 * * * *", time_zone="Europe/Paris", root=workdir)
    assert s["cron"] == "*/5 * * * *"
    assert s["time_zone"] == "Europe/Paris"
    assert s["missed"] == "skip"
    every = sk.schedules.add("list the files", every="10m", catch_up=True, root=workdir)
    assert every["every_ms"] == 600_000
    assert every["missed"] == "catch_up"
    assert [x["id"] for x in sk.schedules.list()] == [s["id"], every["id"]]
    assert sk.schedules.pause(s["id"])["paused"] is True
    assert sk.schedules.resume(s["id"])["paused"] is False
    sk.schedules.remove(s["id"])
    assert [x["id"] for x in sk.schedules.list()] == [every["id"]]
    with pytest.raises(skynet.ScheduleNotFound) as raised:
        sk.schedules.remove(s["id"])
    assert raised.value.code == "not_found"


@pytest.mark.parametrize(
    ("cron", "every", "tz"),
    [
        ("*/5 * * *", None, None),
        ("0 9 * * *", None, "Mars/Olympus"),
        (None, "0s", None),
        (None, "soon", None),
        ("* * * * *", "10m", None),
        (None, None, None),
    ],
)
def test_bad_schedules_raise_and_store_nothing(
    sk: skynet.Skynet, workdir: Path, cron: str | None, every: str | None, tz: str | None
) -> None:
    with pytest.raises(skynet.InvalidInput):
        sk.schedules.add("list the files", cron, every=every, time_zone=tz, root=workdir)
    assert sk.schedules.list() == []


def test_initiative_kill_switch(sk: skynet.Skynet) -> None:
    status = sk.initiative.status()
    assert status["enabled"] is False
    assert status["usage"]["paused"] is False
    assert sk.initiative.pause()["usage"]["paused"] is True
    assert sk.initiative.status()["usage"]["changed_by"] == "python"
    assert sk.initiative.resume()["usage"]["paused"] is False


def test_async_handles(tmp_path: Path, workdir: Path) -> None:
    async def main() -> None:
        async with skynet.AsyncSkynet(home=tmp_path / "home", worker=False) as sk:
            s = await sk.schedules.add("list the files", every="1h", root=workdir)
            assert [x["id"] for x in await sk.schedules.list()] == [s["id"]]
            status = await sk.initiative.pause()
            assert status["usage"]["paused"] is True

    asyncio.run(main())

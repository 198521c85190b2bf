"""Shared fixtures: every test gets its own SKYNET home (SQLite ledger) and
sandbox directory, and engines are closed after the test."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

import skynet


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """The sandbox root jobs run in."""
    root = tmp_path / "work"
    root.mkdir()
    (root / "README.md").write_text("hello from the readme\n")
    return root


@pytest.fixture
def make_skynet(tmp_path: Path) -> Iterator[Callable[..., skynet.Skynet]]:
    """Open engines on a fresh home; all are closed at the end."""
    opened: list[skynet.Skynet] = []

    def make(**kwargs: Any) -> skynet.Skynet:
        kwargs.setdefault("home", tmp_path / "home")
        sk = skynet.Skynet(**kwargs)
        opened.append(sk)
        return sk

    yield make
    for sk in opened:
        sk.close()


@pytest.fixture
def sk(make_skynet: Callable[..., skynet.Skynet]) -> skynet.Skynet:
    """An engine running real processes (the local provider)."""
    return make_skynet()

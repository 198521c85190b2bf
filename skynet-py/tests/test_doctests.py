"""The examples in the docstrings run and are right."""

from __future__ import annotations

import doctest
import importlib
import os
from pathlib import Path

import pytest

import skynet
import skynet.errors

_skynet = importlib.import_module("skynet._skynet")


@pytest.mark.parametrize("module", [skynet, skynet.errors, _skynet], ids=lambda m: m.__name__)
def test_docstring_examples(module: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the examples plan and run in the current directory
    (tmp_path / "README.md").write_text("readme\n")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)  # type: ignore[arg-type]
    assert result.failed == 0
    assert result.attempted > 0, f"no examples found in {module}"
    assert os.getcwd() == str(tmp_path)

"""Every core error kind arrives as its own exception class."""

from __future__ import annotations

import importlib
import threading
import time
import uuid
from pathlib import Path
from typing import Callable

import pytest

import skynet

_skynet = importlib.import_module("skynet._skynet")

# code (ErrorKind::code in skynet-core) -> class, for every kind.
KINDS = {
    "invalid_input": skynet.InvalidInput,
    "planning_failed": skynet.PlanningError,
    "forbidden": skynet.PolicyForbidden,
    "approval_required": skynet.ApprovalRequired,
    "stale_approval": skynet.StaleApproval,
    "not_found": skynet.JobNotFound,
    "not_permitted": skynet.NotPermitted,
    "conflict": skynet.Conflict,
    "lease_lost": skynet.LeaseLost,
    "provider_error": skynet.ProviderError,
    "timeout": skynet.Timeout,
    "cancelled": skynet.Cancelled,
    "internal": skynet.StoreError,
}


@pytest.mark.parametrize("code", sorted(KINDS))
def test_each_kind_maps_to_its_class(code: str) -> None:
    with pytest.raises(KINDS[code]) as raised:
        _skynet._raise_core_error(code)
    assert isinstance(raised.value, skynet.SkynetError)
    assert raised.value.code == code
    assert str(raised.value)


def test_python_base_classes() -> None:
    assert issubclass(skynet.InvalidInput, ValueError)
    assert issubclass(skynet.JobNotFound, LookupError)
    assert issubclass(skynet.Timeout, TimeoutError)


def test_invalid_input_empty_intent(sk: skynet.Skynet) -> None:
    with pytest.raises(skynet.InvalidInput, match="intent is empty"):
        sk.submit("   ")


def test_planning_error_for_words_the_rules_do_not_know(sk: skynet.Skynet, workdir: Path) -> None:
    with pytest.raises(skynet.PlanningError):
        sk.plan("florp the wibble", cwd=workdir)


def test_policy_forbidden_carries_the_decision(sk: skynet.Skynet, workdir: Path) -> None:
    with pytest.raises(skynet.PolicyForbidden) as raised:
        sk.submit("run `mkfs /dev/sda`", cwd=workdir)
    assert raised.value.decision.verdict == "forbid"
    assert raised.value.code == "forbidden"


def test_approval_required_from_run(sk: skynet.Skynet, workdir: Path) -> None:
    with pytest.raises(skynet.ApprovalRequired, match="needs approval"):
        sk.run("write 'x' to a.txt", cwd=workdir)


def test_stale_approval(sk: skynet.Skynet, workdir: Path) -> None:
    job = sk.submit("write 'x' to a.txt", cwd=workdir)
    with pytest.raises(skynet.StaleApproval):
        sk.approve(job.id, "0" * 64)


def test_job_not_found(sk: skynet.Skynet) -> None:
    missing = str(uuid.uuid4())
    for call in (sk.get, sk.logs, sk.events, sk.wait, sk.cancel):
        with pytest.raises(skynet.JobNotFound) as raised:
            call(missing)
        assert raised.value.job_id == missing
    with pytest.raises(skynet.JobNotFound):
        sk.get("not-a-job-id")


def test_conflict_for_an_impossible_state_change(sk: skynet.Skynet, workdir: Path) -> None:
    job = sk.submit("write 'x' to a.txt", cwd=workdir)
    sk.deny(job.id)
    with pytest.raises(skynet.Conflict):
        sk.approve(job.id, job.plan_hash or "")


def test_timeout_on_wait(sk: skynet.Skynet, workdir: Path) -> None:
    job = sk.submit("write 'x' to a.txt", cwd=workdir)
    started = time.monotonic()
    with pytest.raises(skynet.Timeout):
        sk.wait(job.id, timeout=0.2)
    assert time.monotonic() - started < 5


def test_cancelled_while_running(sk: skynet.Skynet, workdir: Path) -> None:
    """A real `sleep 30` is cancelled from another thread: run() raises
    Cancelled, well before the sleep would have ended."""

    def cancel_when_running() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for job in sk.jobs(status="running"):
                sk.cancel(job.id)
                return
            time.sleep(0.05)

    canceller = threading.Thread(target=cancel_when_running)
    canceller.start()
    started = time.monotonic()
    with pytest.raises(skynet.Cancelled):
        sk.run("run `sleep 30`", approve=True, cwd=workdir)
    canceller.join()
    assert time.monotonic() - started < 15


def test_store_error_for_an_unusable_database(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    url = f"sqlite://{blocker}/skynet.db"
    with pytest.raises(skynet.StoreError):
        skynet.Skynet(database_url=url, home=tmp_path / "home")


def test_bad_arguments_are_python_errors(make_skynet: Callable[..., skynet.Skynet]) -> None:
    with pytest.raises(ValueError, match="unknown planner"):
        make_skynet(planner="llm")
    with pytest.raises(TypeError, match="skynet.Provider"):
        make_skynet(providers=[object()])
    sk = make_skynet()
    with pytest.raises(ValueError, match="timeout"):
        sk.wait(str(uuid.uuid4()), timeout=-1)


def test_an_idempotency_key_reused_for_another_request_is_refused(
    sk: skynet.Skynet, workdir: Path
) -> None:
    first = sk.submit("list the files", cwd=workdir, idempotency_key="k-1")
    again = sk.submit("list the files", cwd=workdir, idempotency_key="k-1")
    assert again.id == first.id
    with pytest.raises(skynet.IdempotencyConflict) as raised:
        sk.submit("write 'x' to a.txt", cwd=workdir, idempotency_key="k-1")
    assert isinstance(raised.value, skynet.Conflict)
    assert raised.value.code == "conflict"
    assert raised.value.job_id == first.id


def test_a_failed_job_says_why_as_data(sk: skynet.Skynet, workdir: Path) -> None:
    job = sk.run("run `false`", approve=True, cwd=workdir)
    assert job.status == "failed"
    failure = job.failure
    assert failure is not None
    assert failure["kind"] == "step_failed"
    assert failure["step"] == 0
    assert failure["exit_code"] == 1
    assert failure["message"] == job.error
    assert sk.run("list the files", cwd=workdir).failure is None


def test_an_expired_approval_request_is_a_conflict(
    make_skynet: Callable[..., skynet.Skynet], tmp_path: Path, workdir: Path
) -> None:
    home = tmp_path / "ttl-home"
    home.mkdir()
    (home / "skynet.toml").write_text('[limits]\napproval_ttl = "200ms"\n')
    sk = make_skynet(home=home)
    job = sk.submit("write 'x' to a.txt", cwd=workdir)
    time.sleep(0.3)
    with pytest.raises(skynet.Conflict) as raised:
        sk.approve(job.id, job.plan_hash or "")
    assert "expired" in str(raised.value)
    assert sk.get(job.id).status == "planned"


def test_original_settings_names_warn_with_their_successor(
    make_skynet: Callable[..., skynet.Skynet], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKYNET_EXECUTION_PROVIDER", "local")
    monkeypatch.delenv("SKYNET_PROVIDER", raising=False)
    with pytest.warns(UserWarning, match="SKYNET_EXECUTION_PROVIDER is read as SKYNET_PROVIDER"):
        make_skynet()

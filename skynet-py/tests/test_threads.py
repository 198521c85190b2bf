"""Blocking calls release the GIL; Ctrl-C interrupts them."""

from __future__ import annotations

import _thread
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import skynet


class _CtrlC:
    """Press Ctrl-C (``interrupt_main``) ``after`` seconds into the block,
    and again at ``bound`` seconds if the call is still blocked.

    Python's own SIGINT handler is installed for the block: a process
    started in the background by a non-interactive shell (``cmd &``)
    inherits SIGINT as ignored, and then ``interrupt_main`` does nothing
    and the blocked call waits forever. The second press keeps a lost first
    press from hanging the run: the call then ends after ``bound``, which
    the test's time bound fails."""

    def __init__(self, after: float, bound: float) -> None:
        self.after = after
        self.bound = bound
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._press, daemon=True)
        self.previous: Any = None

    def _press(self) -> None:
        for delay in (self.after, self.bound - self.after):
            if self.done.wait(delay):
                return
            _thread.interrupt_main()

    def __enter__(self) -> _CtrlC:
        self.previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.done.set()
        self.thread.join()
        signal.signal(signal.SIGINT, self.previous)


def test_other_threads_run_while_wait_blocks(sk: skynet.Skynet, workdir: Path) -> None:
    """A real `sleep 1` job: while the main thread waits for it, a Python
    thread keeps counting (it would be frozen if the GIL were held)."""
    ticks = 0
    stop = threading.Event()

    def count() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.005)

    job = sk.submit("run `sleep 1`", cwd=workdir)
    assert job.status == "queued"  # READ_ONLY: the in-process worker takes it
    counter = threading.Thread(target=count)
    counter.start()
    started = time.monotonic()
    done = sk.wait(job.id, timeout=30)
    waited = time.monotonic() - started
    stop.set()
    counter.join()
    assert done.status == "succeeded", done.error
    assert waited >= 0.5
    # ~200 ticks a second when free; demand a fraction of that.
    assert ticks >= 40 * waited, (ticks, waited)


def test_pure_python_work_runs_during_run(sk: skynet.Skynet, workdir: Path) -> None:
    """CPU-bound Python in another thread makes progress during run()."""
    progress: list[int] = []
    stop = threading.Event()

    def spin() -> None:
        n = 0
        while not stop.is_set():
            n += sum(range(1000))
            progress.append(n)

    spinner = threading.Thread(target=spin)
    spinner.start()
    before = len(progress)
    job = sk.run("run `sleep 1`", approve=True, cwd=workdir)
    during = len(progress) - before
    stop.set()
    spinner.join()
    assert job.ok
    assert during > 100, during


def test_ctrl_c_interrupts_wait(sk: skynet.Skynet, workdir: Path) -> None:
    job = sk.submit("write 'x' to a.txt", cwd=workdir)  # waits for approval forever
    started = time.monotonic()
    with _CtrlC(0.3, bound=5), pytest.raises(KeyboardInterrupt):
        sk.wait(job.id)
    assert time.monotonic() - started < 5
    assert sk.get(job.id).status == "planned"


def test_ctrl_c_interrupts_run(sk: skynet.Skynet, workdir: Path) -> None:
    started = time.monotonic()
    with _CtrlC(0.5, bound=10), pytest.raises(KeyboardInterrupt):
        sk.run("run `sleep 20`", approve=True, cwd=workdir)
    assert time.monotonic() - started < 10
    # The interrupted call left the job to the engine, which still owns it.
    (job,) = sk.jobs()
    assert job.status in ("queued", "running")
    sk.cancel(job.id)
    assert sk.wait(job.id, timeout=20).status == "cancelled"


def test_run_timeout_leaves_the_job_running(sk: skynet.Skynet, workdir: Path) -> None:
    started = time.monotonic()
    with pytest.raises(skynet.Timeout):
        sk.run("run `sleep 2`", approve=True, cwd=workdir, timeout=0.3)
    assert time.monotonic() - started < 2
    (job,) = sk.jobs()
    assert sk.wait(job.id, timeout=30).status == "succeeded"

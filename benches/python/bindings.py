"""Python bindings overhead, measured beside the same work in Rust.

Run by benches/python/run.sh (release wheel in a fresh venv + the release
`skynet-python-peer` binary). Alternates Rust and Python runs and reports
medians:

* policy_check: mean time per call of ``Skynet.policy_check(["git",
  "status"], root)`` vs ``skynet_core::Skynet::check_command``;
* drain: submit 1,000 READ_ONLY jobs on the mock provider and wait for each,
  with the in-process worker (concurrency 16) running meanwhile.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import skynet

POLICY_CALLS = 50_000
JOBS = 1_000
CONCURRENCY = 16
ROUNDS = 5


def py_policy(root: Path) -> float:
    sk = skynet.Skynet(home=root / ".home", worker=False)
    argv = ["git", "status"]
    check = sk.policy_check
    start = time.perf_counter_ns()
    for _ in range(POLICY_CALLS):
        check(argv, root)
    elapsed = time.perf_counter_ns() - start
    sk.close()
    return elapsed / POLICY_CALLS


def py_drain(home: Path) -> float:
    sk = skynet.Skynet(home=home, default_provider="mock", concurrency=CONCURRENCY)
    start = time.perf_counter()
    ids = [sk.submit("list the files", cwd=home).id for _ in range(JOBS)]
    for job_id in ids:
        assert sk.wait(job_id).status == "succeeded"
    elapsed = time.perf_counter() - start
    sk.close()
    return elapsed


def peer(binary: str, *args: str) -> float:
    out = subprocess.run([binary, *args], check=True, capture_output=True, text=True)
    return float(out.stdout.strip())


def main() -> None:
    binary = sys.argv[1]
    env_clean = [k for k in os.environ if k.startswith("SKYNET_")]
    assert not env_clean, f"unset {env_clean} first: both sides must use the defaults"
    results: dict[str, list[float]] = {k: [] for k in ("rs_policy", "py_policy", "rs_drain", "py_drain")}
    for _ in range(ROUNDS):
        with tempfile.TemporaryDirectory() as d:
            root = Path(d)
            results["rs_policy"].append(peer(binary, "policy", str(POLICY_CALLS), str(root)))
            results["py_policy"].append(py_policy(root))
        with tempfile.TemporaryDirectory() as d:
            results["rs_drain"].append(peer(binary, "drain", str(JOBS), str(CONCURRENCY), d))
        with tempfile.TemporaryDirectory() as d:
            results["py_drain"].append(py_drain(Path(d)))
    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"rounds: {ROUNDS} (medians; all: {results})")
    print(f"policy_check  rust {med['rs_policy'] / 1000:.2f} us/call  python {med['py_policy'] / 1000:.2f} us/call"
          f"  added {(med['py_policy'] - med['rs_policy']) / 1000:.2f} us")
    print(f"drain {JOBS}    rust {med['rs_drain']:.2f} s  python {med['py_drain']:.2f} s"
          f"  ratio {med['py_drain'] / med['rs_drain']:.2f}x")


if __name__ == "__main__":
    main()

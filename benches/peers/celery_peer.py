"""Celery's side of the peer benchmark: the app, its tasks, and its clients.

Settings follow Celery's documentation for reliable, short tasks:
acks_late (a task is acknowledged only after it ran, so a crashed worker's
tasks are delivered again: the durable choice), no result backend (the
benchmark never reads results), a high prefetch multiplier (the "Optimizing"
guide's advice for many short tasks), no rate limits, the `threads` pool
(so a worker is one OS process, keeping the process count equal to the
other peers), started by bench.py with --without-gossip --without-mingle
--without-heartbeat.

Workers print `READY` when they consume, and the latency task prints
`LAT <ms>`; the clients print `MARK begin|end` and one `RESULT <json>`.
"""

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import time

from celery import Celery, group, signals

app = Celery("celery_peer", broker=os.environ.get("PEERS_REDIS_URL", "redis://127.0.0.1:6379/15"))
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    task_ignore_result=True,
    worker_prefetch_multiplier=int(os.environ.get("PEERS_CELERY_PREFETCH", "64")),
    worker_disable_rate_limits=True,
    worker_redirect_stdouts=False,
    worker_hijack_root_logger=False,
    worker_send_task_events=False,
    broker_connection_retry_on_startup=True,
    task_serializer="json",
    accept_content=["json"],
)


def say(line):
    """One protocol line, written whole (pipes keep short writes atomic)."""
    os.write(1, (line + "\n").encode())


# Tasks run by this worker process, reported at shutdown so the driver can
# check the work was done (next() on a count is atomic under the GIL).
_ran = itertools.count()


@app.task(name="noop")
def noop():
    """W2: does nothing."""
    next(_ran)


@app.task(name="spawn_true")
def spawn_true():
    """W4: run /bin/true, output captured, as a step runner must."""
    subprocess.run(["/bin/true"], stdin=subprocess.DEVNULL, capture_output=True, check=True)
    next(_ran)


@app.task(name="stamp")
def stamp(enqueued_at):
    """W3: report enqueue -> start."""
    say(f"LAT {(time.time() - enqueued_at) * 1000.0:.3f}")


@signals.worker_ready.connect
def _ready(**_kwargs):
    say("READY")


@signals.worker_shutdown.connect
def _shutdown(**_kwargs):
    say(f"RAN {next(_ran)}")


def cpu_seconds():
    """User + system CPU of this process and its waited-for children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def enqueue(jobs, batch, queue):
    """W1: one publish per call, or `group`s of `batch` (Celery's way to send
    many tasks at once; Redis has no multi-message transaction in kombu)."""
    say("MARK begin")
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    left = jobs
    while left > 0:
        n = min(left, batch)
        if n == 1:
            noop.apply_async(queue=queue)
        else:
            group(noop.si() for _ in range(n)).apply_async(queue=queue)
        left -= n
    secs = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0
    say("MARK end")
    say("RESULT " + json.dumps({"jobs": jobs, "secs": secs, "cpu": cpu}))


def paced(rate, secs, queue):
    """W3 client: `rate` publishes a second on a fixed schedule."""
    total = rate * secs
    say("MARK begin")
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    for i in range(total):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        stamp.apply_async(args=[time.time()], queue=queue)
    took = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0
    say("MARK end")
    say("RESULT " + json.dumps({"jobs": total, "secs": took, "cpu": cpu}))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    e = sub.add_parser("enqueue")
    e.add_argument("--jobs", type=int, required=True)
    e.add_argument("--batch", type=int, default=1)
    e.add_argument("--queue", default="w1")
    p = sub.add_parser("paced")
    p.add_argument("--rate", type=int, required=True)
    p.add_argument("--secs", type=int, required=True)
    p.add_argument("--queue", default="bench")
    args = parser.parse_args()
    if args.command == "enqueue":
        enqueue(args.jobs, args.batch, args.queue)
    else:
        paced(args.rate, args.secs, args.queue)
    return 0


if __name__ == "__main__":
    sys.exit(main())

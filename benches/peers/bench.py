#!/usr/bin/env python3
"""The peer benchmark driver: SKYNET beside Celery + Redis and graphile-worker.

Run by benches/peers/run.sh (which installs the peers and sets the paths
below); it runs every workload on every peer in the same run, one warm-up
then rounds in rotating order, and writes medians, ratios and CPU-seconds
per 1,000 jobs to $PEERS_OUT/results.json and $PEERS_OUT/summary.md.

Workloads (sizes scale with PEERS_SCALE):
  W1 enqueue 10,000 jobs one per transaction, and in batches of 100;
  W2 drain 10,000 and 100,000 preloaded no-op jobs, 2/8/32 handlers in
     2 worker processes (SQLite embedded: 1 process);
  W3 enqueue->start latency at 100 jobs/s offered for 30 s;
  W4 2,000 jobs each running /bin/true, beside the raw spawn ceiling.

Timing: a drain runs from the moment the preloaded jobs become claimable
(Celery: add_consumer to workers that are up; graphile-worker: the commit of
one add_jobs call to workers that are up; SKYNET: its first claimed job, as
recorded by the workers) to the moment the last job is durably complete
(Celery: queue and unacked set empty; graphile-worker: jobs table empty,
both polled every 5 ms; SKYNET: its last completion). CPU counts the worker
and client processes (user + system, children included) plus the broker or
database server (redis-server; every postgres process) over the same window.
"""

import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg
import redis

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
TARGET = Path(os.environ.get("PEERS_TARGET", REPO / "target"))
OUT = Path(os.environ.get("PEERS_OUT", TARGET / "peers"))
PY = os.environ.get("PEERS_PYTHON", sys.executable)
NODE = os.environ.get("PEERS_NODE", "node")
NODE_DIR = Path(os.environ.get("PEERS_NODE_DIR", TARGET / "peers-node"))
SKYNET_BIN = os.environ.get("PEERS_SKYNET_BIN", str(TARGET / "release" / "peer_skynet"))
PG = os.environ.get("PEERS_PG", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("PEERS_REDIS_URL", "redis://127.0.0.1:6379/15")
# SKYNET's distributed store: "postgres", or "sqlite" while this build of
# SKYNET has no PostgreSQL store (then only the embedded SQLite engine runs).
# SQLite embedded is measured in W2/W3 either way. Unset: probe the build.
SKYNET_BACKEND = os.environ.get("PEERS_SKYNET_BACKEND", "")

SCALE = float(os.environ.get("PEERS_SCALE", "1"))
# Rounds: the headline cells (W2 at 8 handlers, W4) get PEERS_ROUNDS; the
# cells whose single run takes minutes on a 2-core machine (W1 one job per
# commit, the other W2 concurrencies) get PEERS_ROUNDS_MINOR; the 100,000-job
# drains and W3 (30 s each) get PEERS_ROUNDS_BIG. That keeps a full run
# near 25 minutes.
ROUNDS = int(os.environ.get("PEERS_ROUNDS", "2"))
ROUNDS_MINOR = int(os.environ.get("PEERS_ROUNDS_MINOR", "1"))
ROUNDS_BIG = int(os.environ.get("PEERS_ROUNDS_BIG", "1"))
HEADLINE_CONCURRENCY = 8
# Peers that drain 100,000 jobs (Celery on a durable Redis runs ~100 jobs/s
# here: 100,000 would take a quarter of an hour alone).
# SKYNET workers' claim-ahead (WorkerOptions::prefetch) in the drains; unset:
# the library's default (as many as the handlers). Celery's counterpart is
# PEERS_CELERY_PREFETCH.
SKYNET_PREFETCH = os.environ.get("PEERS_SKYNET_PREFETCH", "")
BIG_PEERS = os.environ.get("PEERS_BIG_PEERS", "skynet,graphile").split(",")
PROCS = 2
WORKLOADS = os.environ.get("PEERS_WORKLOADS", "w1,w2,w3,w4").split(",")
CONCURRENCIES = [int(c) for c in os.environ.get("PEERS_CONCURRENCY", "2,8,32").split(",")]
BIG_CONCURRENCIES = [int(c) for c in os.environ.get("PEERS_BIG_CONCURRENCY", "8").split(",")]
PEERS = os.environ.get("PEERS_ONLY", "skynet,skynet-sqlite,celery,graphile").split(",")


def scaled(n):
    return max(1, int(n * SCALE))


W1_JOBS = scaled(10_000)
W2_SMALL = scaled(10_000)
W2_BIG = scaled(100_000)
W3_RATE = 100
W3_SECS = max(3, int(30 * SCALE)) if SCALE < 1 else 30
W4_JOBS = scaled(2_000)
W4_CONCURRENCY = 8
W3_CONCURRENCY = 8
POLL = 0.005
WARMUP_FRACTION = 0.1
TICKS = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- CPU ----

def proc_cpu(pid):
    """utime + stime + cutime + cstime of one process, in seconds."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / TICKS


def postgres_pids():
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip().startswith("postgres"):
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def redis_pid():
    return int(redis.Redis.from_url(REDIS_URL).info("server")["process_id"])


class ServerCpu:
    """CPU of the broker or database server between two samples."""

    def __init__(self, kind):
        self.kind = kind

    def sample(self):
        if self.kind == "redis":
            return proc_cpu(redis_pid())
        if self.kind == "postgres":
            return sum(proc_cpu(p) for p in postgres_pids())
        return 0.0


# ---------------------------------------------------------- processes ----

class Proc:
    """A child speaking the line protocol (READY, MARK, ENQ, START, LAT,
    RESULT). MARK lines sample the server CPU as they arrive."""

    def __init__(self, argv, cwd=None, env=None, server=None, name=""):
        self.name = name or Path(argv[0]).name
        self.server = server
        self.lines = []
        self.ready = threading.Event()
        self.marks = {}
        self.result = None
        self.lat = []
        self.enq = {}
        self.starts = {}
        self.cpu_at_ready = None
        self.ran = None
        self.p = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.err = []
        self.readers = [
            threading.Thread(target=self._read, daemon=True),
            threading.Thread(target=self._read_err, daemon=True),
        ]
        for t in self.readers:
            t.start()

    def _read(self):
        for line in self.p.stdout:
            line = line.rstrip("\n")
            head, _, rest = line.partition(" ")
            if head == "READY":
                self.cpu_at_ready = proc_cpu(self.p.pid)
                self.ready.set()
            elif head == "MARK":
                self.marks[rest] = (time.time(), self.server.sample() if self.server else 0.0)
            elif head == "LAT":
                self.lat.append(float(rest))
            elif head == "ENQ":
                job, at = rest.split()
                self.enq[job] = float(at)
            elif head == "START":
                job, at = rest.split()
                self.starts[job] = float(at)
            elif head == "RAN":
                self.ran = int(rest)
            elif head == "RESULT":
                self.result = json.loads(rest)
            else:
                self.lines.append(line)

    def _read_err(self):
        for line in self.p.stderr:
            self.err.append(line.rstrip("\n"))

    def wait_ready(self, timeout=60):
        if not self.ready.wait(timeout):
            raise RuntimeError(f"{self.name} not ready: {self.tail()}")

    def tail(self):
        return " | ".join((self.lines + self.err)[-8:])

    def wait(self, timeout=None):
        rc = self.p.wait(timeout)
        for t in self.readers:  # they end at EOF, after the last line
            t.join(5)
        if rc != 0:
            raise RuntimeError(f"{self.name} exited {rc}: {self.tail()}")
        return self.result

    def stop(self, timeout=30):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        for t in self.readers:
            t.join(5)

    def server_cpu(self):
        if "begin" in self.marks and "end" in self.marks:
            return self.marks["end"][1] - self.marks["begin"][1]
        return 0.0


def check_ran(name, workers, jobs):
    """The workers must have run every job (none lost, none skipped)."""
    ran = sum(w.ran or 0 for w in workers)
    if ran != jobs:
        raise RuntimeError(f"{name} workers ran {ran} of {jobs} jobs")


def run_client(argv, server, cwd=None, timeout=1800):
    """Run a client command to its RESULT; add the server CPU of its window."""
    proc = Proc(argv, cwd=cwd, server=server)
    result = proc.wait(timeout)
    if result is None:
        raise RuntimeError(f"{argv[0]} gave no RESULT: {proc.tail()}")
    result["cpu_server"] = proc.server_cpu()
    return result, proc


# ------------------------------------------------------------ databases --

def pg_admin():
    return psycopg.connect(f"{PG}/postgres", autocommit=True)


def fresh_db(name, template=None):
    with pg_admin() as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if template:
            c.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        else:
            c.execute(f'CREATE DATABASE "{name}"')
    return f"{PG}/{name}"


def drop_db(name):
    with pg_admin() as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def percentile(values, q):
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def latency_summary(lat, jobs, cpu, secs=None):
    return {
        "jobs": jobs,
        "measured": len(lat),
        "p50_ms": percentile(lat, 0.50),
        "p99_ms": percentile(lat, 0.99),
        "max_ms": max(lat) if lat else None,
        "cpu": cpu,
        "secs": secs,
    }


def paced_latency(workers, server, paced):
    """W3 for a peer whose workers record each job's latency (`w.lat`):
    wait for the workers, run the paced client (`paced()` returns its
    result and process), wait until every job it enqueued was seen (60 s
    at most), stop the workers; the summary counts workers', server's and
    client's CPU."""
    try:
        for w in workers:
            w.wait_ready()
        cpu0 = [proc_cpu(w.p.pid) for w in workers]
        s0 = server.sample()
        client, _ = paced()
        deadline = time.time() + 60
        while time.time() < deadline and sum(len(w.lat) for w in workers) < client["jobs"]:
            time.sleep(0.05)
        cpu = sum(proc_cpu(w.p.pid) - c0 for w, c0 in zip(workers, cpu0)) + server.sample() - s0
    finally:
        for w in workers:
            w.stop()
    lat = [x for w in workers for x in w.lat]
    return latency_summary(lat, client["jobs"], cpu + client["cpu"])


# ---------------------------------------------------------------- SKYNET --

class Skynet:
    """SKYNET through bench binary `peer_skynet` (the public engine API)."""

    def __init__(self, backend):
        self.backend = backend
        self.name = "skynet" if backend != "sqlite-embedded" else "skynet-sqlite"
        self.server = ServerCpu("postgres" if backend == "postgres" else None)
        self.root = OUT / "root"
        self.root.mkdir(parents=True, exist_ok=True)
        self.templates = {}
        self.procs = 1 if backend == "sqlite-embedded" else PROCS

    def _cmd(self, *args, url, provider="mock"):
        return [SKYNET_BIN, *args, "--url", url, "--root", str(self.root), "--provider", provider]

    def _fresh(self, tag, template=None):
        if self.backend == "postgres":
            return fresh_db(f"skynet_peer_{tag}", template)
        path = OUT / f"skynet-{tag}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        if template:
            # A WAL left by the preloading process is part of the database.
            for suffix in ("", "-wal"):
                if Path(f"{template}{suffix}").exists():
                    shutil.copyfile(f"{template}{suffix}", f"{path}{suffix}")
        return f"sqlite://{path}"

    def _template(self, jobs, provider):
        """A store with `jobs` queued jobs, made once and cloned per run."""
        key = (jobs, provider)
        if key in self.templates:
            return self.templates[key]
        tag = f"tmpl_{provider}_{jobs}"
        url = self._fresh(tag)
        log(f"  {self.name}: preloading {jobs} jobs ({provider}) into a template")
        result, _ = run_client(self._cmd("preload", "--jobs", str(jobs), url=url, provider=provider), None)
        log(f"  {self.name}: preloaded in {result['secs']:.1f} s")
        if self.backend == "postgres":
            self.templates[key] = f"skynet_peer_{tag}"
        else:
            self.templates[key] = url.removeprefix("sqlite://")
        return self.templates[key]

    def enqueue(self, jobs, batch):
        url = self._fresh("w1")
        result, _ = run_client(self._cmd("enqueue", "--jobs", str(jobs), "--batch", str(batch), url=url), self.server)
        return {"jobs": jobs, "secs": result["secs"], "cpu": result["cpu"] + result["cpu_server"],
                "cpu_server": result["cpu_server"]}

    def drain(self, jobs, concurrency, provider="mock"):
        url = self._fresh("run", self._template(jobs, provider))
        per = max(1, concurrency // self.procs)
        cpu_s0 = self.server.sample()
        prefetch = ["--prefetch", SKYNET_PREFETCH] if SKYNET_PREFETCH else []
        workers = [
            Proc(self._cmd("worker", "--concurrency", str(per), *prefetch, "--once", url=url, provider=provider),
                 name=f"skynet-w{i}")
            for i in range(self.procs)
        ]
        results = [w.wait(600) for w in workers]
        cpu_server = self.server.sample() - cpu_s0
        finished = sum(r["finished"] for r in results)
        if finished != jobs:
            raise RuntimeError(f"skynet drained {finished} of {jobs}: {results}")
        first = min(r["first_start"] for r in results if r["first_start"])
        last = max(r["last_end"] for r in results if r["last_end"])
        cpu = sum(r["cpu_end"] - r["cpu_ready"] for r in results) + cpu_server
        return {"jobs": jobs, "secs": last - first, "cpu": cpu, "cpu_server": cpu_server,
                "lagged": sum(r["lagged"] for r in results)}

    def latency(self, rate, secs, concurrency):
        url = self._fresh("w3")
        if self.backend == "sqlite-embedded":
            result, _ = run_client(
                [SKYNET_BIN, "latency-embedded", "--url", url, "--root", str(self.root), "--provider", "mock",
                 "--rate", str(rate), "--secs", str(secs), "--concurrency", str(concurrency)],
                self.server,
            )
            return latency_summary(result["lat_ms"], result["jobs"], result["cpu"])
        per = max(1, concurrency // self.procs)
        workers = [
            Proc(self._cmd("worker", "--concurrency", str(per), "--report-starts", url=url), name=f"skynet-w{i}")
            for i in range(self.procs)
        ]
        for w in workers:
            w.wait_ready()
        cpu_s0 = self.server.sample()
        client, cproc = run_client(self._cmd("paced", "--rate", str(rate), "--secs", str(secs), url=url), None)
        deadline = time.time() + 60
        while time.time() < deadline and sum(len(w.starts) for w in workers) < len(cproc.enq):
            time.sleep(0.05)
        time.sleep(0.2)
        cpu_workers = sum(proc_cpu(w.p.pid) - w.cpu_at_ready for w in workers)
        cpu_server = self.server.sample() - cpu_s0
        for w in workers:
            w.stop()
        starts = {}
        for w in workers:
            starts.update(w.starts)
        lat = [(starts[j] - t) * 1000.0 for j, t in cproc.enq.items() if j in starts]
        return latency_summary(lat, client["jobs"], cpu_workers + client["cpu"] + cpu_server)

    def spawn(self, jobs, concurrency):
        return self.drain(jobs, concurrency, provider="local")

    def cleanup(self):
        if self.backend == "postgres":
            for name in ["w1", "w3", "run", *[f"tmpl_{p}_{j}" for j, p in self.templates]]:
                drop_db(f"skynet_peer_{name}")


# ---------------------------------------------------------------- Celery --

class Celery:
    name = "celery"

    def __init__(self):
        self.r = redis.Redis.from_url(REDIS_URL)
        self.server = ServerCpu("redis")
        self.host = socket.gethostname()
        sys.path.insert(0, str(HERE))
        import celery_peer  # noqa: E402  (needs the venv on sys.path first)

        self.peer = celery_peer
        self.template = None

    def _worker(self, i, concurrency, queue):
        return Proc(
            [PY, "-m", "celery", "-A", "celery_peer", "worker", "-P", "threads", "-c", str(concurrency),
             "-Q", queue, "-n", f"w{i}@{self.host}", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "-l", "WARNING"],
            cwd=HERE, name=f"celery-w{i}",
        )

    def _preload(self, task, jobs, queue):
        """Queue `jobs` copies of a real Celery message, each with its own
        ids, through a Redis pipeline (set-up, not measured)."""
        getattr(self.peer, task).apply_async(queue="template")
        msg = json.loads(self.r.rpop("template"))
        msg["properties"]["delivery_info"]["routing_key"] = queue
        pipe = self.r.pipeline(transaction=False)
        for i in range(jobs):
            tid = str(uuid.uuid4())
            msg["headers"]["id"] = msg["headers"]["root_id"] = tid
            msg["properties"]["correlation_id"] = tid
            msg["properties"]["delivery_tag"] = str(uuid.uuid4())
            pipe.lpush(queue, json.dumps(msg))
            if i % 2000 == 1999:
                pipe.execute()
        pipe.execute()

    def _remaining(self, queue):
        pipe = self.r.pipeline(transaction=False)
        pipe.llen(queue)
        pipe.hlen("unacked")
        return sum(pipe.execute())

    def enqueue(self, jobs, batch):
        self.r.flushdb()
        result, _ = run_client([PY, str(HERE / "celery_peer.py"), "enqueue", "--jobs", str(jobs), "--batch", str(batch)], self.server)
        if self.r.llen("w1") != jobs:
            raise RuntimeError(f"celery queued {self.r.llen('w1')} of {jobs}")
        return {"jobs": jobs, "secs": result["secs"], "cpu": result["cpu"] + result["cpu_server"],
                "cpu_server": result["cpu_server"]}

    def drain(self, jobs, concurrency, task="noop"):
        self.r.flushdb()
        self._preload(task, jobs, "bench")
        per = max(1, concurrency // PROCS)
        workers = [self._worker(i, per, "hold") for i in range(PROCS)]
        try:
            for w in workers:
                w.wait_ready()
            cpu0 = [proc_cpu(w.p.pid) for w in workers]
            s0 = self.server.sample()
            t0 = time.time()
            # Both workers get the broadcast; a worker busy draining may
            # answer late, so one reply is enough to know it went out.
            replies = self.peer.app.control.add_consumer(
                "bench", destination=[f"w{i}@{self.host}" for i in range(PROCS)], reply=True, timeout=5, limit=1
            )
            if not replies:
                raise RuntimeError("no Celery worker answered add_consumer")
            while self._remaining("bench") > 0:
                time.sleep(POLL)
            t1 = time.time()
            cpu_server = self.server.sample() - s0
            cpu = sum(proc_cpu(w.p.pid) - c for w, c in zip(workers, cpu0)) + cpu_server
        finally:
            for w in workers:
                w.stop()
        check_ran(self.name, workers, jobs)
        return {"jobs": jobs, "secs": t1 - t0, "cpu": cpu, "cpu_server": cpu_server}

    def latency(self, rate, secs, concurrency):
        self.r.flushdb()
        per = max(1, concurrency // PROCS)
        workers = [self._worker(i, per, "bench") for i in range(PROCS)]
        paced = [PY, str(HERE / "celery_peer.py"), "paced", "--rate", str(rate), "--secs", str(secs)]
        return paced_latency(workers, self.server, lambda: run_client(paced, None))

    def spawn(self, jobs, concurrency):
        return self.drain(jobs, concurrency, task="spawn_true")

    def drain_relaxed(self, jobs, concurrency):
        before = self.r.config_get("appendfsync")["appendfsync"]
        self.r.config_set("appendfsync", "everysec")
        try:
            return self.drain(jobs, concurrency)
        finally:
            self.r.config_set("appendfsync", before)

    def cleanup(self):
        self.r.flushdb()


# ------------------------------------------------------- graphile-worker --

class Graphile:
    name = "graphile"
    db = "skynet_peer_graphile"

    def __init__(self):
        self.server = ServerCpu("postgres")
        shutil.copyfile(HERE / "graphile_peer.mjs", NODE_DIR / "graphile_peer.mjs")

    def _node(self, *args, url):
        return [NODE, str(NODE_DIR / "graphile_peer.mjs"), *args, "--url", url]

    def enqueue(self, jobs, batch):
        url = fresh_db(self.db)
        result, _ = run_client(self._node("enqueue", "--jobs", str(jobs), "--batch", str(batch), url=url), self.server, cwd=NODE_DIR)
        return {"jobs": jobs, "secs": result["secs"], "cpu": result["cpu"] + result["cpu_server"],
                "cpu_server": result["cpu_server"]}

    def drain(self, jobs, concurrency, task="noop"):
        url = fresh_db(self.db)
        per = max(1, concurrency // PROCS)
        workers = [Proc(self._node("worker", "--concurrency", str(per), url=url), cwd=NODE_DIR, name=f"graphile-w{i}") for i in range(PROCS)]
        try:
            for w in workers:
                w.wait_ready()
            with psycopg.connect(url, autocommit=True) as c:
                # One add_jobs call is one transaction: every job becomes
                # visible (and NOTIFY fires) at its commit.
                c.execute(
                    "select count(*) from graphile_worker.add_jobs(array("
                    "select row(%s, '{}'::json, null, null, null, null, null, null)::graphile_worker.job_spec "
                    "from generate_series(1, %s)))",
                    (task, jobs),
                )
                cpu0 = [proc_cpu(w.p.pid) for w in workers]
                s0 = self.server.sample()
                t0 = time.time()
                while c.execute("select exists(select 1 from graphile_worker._private_jobs)").fetchone()[0]:
                    time.sleep(POLL)
                t1 = time.time()
            cpu_server = self.server.sample() - s0
            cpu = sum(proc_cpu(w.p.pid) - c0 for w, c0 in zip(workers, cpu0)) + cpu_server
        finally:
            for w in workers:
                w.stop()
        check_ran(self.name, workers, jobs)
        return {"jobs": jobs, "secs": t1 - t0, "cpu": cpu, "cpu_server": cpu_server}

    def latency(self, rate, secs, concurrency):
        url = fresh_db(self.db)
        per = max(1, concurrency // PROCS)
        workers = [Proc(self._node("worker", "--concurrency", str(per), url=url), cwd=NODE_DIR, name=f"graphile-w{i}") for i in range(PROCS)]
        paced = self._node("paced", "--rate", str(rate), "--secs", str(secs), url=url)
        return paced_latency(workers, self.server, lambda: run_client(paced, None, cwd=NODE_DIR))

    def spawn(self, jobs, concurrency):
        return self.drain(jobs, concurrency, task="spawn_true")

    def cleanup(self):
        drop_db(self.db)


class Ceiling:
    """The raw spawn ceiling: /bin/true through tokio::process, no queue."""

    name = "ceiling"

    def spawn(self, jobs, concurrency):
        result, _ = run_client([SKYNET_BIN, "spawn-ceiling", "--jobs", str(jobs), "--concurrency", str(concurrency)], None)
        return {"jobs": jobs, "secs": result["secs"], "cpu": result["cpu"]}

    def cleanup(self):
        pass


class CommitFloor:
    """W3's floor: one durable single-row INSERT (autocommit, one
    connection) at the same offered rate. Every peer's enqueue commits at
    least this once before a job can start, so no enqueue->start latency
    on this machine is below it."""

    name = "commit-floor"

    def latency(self, rate, secs, concurrency):
        url = fresh_db("skynet_peer_floor")
        try:
            with psycopg.connect(url, autocommit=True) as c:
                c.execute("create table t (id bigserial primary key, v text not null)")
                lat = []
                period = 1.0 / rate
                start = time.monotonic()
                for i in range(rate * secs):
                    delay = start + i * period - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    t0 = time.perf_counter()
                    c.execute("insert into t (v) values (%s)", ("x" * 500,))
                    lat.append((time.perf_counter() - t0) * 1000.0)
            return latency_summary(lat, len(lat), 0.0)
        finally:
            drop_db("skynet_peer_floor")

    def cleanup(self):
        pass


# ---------------------------------------------------------------- matrix --

def rounds(cell, peers, fn, n_rounds, warmup=True):
    """One warm-up run per peer at a tenth of the size (it warms caches,
    connections and the JIT, not the numbers), then `n_rounds` rounds, each
    in a rotated peer order. `fn(peer, fraction)` runs one measurement."""
    runs = {p.name: [] for p in peers}
    errors = []

    def attempt(p, fraction):
        # One failed run (a peer that crashed) is reported, not fatal.
        try:
            return fn(p, fraction)
        except Exception as e:  # noqa: BLE001
            log(f"{cell} {p.name} FAILED: {e}")
            errors.append(f"{p.name}: {e}")
            return None

    if warmup:
        for p in peers:
            log(f"{cell} warm-up {p.name}")
            attempt(p, WARMUP_FRACTION)
    for k in range(n_rounds):
        order = peers[k % len(peers):] + peers[: k % len(peers)]
        for p in order:
            r = attempt(p, 1.0)
            if r is None:
                continue
            r["load"] = os.getloadavg()[0]
            runs[p.name].append(r)
            shown = {key: (round(v, 4) if isinstance(v, float) else v) for key, v in r.items()}
            log(f"{cell} round {k + 1} {p.name}: {shown}")
    return runs


def part(n, fraction):
    return max(1, int(n * fraction))


def median_of(runs, key):
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def summarize(runs, kind):
    out = {}
    for peer, rs in runs.items():
        if not rs:
            continue
        if kind == "latency":
            out[peer] = {
                "p50_ms": median_of(rs, "p50_ms"),
                "p99_ms": median_of(rs, "p99_ms"),
                "max_ms": median_of(rs, "max_ms"),
                "measured": median_of(rs, "measured"),
                "cpu_per_1k": statistics.median(r["cpu"] / r["jobs"] * 1000 for r in rs),
            }
        else:
            out[peer] = {
                "secs": median_of(rs, "secs"),
                "rate": statistics.median(r["jobs"] / r["secs"] for r in rs),
                "cpu_per_1k": statistics.median(r["cpu"] / r["jobs"] * 1000 for r in rs),
                "server_cpu_per_1k": statistics.median(r.get("cpu_server", 0.0) / r["jobs"] * 1000 for r in rs),
            }
    return out


def versions():
    def cmd(*argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError) as e:
            return f"unavailable ({e})"

    import celery as celery_mod
    import kombu

    gw = json.loads((NODE_DIR / "node_modules" / "graphile-worker" / "package.json").read_text())["version"]
    with pg_admin() as c:
        pg = c.execute("show server_version").fetchone()[0]
        sync = c.execute("show synchronous_commit").fetchone()[0]
        fsync = c.execute("show fsync").fetchone()[0]
    r = redis.Redis.from_url(REDIS_URL)
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} CPU, {platform.machine()}, Linux {platform.release()}",
        "cpu_model": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
        "skynet_commit": cmd("git", "-C", str(REPO), "rev-parse", "--short", "HEAD"),
        "skynet_backend": SKYNET_BACKEND,
        "rustc": cmd("rustc", "--version"),
        "celery": celery_mod.__version__,
        "kombu": kombu.__version__,
        "redis_py": redis.__version__,
        "python": platform.python_version(),
        "graphile_worker": gw,
        "node": cmd(NODE, "--version"),
        "postgres": pg,
        "postgres_synchronous_commit": sync,
        "postgres_fsync": fsync,
        "redis_server": r.info("server")["redis_version"],
        "redis_appendonly": r.config_get("appendonly")["appendonly"],
        "redis_appendfsync": r.config_get("appendfsync")["appendfsync"],
        "scale": SCALE,
        "rounds": f"{ROUNDS} (W2 c{HEADLINE_CONCURRENCY}, W4) / {ROUNDS_MINOR} (W1, other W2) / {ROUNDS_BIG} (100k, W3)",
    }


def detect_backend():
    """postgres if this build of SKYNET opens postgres:// URLs, else sqlite."""
    url = fresh_db("skynet_peer_probe")
    try:
        probe = subprocess.run(
            [SKYNET_BIN, "enqueue", "--url", url, "--root", str(OUT), "--jobs", "1"],
            capture_output=True, text=True, check=False,
        )
    finally:
        drop_db("skynet_peer_probe")
    if probe.returncode == 0:
        return "postgres"
    log(f"SKYNET cannot use PostgreSQL here ({probe.stderr.strip()[-200:]}); measuring SQLite only")
    return "sqlite"


def main():
    global SKYNET_BACKEND
    OUT.mkdir(parents=True, exist_ok=True)
    if not SKYNET_BACKEND:
        SKYNET_BACKEND = detect_backend()
    info = versions()
    info["load_before"] = os.getloadavg()
    log(f"versions: {info}")
    skynet_dist = Skynet("postgres" if SKYNET_BACKEND == "postgres" else "sqlite")
    skynet_sqlite = Skynet("sqlite-embedded")
    celery = Celery()
    graphile = Graphile()
    ceiling = Ceiling()
    floor = CommitFloor()
    wanted = lambda ps: [p for p in ps if p.name in PEERS]  # noqa: E731
    # With SQLite as SKYNET's only store, "skynet" is the embedded engine.
    main_peers = wanted([skynet_dist, celery, graphile]) if SKYNET_BACKEND == "postgres" else wanted([skynet_sqlite, celery, graphile])
    drain_peers = wanted([skynet_dist, skynet_sqlite, celery, graphile]) if SKYNET_BACKEND == "postgres" else main_peers
    results = {"info": info, "cells": {}}

    def save():
        (OUT / "results.json").write_text(json.dumps(results, indent=1))

    try:
        if "w1" in WORKLOADS:
            for batch in (1, 100):
                cell = f"W1 enqueue {W1_JOBS} batch {batch}"
                runs = rounds(cell, main_peers, lambda p, f: p.enqueue(part(W1_JOBS, f), batch), ROUNDS_MINOR)
                results["cells"][cell] = {"kind": "rate", "runs": runs, "summary": summarize(runs, "rate")}
                save()

        def drain_cells(jobs, concs, big):
            for conc in concs:
                cell = f"W2 drain {jobs} c{conc}"
                if big:
                    # SQLite embedded drains only the 10,000-job cells.
                    peers = [p for p in drain_peers if p.name in BIG_PEERS and p is not skynet_sqlite]
                    n = ROUNDS_BIG
                else:
                    peers = drain_peers
                    n = ROUNDS if conc == HEADLINE_CONCURRENCY else ROUNDS_MINOR
                if not peers:
                    continue
                runs = rounds(cell, peers, lambda p, f: p.drain(part(jobs, f), conc), n, warmup=not big)
                results["cells"][cell] = {"kind": "rate", "runs": runs, "summary": summarize(runs, "rate")}
                save()

        if "w2" in WORKLOADS:
            drain_cells(W2_SMALL, CONCURRENCIES, big=False)
            if "celery" in PEERS:
                # Reference only: the same Celery drain when Redis does not
                # fsync each write (its AOF flushed once a second).
                cell = f"W2 drain {W2_SMALL} c{HEADLINE_CONCURRENCY}, Celery with appendfsync everysec (not durable)"
                runs = rounds(cell, [celery], lambda p, f: p.drain_relaxed(part(W2_SMALL, f), HEADLINE_CONCURRENCY), 1, warmup=False)
                results["cells"][cell] = {"kind": "rate", "runs": runs, "summary": summarize(runs, "rate")}
                save()
        if "w3" in WORKLOADS:
            cell = f"W3 latency {W3_RATE}/s {W3_SECS}s c{W3_CONCURRENCY}"
            peers = main_peers + ([skynet_sqlite] if SKYNET_BACKEND == "postgres" and "skynet-sqlite" in PEERS else [])
            peers.append(floor)
            runs = rounds(cell, peers, lambda p, f: p.latency(W3_RATE, W3_SECS, W3_CONCURRENCY), ROUNDS_BIG, warmup=False)
            results["cells"][cell] = {"kind": "latency", "runs": runs, "summary": summarize(runs, "latency")}
            save()
        if "w4" in WORKLOADS:
            cell = f"W4 spawn {W4_JOBS} c{W4_CONCURRENCY}"
            runs = rounds(cell, main_peers + [ceiling], lambda p, f: p.spawn(part(W4_JOBS, f), W4_CONCURRENCY), ROUNDS)
            results["cells"][cell] = {"kind": "rate", "runs": runs, "summary": summarize(runs, "rate")}
            save()
        # The 100,000-job drains run last: the longest cells, and everything
        # before them is saved if they overrun.
        if "w2" in WORKLOADS:
            drain_cells(W2_BIG, BIG_CONCURRENCIES, big=True)
    finally:
        info["load_after"] = os.getloadavg()
        save()
        for p in (skynet_dist, skynet_sqlite, celery, graphile):
            try:
                p.cleanup()
            except Exception as e:  # noqa: BLE001  (clean-up is best effort)
                log(f"cleanup {p.name}: {e}")
    report = render(results)
    (OUT / "summary.md").write_text(report)
    print(report)
    return 0


def fmt(x, unit=""):
    if x is None:
        return "—"
    if abs(x) >= 100:
        return f"{x:,.0f}{unit}"
    if abs(x) >= 10:
        return f"{x:.1f}{unit}"
    return f"{x:.2f}{unit}"


def ratio(a, b):
    return None if not a or not b else a / b


def render(results):
    info = results["info"]
    lines = [
        f"Run {info['date']} on {info['machine']} ({info['cpu_model']}); load {info['load_before'][0]:.1f} "
        f"before, {info.get('load_after', [0])[0]:.1f} after. SKYNET {info['skynet_commit']} "
        f"({info['skynet_backend']}), {info['rustc']}; Celery {info['celery']} (kombu {info['kombu']}, "
        f"redis-py {info['redis_py']}, Python {info['python']}), Redis {info['redis_server']} "
        f"(appendonly {info['redis_appendonly']}, appendfsync {info['redis_appendfsync']}); "
        f"graphile-worker {info['graphile_worker']} (Node {info['node']}); PostgreSQL {info['postgres']} "
        f"(synchronous_commit {info['postgres_synchronous_commit']}, fsync {info['postgres_fsync']}). "
        f"Scale {info['scale']}; rounds {info['rounds']}, medians.",
        "",
    ]
    for cell, data in results["cells"].items():
        s = data["summary"]
        lines.append(f"### {cell}")
        lines.append("")
        if data["kind"] == "latency":
            lines.append("| peer | p50 | p99 | max | measured | CPU-s / 1,000 jobs |")
            lines.append("|---|---|---|---|---|---|")
            for peer, v in s.items():
                lines.append(
                    f"| {peer} | {fmt(v['p50_ms'], ' ms')} | {fmt(v['p99_ms'], ' ms')} | {fmt(v['max_ms'], ' ms')} "
                    f"| {fmt(v['measured'])} | {fmt(v['cpu_per_1k'])} |"
                )
        else:
            lines.append("| peer | median time | jobs/s | CPU-s / 1,000 jobs (of which server) |")
            lines.append("|---|---|---|---|")
            for peer, v in s.items():
                lines.append(f"| {peer} | {fmt(v['secs'], ' s')} | {fmt(v['rate'])} "
                             f"| {fmt(v['cpu_per_1k'])} ({fmt(v['server_cpu_per_1k'])}) |")
        lines.append("")
        lines.extend(goal_lines(cell, s))
    return "\n".join(lines) + "\n"


def goal_lines(cell, s):
    out = []
    sk = s.get("skynet") or s.get("skynet-sqlite")

    def rate(p):
        return (s.get(p) or {}).get("rate")

    if cell.startswith("W2"):
        if "skynet" in s:
            out.append(f"- SKYNET vs graphile-worker: {fmt(ratio(rate('skynet'), rate('graphile')))}× (goal ≥ 3×); "
                       f"vs Celery: {fmt(ratio(rate('skynet'), rate('celery')))}× (goal ≥ 10×)")
        if "skynet-sqlite" in s:
            out.append(f"- SKYNET SQLite embedded vs Celery: {fmt(ratio(rate('skynet-sqlite'), rate('celery')))}× (goal ≥ 10×); "
                       f"vs graphile-worker: {fmt(ratio(rate('skynet-sqlite'), rate('graphile')))}×")
    elif cell.startswith("W3") and sk and "graphile" in s:
        g = s["graphile"]
        out.append(f"- SKYNET p50 / graphile-worker p50: {fmt(ratio(sk['p50_ms'], g['p50_ms']))} (goal ≤ 0.3); "
                   f"SKYNET p99 / graphile-worker p50: {fmt(ratio(sk['p99_ms'], g['p50_ms']))} (goal ≤ 1)")
        if "commit-floor" in s:
            f = s["commit-floor"]
            out.append(f"- one durable INSERT's p50 / graphile-worker p50: {fmt(ratio(f['p50_ms'], g['p50_ms']))} "
                       f"(the least any enqueue->start can take here)")
    elif cell.startswith("W4") and sk:
        r = sk["rate"]
        out.append(f"- SKYNET vs Celery: {fmt(ratio(r, rate('celery')))}× (goal ≥ 4×); "
                   f"vs the spawn ceiling: {fmt(ratio(r, rate('ceiling')))} (goal ≥ 0.75)")
    elif cell.startswith("W1") and sk:
        out.append(f"- SKYNET vs Celery: {fmt(ratio(sk['rate'], rate('celery')))}×; "
                   f"vs graphile-worker: {fmt(ratio(sk['rate'], rate('graphile')))}×")
    if out:
        out.append("")
    return out


if __name__ == "__main__":
    sys.exit(main())

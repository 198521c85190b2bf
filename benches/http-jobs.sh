#!/usr/bin/env bash
# HTTP benchmark: POST /v1/jobs on PostgreSQL. `skynet serve --workers 0`
# (a pure control plane, a real `submit` key, rate limit out of the way)
# plans, judges and queues a READ_ONLY intent per request; beside it, in
# the same run and alternating:
#   - pgbench inserting one comparable row per transaction (the raw
#     single-row insert rate of this server),
#   - FastAPI + uvicorn + asyncpg doing that insert per request, with as
#     many uvicorn processes as skynet serve has runtime threads.
# Every run gets a fresh database; commits are durable (fsync and
# synchronous_commit on, checked). wrk: 2 threads, 8 connections, loopback.
# Prints one line per run and the medians and ratios; results go to
# benches/RESULTS.md by hand.
#
# Knobs: BENCH_SECONDS (default 10), BENCH_ROUNDS (default 2),
# BENCH_PERF=1 records `perf` on the skynet server during its last run.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
target=${CARGO_TARGET_DIR:-$repo/target}
secs=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-2}
procs=$(nproc)

# The machine's PostgreSQL (scripts/services.d/10-postgres.sh starts it;
# not sourced here, since it drops the databases of tests that may be running).
server=${SKYNET_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
pg_isready -d "$server" -q || { echo "PostgreSQL is not up at $server" >&2; exit 1; }
base=${server%/*}
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
psql_admin() { psql "$server" -Atqc "$1"; }
for setting in fsync synchronous_commit; do
    [ "$(psql_admin "SHOW $setting")" = on ] || {
        echo "PostgreSQL $setting is off: this benchmark measures durable commits" >&2
        exit 1
    }
done
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }

venv=$target/bench-fastapi-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check fastapi 'uvicorn[standard]' asyncpg

# The same build as benches/http.sh, so the two share one set of artifacts.
cargo build --release --locked -p skynet-cli -p skynet-benches --bin skynet --bin hello-axum
skynet=$target/release/skynet

work=$(mktemp -d)
pids=()
stop_all() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    pids=()
}
cleanup() {
    stop_all
    psql_admin "SELECT datname FROM pg_database WHERE datname LIKE 'skynet\_bench\_%\_$$'" |
        while read -r db; do psql_admin "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" || true; done
    rm -rf "$work"
}
trap cleanup EXIT

fresh_db() {
    local name="skynet_bench_$1_$$"
    psql_admin "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)"
    psql_admin "CREATE DATABASE \"$name\""
    echo "$base/$name"
}
scratch_table() {
    psql "$1" -qc "CREATE TABLE bench_jobs (id TEXT PRIMARY KEY, intent TEXT NOT NULL,
        status TEXT NOT NULL, plan TEXT, created_at BIGINT NOT NULL)"
}
wait_http() {
    for _ in $(seq 1 100); do
        curl -s -o /dev/null "$1" && return 0
        sleep 0.1
    done
    echo "nothing answers on $1" >&2
    exit 1
}
load() { cut -d' ' -f1 /proc/loadavg; }

body='{"intent": "list the files"}'
cat > "$work/jobs.lua" <<LUA
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
LUA
# wrk's summary line for a run, failing it on any non-2xx answer.
wrk_run() {
    local out
    out=$(BENCH_KEY=${2:-} wrk -t2 -c8 -d"${secs}s" --latency -s "$work/jobs.lua" "$1")
    echo "$out" >> "$work/wrk.out"
    if grep -q "Non-2xx" <<< "$out"; then
        echo "$out" >&2
        echo "some answers were errors" >&2
        exit 1
    fi
    awk '/Requests\/sec/ {r=$2} / 50%/ {p50=$2} / 99%/ {p99=$2} END {print r, p50, p99}' <<< "$out"
}

results=$work/results
export SKYNET_HOME=$work/home
plan_bytes=

run_skynet() {
    local url key
    url=$(fresh_db "sk$1")
    key=$(SKYNET_DATABASE_URL=$url "$skynet" keys create bench --scopes submit | head -1)
    SKYNET_DATABASE_URL=$url "$skynet" serve --bind 127.0.0.1:18611 --workers 0 \
        --root "$work" --rate-limit 100000000 --rate-burst 100000000 >/dev/null 2>&1 &
    local pid=$!
    pids+=("$pid")
    wait_http http://127.0.0.1:18611/v1/health
    # One job first: it must be queued (READ_ONLY, planned, judged in one call).
    curl -fsS -X POST -H "Authorization: Bearer $key" -H 'content-type: application/json' \
        -d "$body" http://127.0.0.1:18611/v1/jobs | grep -q '"status":"queued"' || {
        echo "the intent was not queued at once" >&2
        exit 1
    }
    [ -n "$plan_bytes" ] || plan_bytes=$(psql "$url" -Atqc "SELECT length(plan) FROM jobs LIMIT 1")
    local perf_pid=
    if [ "${BENCH_PERF:-0}" = 1 ] && [ "$1" = "$rounds" ]; then
        perf record -F 999 -g -p "$pid" -o "$target/http-jobs.perf.data" 2>/dev/null &
        perf_pid=$!
    fi
    local l line
    l=$(load)
    line=$(wrk_run http://127.0.0.1:18611/v1/jobs "$key")
    [ -z "$perf_pid" ] || { kill -INT "$perf_pid"; wait "$perf_pid" || true; }
    local jobs
    jobs=$(psql "$url" -Atqc "SELECT count(*) FROM jobs WHERE status = 'queued'")
    echo "skynet $1 $line load=$l queued_jobs=$jobs" | tee -a "$results"
    stop_all
}

run_pgbench() {
    local url
    url=$(fresh_db "pg$1")
    scratch_table "$url"
    cat > "$work/insert.sql" <<'SQL'
INSERT INTO bench_jobs (id, intent, status, plan, created_at) VALUES (gen_random_uuid()::text, 'list the files', 'queued', repeat('x', :plan_bytes), (extract(epoch from clock_timestamp()) * 1000000)::bigint);
SQL
    local l tps
    l=$(load)
    tps=$("$pg_bin/pgbench" -n -c 8 -j 2 -T "$secs" -D plan_bytes="$plan_bytes" \
        -f "$work/insert.sql" "$url" 2>/dev/null | awk '/^tps/ {print $3; exit}')
    echo "pgbench $1 $tps - - load=$l" | tee -a "$results"
}

run_fastapi() {
    local url
    url=$(fresh_db "fa$1")
    scratch_table "$url"
    (
        cd benches/http
        BENCH_DSN=$url BENCH_PLAN_BYTES=$plan_bytes exec "$venv/bin/uvicorn" fastapi_jobs:app \
            --host 127.0.0.1 --port 18612 --workers "$procs" --log-level warning --no-access-log
    ) &
    pids+=($!)
    wait_http http://127.0.0.1:18612/docs
    local l line
    l=$(load)
    line=$(wrk_run http://127.0.0.1:18612/v1/jobs)
    echo "fastapi $1 $line load=$l" | tee -a "$results"
    stop_all
}

echo "who round req/s p50 p99 load"
for round in $(seq 1 "$rounds"); do
    run_skynet "$round"
    run_pgbench "$round"
    run_fastapi "$round"
done
echo "plan text: $plan_bytes bytes; uvicorn workers: $procs"
python3 - "$results" <<'PY'
import statistics, sys
rates = {}
for line in open(sys.argv[1]):
    who, _, rate, *_ = line.split()
    rates.setdefault(who, []).append(float(rate))
med = {k: statistics.median(v) for k, v in rates.items()}
for k, v in med.items():
    print(f"median {k}: {v:,.0f} req/s")
print(f"skynet / pgbench: {med['skynet'] / med['pgbench']:.2f}x (goal >= 0.70)")
print(f"skynet / fastapi: {med['skynet'] / med['fastapi']:.2f}x (goal >= 5)")
PY

#!/usr/bin/env bash
# HTTP benchmark: POST /v1/policy/check on `skynet serve` (with a real API
# key, rate limit out of the way) against an axum hello-world route, each
# with wrk, 8 connections on loopback, in the same run, alternating
# (BENCH_ROUNDS rounds, default 2, of BENCH_SECONDS each, default 10).
# Results go to benches/RESULTS.md by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release --locked -p skynet-cli -p skynet-benches --bin skynet --bin hello-axum
target="${CARGO_TARGET_DIR:-target}/release"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
export SKYNET_HOME="$work/home"
key="$("$target/skynet" keys create bench --scopes read | head -1)"
"$target/skynet" serve --bind 127.0.0.1:18601 --workers 0 --root "$work" \
    --rate-limit 10000000 --rate-burst 10000000 >/dev/null 2>&1 &
pids+=($!)
"$target/hello-axum" 127.0.0.1:18602 &
pids+=($!)
sleep 1
cat > "$work/policy.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"action": "git status", "context": {}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $key"
LUA
cat > "$work/hello.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"action": "git status", "context": {}}'
wrk.headers["Content-Type"] = "application/json"
LUA
curl -fsS -X POST -H "Authorization: Bearer $key" -H 'content-type: application/json' \
    -d '{"action": "git status", "context": {}}' http://127.0.0.1:18601/v1/policy/check >/dev/null
secs="${BENCH_SECONDS:-10}"
rounds="${BENCH_ROUNDS:-2}"
results="$work/results"
run() {
    local load out
    load=$(cut -d' ' -f1 /proc/loadavg)
    out=$(wrk -t2 -c8 -d"${secs}s" --latency -s "$2" "$1")
    echo "$out" >> "$work/wrk.out"
    awk -v n="$3" -v r="$4" -v l="$load" '/Requests\/sec/ {q=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
        END {print n, r, q, p50, p99, "load=" l}' <<< "$out" | tee -a "$results"
}
echo "who round req/s p50 p99 load"
for round in $(seq 1 "$rounds"); do
    run http://127.0.0.1:18602/hello "$work/hello.lua" hello "$round"
    run http://127.0.0.1:18601/v1/policy/check "$work/policy.lua" policy "$round"
done
python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
rate = {}
for who, rnd, q, *_ in rows:
    rate.setdefault(who, {})[rnd] = float(q)
per_round = [rate["policy"][r] / rate["hello"][r] for r in sorted(rate["policy"])]
med = {k: statistics.median(v.values()) for k, v in rate.items()}
print("median hello: {:,.0f} req/s, median policy: {:,.0f} req/s".format(med["hello"], med["policy"]))
print("policy / hello: {:.2f}x of the medians; per round: {}".format(
    med["policy"] / med["hello"], ", ".join(f"{r:.2f}" for r in per_round)))
PY

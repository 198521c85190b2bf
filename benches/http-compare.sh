#!/usr/bin/env bash
# Two `skynet serve` builds side by side, alternating, with wrk: POST
# /v1/policy/check and POST /v1/jobs (SQLite, no workers), BENCH_ROUNDS
# rounds (default 5) of BENCH_SECONDS each (default 5), 2 threads and
# 8 connections on loopback:
#
#   BASE=path/to/old/skynet HEAD=path/to/new/skynet bash benches/http-compare.sh
#
# Prints req/s per round and the median ratio HEAD/BASE per route.
# Results go to benches/RESULTS.md by hand.
set -euo pipefail
: "${BASE:?set BASE to the old skynet binary}" "${HEAD:?set HEAD to the new skynet binary}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

start() {
    local who="$1" bin="$2" port="$3"
    mkdir -p "$work/$who/home" "$work/$who/root"
    SKYNET_HOME="$work/$who/home" "$bin" keys create bench --scopes read,submit | head -1 > "$work/$who/key"
    SKYNET_HOME="$work/$who/home" SKYNET_SANDBOX=off "$bin" serve --bind "127.0.0.1:$port" \
        --workers 0 --root "$work/$who/root" --rate-limit 10000000 --rate-burst 10000000 \
        >/dev/null 2>&1 &
    pids+=($!)
}
start BASE "$BASE" 18801
start HEAD "$HEAD" 18802
sleep 1

script() {
    local key="$1" body="$2"
    cat <<LUA
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $key"
LUA
}
for who in BASE HEAD; do
    key="$(cat "$work/$who/key")"
    script "$key" '{"action": "git status", "context": {}}' > "$work/$who-policy.lua"
    script "$key" '{"intent": "list the files"}' > "$work/$who-submit.lua"
done

secs="${BENCH_SECONDS:-5}"
rounds="${BENCH_ROUNDS:-5}"
results="$work/results"
echo "round route who req/s load"
for round in $(seq 1 "$rounds"); do
    for route in policy submit; do
        path=/v1/policy/check
        [ "$route" = submit ] && path=/v1/jobs
        # Alternate which build goes first.
        order="BASE HEAD"
        [ $((round % 2)) -eq 0 ] && order="HEAD BASE"
        for who in $order; do
            port=18801
            [ "$who" = HEAD ] && port=18802
            load=$(cut -d' ' -f1 /proc/loadavg)
            rate=$(wrk -t2 -c8 -d"${secs}s" -s "$work/$who-$route.lua" "http://127.0.0.1:$port$path" \
                | awk '/Requests\/sec/ {print $2}')
            echo "$round $route $who $rate $load" | tee -a "$results"
        done
    done
done
python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
for route in ("policy", "submit"):
    rate = {}
    for rnd, r, who, q, _ in rows:
        if r == route:
            rate.setdefault(rnd, {})[who] = float(q)
    ratios = [v["HEAD"] / v["BASE"] for v in rate.values()]
    base = statistics.median(v["BASE"] for v in rate.values())
    head = statistics.median(v["HEAD"] for v in rate.values())
    print(f"{route}: BASE median {base:.0f} req/s, HEAD median {head:.0f} req/s, "
          f"per-round ratios {' '.join(f'{x:.2f}' for x in ratios)}, median ratio {statistics.median(ratios):.2f}")
PY

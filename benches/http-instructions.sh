#!/usr/bin/env bash
# User-space instructions per request of `skynet serve` (valgrind's
# callgrind counts instructions, not seconds, so a loaded machine does not
# move the figure) for POST /v1/policy/check and POST /v1/jobs, for two
# release binaries side by side:
#
#   BASE=path/to/old/skynet HEAD=path/to/new/skynet bash benches/http-instructions.sh
#
# Each binary serves (SQLite, no workers) under callgrind twice, once with
# N1 and once with N2 requests per route; (I(N2) - I(N1)) / (N2 - N1) is
# the cost of one request with start-up and shutdown taken out. Requests
# share one kept-alive connection (CONNECTIONS=new: one each). Results go
# to benches/RESULTS.md by hand.
set -euo pipefail
: "${BASE:?set BASE to the old skynet binary}" "${HEAD:?set HEAD to the new skynet binary}"
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind; }
# Start-up differs between two runs of one binary by up to ~6 million
# instructions; over 5,000 requests that is about 1k a request, over 200
# (the old default) 30k. About 4 minutes a binary.
n1="${N1:-500}"
n2="${N2:-5500}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Instructions for `count` requests of `route` on binary `bin`.
measure() {
    local bin="$1" route="$2" count="$3" home="$work/home-$RANDOM" port=$((18700 + RANDOM % 1000))
    local root="$home-root"
    mkdir -p "$home" "$root"
    local key
    key="$(SKYNET_HOME="$home" "$bin" keys create bench --scopes read,submit | head -1)"
    # No timed work during the run: the sentinel's rounds would land in
    # one measurement and not the other.
    SKYNET_HOME="$home" SKYNET_SANDBOX=off SKYNET_SENTINEL_INTERVAL=3600s TOKIO_WORKER_THREADS=1 \
        valgrind --tool=callgrind \
        --callgrind-out-file="$home/cg.out" \
        "$bin" serve --bind "127.0.0.1:$port" --workers 0 --root "$root" \
        --rate-limit 10000000 --rate-burst 10000000 >/dev/null 2>"$home/valgrind.log" &
    local pid=$!
    # Ready when the port accepts (no request: only the measured ones run).
    for _ in $(seq 1 600); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
    local body
    case "$route" in
        policy) body='{"action": "git status", "context": {}}'; path=/v1/policy/check ;;
        submit) body='{"intent": "list the files"}'; path=/v1/jobs ;;
    esac
    local url="http://127.0.0.1:$port$path" urls=()
    for _ in $(seq 1 "$count"); do urls+=("$url"); done
    if [ "${CONNECTIONS:-reuse}" = reuse ]; then
        # One kept-alive connection: the request's own cost.
        curl -fsS -X POST -H "Authorization: Bearer $key" \
            -H 'content-type: application/json' -d "$body" "${urls[@]}" >/dev/null
    else
        # A new connection per request: accepting and closing included.
        for u in "${urls[@]}"; do
            curl -fsS -o /dev/null -X POST -H "Authorization: Bearer $key" \
                -H 'content-type: application/json' -d "$body" "$u"
        done
    fi
    kill -TERM "$pid"
    wait "$pid" || true
    awk '/^(summary|totals):/ {print $2; exit}' "$home/cg.out"
}

printf '%-8s %-6s %14s\n' build route instr/request
for route in policy submit; do
    for who in BASE HEAD; do
        bin="${!who}"
        a="$(measure "$bin" "$route" "$n1")"
        b="$(measure "$bin" "$route" "$n2")"
        printf '%-8s %-6s %14d\n' "$who" "$route" "$(( (b - a) / (n2 - n1) ))"
    done
done

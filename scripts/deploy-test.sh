#!/usr/bin/env bash
# The deployment test: builds SKYNET's image from the prebuilt-binary target
# on a Debian base made with debootstrap (no image registry is reachable),
# a PostgreSQL image on the same base, brings deploy/compose.yaml up with
# docker-compose (v1, Debian's package) and checks, against the real
# stack:
#   - every service reaches healthy; a job submitted over HTTP to `serve`
#     runs on a worker container and succeeds;
#   - `docker kill` of the worker running a long READ_ONLY job and a WRITE
#     job: the other worker finishes the READ_ONLY job after the lease, the
#     WRITE job goes to needs_review;
#   - a step trying to escape the sandbox inside a worker container fails
#     and leaves nothing outside its root;
#   - `down` then `up`: every job is still there and its audit chain verifies;
#   - `systemd-analyze verify` accepts deploy/systemd/*.
# It prints figures (image size by layer, compose up to healthy, serve
# ready time) for benches/RESULTS.md; it asserts none of them.
#
# Everything it creates is named skynet-deploy-test*; the base and
# PostgreSQL images are kept between runs (rebuilt only when missing).
# Needs: docker, docker-compose, debootstrap, systemd-analyze, jq, curl
# (scripts/services.d/80-deploy.sh installs them). Without them it skips
# and says so; under CI=true it fails instead.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

prefix=skynet-deploy-test
base_image=$prefix-base:bookworm
pg_image=$prefix-postgres:15
skynet_image=$prefix-skynet:latest

skip() {
    if [ "${CI:-}" = true ]; then
        echo "deploy-test: FAIL (CI=true, nothing may skip): $*" >&2
        exit 1
    fi
    echo "deploy-test: SKIPPED: $*"
    exit 0
}

for tool in docker docker-compose debootstrap systemd-analyze jq curl; do
    command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed (scripts/services.d/80-deploy.sh installs it)"
done
docker info >/dev/null 2>&1 || skip "no dockerd (scripts/services.d/30-docker.sh starts it)"

fail() {
    echo "deploy-test: FAIL: $*" >&2
    exit 1
}

step_started=$(date +%s.%N)
say() {
    echo "deploy-test: $*"
}
since() { # seconds since $1 (date +%s.%N), two decimals
    awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'
}

work=$(mktemp -d)
compose=(docker-compose --project-name "$prefix" --project-directory "$work" -f "$work/compose.yaml" -f "$work/compose.sandbox-v1.yaml" -f "$work/compose.test.yaml")
cleanup() {
    local status=$?
    if [ $status -ne 0 ]; then
        "${compose[@]}" ps >&2 || true
        "${compose[@]}" logs --tail 40 >&2 || true
    fi
    "${compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
    docker image rm "$skynet_image" >/dev/null 2>&1 || true
    rm -rf "$work"
    exit $status
}
trap cleanup EXIT

# ---- the binary ---------------------------------------------------------
binary=${SKYNET_DEPLOY_BINARY:-${CARGO_TARGET_DIR:-target}/debug/skynet}
if [ ! -x "$binary" ]; then
    cargo build --locked -p skynet-cli
fi
"$binary" --version | grep -Eq '^skynet [0-9][^ ]* \(commit [0-9a-f]{7,}|unknown\)' \
    || fail "skynet --version does not name the commit: $("$binary" --version)"
version=$("$binary" --version | awk '{print $2}')
commit=$("$binary" --version | sed -n 's/.*(commit \(.*\))/\1/p')

# ---- systemd units ------------------------------------------------------
# verify runs `man` for Documentation=man:skynet(1) and checks ExecStart:
# give it the generated page and the binary at the units' path.
units=$work/units
mkdir -p "$units/man/man1" "$units/bin"
"$binary" man >"$units/man/man1/skynet.1"
grep -q '^\.TH skynet 1' "$units/man/man1/skynet.1" || fail "skynet man did not write a man page"
for shell in bash zsh fish; do
    script=$("$binary" completions "$shell")
    grep -q serve <<<"$script" || fail "skynet completions $shell names no subcommands"
done
cp "$binary" "$units/bin/skynet"
for unit in deploy/systemd/*.service; do
    name=$(basename "$unit")
    [ "$name" = "skynet-worker@.service" ] && name=skynet-worker@1.service
    sed "s|/usr/local/bin/skynet|$units/bin/skynet|g" "$unit" >"$units/$name"
done
if ! out=$(MANPATH="$units/man" systemd-analyze verify "$units"/*.service 2>&1) || [ -n "$out" ]; then
    fail "systemd-analyze verify: $out"
fi
say "systemd-analyze verify: 3 units accepted"

# ---- images -------------------------------------------------------------
if ! docker image inspect "$base_image" >/dev/null 2>&1; then
    t=$(date +%s.%N)
    rootfs=$work/rootfs
    debootstrap --variant=minbase --include=tini,bubblewrap,git,ca-certificates \
        bookworm "$rootfs" "${SKYNET_DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$work/debootstrap.log" 2>&1 \
        || { tail -20 "$work/debootstrap.log" >&2; fail "debootstrap failed"; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* \
        "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* "$rootfs"/var/log/*.log
    tar -C "$rootfs" -c . | docker import \
        -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' -c 'CMD ["/bin/bash"]' \
        - "$base_image" >/dev/null
    rm -rf "$rootfs"
    say "base image built with debootstrap in $(since "$t") s"
fi
if ! docker image inspect "$pg_image" >/dev/null 2>&1; then
    docker build -q --build-arg BASE="$base_image" -t "$pg_image" \
        -f scripts/deploy-test/postgres.Dockerfile scripts/deploy-test >/dev/null
fi
context=$work/context
mkdir -p "$context/deploy"
cp deploy/Dockerfile deploy/skynet-env "$context/deploy/"
cp "$binary" "$context/skynet"
strip "$context/skynet"
docker build -q -f "$context/deploy/Dockerfile" --target prebuilt \
    --build-arg BASE="$base_image" --build-arg SKYNET_BINARY=skynet \
    --build-arg SKYNET_VERSION="$version" --build-arg SKYNET_COMMIT="$commit" \
    -t "$skynet_image" "$context" >/dev/null
[ "$(docker image inspect -f '{{index .Config.Labels "org.opencontainers.image.revision"}}' "$skynet_image")" = "$commit" ] \
    || fail "the image's revision label is not $commit"
[ "$(docker run --rm --entrypoint id "$skynet_image" -u)" != 0 ] || fail "the image runs as root"

# ---- the stack ----------------------------------------------------------
cp deploy/compose.yaml deploy/compose.sandbox-v1.yaml "$work/"
mkdir -p "$work/secrets"
password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
printf '%s\n' "$password" >"$work/secrets/postgres_password"
printf 'postgres://skynet:%s@postgres:5432/skynet\n' "$password" >"$work/secrets/database_url"
: >"$work/secrets/llm_api_key"
: >"$work/secrets/agent_token"
chmod 0644 "$work"/secrets/*
cat >"$work/.env" <<EOF
SKYNET_IMAGE=$skynet_image
SKYNET_POSTGRES_IMAGE=$pg_image
SKYNET_HTTP_BIND=127.0.0.1:0
SKYNET_LEASE=3s
SKYNET_HEARTBEAT=500ms
SKYNET_POLL_INTERVAL=200ms
SKYNET_POLICY_FILE=/etc/skynet-test/rules.toml
SKYNET_PLANNER=rules
EOF
# `sleep` counts as READ_ONLY here so a slow READ_ONLY job exists.
mkdir -p "$work/rules"
cp skynet-cli/tests/fixtures/sleep_read_only.toml "$work/rules/rules.toml"
chmod -R a+rX "$work/rules"
cat >"$work/compose.test.yaml" <<EOF
services:
  serve:
    volumes: ["$work/rules:/etc/skynet-test:ro"]
  worker-1:
    volumes: ["$work/rules:/etc/skynet-test:ro"]
  worker-2:
    volumes: ["$work/rules:/etc/skynet-test:ro"]
EOF
"${compose[@]}" config -q || fail "docker-compose rejects deploy/compose.yaml"

services=(postgres serve worker-1 worker-2)
wait_healthy() {
    local deadline=$((SECONDS + 120)) service id health all
    while :; do
        all=yes
        for service in "${services[@]}"; do
            id=$("${compose[@]}" ps -q "$service")
            health=$([ -n "$id" ] && docker inspect -f '{{.State.Health.Status}}' "$id" || echo missing)
            [ "$health" = healthy ] || all=no
        done
        [ $all = yes ] && return 0
        [ $SECONDS -lt $deadline ] || fail "not every service became healthy in 120 s"
        sleep 0.5
    done
}
t=$(date +%s.%N)
"${compose[@]}" up -d >/dev/null 2>&1
wait_healthy
up_seconds=$(since "$t")
say "compose up to healthy: $up_seconds s"

port=$("${compose[@]}" port serve 8000 | sed 's/.*://')
api=http://127.0.0.1:$port
key=$("${compose[@]}" exec -T serve skynet-env keys create deploy-test --scopes admin --json | jq -r '.key // .secret // .token')
[ -n "$key" ] && [ "$key" != null ] || fail "keys create printed no key"
http() { # METHOD PATH [JSON]
    curl -fsS -X "$1" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
        ${3:+--data "$3"} "$api$2"
}
submit() {
    http POST /v1/jobs "$(jq -n --arg i "$1" '{intent: $i}')" | jq -r .id
}
job() {
    http GET "/v1/jobs/$1"
}
status() {
    job "$1" | jq -r .status
}
seen_workers=$work/seen-workers
wait_status() { # ID STATUS SECONDS; notes the lease holders seen on the way
    local deadline=$((SECONDS + $3)) view s
    : >"$seen_workers"
    while view=$(job "$1"); s=$(jq -r .status <<<"$view"); [ "$s" != "$2" ]; do
        jq -r '.worker // empty' <<<"$view" >>"$seen_workers"
        [ $SECONDS -lt $deadline ] || fail "job $1 is $s, not $2, after $3 s: $view"
        sleep 0.2
    done
}
events() {
    "${compose[@]}" exec -T serve skynet-env events "$1" --json
}
approve() {
    local hash
    hash=$(job "$1" | jq -r .plan.hash)
    http POST "/v1/jobs/$1/approve" "$(jq -n --arg h "$hash" '{plan_hash: $h}')" >/dev/null
}

# A job over HTTP runs on a worker container and succeeds.
# serve runs no workers, so only a worker container can run it; its lease
# names the worker.
first=$(submit 'run `sleep 3`')
wait_status "$first" succeeded 60
grep -Eq '^worker-[12]$' "$seen_workers" || fail "no worker container held job $first: $(sort -u "$seen_workers")"
say "job over HTTP: succeeded on a worker container"

# An escape attempt inside the worker's sandbox fails and leaves nothing.
# The script sits in the jobs' root (the shared /work volume); the policy
# would refuse these paths on a command line, so the sandbox is what stops
# them here. It exits 0 only if its first write escaped.
"${compose[@]}" exec -T serve sh -c 'cat > /work/escape.sh' <<'EOF'
echo escaped > /var/lib/skynet/escaped
echo escaped > /work/../var/lib/skynet/escaped-too
cat /run/secrets/database_url
test -e /var/lib/skynet/escaped
EOF
escape=$(submit 'run `sh escape.sh`')
approve "$escape"
wait_status "$escape" failed 60
for service in worker-1 worker-2; do
    "${compose[@]}" exec -T "$service" sh -c 'test ! -e /var/lib/skynet/escaped && test ! -e /var/lib/skynet/escaped-too' \
        || fail "a sandboxed step wrote outside its root in $service"
done
if http GET "/v1/jobs/$escape/logs" | grep -q "$password"; then
    fail "a sandboxed step read the database secret"
fi
say "sandbox escape attempt: failed, nothing written, no secret read"

# Kill the worker running a long READ_ONLY job and a WRITE job.
"${compose[@]}" stop worker-2 >/dev/null 2>&1
# Long enough that worker-1 is still running it when it is killed, even on a
# loaded machine where `compose start` takes seconds.
ro=$(submit 'run `sleep 20`')
wr=$(submit "run \`sh -c 'echo run >> runs.txt; sleep 30'\`")
approve "$wr"
running() {
    [ "$(job "$1" | jq -r '.plan.steps[0].state.status')" = running ]
}
deadline=$((SECONDS + 60))
until running "$ro" && running "$wr"; do
    [ $SECONDS -lt $deadline ] || fail "both jobs did not start on worker-1: $(job "$ro") $(job "$wr")"
    sleep 0.3
done
"${compose[@]}" start worker-2 >/dev/null 2>&1
docker kill "$("${compose[@]}" ps -q worker-1)" >/dev/null
t=$(date +%s.%N)
running "$ro" || fail "the READ_ONLY job ended before worker-1 was killed: $(job "$ro")"
wait_status "$ro" succeeded 150
grep -qx worker-2 "$seen_workers" || fail "worker-2 did not take over the READ_ONLY job: $(sort -u "$seen_workers")"
wait_status "$wr" needs_review 90
say "docker kill worker-1: READ_ONLY job finished by worker-2, WRITE job needs_review ($(since "$t") s)"

# down then up: every job and its audit chain survive.
jobs=("$first" "$escape" "$ro" "$wr")
before=$(for id in "${jobs[@]}"; do status "$id"; done)
"${compose[@]}" down >/dev/null 2>&1
"${compose[@]}" up -d >/dev/null 2>&1
wait_healthy
port=$("${compose[@]}" port serve 8000 | sed 's/.*://')
api=http://127.0.0.1:$port
after=$(for id in "${jobs[@]}"; do status "$id"; done)
[ "$before" = "$after" ] || fail "jobs changed across down/up: $before vs $after"
for id in "${jobs[@]}"; do
    [ "$(events "$id" | jq -r .chain.intact)" = true ] || fail "job $id's audit chain does not verify"
done
say "down + up: ${#jobs[@]} jobs kept, every audit chain intact"

# ---- figures (printed for benches/RESULTS.md, never asserted) -----------
say "figures: image $skynet_image"
docker history --format '  {{.Size}}\t{{.CreatedBy}}' "$skynet_image" | cut -c1-120
say "figures: image size $(docker image inspect -f '{{.Size}}' "$skynet_image" | awk '{printf "%.1f MB", $1/1e6}')"
say "figures: compose up to healthy $up_seconds s"
id=$("${compose[@]}" ps -q serve)
t=$(date +%s.%N)
docker restart -t 30 "$id" >/dev/null
until curl -fsS -o /dev/null "$api/v1/health" 2>/dev/null || curl -fsS -o /dev/null \
    "http://127.0.0.1:$("${compose[@]}" port serve 8000 | sed 's/.*://')/v1/health" 2>/dev/null; do
    sleep 0.05
done
say "figures: serve restart to ready $(since "$t") s (includes container stop/start)"
say "passed in $(since "$step_started") s"

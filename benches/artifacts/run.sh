#!/usr/bin/env bash
# Artifact storage beside the usual tools, alternating, ROUNDS rounds
# (default 5), on one file of SIZE (default 1G) on the same disk:
#
#   local: `artifact-upload local` (the real LocalArtifactStore: hash +
#          copy + fsync + rename) vs `sha256sum FILE` then `cp FILE DIR`;
#   s3:    `artifact-upload s3` (the real S3ArtifactStore) vs
#          `aws s3 cp FILE s3://BUCKET/KEY`, both against one s3s-fs
#          server on loopback.
#
# Usage: benches/artifacts/run.sh BIN S3S_FS AWS [WORKDIR]
#   BIN     the release `artifact-upload` binary
#   S3S_FS  the `s3s-fs` binary (`cargo install s3s-fs --locked --features binary`)
#   AWS     the AWS CLI (`pip install awscli` in a venv)
# Prints one line per run and then the medians and ratios as Markdown.
# Nothing of this runs in scripts/test.
set -euo pipefail

BIN=${1:?artifact-upload binary}
S3S=${2:?s3s-fs binary}
AWS=${3:?aws cli}
WORK=${4:-$(mktemp -d "${TMPDIR:-/tmp}/artifact-bench.XXXXXX")}
ROUNDS=${ROUNDS:-5}
SIZE=${SIZE:-1G}
PORT=${PORT:-18014}
MODES=${MODES:-local s3}
mkdir -p "$WORK"
SRC="$WORK/source.bin"
RESULTS="$WORK/results.tsv"
: > "$RESULTS"

[ -f "$SRC" ] || head -c "$SIZE" /dev/urandom > "$SRC"
BYTES=$(stat -c %s "$SRC")

now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" "$1" "$(now)"; }
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:-}" | tee -a "$RESULTS"; }

run_local() {
    local round=$1 dest="$WORK/local"
    rm -rf "$dest" "$WORK/cp"; mkdir -p "$WORK/cp"; sync
    local out
    out=$("$BIN" local "$SRC" "$dest")
    record local-skynet "$round" "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["secs"])' "$out")" \
        "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["peak_rss_kb"])' "$out")"
    rm -rf "$dest"; sync
    local t0; t0=$(now)
    sha256sum "$SRC" > /dev/null
    cp "$SRC" "$WORK/cp/copy.bin"
    record local-sha256sum+cp "$round" "$(since "$t0")"
    rm -rf "$WORK/cp"; sync
}

start_s3() {
    rm -rf "$WORK/s3"; mkdir -p "$WORK/s3/bench"
    "$S3S" --host 127.0.0.1 --port "$PORT" --access-key benchkey --secret-key benchsecret \
        "$WORK/s3" > "$WORK/s3s-fs.log" 2>&1 &
    S3S_PID=$!
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "s3s-fs did not start; see $WORK/s3s-fs.log" >&2; exit 1
}

run_s3() {
    local round=$1 out
    export AWS_ACCESS_KEY_ID=benchkey AWS_SECRET_ACCESS_KEY=benchsecret AWS_DEFAULT_REGION=us-east-1
    local endpoint="http://127.0.0.1:$PORT"
    rm -rf "$WORK/s3/bench/"*; sync
    out=$("$BIN" s3 "$SRC" "$endpoint" bench)
    record s3-skynet "$round" "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["secs"])' "$out")" \
        "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["peak_rss_kb"])' "$out")"
    rm -rf "$WORK/s3/bench/"*; sync
    local t0; t0=$(now)
    "$AWS" --endpoint-url "$endpoint" s3 cp --only-show-errors "$SRC" s3://bench/copy.bin
    record s3-aws-cli "$round" "$(since "$t0")"
    rm -rf "$WORK/s3/bench/"*; sync
}

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $BYTES bytes, load $(cut -d' ' -f1-3 /proc/loadavg)"
for mode in $MODES; do
    if [ "$mode" = s3 ]; then start_s3; fi
    for round in $(seq "$ROUNDS"); do
        "run_$mode" "$round"
    done
    if [ "$mode" = s3 ]; then kill "$S3S_PID"; wait "$S3S_PID" 2>/dev/null || true; fi
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$RESULTS" "$BYTES" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
size = int(sys.argv[2])
times, rss = {}, {}
for name, _, secs, peak in rows:
    times.setdefault(name, []).append(float(secs))
    if peak:
        rss.setdefault(name, []).append(int(peak))
med = {k: statistics.median(v) for k, v in times.items()}
print("| run | median s | MiB/s | runs (s) | peak RSS |")
print("|---|---|---|---|---|")
for k, v in times.items():
    peak = f"{max(rss[k]) / 1024:.1f} MiB" if k in rss else ""
    print(f"| {k} | {med[k]:.2f} | {size / med[k] / 2**20:.0f} | {', '.join(f'{t:.2f}' for t in v)} | {peak} |")
if "local-skynet" in med:
    print(f"\nlocal: SKYNET time / (sha256sum + cp) time = {med['local-skynet'] / med['local-sha256sum+cp']:.2f}")
if "s3-skynet" in med:
    print(f"s3: SKYNET throughput / aws s3 cp throughput = {med['s3-aws-cli'] / med['s3-skynet']:.2f}")
PY

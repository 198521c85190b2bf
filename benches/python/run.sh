#!/usr/bin/env bash
# Python bindings vs Rust, same run: builds the release wheel into a fresh
# venv and the release Rust peer, then runs bindings.py. Not part of the
# test command; results go in benches/RESULTS.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="$target/skynet-py-bench-venv"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check "maturin>=1.9,<2"
(cd "$root/skynet-py" && CARGO_TARGET_DIR="$target" "$venv/bin/maturin" build -q --release \
    --interpreter "$venv/bin/python" --out "$venv/wheels")
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-index "$venv"/wheels/skynet-*.whl
(cd "$root" && CARGO_TARGET_DIR="$target" cargo build -q --release -p skynet-benches --bin skynet-python-peer)
cd "$(mktemp -d)"
env -u SKYNET_HOME -u SKYNET_DATABASE_URL "$venv/bin/python" "$here/bindings.py" "$target/release/skynet-python-peer"

#!/usr/bin/env bash
# The Python suite: a fresh virtualenv, the extension built and installed
# from this checkout as a wheel, then pytest (--strict-markers, doctests
# included) and mypy --strict on the tests and the typed example.
# Run by scripts/test (registered by scripts/services.d/50-python.sh), or
# alone: bash skynet-py/tests/run.sh
set -euo pipefail
crate="$(cd "$(dirname "$0")/.." && pwd)"
root="$(cd "$crate/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
python="${SKYNET_PYTHON:-python3}"
venv="$target/skynet-py-venv"

rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check \
    "maturin>=1.9,<2" "pytest>=8" "mypy>=1.10"

# A debug build is enough for the tests (and much faster to compile).
rm -rf "$venv/wheels"
(cd "$crate" && CARGO_TARGET_DIR="$target" "$venv/bin/maturin" build -q \
    --profile dev --interpreter "$venv/bin/python" --out "$venv/wheels")
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-index \
    "$venv"/wheels/skynet-*.whl

# Run from a scratch directory so `import skynet` finds the installed
# wheel, not the sources.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
"$venv/bin/python" -m pytest -p no:cacheprovider --strict-markers -q \
    -c "$crate/pyproject.toml" --rootdir "$crate" "$crate/tests"
"$venv/bin/python" -m mypy --strict --no-incremental \
    "$crate/examples/typed_usage.py" "$crate/tests"
echo "skynet-py: pytest and mypy --strict passed"

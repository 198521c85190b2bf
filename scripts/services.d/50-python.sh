# shellcheck shell=bash
# The Python bindings' suite (skynet-py/tests/run.sh): it needs python3 with
# venv and pip, and builds the extension itself. Installs python3-venv with
# apt-get when the venv module is missing, then registers the suite.
if ! python3 -c "import venv, ensurepip" >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && apt-get install -y -qq python3 python3-venv python3-pip >/dev/null
    fi
fi
if python3 -c "import venv, ensurepip" >/dev/null 2>&1; then
    SKYNET_EXTRA_SUITES+=("skynet-py/tests/run.sh")
else
    echo "skynet-py: python3 with venv is not available; the Python suite is skipped" >&2
fi

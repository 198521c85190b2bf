# HTTP control plane fuzzing: schemathesis (from PyPI) against a served
# /openapi.json. Installed here if missing; the suite itself is
# scripts/http-fuzz.sh, run after the cargo tests.
if ! command -v st >/dev/null 2>&1 || ! st --version 2>/dev/null | grep -q ' 4\.'; then
    python3 -m pip install --quiet --disable-pip-version-check 'schemathesis>=4,<5' \
        || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages 'schemathesis>=4,<5' \
        || echo "60-http: installing schemathesis failed; the HTTP fuzz suite will say so" >&2
fi
SKYNET_EXTRA_SUITES+=("scripts/http-fuzz.sh")

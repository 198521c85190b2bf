#!/usr/bin/env bash
# The Telegram benchmark (issue 20), same run: a local Bot API stand-in
# (its own capacity measured first), then 1,000 /status commands over 10
# chats answered by skynet-telegram and by python-telegram-bot (installed
# into a fresh venv) from the same SQLite ledger. Not part of the test
# command; results go in benches/RESULTS.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="$target/tg-bench-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import telegram" 2>/dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "python-telegram-bot==22.8"
fi
(cd "$root" && CARGO_TARGET_DIR="$target" cargo build -q --release -p skynet-benches --bin telegram-bench)
"$target/release/telegram-bench" "$venv/bin/python" "$here/ptb_bot.py"

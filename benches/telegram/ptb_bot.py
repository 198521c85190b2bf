"""The python-telegram-bot peer of the Telegram benchmark: answers
`/status <job prefix>` from the same SQLite ledger SKYNET uses, with
`concurrent_updates` on. Usage: ptb_bot.py API_URL DB_PATH TOKEN"""

import html
import sqlite3
import sys

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import Application, CommandHandler, ContextTypes

api_url, db_path, token = sys.argv[1], sys.argv[2], sys.argv[3]
db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, check_same_thread=False)


async def status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    prefix = (context.args or [""])[0]
    rows = db.execute(
        "SELECT id, status, risk, intent FROM jobs WHERE id LIKE ? LIMIT 2", (prefix + "%",)
    ).fetchall()
    if len(rows) != 1:
        text = "not found" if not rows else "ambiguous"
    else:
        jid, st, risk, intent = rows[0]
        text = (
            f"Job <code>{html.escape(jid[:8])}</code> · {html.escape(risk)}\n"
            f"Task: {html.escape(intent)}\nStatus: <b>{html.escape(st)}</b>"
        )
    await update.message.reply_text(text, parse_mode=ParseMode.HTML)


app = (
    Application.builder()
    .token(token)
    .base_url(f"{api_url}/bot")
    .concurrent_updates(True)
    .build()
)
app.add_handler(CommandHandler("status", status))
app.run_polling(poll_interval=0.0, timeout=1, allowed_updates=["message"])

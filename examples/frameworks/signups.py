"""The jobs the framework examples share: a welcome email sent after each sign-up.

The web app only enqueues a run (``await client.enqueue(...)``) and answers at once; the worker
that ``client.lifespan`` starts inside the same process executes it. The email "API" is a file,
``$SIGNUPS_OUTBOX`` (default ``outbox.txt``), one line per email sent, so the examples run
anywhere; swap ``deliver`` for a real provider's call (or an integration's task).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from relaykit import IO, Client, Context

client = Client(id="signups")


def render(email: str) -> str:
    """The email's body."""
    return f"Welcome aboard, {email}!"


def deliver(email: str, body: str) -> str:
    """Send the email (here: append it to the outbox file)."""
    outbox = Path(os.environ.get("SIGNUPS_OUTBOX", "outbox.txt"))
    with outbox.open("a", encoding="utf-8") as f:
        f.write(f"{email}\t{body}\n")
    return f"sent to {email}"


@client.define_job(id="welcome-email", version="1.0.0")
async def welcome_email(payload: Any, io: IO, ctx: Context) -> str:
    """Render the welcome email, then send it: each step recorded once, retried on failure."""
    body = await io.run_task("render", render, payload["email"])
    return str(await io.run_task("deliver", deliver, payload["email"], body))

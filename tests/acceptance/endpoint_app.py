"""The user's app of tests/acceptance/test_endpoint.py, served by uvicorn in its own process.

Tasks append ``begin KEY`` / ``end KEY`` to ``$EFFECTS_FILE`` (how often each really ran);
the ASGI wrapper appends one line per execute request, naming its run, to
``$REQUESTS_FILE`` (requests counted on the server's side). ``$ENDPOINT_MAX_SECONDS`` caps
each attempt's budget; ``$STEPS_VERSION`` is the version of job ``steps``.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import relaykit
from relaykit import Client, Context, Retry, event_trigger

client = Client(id="endpoint-tests")


def note(line: str) -> None:
    with Path(os.environ["EFFECTS_FILE"]).open("a", encoding="utf-8") as f:
        f.write(line + "\n")


async def work(key: str, seconds: float) -> str:
    note(f"begin {key}")
    await asyncio.sleep(seconds)
    note(f"end {key}")
    return key


def flaky(key: str) -> str:
    attempt = relaykit.current_task().attempt
    note(f"begin {key} attempt {attempt}")
    if attempt < 3:
        raise ConnectionError(f"the remote API is busy (attempt {attempt})")
    note(f"end {key}")
    return "answered"


# $STEPS_VERSION: an old or a new deploy of the same job
STEPS_VERSION = os.environ.get("STEPS_VERSION") or "1.0.0"


@client.define_job(id="steps", version=STEPS_VERSION, trigger=event_trigger(name="steps"))
async def steps(payload: Any, io: relaykit.IO, ctx: Context) -> dict[str, Any]:
    """``n`` tasks of ``seconds`` each, all inline."""
    done = [
        await io.run_task(f"step-{i}", work, f"step-{i}", float(payload.get("seconds", 0)))
        for i in range(int(payload["n"]))
    ]
    return {"done": len(done)}


@client.define_job(id="order", version="1.0.0", trigger=event_trigger(name="order"))
async def order(payload: Any, io: relaykit.IO, ctx: Context) -> dict[str, Any]:
    """Several tasks, one retried twice, a durable wait and a log line."""
    await io.logger.info("order received", order=payload["order"])
    first = await io.run_task("charge", work, "charge", 0.0)
    retry = Retry(limit=5, min_timeout=0.1, factor=1.0, randomize=False)
    answer = await io.run_task("reserve", flaky, "reserve", retry=retry)
    await io.wait("cool-off", seconds=0.5)
    last = await io.run_task("email", work, "email", 0.0)
    return {"tasks": [first, answer, last]}


def _counting(app: Any) -> Any:
    async def counted(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        messages, body = [], b""
        while True:
            message = await receive()
            messages.append(message)
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            sent = json.loads(body)
        except ValueError:
            sent = {}
        if isinstance(sent, dict) and sent.get("action") == "execute":
            # a blocking append of one line: this test app's own bookkeeping
            with Path(os.environ["REQUESTS_FILE"]).open("a", encoding="utf-8") as f:  # noqa: ASYNC230
                f.write(sent["run"]["id"] + "\n")

        async def replay() -> Any:
            return messages.pop(0) if messages else await receive()

        await app(scope, replay, send)

    return counted


app = _counting(client.endpoint(max_seconds=float(os.environ.get("ENDPOINT_MAX_SECONDS") or 60)))

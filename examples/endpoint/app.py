"""Endpoint mode: the jobs live in this web app; relaykit drives them over signed HTTP.

Serve it (any ASGI server; on a serverless platform, its ASGI adapter):

    export RELAYKIT_ENDPOINT_SECRET=...            # the same value on both sides
    uvicorn examples.endpoint.app:app --port 8001

and point relaykit at it (no APP: the jobs come from the endpoint):

    relaykit serve --endpoint http://127.0.0.1:8001/api/relaykit/

and send it an event from an APP file whose client names the endpoint (relaykit's commands
need an APP; ``ops.py`` is two lines: ``from relaykit import Client`` and
``client = Client(id="ops", endpoints=["http://127.0.0.1:8001/api/relaykit/"])``):

    relaykit send ops.py order.paid --payload '{"order": "A-1", "items": 3}'

(or ``POST /api/v1/events`` to the API that ``relaykit serve`` prints, with an API key).

``SHOP_EFFECTS`` (a file path, optional) gets one line per side effect: the tests count them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

import relaykit
from relaykit import Client, Context, Retry, event_trigger

client = Client(id="shop")


def effect(what: str) -> None:
    """A side effect the tests can count (a charge, an e-mail...)."""
    path = os.environ.get("SHOP_EFFECTS")
    if path:
        with Path(path).open("a", encoding="utf-8") as f:
            f.write(what + "\n")


def charge(order: str, amount: int) -> dict[str, Any]:
    effect(f"charge {order}")
    return {"order": order, "charged": amount}


def reserve_stock(order: str) -> str:
    # the warehouse API is flaky: the first call fails, the retry succeeds
    attempt = relaykit.current_task().attempt
    effect(f"reserve {order} attempt {attempt}")
    if attempt < 2:
        raise ConnectionError("warehouse busy")
    return f"reserved-{order}"


@client.define_job(id="fulfil-order", version="1.0.0", trigger=event_trigger(name="order.paid"))
async def fulfil_order(payload: Any, io: relaykit.IO, ctx: Context) -> dict[str, Any]:
    order, items = payload["order"], int(payload["items"])
    await io.logger.info("fulfilling", order=order)
    paid = await io.run_task("charge", charge, order, items * 10)
    retry = Retry(limit=3, min_timeout=0.2, factor=1.0, randomize=False)
    reservation = await io.run_task("reserve", reserve_stock, order, retry=retry)
    for i in range(items):
        await io.run_task(f"pack-{i}", effect, f"pack {order} {i}")
    await io.run_task("email", effect, f"email {order}")
    return {"charged": paid["charged"], "reservation": reservation}


async def health(request: Any) -> JSONResponse:
    return JSONResponse({"ok": True})


# Your own routes, with relaykit's endpoint mounted beside them (FastAPI: the same
# `app.mount("/api/relaykit", client.endpoint())`).
app = Starlette(
    routes=[
        Route("/health", health),
        Mount("/api/relaykit", app=client.endpoint(max_seconds=25.0)),
    ]
)

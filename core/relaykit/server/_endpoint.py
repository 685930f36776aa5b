"""``client.endpoint()``: the ASGI app in the user's deployed code that relaykit calls.

One route, ``POST /`` (mount the app wherever: ``app.mount("/api/relaykit", ...)``), taking a
signed JSON message: ``{"action": "describe"}`` or ``{"action": "execute", ...}``. An
unsigned, stale, replayed or badly signed request is answered 401 before its body is even
parsed: nothing runs. Answers are newline-delimited JSON, every line signed
(``relaykit._base.signing``); an execute answer streams one line per committed task, so a
deploy killed mid-attempt loses only the task it was in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .._base.signing import Signer, endpoint_secret
from ..engine import wire
from ..engine.endpoint import EndpointRuntime, Execution
from ..errors import ConfigurationError, SignatureRejected

if TYPE_CHECKING:
    from ..client import Client

_log = logging.getLogger("relaykit.endpoint")
_NDJSON = "application/x-ndjson"
#: A line is sent at least this often while an attempt runs (a ``beat`` when no task ended):
#: relaykit's read timeout then detects a dead endpoint, not a long task.
BEAT_SECONDS = 10.0


def create_endpoint_app(
    client: Client, *, secret: str | None = None, max_seconds: float | None = None
) -> Starlette:
    """The endpoint app of ``client`` (see ``Client.endpoint``).

    ``RELAYKIT_ENDPOINT_SECRET`` is read at the first request, not here: importing the app
    (a serverless build step, a test) needs no secret; a request without one configured is
    answered 500 with the reason, and logged."""
    signers: list[Signer] = []
    if secret is not None:  # a bad explicit secret is an error at once
        signers.append(Signer(endpoint_secret(secret)))
    runtime = EndpointRuntime(
        client.jobs,
        plugins=client.plugins,
        environment=client.environment,
        client_id=client.id,
        max_seconds=max_seconds,
    )

    async def handle(request: Request) -> Response:
        body = await request.body()
        if not signers:
            try:
                signers.append(Signer(endpoint_secret()))
            except ConfigurationError as exc:
                _log.error("endpoint: %s", exc)
                return JSONResponse({"error": f"the endpoint is not configured: {exc}"}, 500)
        signer = signers[0]
        try:
            signature = signer.verify_request(request.headers, body)
        except SignatureRejected as exc:
            _log.warning("endpoint: refused a request from %s: %s", _peer(request), exc)
            return JSONResponse({"error": str(exc)}, status_code=401)
        answer = await _answer(client, runtime, body)
        if isinstance(answer, Execution):
            stream = _stream(runtime, answer, signer, signature)
            # nginx buffers a proxied answer unless told not to: the lines must arrive as
            # they are written, or a killed deploy loses what it had finished
            headers = {"x-accel-buffering": "no", "cache-control": "no-store"}
            return StreamingResponse(stream, media_type=_NDJSON, headers=headers)
        status, message = answer
        return Response(
            signer.sign_line(signature, 0, _json(message)), status_code=status, media_type=_NDJSON
        )

    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await runtime.close()

    app = Starlette(
        routes=[Route("/", handle, methods=["POST"])],
        lifespan=contextlib.asynccontextmanager(lifespan),
    )
    app.state.relaykit_endpoint = runtime
    return app


async def _answer(
    client: Client, runtime: EndpointRuntime, body: bytes
) -> Execution | tuple[int, dict[str, Any]]:
    """What a verified request asks for: an attempt to stream, or one (status, message)."""
    try:
        message = json.loads(body)
        if not isinstance(message, dict):
            raise TypeError("not an object")
    except (ValueError, TypeError) as exc:
        return 400, _error(f"bad JSON: {exc}")
    if message.get("protocol") != wire.PROTOCOL:
        return 400, _error(f"protocol {message.get('protocol')!r} is not {wire.PROTOCOL}")
    action = message.get("action")
    if action == "describe":
        if not client.plugins.loaded:
            await asyncio.to_thread(client.plugins.load)
        return 200, {"t": "describe", **runtime.describe()}
    if action != "execute":
        return 400, _error(f"unknown action {action!r}: describe or execute")
    try:
        prepared = runtime.prepare(message)
    except (KeyError, TypeError, ValueError) as exc:
        return 400, _error(f"a malformed execute message: {type(exc).__name__}: {exc}")
    return prepared if isinstance(prepared, Execution) else (409, prepared)


def _error(text: str) -> dict[str, Any]:
    return {"t": "error", "message": text}


async def _stream(
    runtime: EndpointRuntime, ex: Execution, signer: Signer, signature: str
) -> AsyncIterator[bytes]:
    """The attempt's messages as signed lines, each sent as soon as it is committed. When
    relaykit goes away (or refuses a commit and hangs up), the attempt is cancelled."""
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    async def work() -> None:
        try:
            await runtime.execute(ex, queue.put)
        except Exception as exc:  # relaykit sees a failed request and retries the attempt
            _log.exception("endpoint: run %s: the attempt failed", ex.run.id)
            await queue.put({"t": "error", "message": f"{type(exc).__name__}: {exc}"})
        finally:
            await queue.put(None)

    task = asyncio.create_task(work(), name=f"relaykit-endpoint-{ex.run.id}")
    seq = 0
    try:
        while True:
            try:
                message = await asyncio.wait_for(queue.get(), BEAT_SECONDS)
            except TimeoutError:  # a long task: tell relaykit the attempt is alive
                message = {"t": "beat"}
            if message is None:
                break
            yield signer.sign_line(signature, seq, _json(message))
            seq += 1
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _json(message: Mapping[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()


def _peer(request: Request) -> str:
    return request.client.host if request.client is not None else "an unknown peer"

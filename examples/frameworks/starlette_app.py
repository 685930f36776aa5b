"""relaykit inside a Starlette app: a request enqueues a run, the in-process worker executes it.

Run it with (from this folder):
    uvicorn starlette_app:app

``client.lifespan`` is the app's lifespan: it opens the store, runs a worker on the app's event
loop and stops it gracefully on shutdown. With a lifespan of your own, enter it there::

    @contextlib.asynccontextmanager
    async def lifespan(app):
        async with client.lifespan(concurrency=4):
            yield
"""

from __future__ import annotations

from signups import client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from relaykit import UnknownRun


async def sign_up(request: Request) -> JSONResponse:
    """Enqueue the welcome email and answer at once."""
    form = await request.json()
    run_id = await client.enqueue("welcome-email", {"email": str(form["email"])})
    return JSONResponse({"run": run_id}, status_code=202)


async def sign_up_status(request: Request) -> JSONResponse:
    """Where the welcome email is."""
    try:
        run = await client.get_run(request.path_params["run_id"])
    except UnknownRun as exc:
        return JSONResponse({"detail": str(exc)}, status_code=404)
    return JSONResponse({"status": run.status, "output": run.output})


app = Starlette(
    routes=[
        Route("/signups", sign_up, methods=["POST"]),
        Route("/signups/{run_id}", sign_up_status),
        Mount("/relaykit", app=client.asgi_app()),  # the dashboard and the HTTP API
    ],
    lifespan=client.lifespan,
)

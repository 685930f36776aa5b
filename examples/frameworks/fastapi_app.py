"""relaykit inside a FastAPI app: a request enqueues a run, the in-process worker executes it.

Run it with (from this folder):
    uvicorn fastapi_app:app --reload

    curl -X POST localhost:8000/signups -H 'content-type: application/json' \\
         -d '{"email": "ada@example.com"}'          # {"run": "<id>"}
    curl localhost:8000/signups/<id>                 # {"status": "succeeded", ...}

``client.lifespan`` opens the store when the app starts, runs a worker (and the scheduler) on
the app's event loop, and on shutdown hands the runs still in flight back to the store for the
next worker. The dashboard and the HTTP API are mounted at ``/relaykit``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from signups import client

from relaykit import UnknownRun

app = FastAPI(lifespan=client.lifespan)
app.mount("/relaykit", client.asgi_app())


class SignUp(BaseModel):
    """A sign-up form."""

    email: str


@app.post("/signups", status_code=202)
async def sign_up(form: SignUp) -> dict[str, str]:
    """Enqueue the welcome email and answer at once."""
    return {"run": await client.enqueue("welcome-email", {"email": form.email})}


@app.get("/signups/{run_id}")
async def sign_up_status(run_id: str) -> dict[str, Any]:
    """Where the welcome email is."""
    try:
        run = await client.get_run(run_id)
    except UnknownRun as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    return {"status": run.status, "output": run.output}

"""Approvals: a run that pauses for a person's decision (a waitpoint token).

``deploy`` creates a token, hands its signed URL to whoever approves (here: the worker's
stderr; in real code, a Slack message or an email), and waits — holding no worker slot — until the
token is completed with the decision, or for a day, after which it gives up.

Run it with (``RELAYKIT_SECRET_KEY`` signs the callback URL):
    relaykit run examples/approvals.py deploy --payload '{"version": "2.4.0"}' --detach
    relaykit worker examples/approvals.py --exit-when-idle
    relaykit tokens list
    relaykit tokens complete TOKEN --data '{"approved": true, "by": "ada"}'
    relaykit worker examples/approvals.py --exit-when-idle
"""

from __future__ import annotations

import sys
from typing import Any

from pydantic import BaseModel

from relaykit import IO, Client, Context, invoke_trigger

client = Client(id="approvals")


class Release(BaseModel):
    """What to deploy."""

    version: str


def ask_for_approval(version: str, url: str | None) -> None:
    """A stand-in for a Slack message or an email to whoever approves releases."""
    print(
        f"deploy {version}? approve: curl -X POST -d '{{\"approved\": true}}' {url}",
        file=sys.stderr,
    )


@client.define_job(
    id="deploy", name="Deploy a release", version="1.0.0", trigger=invoke_trigger(schema=Release)
)
async def deploy(payload: Release, io: IO, ctx: Context) -> dict[str, Any]:
    token = await io.create_token("approval", timeout=24 * 3600, tags=["deploy", payload.version])
    # the signed URL completes the token without an API key: hand it to the approver only
    # (it is not stored; the task records neither it nor its signature)
    await io.run_task("ask", lambda: ask_for_approval(payload.version, token.url))
    await io.logger.info("approval needed", token=token.id)
    decision = await io.wait_for_token(token)
    if decision is None:
        return {"deployed": False, "reason": "nobody approved within a day"}
    if not decision.get("approved"):
        return {"deployed": False, "reason": f"rejected by {decision.get('by', 'someone')}"}
    await io.run_task("ship", lambda: f"shipped {payload.version}")
    return {"deployed": True, "approved_by": decision.get("by")}

"""The quickstart job: a few tasks, one flaky, a short durable wait, a log line, an output.

Run it with:  python3 -m relaykit run examples/quickstart.py welcome --payload '{"name": "Ada"}'
"""

from __future__ import annotations

from pydantic import BaseModel

import relaykit
from relaykit import Client, Context, Retry, invoke_trigger

client = Client(id="quickstart")


class Signup(BaseModel):
    """The payload: who signed up."""

    name: str = "Ada"
    plan: str = "pro"


class Profile(BaseModel):
    """What the first task returns (restored as this model on replay too)."""

    handle: str
    plan: str


async def make_profile(name: str, plan: str) -> Profile:
    """A task that builds a profile."""
    return Profile(handle=name.lower(), plan=plan)


async def send_welcome(handle: str) -> dict[str, str]:
    """A flaky task: the first attempt fails as a remote API might, the retry succeeds."""
    if relaykit.current_task().attempt == 1:
        raise ConnectionError("mail server busy")
    return {"to": handle, "message": f"Welcome, {handle}!"}


@client.define_job(
    id="welcome",
    name="Welcome a new user",
    version="1.0.0",
    trigger=invoke_trigger(schema=Signup),
)
async def welcome(payload: Signup, io: relaykit.IO, ctx: Context) -> dict[str, object]:
    """Build a profile, wait a moment, send a welcome (retried), count the signup."""
    await io.logger.info("new signup", name=payload.name, run=ctx.run.id)
    profile = await io.run_task("profile", make_profile, payload.name, payload.plan)
    await io.wait("cool-off", seconds=1)
    mail = await io.run_task(
        "send-welcome",
        send_welcome,
        profile.handle,
        retry=Retry(limit=3, min_timeout=0.5, randomize=False),
    )
    signups = await io.store.env.get("read-count", "signups", default=0)
    await io.store.env.set("write-count", "signups", signups + 1)
    return {"handle": profile.handle, "welcome": mail["message"], "signups": signups + 1}

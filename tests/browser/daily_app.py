"""The app the day-one dashboard browser tests serve: a task with an integration icon and a
long payload, a cron job, an event job, a GitHub webhook job and a job whose own code
raises."""

from __future__ import annotations

from typing import Any

import relaykit
from relaykit import Client, Context, cron_trigger, event_trigger
from relaykit_github import GitHub

client = Client(id="daily-dashboard")


@client.define_job(id="labels", name="Labels", version="1.0.0")
async def labels(payload: Any, io: relaykit.IO, ctx: Context) -> dict[str, Any]:
    async def add_labels() -> list[str]:
        return ["bug", "triage"]

    added = await io.run_task("add-labels", add_labels, name="github.add_labels", icon="github")
    return {"added": added, "echo": payload}


@client.define_job(id="nightly", name="Nightly", version="1.0.0", trigger=cron_trigger("0 3 * * *"))
async def nightly(payload: Any, io: relaykit.IO, ctx: Context) -> Any:
    return payload


@client.define_job(
    id="welcome",
    name="Welcome",
    version="1.0.0",
    trigger=event_trigger("user.created", filter={"plan": ["pro"]}),
)
async def welcome(payload: Any, io: relaykit.IO, ctx: Context) -> str:
    return f"welcome {payload['email']}"


github = GitHub(id="github", token="unused")  # the job calls no API


@client.define_job(
    id="on-pr",
    name="On PR",
    version="1.0.0",
    trigger=github.triggers.repo(event="pull_request.opened", owner="acme", repo="crm"),
    integrations={"github": github},
)
async def on_pr(payload: Any, io: relaykit.IO, ctx: Context) -> dict[str, Any]:
    pull = payload["pull_request"]
    return {"repo": payload["repository"]["full_name"], "number": pull["number"]}


def parse_widget(text: str) -> int:
    return int(text)  # raises for "not a number": the user's frame


@client.define_job(id="broken", name="Broken", version="1.0.0")
async def broken(payload: Any, io: relaykit.IO, ctx: Context) -> int:
    parsed: int = await io.run_task(
        "parse", parse_widget, "not a number", retry=relaykit.Retry(limit=1)
    )
    return parsed


@client.define_job(id="fortnight", name="Fortnight", version="1.0.0")
async def fortnight(payload: Any, io: relaykit.IO, ctx: Context) -> str:
    await io.wait("fortnight", seconds=14 * 86400)
    return "back"


@client.define_job(id="napper", name="Napper", version="1.0.0")
async def napper(payload: Any, io: relaykit.IO, ctx: Context) -> str:
    await io.wait("nap", seconds=1)
    return "rested"

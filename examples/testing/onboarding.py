"""The app docs/testing.md tests: onboarding new customers (tests: test_testing_onboarding.py).

``onboard`` looks up the customer's plan (a flaky call, retried), lets an hour pass, waits up
to two days for someone to approve the signup, then opens a GitHub issue for the team.
``daily-digest`` is a plain ``def`` cron job that reports the day's signups every morning.
"""

from __future__ import annotations

from typing import Any

import httpx2
from pydantic import BaseModel

from relaykit import IO, Client, Context, Retry, cron_trigger, event_trigger
from relaykit_github import GitHub

client = Client(id="onboarding")
github = GitHub(id="github")  # the token comes from GITHUB_TOKEN when a task runs


class Signup(BaseModel):
    """Who signed up."""

    email: str
    company: str


def lookup_plan(company: str) -> str:
    """Ask the billing service which plan the company bought."""
    response = httpx2.get(f"https://billing.internal/plans/{company}", timeout=10)
    response.raise_for_status()
    return str(response.json()["plan"])


@client.define_job(
    id="onboard",
    version="1.0.0",
    trigger=event_trigger(name="user.signed-up", schema=Signup),
    integrations={"github": github},
)
async def onboard(payload: Signup, io: IO, ctx: Context) -> dict[str, Any]:
    plan = await io.run_task("plan", lookup_plan, payload.company, retry=Retry(limit=4))
    await io.wait("cool-off", hours=1)
    approval = await io.wait_for_event(
        "approval", "signup.approved", filter={"email": [payload.email]}, timeout=2 * 86_400
    )
    if approval is None:
        return {"status": "expired"}
    issue = await io.github.create_issue(
        "issue", owner="acme", repo="onboarding", title=f"Onboard {payload.company} ({plan})"
    )
    signups = await io.store.env.get("count", "signups", 0)
    await io.store.env.set("count+1", "signups", signups + 1)
    return {"status": "onboarded", "plan": plan, "issue": issue["number"]}


@client.define_job(id="daily-digest", version="1.0.0", trigger=cron_trigger("0 9 * * *"))
def daily_digest(payload: dict[str, Any], io: Any, ctx: Context) -> dict[str, Any]:
    signups = io.store.env.get("signups", "signups", 0)
    io.logger.info("digest", signups=signups)
    return {"day": payload["ts"][:10], "signups": signups}

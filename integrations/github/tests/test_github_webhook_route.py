"""GitHub's published example deliveries, signed and posted to the real webhook route
(``POST /webhooks/github/<owner>/<repo>``) of a real app on a SQLite file: each becomes one
event named ``github.<event>[.<action>]`` (``ping`` none), a redelivery nothing more, and a
wrong signature a 401 that stores nothing. Jobs on ``github.triggers.repo(...)`` get runs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from cryptography.fernet import Fernet

import relaykit
from relaykit import Client, Context
from relaykit_github import WEBHOOK_SECRET, GitHub, sign
from tests.github_examples import deliveries

SECRET = "0123456789abcdef" * 4
SOURCE = "octocat/Hello-World"
PATH = f"/webhooks/github/{SOURCE}"


def expected_name(event: str, payload: dict[str, Any]) -> str:
    action = payload.get("action")
    return f"github.{event}.{action}" if isinstance(action, str) and action else f"github.{event}"


def headers(event: str, delivery: str, body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "x-github-event": event,
        "x-github-delivery": delivery,
        "x-hub-signature-256": sign(body, secret),
    }


@asynccontextmanager
async def served(tmp_path: Path) -> AsyncIterator[tuple[Client, httpx2.AsyncClient]]:
    client = Client(
        id="gh", database_url=f"sqlite:///{tmp_path / 'relaykit.db'}", max_payload_bytes=1 << 20
    )
    github = GitHub(token="unused")

    @client.define_job(
        id="triage",
        version="1.0.0",
        trigger=github.triggers.repo(event="issues.opened", owner="Codertocat", repo="Hello-World"),
        integrations={"github": github},
    )
    async def triage(payload: Any, io: relaykit.IO, ctx: Context) -> Any:
        return payload["issue"]["number"]

    @client.define_job(
        id="elsewhere",
        version="1.0.0",
        trigger=github.triggers.repo(event="issues.opened", owner="someone", repo="else"),
        integrations={"github": github},
    )
    async def elsewhere(payload: Any, io: relaykit.IO, ctx: Context) -> Any:
        return None

    # A filter on ``repository`` narrows the trigger's own repository constraint: it must not
    # replace it (it did: this job then ran for every public repository's issues).
    @client.define_job(
        id="elsewhere-public",
        version="1.0.0",
        trigger=github.triggers.repo(
            event="issues.opened",
            owner="someone",
            repo="else",
            filter={"repository": {"private": [False]}},
        ),
        integrations={"github": github},
    )
    async def elsewhere_public(payload: Any, io: relaykit.IO, ctx: Context) -> Any:
        return None

    @client.define_job(
        id="triage-public-bugs",
        version="1.0.0",
        trigger=github.triggers.repo(
            event="issues.opened",
            owner="Codertocat",
            repo="Hello-World",
            filter={"repository": {"private": [False]}, "issue": {"labels": {"name": ["bug"]}}},
        ),
        integrations={"github": github},
    )
    async def triage_public_bugs(payload: Any, io: relaykit.IO, ctx: Context) -> Any:
        return payload["repository"]["full_name"]

    await client.open()
    await client.webhook_secrets("github", SOURCE).set(WEBHOOK_SECRET, SECRET)
    transport = httpx2.ASGITransport(app=client.asgi_app())
    try:
        async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield client, http
    finally:
        await client.close()


@pytest.fixture(autouse=True)
def secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAYKIT_SECRET_KEY", Fernet.generate_key().decode())


def test_every_published_example_becomes_one_event_with_its_name(tmp_path: Path) -> None:
    examples = deliveries()
    assert len(examples) > 300  # the whole published set, not a sample

    async def go() -> None:
        async with served(tmp_path) as (client, http):
            expected: dict[str, str] = {}
            bodies: set[bytes] = set()
            replays = 0
            for i, (event, payload) in enumerate(examples):
                body = json.dumps(payload).encode()
                delivery = f"delivery-{i}"
                # A few published examples share one body (variants of one event): under a
                # new delivery id, within minutes, that is exactly what a replay looks like.
                replay = event != "ping" and body in bodies
                bodies.add(body)
                for attempt in range(2):  # GitHub redelivers with the same id
                    r = await http.post(PATH, content=body, headers=headers(event, delivery, body))
                    assert r.status_code == 200, (event, r.text)
                    if event != "ping":
                        assert r.json().get("duplicate", False) is (replay or attempt == 1)
                if event != "ping" and not replay:
                    expected[f"github:{delivery}"] = expected_name(event, payload)
                replays += replay
            assert replays == 5  # the shared bodies; every other example is its own event
            stored = await client.store.list_events(limit=10_000)
            assert {e.id: e.name for e in stored} == expected
            assert {e.source for e in stored} == {"github"}

    asyncio.run(go())


def test_a_repo_trigger_runs_only_for_its_repository(tmp_path: Path) -> None:
    (opened,) = [p for e, p in deliveries("issues") if p.get("action") == "opened"][:1]
    assert opened["repository"]["full_name"] == "Codertocat/Hello-World"

    async def go() -> None:
        async with served(tmp_path) as (client, http):
            body = json.dumps(opened).encode()
            r = await http.post(PATH, content=body, headers=headers("issues", "d-1", body))
            assert r.status_code == 200, r.text
            assert len(await client.store.list_runs(job_id="triage")) == 1
            assert await client.store.list_runs(job_id="elsewhere") == []
            await client.worker(exit_when_idle=True).run()
            (run,) = await client.store.list_runs(job_id="triage")
            result = await client.get_run(run.id)
            assert (result.status, result.output) == ("succeeded", opened["issue"]["number"])

    asyncio.run(go())


def test_a_repo_triggers_own_filter_never_widens_it_to_other_repositories(
    tmp_path: Path,
) -> None:
    (opened,) = [p for e, p in deliveries("issues") if p.get("action") == "opened"][:1]
    assert (opened["repository"]["full_name"], opened["repository"]["private"]) == (
        "Codertocat/Hello-World",
        False,
    )
    assert "bug" in [label["name"] for label in opened["issue"]["labels"]]

    async def go() -> None:
        async with served(tmp_path) as (client, http):
            body = json.dumps(opened).encode()
            r = await http.post(PATH, content=body, headers=headers("issues", "d-2", body))
            assert r.status_code == 200, r.text
            assert sorted(run.job_id for run in await client.store.list_runs()) == [
                "triage",
                "triage-public-bugs",
            ]
            # someone/else's trigger with a filter on `repository` stays on someone/else
            assert await client.store.list_runs(job_id="elsewhere-public") == []
            await client.worker(exit_when_idle=True).run()
            (run,) = await client.store.list_runs(job_id="triage-public-bugs")
            result = await client.get_run(run.id)
            assert (result.status, result.output) == ("succeeded", "Codertocat/Hello-World")

    asyncio.run(go())


def test_a_ping_is_answered_without_an_event(tmp_path: Path) -> None:
    (event, ping) = deliveries("ping")[0]

    async def go() -> None:
        async with served(tmp_path) as (client, http):
            body = json.dumps(ping).encode()
            r = await http.post(PATH, content=body, headers=headers(event, "p-1", body))
            assert r.status_code == 200
            assert r.json()["ok"] is True
            assert await client.store.list_events() == []

    asyncio.run(go())


def test_a_wrong_or_missing_signature_is_401_and_stores_nothing(tmp_path: Path) -> None:
    event, payload = deliveries("issues")[0]
    body = json.dumps(payload).encode()

    async def go() -> None:
        async with served(tmp_path) as (client, http):
            wrong = headers(event, "x-1", body, secret="not-the-secret")
            unsigned = {k: v for k, v in wrong.items() if k != "x-hub-signature-256"}
            tampered = headers(event, "x-1", body)
            for sent, content in ((wrong, body), (unsigned, body), (tampered, body + b" ")):
                r = await http.post(PATH, content=content, headers=sent)
                assert r.status_code == 401, r.text
                assert r.json()["error"]["code"] == "unauthorized"
            # Another repository has no secret stored: nothing can verify its deliveries.
            other = await http.post(
                "/webhooks/github/someone/else", content=body, headers=headers(event, "x-2", body)
            )
            assert other.status_code == 401
            # Signed but not JSON: 400.
            junk = b"not json"
            r = await http.post(PATH, content=junk, headers=headers(event, "x-3", junk))
            assert r.status_code == 400, r.text
            assert await client.store.list_events() == []
            assert await client.store.list_runs() == []

    asyncio.run(go())

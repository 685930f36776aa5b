"""Waitpoint tokens as users drive them: a run waits on ``io.wait_for_token`` (holding no
worker slot) until the token is completed through its signed URL or the HTTP API with a key
(httpx2 on the real ASGI app, a real SQLite file, a real worker), the ``relaykit tokens``
command in a subprocess, or ``client.complete_token`` — and bad input is refused with one
clear error that changes nothing."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx2
import pytest
from tests.acceptance._shapes import check_component

import relaykit
from relaykit import Client, Context, UnknownToken
from relaykit.errors import RelaykitError
from relaykit.server import Access
from relaykit.testing import ManualClock

if TYPE_CHECKING:
    from tests.acceptance.conftest import Relaykit

#: Whether the ``gated`` job's last step fails (the tests flip it).
BROKEN: list[bool] = []
SECRET = "cw2hZ4dKf4sQ3vC9n0b7u1xLrT6yE8aPqJ5mW2zYkVo="


def make_client(database_url: str, clock: ManualClock | None = None) -> Client:
    """A client whose ``deploy`` job waits for an approval token."""
    client = Client(id="tokens", database_url=database_url, clock=clock)

    @client.define_job(id="deploy", name="Deploy", version="1.0.0")
    async def deploy(payload: Any, io: relaykit.IO, ctx: Context) -> dict[str, Any]:
        token = await io.create_token("approval", timeout=payload.get("timeout"), tags=["prod"])
        await io.run_task("notify", lambda: {"token": token.id})
        decision = await io.wait_for_token(token)
        return {"token": token.id, "decision": decision}

    @client.define_job(id="gated", name="Gated", version="1.0.0")
    async def gated(payload: Any, io: relaykit.IO, ctx: Context) -> Any:
        await io.create_token("approval")
        decision = await io.wait_for_token("approval")

        def apply() -> Any:
            if BROKEN and BROKEN[-1]:
                raise relaykit.NonRetriable("the target is down")
            return decision

        return await io.run_task("apply", apply)

    @client.define_job(id="quick", name="Quick", version="1.0.0")
    async def quick(payload: Any, io: relaykit.IO, ctx: Context) -> int:
        return int(await io.run_task("one", lambda: 1))

    return client


@dataclass
class Api:
    client: Client
    http: httpx2.AsyncClient
    auth: dict[str, str]

    async def work(self, **options: Any) -> None:
        await self.client.worker(exit_when_idle=True, **options).run()

    async def token_of(self, run_id: str) -> dict[str, Any]:
        r = await self.http.get("/api/v1/tokens", params={"run": run_id}, headers=self.auth)
        assert r.status_code == 200, r.text
        [token] = check_component(r.json(), "TokenList")["data"]
        found: dict[str, Any] = check_component(token, "Token")
        return found

    async def run(self, run_id: str) -> dict[str, Any]:
        r = await self.http.get(f"/api/v1/runs/{run_id}", headers=self.auth)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


@asynccontextmanager
async def serving(database_url: str, clock: ManualClock | None = None) -> AsyncIterator[Api]:
    client = make_client(database_url, clock)
    await client.open()
    key = await Access(client.store, client.clock).create_key("tests")
    transport = httpx2.ASGITransport(app=client.asgi_app())
    try:
        async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield Api(client, http, {"Authorization": f"Bearer {key.secret}"})
    finally:
        await client.close()


def run(
    database_url: str, scenario: Callable[[Api], Awaitable[None]], clock: ManualClock | None = None
) -> None:
    async def go() -> None:
        async with serving(database_url, clock) as api:
            await scenario(api)

    asyncio.run(go())


@pytest.fixture
def sqlite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("RELAYKIT_SECRET_KEY", SECRET)
    monkeypatch.setenv("RELAYKIT_PUBLIC_URL", "http://testserver")
    return f"sqlite:///{tmp_path / 'relaykit.db'}"


@pytest.fixture
def any_url(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each backend in turn (a SQLite file, then PostgreSQL), with the signing secret set."""
    monkeypatch.setenv("RELAYKIT_SECRET_KEY", SECRET)
    monkeypatch.setenv("RELAYKIT_PUBLIC_URL", "http://testserver")
    return db_url


def _error(response: httpx2.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    message: str = body["error"]["message"]
    assert "\n" not in message and message, body
    return message


def test_the_signed_url_completes_the_token_once_without_an_api_key(any_url: str) -> None:
    async def scenario(api: Api) -> None:
        run_id = await api.client.enqueue("deploy", {})
        await api.work()
        assert (await api.run(run_id))["status"] == "waiting"
        token = await api.token_of(run_id)
        assert (token["status"], token["tags"], token["task_key"]) == (
            "waiting",
            ["prod"],
            "approval",
        )
        url = urlsplit(token["url"])
        assert (url.scheme, url.netloc) == ("http", "testserver")
        assert url.path == f"/api/v1/tokens/{token['id']}/complete"
        # the signature is not stored: the run's recorded tasks hold the id only
        assert url.query.split("=", 1)[1] not in json.dumps(await api.run(run_id))

        r = await api.http.post(f"{url.path}?{url.query}", json={"approved": True, "by": "ada"})
        assert r.status_code == 200, r.text
        done = check_component(r.json(), "Token")
        assert (done["status"], done["data"]) == ("completed", {"approved": True, "by": "ada"})

        again = await api.http.post(f"{url.path}?{url.query}", json={"approved": False})
        message = _error(again, 409, "token_completed")
        assert token["id"] in message
        assert (await api.token_of(run_id))["data"] == {"approved": True, "by": "ada"}

        await api.work()
        finished = await api.run(run_id)
        assert finished["status"] == "succeeded", finished
        assert finished["output"] == {
            "token": token["id"],
            "decision": {"approved": True, "by": "ada"},
        }

    run(any_url, scenario)


def test_an_api_key_completes_a_token_and_bad_requests_change_nothing(sqlite_url: str) -> None:
    async def scenario(api: Api) -> None:
        run_id = await api.client.enqueue("deploy", {})
        await api.work()
        token = await api.token_of(run_id)
        path = f"/api/v1/tokens/{token['id']}/complete"

        _error(await api.http.post(path, json=1), 401, "unauthorized")
        bad = await api.http.post(f"{path}?signature={'0' * 64}", json=1)
        assert token["id"] in _error(bad, 401, "bad_signature")
        # another token's signature does not open this one
        other_sig = urlsplit(token["url"]).query.split("=", 1)[1]
        stolen = await api.http.post(f"/api/v1/tokens/tok_other/complete?signature={other_sig}")
        _error(stolen, 401, "bad_signature")
        missing = await api.http.post("/api/v1/tokens/tok_nope/complete", headers=api.auth)
        assert "tok_nope" in _error(missing, 404, "not_found")
        _error(await api.http.get("/api/v1/tokens/tok_nope", headers=api.auth), 404, "not_found")
        broken = await api.http.post(
            path, content=b"{not json", headers={**api.auth, "content-type": "application/json"}
        )
        _error(broken, 400, "malformed_json")
        assert (await api.token_of(run_id))["status"] == "waiting"

        r = await api.http.post(path, json=["ship", 2], headers=api.auth)
        assert r.status_code == 200, r.text
        got = await api.http.get(f"/api/v1/tokens/{token['id']}", headers=api.auth)
        assert check_component(got.json(), "Token")["data"] == ["ship", 2]
        await api.work()
        assert (await api.run(run_id))["output"]["decision"] == ["ship", 2]

    run(sqlite_url, scenario)


def test_a_timed_out_token_resumes_the_run_with_none_and_refuses_completion(
    sqlite_url: str,
) -> None:
    clock = ManualClock(1_800_000_000.0)

    async def scenario(api: Api) -> None:
        run_id = await api.client.enqueue("deploy", {"timeout": 60})
        await api.work()
        token = await api.token_of(run_id)
        clock.advance(61)
        late = await api.http.post(
            f"/api/v1/tokens/{token['id']}/complete", json="too late", headers=api.auth
        )
        assert "timed out" in _error(late, 409, "token_timed_out")
        await api.work()
        finished = await api.run(run_id)
        assert finished["status"] == "succeeded", finished
        assert finished["output"] == {"token": token["id"], "decision": None}
        assert (await api.token_of(run_id))["status"] == "timed_out"

    run(sqlite_url, scenario, clock)


def test_a_run_waiting_for_a_token_holds_no_worker_slot(any_url: str) -> None:
    async def scenario(api: Api) -> None:
        waiting = [await api.client.enqueue("deploy", {}) for _ in range(3)]
        quick = await api.client.enqueue("quick", {})
        # one slot: three runs wait for their tokens and the fourth still runs to the end
        await api.work(concurrency=1)
        statuses = [(await api.run(r))["status"] for r in waiting]
        assert statuses == ["waiting"] * 3
        assert (await api.run(quick))["status"] == "succeeded"

        tokens = [await api.token_of(r) for r in waiting]
        for i, t in enumerate(tokens):
            await api.client.complete_token(t["id"], {"n": i})
        with pytest.raises(RelaykitError, match="completed already"):
            await api.client.complete_token(tokens[0]["id"], {"n": 99})
        with pytest.raises(UnknownToken, match="tok_nope"):
            await api.client.complete_token("tok_nope")
        await api.work(concurrency=1)
        outputs = [(await api.run(r))["output"]["decision"] for r in waiting]
        assert outputs == [{"n": 0}, {"n": 1}, {"n": 2}]
        # each wait was resolved exactly once: one completed wait task per run
        for r in waiting:
            tasks = [(t["key"], t["status"]) for t in (await api.run(r))["tasks"]]
            assert tasks == [
                ("approval", "completed"),
                ("notify", "completed"),
                (f"wait:{(await api.token_of(r))['id']}", "completed"),
            ]

    run(any_url, scenario)


def test_a_retried_run_keeps_an_answered_token_and_asks_again_for_an_open_one(
    sqlite_url: str,
) -> None:
    async def scenario(api: Api) -> None:
        BROKEN.append(True)
        try:
            answered = await api.client.enqueue("gated", {})
            canceled = await api.client.enqueue("gated", {})
            await api.work()
            first = await api.token_of(answered)
            await api.client.complete_token(first["id"], "go")
            await api.client.cancel_run(canceled)
            await api.work()
            assert (await api.run(answered))["status"] == "failed"
            BROKEN.append(False)

            # answered before the failure: the retry replays the answer and does not wait
            again = await api.client.retry_run(answered)
            # canceled while waiting: the retry makes a token of its own and waits for it
            asked = await api.client.retry_run(canceled)
            await api.work()
            assert (await api.run(again))["output"] == "go"
            assert (await api.run(asked))["status"] == "waiting"
            second = await api.token_of(asked)
            assert second["id"] != (await api.token_of(canceled))["id"]
            await api.client.complete_token(second["id"], "later")
            await api.work()
            assert (await api.run(asked))["output"] == "later"
        finally:
            BROKEN.clear()

    run(sqlite_url, scenario)


def test_a_run_takes_only_the_answer_of_another_runs_token(tmp_path: Path) -> None:
    client = Client(id="cross", database_url=f"sqlite:///{tmp_path / 'x.db'}")

    @client.define_job(id="maker", name="Maker", version="1.0.0")
    async def maker(payload: Any, io: relaykit.IO, ctx: Context) -> str:
        return (await io.create_token("t")).id

    @client.define_job(id="waiter", name="Waiter", version="1.0.0")
    async def waiter(payload: Any, io: relaykit.IO, ctx: Context) -> Any:
        return await io.wait_for_token(payload["token"])

    async def go() -> tuple[Any, Any, Any]:
        try:
            made = await client.run(maker, {})
            refused = await client.run(waiter, {"token": made.output})
            # once completed, another run's token hands back its data at once
            await client.complete_token(made.output, {"ok": 1})
            return made, refused, await client.run(waiter, {"token": made.output})
        finally:
            await client.close()

    made, refused, answered = asyncio.run(go())
    assert made.status == "succeeded"
    assert refused.status == "failed"
    assert "a run waits only for tokens it created" in refused.error["message"]
    assert refused.error["type"] == "ConfigurationError"
    assert (answered.status, answered.output) == ("succeeded", {"ok": 1})


REPO = Path(__file__).resolve().parents[2]


def test_the_docs_show_the_example_the_cli_test_runs() -> None:
    source = (REPO / "examples" / "approvals.py").read_text(encoding="utf-8")
    code = source[source.index("import sys") :].rstrip("\n")
    page = (REPO / "docs" / "human-in-the-loop.md").read_text(encoding="utf-8")
    assert f"```python\n{code}\n```" in page


@pytest.mark.subprocess
def test_the_cli_lists_and_completes_tokens(rk: Relaykit, tmp_path: Path) -> None:
    """examples/approvals.py, driven as its docstring (and docs/human-in-the-loop.md) say."""
    (tmp_path / "examples").mkdir()
    shutil.copy(REPO / "examples" / "approvals.py", tmp_path / "examples" / "approvals.py")
    app = "examples/approvals.py"
    db = ("--database", "sqlite:///relaykit.db")
    run_id = rk.detach(app, "deploy", {"version": "2.4.0"})
    signing = {"RELAYKIT_SECRET_KEY": SECRET, "RELAYKIT_PUBLIC_URL": "https://ops.example.com"}
    asked = rk.worker_until_idle(app, env=signing)

    listed = rk("tokens", "list", "--run", run_id, "--json", *db, env=signing)
    assert listed.returncode == 0, listed.describe()
    [token] = check_component(listed.json(), "TokenList")["data"]
    assert (token["status"], token["tags"]) == ("waiting", ["deploy", "2.4.0"])
    assert token["url"].startswith(f"https://ops.example.com/api/v1/tokens/{token['id']}/")
    assert token["url"] in asked.stderr  # the approver was handed the URL
    human = rk("tokens", "list", *db)
    assert token["id"] in human.stdout and "waiting" in human.stdout, human.describe()

    done = rk("tokens", "complete", token["id"], "--data", '{"approved": true, "by": "ada"}', *db)
    assert done.returncode == 0, done.describe()
    assert token["id"] in done.stdout
    again = rk("tokens", "complete", token["id"], "--data", '{"ok": false}', *db)
    assert "completed already" in again.error_line()
    assert "tok_nope" in rk("tokens", "complete", "tok_nope", *db).error_line()
    assert (
        "--data is not valid JSON"
        in rk("tokens", "complete", token["id"], "--data", "{x", *db).error_line()
    )

    rk.worker_until_idle(app)
    run = rk.show(run_id)
    assert run["status"] == "succeeded", run
    assert run["output"] == {"deployed": True, "approved_by": "ada"}
    assert [t["key"] for t in run["tasks"]] == [
        "approval",
        "ask",
        f"wait:{token['id']}",
        "ship",
    ]
    # the signed URL is in no stored params, output or log line
    assert token["url"].split("=")[-1] not in json.dumps(run)
    shown = rk("tokens", "show", token["id"], "--json", *db).json()
    assert (shown["status"], shown["data"]) == ("completed", {"approved": True, "by": "ada"})

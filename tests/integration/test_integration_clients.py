"""Integration clients are pooled: one authenticated client per integration and credentials
per engine, so the API calls of many tasks share kept-alive TCP connections.

A real HTTP server (uvicorn on 127.0.0.1) records the client address of every request; the
number of distinct client ports is the number of TCP connections relaykit opened.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tests.localserver import serve

import relaykit
from relaykit import IO, Client, Context, Credentials, RunStatus
from relaykit.integrations.clients import ClientPool


class Recorder:
    """The API: every request's path, token and client port."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, int]] = []

    async def handle(self, request: Request) -> JSONResponse:
        port = request.client.port if request.client else 0
        token = request.headers.get("authorization", "")
        self.requests.append((request.url.path, token, port))
        return JSONResponse({"id": len(self.requests), "path": request.url.path})

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self.handle, methods=["GET", "POST"])])

    def connections(self) -> int:
        return len({port for _, _, port in self.requests})


class Counter(relaykit.Integration):
    """A small integration against the recorder."""

    token_env = "COUNTER_TOKEN"

    def __init__(self, id: str, *, base_url: str, **kwargs: Any) -> None:
        super().__init__(id, **kwargs)
        self.base_url = base_url
        self.made: list[httpx2.AsyncClient] = []

    def create_client(self, credentials: Credentials) -> httpx2.AsyncClient:
        client = self.http_client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {credentials.access_token}"},
        )
        self.made.append(client)
        return client

    @relaykit.task()
    async def hit(self, client: httpx2.AsyncClient, *, n: int) -> dict[str, Any]:
        response = await client.get(f"/things/{n}")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result


def test_the_tasks_of_many_runs_share_one_kept_alive_connection(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COUNTER_TOKEN", "ct_one")
    recorder = Recorder()
    with serve(recorder.app()) as url:
        counter = Counter("counter", base_url=url)
        client = Client("pooled", database_url=db_url)

        @client.define_job(id="calls", version="1.0.0", integrations={"counter": counter})
        async def calls(payload: Any, io: IO, ctx: Context) -> list[int]:
            return [int((await io.counter.hit(f"hit-{n}", n=n))["id"]) for n in range(10)]

        async def go() -> list[RunStatus]:
            ids = [await client.enqueue("calls") for _ in range(3)]
            await relaykit.Worker(client, exit_when_idle=True, concurrency=1).run()
            statuses = [(await client.get_run(i)).status for i in ids]
            await client.close()
            return statuses

        statuses = asyncio.run(go())

    assert statuses == [RunStatus.SUCCEEDED] * 3
    assert len(recorder.requests) == 30
    assert recorder.connections() == 1  # 30 API calls, 3 runs: one TCP connection
    assert len(counter.made) == 1
    assert counter.made[0].is_closed  # closed when the worker's engine closed


def test_concurrent_tasks_share_the_client_and_changed_credentials_get_a_new_one(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder()
    with serve(recorder.app()) as url:
        counter = Counter("counter", base_url=url)
        client = Client("pooled", database_url=db_url)

        @client.define_job(id="fan-out", version="1.0.0", integrations={"counter": counter})
        async def fan_out(payload: Any, io: IO, ctx: Context) -> int:
            results = await asyncio.gather(
                *(io.counter.hit(f"hit-{n}", n=n) for n in range(int(payload["n"])))
            )
            return len(results)

        async def go() -> None:
            monkeypatch.setenv("COUNTER_TOKEN", "ct_first")
            await client.run("fan-out", {"n": 5})
            monkeypatch.setenv("COUNTER_TOKEN", "ct_second")  # a rotated token
            await client.run("fan-out", {"n": 5})
            await client.close()

        asyncio.run(go())

    tokens = [token for _, token, _ in recorder.requests]
    assert tokens == ["Bearer ct_first"] * 5 + ["Bearer ct_second"] * 5
    assert len(counter.made) == 2  # one client per credentials, shared by the five tasks
    assert all(c.is_closed for c in counter.made)
    assert recorder.connections() <= 10


def test_a_retired_client_is_closed_only_once_its_last_task_ends() -> None:
    class Plain(relaykit.Integration):
        def create_client(self, credentials: Credentials) -> httpx2.AsyncClient:
            return httpx2.AsyncClient(
                transport=httpx2.MockTransport(lambda r: httpx2.Response(200))
            )

    async def go() -> None:
        pool, plain = ClientPool(), Plain("plain")
        async with pool.use(plain, Credentials("old")) as old:
            async with pool.use(plain, Credentials("new")) as new:
                assert new is not old
                assert not old.is_closed  # still in use by the outer task
            assert not new.is_closed  # the current client stays open for the next task
        assert old.is_closed
        async with pool.use(plain, Credentials("new")) as again:
            assert again is new
        await pool.close()
        assert new.is_closed and pool.created == 2

    asyncio.run(go())

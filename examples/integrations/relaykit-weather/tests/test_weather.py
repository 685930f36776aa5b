"""relaykit-weather against a real local Weatherly (a Starlette app served by uvicorn).

The server counts the requests it serves, so memoization ("the replay did not ask again") and
retries are counted, not assumed.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import relaykit_weather
import uvicorn
from relaykit_weather import Conditions, Day, Weather
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from relaykit import IO, Client, Context, Plugins, RetryAfter, RunStatus
from relaykit.testing import ManualClock

TOKEN = "wx_test_token_123"  # a made-up token


class Weatherly:
    """The fictitious API: ``/v1/current`` and ``/v1/forecast``, bearer-token auth, a rate
    limit on the first request for Porto, 422 for an unknown city."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.app = Starlette(
            routes=[Route("/v1/current", self.current), Route("/v1/forecast", self.forecast)]
        )

    def _check(self, request: Request) -> JSONResponse | None:
        city = request.query_params.get("city", "")
        self.hits[f"{request.url.path} {city}"] += 1
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return JSONResponse({"error": "bad token"}, status_code=401)
        if city == "Porto" and self.hits[f"{request.url.path} {city}"] == 1:
            reset = str(int(time.time()) + 3)
            return JSONResponse({"error": "slow down"}, 429, {"X-RateLimit-Reset": reset})
        if city == "Atlantis":
            return JSONResponse({"error": "unknown city"}, status_code=422)
        return None

    async def current(self, request: Request) -> JSONResponse:
        city = request.query_params["city"]
        return self._check(request) or JSONResponse(
            {"city": city, "temperature_c": 21.5, "summary": "sunny"}
        )

    async def forecast(self, request: Request) -> JSONResponse:
        days = int(request.query_params["days"])
        week = [
            {"date": f"2026-06-{d + 1:02d}", "high_c": 20 + d, "low_c": 10} for d in range(days)
        ]
        return self._check(request) or JSONResponse({"days": week})


@pytest.fixture
def weatherly() -> Iterator[tuple[Weatherly, str]]:
    api = Weatherly()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(api.app, log_level="warning", lifespan="off", ws="none", http="h11")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield api, f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def client(tmp_path: Path, clock: ManualClock) -> Iterator[Client]:
    c = Client("weather-tests", database_url=f"sqlite:///{tmp_path / 'rk.db'}", clock=clock)
    yield c
    asyncio.run(c.close())


def test_tasks_are_memoized_across_a_replay(
    client: Client, weatherly: tuple[Weatherly, str]
) -> None:
    api, url = weatherly
    weather = Weather(id="weather", token=TOKEN, base_url=url)

    @client.define_job(id="morning", version="1.0.0", integrations={"weather": weather})
    async def morning(payload: Any, io: IO, ctx: Context) -> dict[str, Any]:
        now = await io.use(weather).current("now", city="Lisbon")
        await io.wait("coffee", minutes=10)  # the run suspends and is replayed after this
        week = await io.use(weather).forecast("week", city="Lisbon", days=7)
        assert isinstance(now, Conditions) and all(isinstance(d, Day) for d in week)
        return {"now": now.temperature_c, "max": max(d.high_c for d in week)}

    result = client.run_sync("morning")
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == {"now": 21.5, "max": 26.0}
    assert api.hits == {"/v1/current Lisbon": 1, "/v1/forecast Lisbon": 1}
    names = {t.key: (t.name, t.params) for t in result.tasks}
    assert names["now"] == ("Current weather", {"city": "Lisbon"})
    assert names["week"] == ("Forecast", {"city": "Lisbon", "days": 7})


def test_a_rate_limit_retries_at_the_servers_reset_time(
    client: Client, weatherly: tuple[Weatherly, str], clock: ManualClock
) -> None:
    api, url = weatherly
    weather = Weather(id="weather", token=TOKEN, base_url=url)

    @client.define_job(id="porto", version="1.0.0", integrations={"weather": weather})
    def porto(payload: Any, io: Any, ctx: Context) -> str:  # a sync job: the sync io
        return str(io.weather.current("now", city="Porto").summary)

    result = client.run_sync("porto")
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == "sunny"
    assert api.hits["/v1/current Porto"] == 2
    assert 1.5 < clock.slept <= 3.5  # X-RateLimit-Reset was 3 s ahead (whole seconds)


def test_an_unknown_city_fails_at_once(client: Client, weatherly: tuple[Weatherly, str]) -> None:
    api, url = weatherly
    weather = Weather(id="weather", token=TOKEN, base_url=url)

    @client.define_job(id="atlantis", version="1.0.0", integrations={"weather": weather})
    async def atlantis(payload: Any, io: IO, ctx: Context) -> Any:
        return await io.use(weather).current("now", city="Atlantis")

    result = client.run_sync("atlantis")
    assert result.status is RunStatus.FAILED
    assert api.hits["/v1/current Atlantis"] == 1
    assert result.tasks[0].error is not None
    assert "Weatherly does not know the city 'Atlantis'" in result.tasks[0].error["message"]


def test_the_token_is_read_from_the_environment_when_the_task_runs(
    client: Client, weatherly: tuple[Weatherly, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    api, url = weatherly
    weather = Weather(id="weather", base_url=url)  # defined before the variable is set

    @client.define_job(id="env", version="1.0.0", integrations={"weather": weather})
    async def env(payload: Any, io: IO, ctx: Context) -> float:
        return (await io.use(weather).current("now", city="Oslo")).temperature_c

    monkeypatch.setenv("WEATHERLY_TOKEN", TOKEN)
    result = client.run_sync("env")
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == 21.5
    assert api.hits == {"/v1/current Oslo": 1}
    assert TOKEN not in str(result)


def test_rate_limit_classification_reads_the_reset_header() -> None:
    weather = Weather(id="weather", token=TOKEN)
    reset = time.time() + 30
    request = httpx2.Request("GET", "https://api.weatherly.example/v1/current?city=Oslo")
    response = httpx2.Response(429, headers={"X-RateLimit-Reset": f"{reset:.0f}"}, request=request)
    error = httpx2.HTTPStatusError("429", request=request, response=response)
    classified = weather.classify_error(error)
    assert isinstance(classified, RetryAfter)
    assert 28 <= classified.seconds <= 31


def test_the_plugin_registers_the_integration() -> None:
    plugins = Plugins(entry_points=False)
    plugins.register(relaykit_weather, name="weather")
    assert plugins.integration("weather") is Weather
    [info] = plugins.list()
    assert info.integrations == ("weather",)

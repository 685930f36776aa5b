"""relaykit-weather: a relaykit integration for Weatherly, a small (fictitious) weather API.

Weatherly answers ``GET /v1/current?city=`` and ``GET /v1/forecast?city=&days=`` with JSON,
authenticates with ``Authorization: Bearer <token>``, and limits requests: a ``429`` carries
``X-RateLimit-Reset`` (epoch seconds). This package is the example built in the plugin tutorial
(``docs/integrations/writing-an-integration.md``).
"""

from __future__ import annotations

from typing import Any

import httpx2
import pydantic

import relaykit
from relaykit import Credentials, NonRetriable

__version__ = "0.1.0"

DEFAULT_BASE_URL = "https://api.weatherly.example"


class Conditions(pydantic.BaseModel):
    """The weather now in a city."""

    city: str
    temperature_c: float
    summary: str


class Day(pydantic.BaseModel):
    """One day of a forecast."""

    date: str
    high_c: float
    low_c: float


class Weather(relaykit.Integration):
    """Weatherly: current conditions and forecasts.

    ``Weather(id="weather", token=...)``; without ``token=`` the token is read from
    ``$WEATHERLY_TOKEN`` when a task runs, else from the connection stored with
    ``relaykit connect weather --token-stdin``. ``base_url`` points it at another server.
    """

    slug = "weather"
    name = "Weatherly"
    icon = "cloud-sun"
    docs_url = "https://docs.weatherly.example"
    auth_modes = ("token",)
    token_env = "WEATHERLY_TOKEN"  # noqa: S105 -- the name of a variable, not a token

    def __init__(
        self,
        id: str,
        *,
        token: str | None = None,
        token_env: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(id, token=token, token_env=token_env, transport=transport)
        self.base_url = base_url

    def create_client(self, credentials: Credentials) -> httpx2.AsyncClient:
        """An httpx2 client with the bearer token and no transport retries."""
        return self.http_client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {credentials.access_token}"},
        )

    def classify_error(self, exc: Exception) -> BaseException | None:
        """Weatherly answers 422 for an unknown city: say which, and do not retry."""
        if isinstance(exc, httpx2.HTTPStatusError) and exc.response.status_code == 422:
            city = exc.request.url.params.get("city")
            return NonRetriable(f"Weatherly does not know the city {city!r}")
        return super().classify_error(exc)

    @relaykit.task(name="Current weather", icon="thermometer")
    async def current(self, client: httpx2.AsyncClient, *, city: str) -> Conditions:
        """The conditions in ``city`` now."""
        response = await client.get("/v1/current", params={"city": city})
        response.raise_for_status()
        return Conditions.model_validate(response.json())

    @relaykit.task(name="Forecast", icon="calendar")
    async def forecast(self, client: httpx2.AsyncClient, *, city: str, days: int = 3) -> list[Day]:
        """The next ``days`` days (1 to 14) in ``city``."""
        if not 1 <= days <= 14:
            raise NonRetriable(f"forecast days must be 1 to 14, got {days}")
        response = await client.get("/v1/forecast", params={"city": city, "days": days})
        response.raise_for_status()
        return [Day.model_validate(d) for d in response.json()["days"]]


@relaykit.hookimpl
def relaykit_register_integrations(register: Any) -> None:
    """Make ``Weather`` known to relaykit (``relaykit plugins``, ``relaykit connect``)."""
    register(Weather)


__all__ = ["Conditions", "Day", "Weather", "__version__", "relaykit_register_integrations"]

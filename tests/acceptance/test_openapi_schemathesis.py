"""Property-based tests of the JSON API against its own OpenAPI document (schemathesis): for
generated valid and invalid requests, a real uvicorn serving the real app on a SQLite file
never answers 5xx, and every response matches the document (status, content type, schema)."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from tests.http_app import make_client
from tests.serving import uvicorn_thread

from relaykit._base.clock import SystemClock
from relaykit.server import Access
from relaykit.server._openapi import openapi_document
from relaykit.store import store_from_url


async def _make_key(url: str) -> str:
    store = store_from_url(url)
    await store.open()
    try:
        return (await Access(store, SystemClock()).create_key("schemathesis")).secret
    finally:
        await store.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A served app and an API key for it."""
    url = f"sqlite:///{tmp_path_factory.mktemp('schemathesis') / 'relaykit.db'}"
    key = asyncio.run(_make_key(url))
    with uvicorn_thread(make_client(url).asgi_app()) as base:
        yield base, key


# The document the server publishes at /api/v1/openapi.json (the last test checks that it is
# this one); loaded at import so pytest can collect one test per operation.
DOCUMENT = openapi_document("/api/v1")
# The event streams never end by themselves (a run list's): tests/acceptance/test_streams_http.py
# reads them instead.
schema = schemathesis.openapi.from_dict(DOCUMENT).exclude(path_regex="/stream$")


@schema.parametrize()
@settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_document(case: Any, served: tuple[str, str]) -> None:
    base, key = served
    case.call_and_validate(base_url=f"{base}/api/v1", headers={"Authorization": f"Bearer {key}"})


def test_the_served_document_is_the_one_tested(served: tuple[str, str]) -> None:
    base, _ = served
    with urllib.request.urlopen(f"{base}/api/v1/openapi.json") as r:  # noqa: S310 -- our server
        assert r.status == 200
        assert r.headers["content-type"] == "application/json"
        assert json.loads(r.read()) == json.loads(json.dumps(DOCUMENT))

"""io.background_fetch against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from relaykit import Client, Retry, RunStatus


class _Server:
    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.headers: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                self.do_GET()

            def do_GET(self) -> None:
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                server.headers.append(dict(self.headers))
                n = server.hits[self.path]
                if self.path == "/rate-limited" and n == 1:
                    self._send(429, {"error": "slow down"}, {"Retry-After": "7"})
                elif self.path.startswith("/retry-after/") and n == 1:
                    value = self.path.removeprefix("/retry-after/")
                    self._send(429, {"error": "slow down"}, {"Retry-After": value})
                elif self.path == "/flaky" and n < 3:
                    self._send(503, {"error": "unavailable"})
                elif self.path == "/missing":
                    self._send(404, {"error": "no such thing"})
                else:
                    length = int(self.headers.get("content-length") or 0)
                    body = json.loads(self.rfile.read(length) or b"null")
                    self._send(200, {"path": self.path, "hit": n, "echo": body})

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        # A short poll interval: shutdown() waits for the loop to notice (0.5 s by default,
        # after each of the 22 tests).
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[_Server]:
    s = _Server()
    yield s
    s.close()


def test_retry_after_is_honoured_exactly(client: Client, server: _Server) -> None:
    @client.define_job(id="fetch", version="1.0.0")
    async def fetch(payload: Any, io: Any, ctx: Any) -> Any:
        response = await io.background_fetch("get", f"{server.url}/rate-limited")
        return response["body"]

    result = client.run_sync("fetch")
    assert result.status is RunStatus.SUCCEEDED
    assert result.output == {"path": "/rate-limited", "hit": 2, "echo": None}
    assert server.hits["/rate-limited"] == 2
    (task,) = result.tasks
    assert task.attempts == 2
    assert client.clock.slept == pytest.approx(7.0)  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "1e400", "soon", "9" * 400])
def test_an_unusable_retry_after_is_no_header(client: Client, server: _Server, value: str) -> None:
    # The vendor's hint is garbage: the 429 rule's own backoff decides, and nothing crashes.
    @client.define_job(id="fetch", version="1.0.0")
    async def fetch(payload: Any, io: Any, ctx: Any) -> Any:
        rules = {"429": Retry(limit=3, min_timeout=2, randomize=False)}
        url = f"{server.url}/retry-after/{value}"
        return (await io.background_fetch("get", url, retry=rules))["status"]

    result = client.run_sync("fetch")
    assert (result.status, result.output) == (RunStatus.SUCCEEDED, 200)
    assert server.hits[f"/retry-after/{value}"] == 2
    assert client.clock.slept == pytest.approx(2.0)  # type: ignore[attr-defined]


def test_5xx_rule_retries_with_its_policy(client: Client, server: _Server) -> None:
    @client.define_job(id="fetch", version="1.0.0")
    async def fetch(payload: Any, io: Any, ctx: Any) -> Any:
        rules = {"5xx": Retry(limit=5, min_timeout=2, factor=1, randomize=False)}
        return (await io.background_fetch("get", f"{server.url}/flaky", retry=rules))["status"]

    result = client.run_sync("fetch")
    assert result.output == 200
    assert server.hits["/flaky"] == 3
    assert client.clock.slept == pytest.approx(4.0)  # type: ignore[attr-defined]


def test_status_without_a_rule_fails_at_once(client: Client, server: _Server) -> None:
    @client.define_job(id="fetch", version="1.0.0")
    async def fetch(payload: Any, io: Any, ctx: Any) -> Any:
        return await io.background_fetch("get", f"{server.url}/missing")

    result = client.run_sync("fetch")
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error["task"] == "get"
    assert "HTTP 404" in result.error["message"]
    assert server.hits["/missing"] == 1


def test_post_json_and_secret_headers_are_not_recorded(client: Client, server: _Server) -> None:
    @client.define_job(id="fetch", version="1.0.0")
    async def fetch(payload: Any, io: Any, ctx: Any) -> Any:
        response = await io.background_fetch(
            "post",
            f"{server.url}/echo",
            method="POST",
            headers={"Authorization": "Bearer sk-very-secret", "X-Trace": "t1"},
            json={"hello": "world"},
        )
        return response["body"]["echo"]

    result = client.run_sync("fetch")
    assert result.output == {"hello": "world"}
    assert server.headers[-1]["Authorization"] == "Bearer sk-very-secret"  # it was sent
    params = json.dumps(result.tasks[0].params)
    assert "sk-very-secret" not in params
    assert "[REDACTED]" in params and "t1" in params


def test_a_bad_retry_rule_is_a_clear_error(client: Client) -> None:
    @client.define_job(id="fetch", version="1.0.0")
    async def fetch(payload: Any, io: Any, ctx: Any) -> Any:
        return await io.background_fetch("get", "http://127.0.0.1:9/", retry={"often": Retry()})

    result = client.run_sync("fetch")
    assert result.status is RunStatus.FAILED
    assert result.error is not None and "retry rule 'often'" in result.error["message"]

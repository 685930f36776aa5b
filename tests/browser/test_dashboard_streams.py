"""The dashboard following the server's event streams in real headless Chromium: a run queued
by the CLI in another process appears in the runs list, and the run page shows it finish,
without a reload and without polling while nothing changes; with the stream unavailable the
page falls back to polling."""

from __future__ import annotations

import json
import re
import subprocess
from typing import TYPE_CHECKING

from playwright.sync_api import Page, Request, expect
from tests.browser.conftest import APP, _relaykit
from tests.http_app import PASSWORD

if TYPE_CHECKING:
    from tests.browser.conftest import Server


def _log_in(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/runs")
    page.get_by_label("User name").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Runs")).to_be_visible()


def _queue(server: Server, seconds: float) -> str:
    """Queue a run of ``slow`` with the CLI, in another process; its id."""
    done = subprocess.run(
        [
            _relaykit(),
            "run",
            APP,
            "slow",
            "--payload",
            json.dumps({"seconds": seconds}),
            "--detach",
            "--json",
            "--database",
            server.database,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    run_id: str = json.loads(done.stdout)["id"]
    return run_id


def test_the_run_page_follows_the_stream_until_the_run_ends(page: Page, server: Server) -> None:
    _log_in(page, server)  # (the login form itself answers 401: before listening)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    requests: list[Request] = []
    page.on("request", lambda r: requests.append(r))
    page.reload()  # the runs page, opened while listening
    page.evaluate("window.__sameDocument = true")

    def page_fetches() -> int:
        return sum(1 for r in requests if r.headers.get("x-relaykit-live") == "1")

    # nothing happens, so nothing is fetched (polling would fetch about once a second)
    page.wait_for_timeout(1500)
    assert page_fetches() == 0

    run_id = _queue(server, 8.0)  # long enough to watch a quiet stretch while it runs
    # the runs list learns of it from its stream
    row = page.get_by_role("link", name=re.compile(run_id[:12]))
    expect(row.first).to_be_visible(timeout=10_000)
    assert page.evaluate("window.__sameDocument") is True

    row.first.click()
    expect(page).to_have_url(re.compile(f"/runs/{run_id}$"))
    page.evaluate("window.__sameDocument = true")
    status = page.locator(".run-head .badge")
    expect(status).to_have_text("running", timeout=10_000)

    # while the first task sleeps nothing changes, and nothing is fetched (polling would
    # have fetched the page about once a second)
    quiet = page_fetches()
    page.wait_for_timeout(2000)
    assert page_fetches() == quiet

    expect(status).to_have_text("succeeded", timeout=20_000)
    assert page.evaluate("window.__sameDocument") is True
    expect(page.locator("tr.task")).to_have_count(2)
    expect(page.locator("pre.output")).to_contain_text('"second done"')
    streams = [r.url for r in requests if "/stream" in r.url]
    assert any(u.startswith(f"{server.url}/api/v1/runs/{run_id}/stream?") for u in streams)
    assert any(u.startswith(f"{server.url}/api/v1/runs/stream?") for u in streams)
    assert all(r.url.startswith(server.url) for r in requests), "a request left the server"
    assert errors == []


def test_without_the_stream_the_run_page_falls_back_to_polling(page: Page, server: Server) -> None:
    _log_in(page, server)
    # the stream is unreachable (a proxy that refuses it, say)
    page.route(re.compile(r".*/stream(\?.*)?$"), lambda route: route.abort())
    run_id = _queue(server, 1.0)
    page.goto(f"{server.url}/runs/{run_id}")
    page.evaluate("window.__sameDocument = true")
    expect(page.locator(".run-head .badge")).to_have_text("succeeded", timeout=20_000)
    assert page.evaluate("window.__sameDocument") is True
    expect(page.locator("tr.task")).to_have_count(2)

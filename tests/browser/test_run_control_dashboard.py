"""Bulk actions, edited replays and ``io.status`` widgets in real headless Chromium against a
real ``relaykit serve`` (with its worker): the runs page's bulk action shows the dry-run
count and acts only once confirmed; the run page's replay form refuses invalid JSON with the
parse error and queues nothing, and replays with the edited payload; a run's status shows
its label, state and a progress bar. No console errors."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect
from tests.browser.conftest import Server
from tests.http_app import PASSWORD

APP = textwrap.dedent(
    """
    from typing import Any
    from relaykit import Client

    client = Client(id="control")

    @client.define_job(id="hold", name="Hold", version="1.0.0")
    async def hold(payload: Any, io, ctx) -> Any:
        await io.wait("pause", seconds=3600)
        return payload

    @client.define_job(id="echo", name="Echo", version="1.0.0")
    async def echo(payload: Any, io, ctx) -> Any:
        status = await io.status("import", "Importing", state="loading",
                                 data={"progress": 0, "total": 4})
        await status.update("import-3", data={"progress": 3, "total": 4})
        return {"n": payload["n"]}
    """
)


@pytest.fixture
def served_app(tmp_path: Path) -> str:
    """The app above (``server`` serves it, with the user ``ada``)."""
    (tmp_path / "control.py").write_text(APP, encoding="utf-8")
    return "control.py"


@pytest.fixture
def control(server: Server) -> Server:
    """``relaykit serve`` of the app above."""
    return server


def _log_in_and_test_run(page: Page, server: Server, job: str, payload: str) -> None:
    page.goto(f"{server.url}/jobs/{job}")
    if page.get_by_label("User name").count():
        page.get_by_label("User name").fill("ada")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
    page.get_by_label("Payload (JSON)").fill(payload)
    page.get_by_role("button", name="Run test").click()


def _console_errors(page: Page) -> list[str]:
    errors: list[str] = []

    def note(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", note)
    return errors


def test_bulk_cancel_shows_the_count_and_acts_once_confirmed(page: Page, control: Server) -> None:
    for n in range(3):
        _log_in_and_test_run(page, control, "hold", f'{{"n": {n}}}')
        expect(page.locator(".run-head .badge")).to_have_text("waiting", timeout=20_000)
    errors = _console_errors(page)
    page.goto(f"{control.url}/runs?job=hold&status=waiting")
    expect(page.locator("#runs tbody tr")).to_have_count(3)
    page.get_by_label("Bulk action on the runs these filters match").select_option("cancel")
    page.get_by_role("button", name="Bulk action…").click()

    expect(page.locator(".bulk-count")).to_contain_text("3 runs match")
    expect(page.locator(".bulk-filters")).to_contain_text("status: waiting")
    # nothing changed yet: the three runs still wait
    assert "waiting" in page.request.get(f"{control.url}/runs?job=hold&status=waiting").text()
    page.get_by_role("button", name="Yes, cancel 3 runs").click()
    expect(page.locator(".bulk-done")).to_contain_text("3 of 3 runs: cancel done")

    page.goto(f"{control.url}/runs?job=hold&status=canceled")
    expect(page.locator("#runs tbody tr")).to_have_count(3)
    page.goto(f"{control.url}/runs?job=hold&status=waiting")
    expect(page.locator("#runs")).to_contain_text("no runs")
    assert errors == []


def test_replay_with_an_edited_payload_and_the_status_widget(page: Page, control: Server) -> None:
    _log_in_and_test_run(page, control, "echo", '{"n": 1}')
    expect(page.locator(".run-head .badge")).to_have_text("succeeded", timeout=20_000)
    errors = _console_errors(page)
    page.reload()
    widget = page.locator(".status-widget")
    expect(widget.locator(".status-label")).to_have_text("Importing")
    expect(widget.locator(".status-state")).to_have_text("loading")
    expect(widget.locator(".status-progress")).to_have_text("3 / 4")
    assert widget.locator("progress").get_attribute("value") == "0.75"
    old_url = page.url

    page.get_by_text("Replay with an edited payload").click()
    box = page.get_by_label("Payload (JSON)")
    assert re.sub(r"\s", "", box.input_value()) == '{"n":1}'
    box.fill('{"n": ')
    page.get_by_role("button", name="Replay with this payload").click()
    expect(page.locator(".replay-edit .error")).to_contain_text("not valid JSON")
    expect(page.get_by_label("Payload (JSON)")).to_have_value('{"n":')
    page.goto(f"{control.url}/runs?job=echo")
    expect(page.locator("#runs tbody tr")).to_have_count(1)  # nothing was queued

    page.goto(old_url)
    page.get_by_text("Replay with an edited payload").click()
    page.get_by_label("Payload (JSON)").fill('{"n": 5}')
    page.get_by_role("button", name="Replay with this payload").click()
    expect(page.locator(".run-head .badge")).to_have_text("succeeded", timeout=20_000)
    assert page.url != old_url
    expect(page.locator("pre.payload")).to_contain_text('"n": 5')
    expect(page.locator("pre.output")).to_contain_text('"n": 5')
    assert errors == []

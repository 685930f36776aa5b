"""A run waiting for a waitpoint token, in real headless Chromium against a real ``relaykit
serve``: the run page shows the token live with Approve and Reject; approving with a JSON
object resumes the run with that data, and bad data is refused with one line."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from tests.browser.conftest import Server
from tests.http_app import PASSWORD

APP = textwrap.dedent(
    """
    from typing import Any
    from relaykit import Client

    client = Client(id="approvals")

    @client.define_job(id="deploy", name="Deploy", version="1.0.0")
    async def deploy(payload: Any, io, ctx) -> Any:
        token = await io.create_token("approval", timeout=3600, tags=["prod"])
        return await io.wait_for_token(token)
    """
)


@pytest.fixture
def served_app(tmp_path: Path) -> str:
    """An app whose ``deploy`` job waits for an approval (``server`` serves it, with ``ada``)."""
    (tmp_path / "approvals.py").write_text(APP, encoding="utf-8")
    return "approvals.py"


@pytest.fixture
def approvals(server: Server) -> Server:
    """``relaykit serve`` of the approvals app."""
    return server


def _waiting_run(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/jobs/deploy")
    page.get_by_label("User name").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="Run test").click()
    expect(page.locator(".run-head .badge")).to_have_text("waiting", timeout=20_000)
    # the token appears without a reload
    expect(page.locator("section.token h2")).to_contain_text("Waiting for token tok_")


def test_approve_a_waiting_token_with_data(page: Page, approvals: Server) -> None:
    _waiting_run(page, approvals)
    errors: list[str] = []  # after logging in, whose form page answers 401 by design
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.get_by_label("Data").fill('{"note": "ship it"}')
    page.wait_for_timeout(1500)  # live refreshes keep what is typed
    expect(page.get_by_label("Data")).to_have_value('{"note": "ship it"}')
    page.get_by_role("button", name="Approve").click()

    expect(page.locator(".run-head .badge")).to_have_text("succeeded", timeout=20_000)
    expect(page.locator("pre.output")).to_contain_text('"note": "ship it"')
    expect(page.locator("pre.output")).to_contain_text('"approved": true')
    expect(page.locator("section.token")).to_have_count(0)
    assert errors == []


def test_bad_data_is_refused_and_reject_sends_approved_false(page: Page, approvals: Server) -> None:
    _waiting_run(page, approvals)
    run_url = page.url
    page.get_by_label("Data").fill("[1, 2]")
    page.get_by_role("button", name="Reject").click()
    expect(page.locator("body")).to_have_text(re.compile("must be a JSON object"))

    page.goto(run_url)
    expect(page.locator(".run-head .badge")).to_have_text("waiting")
    page.get_by_role("button", name="Reject").click()
    expect(page.locator(".run-head .badge")).to_have_text("succeeded", timeout=20_000)
    expect(page.locator("pre.output")).to_contain_text('"approved": false')

"""A task's failed attempts in the run page, in real headless Chromium: after the retry
succeeded, the task's details still show each failed attempt's error, and its duration is the
time its function ran (not the back-off between attempts)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect
from tests.http_app import PASSWORD

if TYPE_CHECKING:
    from tests.browser.conftest import Server

APP = """\
from typing import Any

import relaykit
from relaykit import Client, Context, Retry

client = Client(id="attempts")


@client.define_job(id="twice-flaky", name="Twice flaky", version="1.0.0")
async def twice_flaky(payload: Any, io: relaykit.IO, ctx: Context) -> str:
    async def call_remote() -> str:
        attempt = relaykit.current_task().attempt
        if attempt == 1:
            raise ConnectionError("remote refused the connection")
        if attempt == 2:
            raise TimeoutError("remote took too long")
        return "answered"

    retry = Retry(limit=5, min_timeout=1.0, factor=1.0, randomize=False)
    return str(await io.run_task("call-remote", call_remote, retry=retry))
"""


@pytest.fixture
def served_app(tmp_path: Path) -> str:
    path = tmp_path / "flaky_app.py"
    path.write_text(APP, encoding="utf-8")
    return str(path)


def test_failed_attempts_stay_visible_in_the_task_details(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/jobs/twice-flaky")
    page.get_by_label("User name").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="Run test").click()
    expect(page).to_have_url(re.compile(r"/runs/run_"))
    expect(page.locator(".run-head .badge")).to_have_text("succeeded", timeout=30_000)

    task = page.locator('tr.task[data-key="call-remote"]')
    expect(task.locator(".badge")).to_have_text("completed")
    # 3 attempts, 2 s of back-off between them, a function that returns at once
    expect(task.locator("td").nth(2)).to_have_text("3")
    expect(task.locator("td").nth(3)).to_have_text(re.compile(r"^\d+ ms$"))
    attempts = task.locator(".attempts li.attempt")
    expect(attempts).to_have_count(2)
    expect(attempts.first).not_to_be_visible()  # inside the closed details
    task.locator("summary").click()
    expect(attempts.nth(0)).to_be_visible()
    expect(attempts.nth(0)).to_have_attribute("data-attempt", "1")
    expect(attempts.nth(0)).to_contain_text("ConnectionError: remote refused the connection")
    expect(attempts.nth(1)).to_have_attribute("data-attempt", "2")
    expect(attempts.nth(1)).to_contain_text("TimeoutError: remote took too long")
    # the task's own error is gone (it succeeded); the history keeps the failures
    expect(task.locator(".task-detail > pre.error")).to_have_count(0)

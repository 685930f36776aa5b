"""The dashboard in real headless Chromium against a real ``relaykit serve``: log in, start a
test run and watch it succeed without reloading, read its task tree and timeline, cancel a
waiting run."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from playwright.sync_api import Dialog, Page, expect
from tests.http_app import PASSWORD

if TYPE_CHECKING:
    from tests.browser.conftest import Server


def _log_in(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/runs")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.get_by_label("User name").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Runs")).to_be_visible()
    expect(page.locator(".who")).to_have_text("ada")


def test_a_wrong_password_does_not_log_in(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/jobs")
    page.get_by_label("User name").fill("ada")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("wrong user name, password or API key")
    page.goto(f"{server.url}/jobs")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def test_the_printed_login_link_logs_in_once(page: Page, server: Server) -> None:
    page.goto(server.login_link)
    expect(page.get_by_role("heading", name="Runs")).to_be_visible()
    expect(page.locator(".who")).to_have_text("login link (relaykit dev/serve)")
    other = page.context.browser
    assert other is not None
    fresh = other.new_context()
    try:
        again = fresh.new_page()
        again.goto(server.login_link)
        expect(again.get_by_role("alert")).to_contain_text("used already or expired")
    finally:
        fresh.close()


def test_start_a_test_run_and_watch_it_succeed_live(page: Page, server: Server) -> None:
    _log_in(page, server)
    page.get_by_role("link", name="Jobs").click()
    page.get_by_role("link", name="slow").click()
    page.get_by_label("Payload (JSON)").fill('{"seconds": 2}')
    page.get_by_role("button", name="Run test").click()
    expect(page).to_have_url(re.compile(r"/runs/run_"))
    status = page.locator(".run-head .badge")
    expect(status).to_have_text(re.compile("queued|running"))
    # The page is never reloaded: live updates swap the new state in.
    page.evaluate("window.__sameDocument = true")
    expect(status).to_have_text("succeeded", timeout=20_000)
    assert page.evaluate("window.__sameDocument") is True
    tasks = page.locator("tr.task")
    expect(tasks).to_have_count(2)
    expect(tasks.nth(0).locator(".task-name")).to_have_text("first")
    expect(tasks.nth(1).locator(".task-name")).to_have_text(
        "second"
    )  # a lambda is named after its key
    bars = page.locator("tr.task .bar.s-completed")
    expect(bars).to_have_count(2)
    first_width = bars.nth(0).evaluate("b => b.getBoundingClientRect().width")
    second_width = bars.nth(1).evaluate("b => b.getBoundingClientRect().width")
    assert first_width > 5 * second_width  # 2 s against a few milliseconds
    expect(page.locator("pre.output")).to_contain_text('"second done"')


def test_the_task_tree_nests_children_under_their_parent(page: Page, server: Server) -> None:
    _log_in(page, server)
    page.goto(f"{server.url}/jobs/hello")
    page.get_by_label("Payload (JSON)").fill('{"who": "ada"}')
    page.get_by_role("button", name="Run test").click()
    expect(page.locator(".run-head .badge")).to_have_text("succeeded", timeout=20_000)
    outer = page.locator('tr.task[data-key="outer"]')
    inner = page.locator('tr.task[data-key="outer/inner"]')
    expect(outer).to_have_attribute("data-depth", "0")
    expect(inner).to_have_attribute("data-depth", "1")
    outer_x = outer.locator(".task-name").evaluate("e => e.getBoundingClientRect().left")
    inner_x = inner.locator(".task-name").evaluate("e => e.getBoundingClientRect().left")
    assert inner_x > outer_x  # indented under its parent
    inner.locator("summary").click()
    expect(inner.locator(".task-detail")).to_contain_text("20")
    expect(page.locator("table.logs")).to_contain_text("computed")


def test_cancel_a_waiting_run(page: Page, server: Server) -> None:
    _log_in(page, server)
    page.goto(f"{server.url}/jobs/waiter")
    page.get_by_role("button", name="Run test").click()
    status = page.locator(".run-head .badge")
    expect(status).to_have_text("waiting", timeout=20_000)
    asked: list[str] = []

    def answer(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.dismiss() if len(asked) == 1 else dialog.accept()

    page.on("dialog", answer)
    page.get_by_role("button", name="Cancel").click()  # asked, and dismissed: nothing happens
    expect(status).to_have_text("waiting")
    page.get_by_role("button", name="Cancel").click()  # asked again, and accepted
    expect(status).to_have_text("canceled")
    assert len(asked) == 2 and asked[0].startswith("Cancel run run_"), asked
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
    page.get_by_role("link", name="Runs").click()
    page.get_by_label("Status").select_option("canceled")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table.runs tbody tr")).to_have_count(1)
    expect(page.locator("table.runs .badge")).to_have_text("canceled")

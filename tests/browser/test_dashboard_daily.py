"""The dashboard's day-one details in real headless Chromium against a real ``relaykit serve``
of ``tests/browser/daily_app.py`` (runs made beforehand by the real ``relaykit`` CLI): icons,
local and relative times, durations, wrapping payloads at 800 px, honest attempt counts, the
signed-in user, search, event pages, cron fire times and highlighted tracebacks. Every test
also checks that the pages logged no console error and requested nothing from another origin.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page, Request, expect
from tests.browser.conftest import _relaykit, serving
from tests.plugin_dists import source_plugins_env

APP = str(Path(__file__).with_name("daily_app.py"))
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard-daily"


@dataclass
class Daily:
    """A running ``relaykit serve`` of the daily app and what the CLI made before it."""

    url: str
    login_link: str
    database: str
    runs: dict[str, str] = field(default_factory=dict)
    events: dict[str, str] = field(default_factory=dict)


def _cli(*args: str, database: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [_relaykit(), *args, "--database", database],
        input=stdin,
        env=source_plugins_env(),  # the app imports relaykit_github
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done


def _run(job: str, payload: object, database: str) -> str:
    done = _cli("run", APP, job, "--payload", json.dumps(payload), "--json", database=database)
    assert done.returncode in (0, 1), done.stderr
    run_id: str = json.loads(done.stdout)["id"]
    return run_id


def _send(name: str, payload: object, database: str) -> str:
    done = _cli("send", APP, name, "--payload", json.dumps(payload), "--json", database=database)
    assert done.returncode == 0, done.stderr
    event_id: str = json.loads(done.stdout)["id"]
    return event_id


@pytest.fixture
def daily(tmp_path: Path) -> Iterator[Daily]:
    database = f"sqlite:///{tmp_path / 'relaykit.db'}"
    long_text = "x" * 4000  # one long line: must wrap, not push the Output panel away
    runs = {
        "labels": _run("labels", {"issue": 7, "note": long_text}, database),
        "broken": _run("broken", None, database),
        "napper": _run("napper", None, database),  # `relaykit run` sleeps through its wait
    }
    events = {
        "pro": _send("user.created", {"email": "ada@example.com", "plan": "pro"}, database),
        "free": _send("user.created", {"email": "bob@example.com", "plan": "free"}, database),
    }
    detached = _cli("run", APP, "fortnight", "--detach", "--json", database=database)
    assert detached.returncode == 0, detached.stderr
    runs["fortnight"] = json.loads(detached.stdout)["id"]  # the server's worker starts it
    with serving(APP, database, tmp_path, source_plugins_env()) as (url, link):
        yield Daily(url, link, database, runs, events)


@pytest.fixture
def watched(page: Page, daily: Daily) -> Iterator[Page]:
    """The page, logged in by the printed link; afterwards: no console errors, no page errors,
    no request to another origin."""
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(f"console: {message.text}")

    def on_request(request: Request) -> None:
        if not request.url.startswith((daily.url, "data:")):
            problems.append(f"external request: {request.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("request", on_request)
    page.goto(daily.login_link)
    expect(page.get_by_role("heading", name="Runs")).to_be_visible()
    yield page
    assert problems == []


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_icons_times_durations_and_the_header(watched: Page, daily: Daily) -> None:
    page = watched
    expect(page.locator(".who")).to_have_text("login link (relaykit dev/serve)")
    row = page.locator(f'tr[data-run="{daily.runs["labels"]}"]')
    expect(row.locator("td.duration")).to_have_text(re.compile(r"^\d+(\.\d)? (ms|s)$"))
    created = row.locator("time")
    expect(created.locator(".ago")).to_have_text(re.compile(r"^\d+ (s|min) ago$"))
    iso = created.get_attribute("datetime") or ""
    assert created.get_attribute("title") == iso and re.match(r"\d{4}-\d\d-\d\dT", iso)
    assert "T" not in created.inner_text() and "." not in created.inner_text().split(" ")[-1]

    page.goto(f"{daily.url}/runs/{daily.runs['labels']}")
    summary = page.locator('tr.task[data-key="add-labels"] summary')
    expect(summary.locator('svg.icon[data-icon="github"]')).to_have_count(1)
    assert summary.inner_text().strip().startswith("github.add_labels"), summary.inner_text()
    expect(page.locator(".run-head .attempts")).to_have_text("ran once, no retries")
    _shot(page, "run-wide")
    # a run that waited was picked up twice: said as a resumption, not as a failed attempt
    page.goto(f"{daily.url}/runs/{daily.runs['napper']}")
    expect(page.locator(".run-head .badge")).to_have_text("succeeded")
    expect(page.locator(".run-head .attempts")).to_have_text("resumed 1 time")


def test_at_800_px_nothing_is_pushed_off_the_page(watched: Page, daily: Daily) -> None:
    page = watched
    page.set_viewport_size({"width": 800, "height": 900})
    for path in ("/runs", f"/runs/{daily.runs['labels']}", "/events", "/jobs/nightly"):
        page.goto(daily.url + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 800, f"{path} is {width} px wide at an 800 px viewport"
    output = page.goto(f"{daily.url}/runs/{daily.runs['labels']}")
    assert output is not None and output.ok
    box = page.locator("pre.output").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 800, box
    page.locator("pre.output").scroll_into_view_if_needed()
    expect(page.locator("pre.output")).to_be_in_viewport()
    _shot(page, "run-800px")


def test_search_finds_runs_by_prefix_and_text_and_opens_events(watched: Page, daily: Daily) -> None:
    page = watched
    box = page.get_by_role("searchbox", name="Search runs and events")

    labels = daily.runs["labels"]
    box.fill(labels[:-3])
    box.press("Enter")
    expect(page.locator("table.runs tbody tr")).to_have_count(1)
    expect(page.locator(f'tr[data-run="{labels}"]')).to_have_count(1)

    page.get_by_role("searchbox", name="Search runs and events").fill("ada@example.com")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("table.runs tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("welcome")

    page.get_by_role("searchbox", name="Search runs and events").fill(labels)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(f"/runs/{labels}$"))

    page.get_by_role("searchbox", name="Search runs and events").fill(daily.events["pro"])
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(f"/events/{daily.events['pro']}$"))
    expect(page.locator("p.matched")).to_have_text("matched 1 job")
    expect(page.locator("table.runs tbody tr")).to_have_count(1)
    expect(page.locator("table.runs")).to_contain_text("welcome")

    page.goto(f"{daily.url}/events")
    page.get_by_role("link", name=daily.events["free"]).click()
    expect(page.locator("p.matched")).to_contain_text("matched 0 jobs")
    _shot(page, "event-matched-none")


def test_a_cron_job_shows_its_next_fire_times(watched: Page, daily: Daily) -> None:
    page = watched
    page.goto(f"{daily.url}/jobs/nightly")
    fires = page.locator("ol.next-fires time")
    expect(fires).to_have_count(5)
    stamps = [fires.nth(i).get_attribute("datetime") or "" for i in range(5)]
    assert all(re.search(r"T03:00:00\+00:00$", s) for s in stamps), stamps
    assert stamps == sorted(stamps) and len(set(stamps)) == 5
    expect(fires.first.locator(".ago")).to_have_text(re.compile(r"^in \d+ (min|h)$"))
    # the test-run form starts from the payload a fire now would get
    example = json.loads(page.get_by_label("Payload (JSON)").input_value())
    assert set(example) == {"ts", "last_ts"} and example["last_ts"].endswith("T03:00:00+00:00")
    page.goto(f"{daily.url}/jobs/labels")
    expect(page.locator("ol.next-fires")).to_have_count(0)
    assert page.get_by_label("Payload (JSON)").input_value() == "{}"


def test_a_webhook_jobs_test_form_starts_from_a_sample_delivery(
    watched: Page, daily: Daily
) -> None:
    page = watched
    page.goto(f"{daily.url}/jobs/on-pr")
    # GitHub's published pull_request.opened example, aimed at the trigger's repository
    example = json.loads(page.get_by_label("Payload (JSON)").input_value())
    assert example["action"] == "opened"
    assert example["repository"]["full_name"] == "acme/crm"
    number = example["pull_request"]["number"]
    _shot(page, "webhook-job-example")
    page.get_by_role("button", name="Run test").click()
    expect(page.locator(".run-head .badge")).to_have_text("succeeded", timeout=30_000)
    expect(page.locator("body")).to_contain_text(f'"number": {number}')


def test_a_wait_days_away_shows_its_date(watched: Page, daily: Daily) -> None:
    page = watched
    page.goto(f"{daily.url}/runs/{daily.runs['fortnight']}")
    expect(page.locator(".run-head .badge")).to_have_text("waiting", timeout=30_000)
    resumes = page.locator("dl.facts dt:text-is('Resumes') + dd time")
    stamp = resumes.get_attribute("datetime") or ""
    due = datetime.fromisoformat(stamp)
    assert timedelta(days=13, hours=23) < due - datetime.now(UTC) <= timedelta(days=14), stamp
    # shown with its date (and "in 14 d"), not a time of day alone
    text = resumes.inner_text()
    assert str(due.year) in text and re.search(rf"\b{due.astimezone().day}\b", text), text
    expect(resumes.locator(".ago")).to_have_text("in 14 d")


def test_the_runs_page_filters_by_age_and_version(watched: Page, daily: Daily) -> None:
    page = watched
    rows = page.locator("table.runs tbody tr[data-run]")
    everything = len(daily.runs) + 1  # and the run the "pro" event started
    expect(rows).to_have_count(everything)
    page.get_by_label("Since").select_option("1h")
    page.get_by_label("Version").fill("1.0.0")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"since=1h.*version=1\.0\.0"))
    expect(rows).to_have_count(everything)
    page.get_by_label("Version").fill("2.0.0")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(0)
    expect(page.locator("table.runs")).to_contain_text("no runs")
    expect(page.get_by_label("Since")).to_have_value("1h")  # the filters stay as chosen


def test_search_works_from_the_keyboard(watched: Page, daily: Daily) -> None:
    page = watched
    box = page.get_by_role("searchbox", name="Search runs and events")
    for _ in range(20):  # Tab through the header until the search box has the focus
        page.keyboard.press("Tab")
        if box.evaluate("e => e === document.activeElement"):
            break
    else:
        pytest.fail("the search box is not reachable with Tab")
    page.keyboard.type(daily.runs["broken"])
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(f"/runs/{daily.runs['broken']}$"))
    expect(page.locator(".run-head .badge")).to_have_text("failed")


def test_the_users_frame_is_highlighted_in_a_traceback(watched: Page, daily: Daily) -> None:
    page = watched
    page.goto(f"{daily.url}/runs/{daily.runs['broken']}")
    # the run's error: where the run function awaited the failed task
    mine = page.locator("section.run-error mark.user-frame")
    expect(mine).to_have_count(2)  # the frame's line and its source line
    expect(mine.first).to_contain_text("daily_app.py")
    expect(mine.first).to_contain_text("in broken")
    # the task's error: the line of the user's function that raised
    task = page.locator('tr.task[data-key="parse"]')
    task.locator("summary").click()
    in_task = task.locator("mark.user-frame")
    expect(in_task).to_have_count(2)
    expect(in_task.first).to_contain_text("in parse_widget")
    expect(in_task.nth(1)).to_contain_text("return int(text)")
    _shot(page, "traceback")

"""``Slack`` tasks inside real runs: a real ``Client`` on a SQLite file, driven with
``client.run``, against generated cassettes replayed through a real ``httpx2.AsyncClient``.

The ``cassette`` fixture fails a test that left an interaction unplayed, and vcrpy (replay only)
refuses any request the cassette does not hold, so "the replay made no second request" is
checked, not assumed.
"""

from __future__ import annotations

import asyncio
import hashlib
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import relaykit_slack
from relaykit import IO, Client, Context, Plugins, RunResult, RunStatus, TaskFailed
from relaykit.testing import ManualClock
from relaykit_slack import BOT_SCOPES, SHARE_ATTEMPTS, Slack
from tests.slack_replay import TOKEN

CHANNEL = "C1H9RESGL"
CONTENT = b"id,name\n1,Ada\n2,Grace\n"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "relaykit.db"


@pytest.fixture
def client(db: Path, clock: ManualClock) -> Iterator[Client]:
    c = Client("slack-tests", database_url=f"sqlite:///{db}", clock=clock)
    yield c
    asyncio.run(c.close())


def run(client: Client, job: str) -> RunResult:
    """``client.run`` to the end, then close the store so the SQLite file is complete."""

    async def go() -> RunResult:
        try:
            return await client.run(job)
        finally:
            await client.close()

    return asyncio.run(go())


def stored_bytes(db: Path) -> bytes:
    """Everything SQLite wrote: the database and any journal or WAL beside it."""
    return b"".join(p.read_bytes() for p in sorted(db.parent.glob(db.name + "*")))


@pytest.mark.vcr
def test_a_posted_message_is_memoized_across_a_replay(
    cassette: Any, client: Client, db: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)  # read when the task runs
    slack = Slack()

    @client.define_job(id="announce", version="1.0.0", integrations={"slack": slack})
    async def announce(payload: Any, io: IO, ctx: Context) -> dict[str, Any]:
        posted = await io.slack.post_message("post", channel=CHANNEL, text="Deploy finished")
        await io.wait("settle", minutes=5)  # the run suspends; the replay meets "post" again
        return {"ts": posted["ts"]}

    result = run(client, "announce")
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == {"ts": "1503435956.000247"}
    assert clock.slept >= 300  # the wait elapsed, so the run function ran twice
    assert cassette.play_count == 1  # ... and the replay did not post again
    [post] = [t for t in result.tasks if t.key == "post"]
    assert (post.name, post.params, post.attempts) == (
        "slack.post_message",
        {"channel": CHANNEL, "text": "Deploy finished"},
        1,
    )
    assert TOKEN not in repr(result)
    stored = stored_bytes(db)
    assert b"slack.post_message" in stored  # the file read is the one the run wrote
    assert TOKEN.encode() not in stored


@pytest.mark.vcr
def test_ok_false_fails_the_task_without_a_retry(cassette: Any, client: Client) -> None:
    slack = Slack(token=TOKEN)

    @client.define_job(id="lost", version="1.0.0", integrations={"slack": slack})
    async def lost(payload: Any, io: IO, ctx: Context) -> dict[str, Any]:
        try:
            await io.slack.post_message("post", channel=CHANNEL, text="Deploy finished")
        except TaskFailed as exc:  # what the run function sees of a failed task
            return {"task": exc.key, "cause": exc.cause_type}
        return {}

    result = run(client, "lost")
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == {"task": "post", "cause": "SlackAPIError"}
    [post] = result.tasks
    assert post.attempts == 1  # channel_not_found is not retried
    assert post.error is not None
    assert "chat.postMessage: channel_not_found (check the channel ID" in post.error["message"]


@pytest.mark.vcr
def test_a_rate_limit_is_retried_after_retry_after(
    cassette: Any, client: Client, clock: ManualClock
) -> None:
    slack = Slack(token=TOKEN)

    @client.define_job(id="busy", version="1.0.0", integrations={"slack": slack})
    def busy(payload: Any, io: Any, ctx: Context) -> str:  # a sync job: the sync io
        return str(io.slack.post_message("post", channel=CHANNEL, text="Deploy finished")["ts"])

    result = run(client, "busy")
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == "1503435956.000247"
    assert clock.slept == 30  # Slack's Retry-After, exactly
    assert result.tasks[0].attempts == 2
    assert cassette.play_count == 2


@pytest.mark.vcr
def test_upload_file_is_two_subtasks_and_records_no_bytes(
    cassette: Any, client: Client, db: Path, clock: ManualClock
) -> None:
    slack = Slack(token=TOKEN)

    @client.define_job(id="report", version="1.0.0", integrations={"slack": slack})
    async def report(payload: Any, io: IO, ctx: Context) -> list[str]:
        file = await io.use(slack).upload_file(
            "report", content=CONTENT, filename="people.csv", title="People", channel_id="C0T8SE4AU"
        )
        return sorted(file["shares"]["public"])

    result = run(client, "report")
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert "C0T8SE4AU" in result.output
    tasks = {t.key: t for t in result.tasks}
    assert set(tasks) == {"report", "report/upload", "report/share"}
    assert tasks["report"].name == "slack.upload_file"
    assert tasks["report"].params == {
        "file": {"sha256": hashlib.sha256(CONTENT).hexdigest(), "length": len(CONTENT)},
        "filename": "people.csv",
        "title": "People",
        "channel_id": "C0T8SE4AU",
    }
    # The first files.info showed no share: the share task waited once; the upload (three
    # requests) ran once although its parent task ran twice.
    assert (tasks["report/upload"].attempts, tasks["report/share"].attempts) == (1, 2)
    assert cassette.play_count == 5
    assert 0 < clock.slept < SHARE_ATTEMPTS
    stored = stored_bytes(db)
    assert b"people.csv" in stored  # the file read is the one the run wrote
    assert b"Ada" not in stored and TOKEN.encode() not in stored


def test_the_plugin_registers_the_integration() -> None:
    plugins = Plugins(entry_points=False)
    plugins.register(relaykit_slack, name="slack")
    assert plugins.integration("slack") is Slack
    [info] = plugins.list()
    assert info.integrations == ("slack",)
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"]["relaykit"] == {"slack": "relaykit_slack"}


def test_the_class_describes_the_integration() -> None:
    assert (Slack.slug, Slack.auth_modes, Slack.token_env) == (
        "slack",
        ("token", "oauth2"),
        "SLACK_BOT_TOKEN",
    )
    assert Slack.oauth is not None
    assert Slack.oauth.authorize_url == "https://slack.com/oauth/v2/authorize"
    assert Slack.oauth.token_url == "https://slack.com/api/oauth.v2.access"
    # Slack reads scope as a comma-separated list; the core joins the tuple with spaces.
    [scopes] = Slack.oauth.scopes
    assert scopes.split(",") == list(BOT_SCOPES) and " " not in scopes

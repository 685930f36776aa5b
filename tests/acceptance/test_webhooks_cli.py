"""``relaykit webhooks`` as a user drives it: the installed script in subprocesses against a
real ``relaykit serve`` (its worker, its webhook route, one SQLite file). The sample deliveries
are the integrations' own (GitHub's published examples, a Slack ``event_callback``), signed
with the stored secret; the route must accept them and start the runs."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx2
import pytest
from tests.plugin_dists import source_plugins_env
from tests.serving import free_port

from relaykit._base.secrets import SecretBox

if TYPE_CHECKING:
    from tests.acceptance.conftest import Relaykit

pytestmark = pytest.mark.subprocess

DB = ("--database", "sqlite:///relaykit.db")
KEY = SecretBox.generate_key()
SECRET = "whsec-4c1f0e9b7a"

APP = """
from relaykit import Client
from relaykit_github import GitHub
from relaykit_slack import Slack

client = Client(id="hooks")
github = GitHub(id="github", token="unused")
slack = Slack(id="slack", token="unused", signing_secret_env=None)


@client.define_job(
    id="on-issue",
    version="1.0.0",
    trigger=github.triggers.repo(event="issues.opened", owner="octo", repo="hello"),
    integrations={"github": github},
)
async def on_issue(payload, io, ctx):
    return {"repo": payload["repository"]["full_name"], "title": payload["issue"]["title"]}


@client.define_job(
    id="on-mention",
    version="1.0.0",
    trigger=slack.triggers.events("app_mention"),
    integrations={"slack": slack},
)
async def on_mention(payload, io, ctx):
    return {"text": payload["event"]["text"], "team": payload["team_id"]}
"""


@pytest.fixture
def hooks_app(rk: Relaykit, tmp_path: Path) -> str:
    (rk.cwd / "hooks.py").write_text(APP, encoding="utf-8")
    # the GitHub and Slack plugins as if pip-installed (their sources, and their entry points)
    rk.env["PYTHONPATH"] = source_plugins_env(tmp_path / "dists")["PYTHONPATH"]
    rk.env["RELAYKIT_SECRET_KEY"] = KEY
    rk.env.pop("SLACK_SIGNING_SECRET", None)
    return "hooks.py"


@pytest.fixture
def server(rk: Relaykit, hooks_app: str) -> Iterator[str]:
    """``relaykit serve hooks.py`` (HTTP and a worker) on a free port; its base URL."""
    port = free_port()
    proc = rk.popen("serve", hooks_app, "--port", str(port), *DB)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx2.get(f"{url}/api/v1/health", timeout=1)
            break
        except httpx2.HTTPError:
            if proc.poll() is not None or time.monotonic() > deadline:
                _, err = proc.communicate(timeout=10)
                pytest.fail(f"relaykit serve did not start: {err}")
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def _run_id(stdout: str, job: str) -> str:
    """The run id from ``... started 1 run(s): ID (JOB)``."""
    line = next(ln for ln in stdout.splitlines() if "started 1 run(s):" in ln)
    run_id, shown_job = line.split("started 1 run(s): ", 1)[1].split()
    assert shown_job == f"({job})", stdout
    return run_id


def _finished(rk: Relaykit, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        run = rk.show(run_id)
        if run["status"] not in ("queued", "running") or time.monotonic() > deadline:
            return run
        time.sleep(0.2)


def test_a_signed_github_example_is_accepted_and_starts_the_run(
    rk: Relaykit, hooks_app: str, server: str
) -> None:
    stored = rk("webhooks", "secret", "set", "github", "octo/hello", "--app", hooks_app, *DB,
                input=f"{SECRET}\n")  # fmt: skip
    assert stored.returncode == 0, stored.describe()
    assert SECRET not in stored.stdout + stored.stderr
    with sqlite3.connect(rk.cwd / "relaykit.db") as conn:
        rows = conn.execute("SELECT credentials FROM connections").fetchall()
    assert rows and all(SECRET not in str(row) for row in rows), "stored in plain text"

    sent = rk("webhooks", "send", "github", "octo/hello", "--example", "issues.opened",
              "--url", server, "--app", hooks_app, *DB)  # fmt: skip

    assert sent.returncode == 0, sent.describe()
    assert f"POST {server}/webhooks/github/octo/hello -> 200" in sent.stdout, sent.describe()
    run = _finished(rk, _run_id(sent.stdout, "on-issue"))
    assert run["status"] == "succeeded", run
    # the example is GitHub's own, aimed at the source's repository
    assert run["output"]["repo"] == "octo/hello"
    assert run["output"]["title"] == "Spelling error in the README file"


def test_a_delivery_signed_with_another_secret_is_rejected(
    rk: Relaykit, hooks_app: str, server: str
) -> None:
    setup = rk("webhooks", "secret", "set", "github", "octo/hello", *DB, input=f"{SECRET}\n")
    assert setup.returncode == 0, setup.describe()
    # the CLI reads its secret from another database, where the source has another one
    other = ("--database", "sqlite:///other.db")
    wrong = rk("webhooks", "secret", "set", "github", "octo/hello", *other, input="not-it\n")
    assert wrong.returncode == 0, wrong.describe()

    sent = rk("webhooks", "send", "github", "octo/hello", "--example", "issues.opened",
              "--url", server, *other)  # fmt: skip

    assert sent.returncode == 1, sent.describe()
    assert "-> 401" in sent.stdout and "signature does not match" in sent.stdout, sent.describe()
    assert rk.list_runs() == []


def test_a_signed_slack_event_callback_starts_the_run(
    rk: Relaykit, hooks_app: str, server: str
) -> None:
    stored = rk("webhooks", "secret", "set", "slack", "events", "--app", hooks_app, *DB,
                input=f"{SECRET}\n")  # fmt: skip
    assert stored.returncode == 0, stored.describe()

    sent = rk("webhooks", "send", "slack", "events", "--example", "app_mention", "--url", server,
              "--app", hooks_app, *DB)  # fmt: skip

    assert sent.returncode == 0, sent.describe()
    assert "-> 200" in sent.stdout, sent.describe()
    run = _finished(rk, _run_id(sent.stdout, "on-mention"))
    assert run["status"] == "succeeded", run
    assert run["output"]["text"].endswith("is it everything a river should be?")


def test_mistakes_are_one_line_naming_what_to_do(rk: Relaykit, hooks_app: str) -> None:
    assert rk("webhooks", "secret", "set", "slack", "events", *DB, input="x\n").returncode == 0

    no_secret = rk("webhooks", "send", "github", "octo/hello", "--example", "issues.opened", *DB)
    assert no_secret.error_line() == (
        "relaykit: error: no webhook secret for github/octo/hello: store one with `relaykit "
        "webhooks secret set github octo/hello` (the secret the vendor has)"
    )
    unknown = rk("webhooks", "send", "github", "octo/hello", "--example", "issues.open", *DB)
    line = unknown.error_line()
    assert "no sample delivery 'issues.open'" in line and "issues.opened" in line, line
    assert "relaykit webhooks examples github" in line
    missing = rk("webhooks", "examples", "gitlab").error_line()
    assert "no installed integration 'gitlab'" in missing and "github" in missing, missing
    undeclared = rk("webhooks", "secret", "set", "gh", "o/r", "--app", hooks_app, *DB, input="x\n")
    assert undeclared.error_line() == (
        "relaykit: error: hooks.py declares no integration 'gh' (its jobs declare: github, slack)"
    )
    no_key = rk("webhooks", "secret", "set", "github", "o/r", *DB, input="x\n",
                env={"RELAYKIT_SECRET_KEY": ""})  # fmt: skip
    assert "RELAYKIT_SECRET_KEY" in no_key.error_line()


def test_examples_lists_the_integrations_samples(rk: Relaykit, hooks_app: str) -> None:
    github = rk("webhooks", "examples", "github")
    assert github.returncode == 0, github.describe()
    names = github.stdout.split()
    assert {"issues.opened", "pull_request.opened", "push", "ping"} <= set(names)
    assert names == sorted(names)
    slack = rk("webhooks", "examples", "slack", "--app", hooks_app)
    assert slack.stdout.split() == ["app_mention", "member_joined_channel", "message",
                                    "reaction_added"]  # fmt: skip


def test_the_secret_never_comes_from_the_command_line(rk: Relaykit, hooks_app: str) -> None:
    done = rk("webhooks", "secret", "set", "github", "octo/hello", SECRET, *DB)
    assert done.returncode == 2, done.describe()
    assert not (Path(rk.cwd) / "relaykit.db").exists()
    assert os.environ.get("RELAYKIT_SECRET_KEY") != KEY  # the fixture changed rk's env only


def test_at_a_terminal_the_secret_is_asked_for_twice_without_echo(
    rk: Relaykit, hooks_app: str
) -> None:
    """The real script on a pseudo-terminal: the prompt does not echo what is typed."""
    import pty

    main, secondary = pty.openpty()
    proc = subprocess.Popen(
        [str(rk.exe), "webhooks", "secret", "set", "github", "octo/hello", *DB],
        cwd=rk.cwd,
        env=rk.env,
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
    )
    os.close(secondary)
    seen = b""

    def read_until(text: bytes) -> None:
        nonlocal seen
        deadline = time.monotonic() + 30
        while text not in seen and time.monotonic() < deadline:
            try:
                seen += os.read(main, 1024)
            except OSError:  # the process ended and closed the terminal
                break

    try:
        read_until(b": ")
        os.write(main, f"{SECRET}\n".encode())
        read_until(b"confirmation: ")
        os.write(main, f"{SECRET}\n".encode())
        read_until(b"saved")
        assert proc.wait(timeout=30) == 0, seen
    finally:
        os.close(main)
        if proc.poll() is None:
            proc.kill()
    assert b"saved (encrypted)" in seen, seen
    assert SECRET.encode() not in seen, "the secret was echoed"
    checked = rk("webhooks", "send", "github", "octo/hello", "--example", "ping",
                 "--url", "http://127.0.0.1:9", *DB)  # fmt: skip
    # the secret was stored: signing worked, and only the post failed (nothing listens on :9)
    assert "cannot post to http://127.0.0.1:9/webhooks/github/octo/hello" in checked.error_line()

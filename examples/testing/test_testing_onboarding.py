"""The tests docs/testing.md shows, run by the suite: ``relaykit_env`` on the onboarding app."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import httpx2
import pytest
from onboarding import client, github

from relaykit import RunStatus
from relaykit.testing import EnvFactory, RelaykitEnv

SIGNUP = {"email": "ada@example.com", "company": "analytical"}
ISSUE = {"number": 42, "html_url": "https://github.com/acme/onboarding/issues/42"}


def test_a_signup_is_onboarded_once_approved(relaykit_env: EnvFactory) -> None:
    env = relaykit_env(client)
    env.mock_task("plan", output="pro")
    env.mock_task("issue", output=ISSUE)

    run = env.run("onboard", SIGNUP)  # the hour of cool-off passes at once...
    assert run.status is RunStatus.WAITING  # ...then the run waits for the approval
    assert run.task("cool-off").status == "completed"

    env.send_event("signup.approved", {"email": "ada@example.com"})
    result = env.result(run.id)
    assert result.output == {"status": "onboarded", "plan": "pro", "issue": 42}
    assert result.task("issue").mocked
    assert result.task("issue").params["title"] == "Onboard analytical (pro)"


def test_a_flaky_plan_lookup_is_retried(relaykit_env: EnvFactory) -> None:
    env = relaykit_env(client)
    down = ConnectionError("billing is down")
    env.mock_task("plan", raises=[down, down], output="pro")  # two failures, then "pro"

    run = env.run("onboard", SIGNUP)  # the retry delays elapse at once too
    plan = run.task("plan")
    assert (plan.status, plan.attempts, plan.output) == ("completed", 3, "pro")
    # the failed attempts are kept: attempt 1 and 2, each with its error
    failed = [(a.attempt, a.error["message"]) for a in plan.attempt_history if a.error]
    assert failed == [(1, "billing is down"), (2, "billing is down")]


def test_a_signup_nobody_approves_expires(relaykit_env: EnvFactory) -> None:
    env = relaykit_env(client)
    env.mock_task("plan", output="pro")

    run_id = env.start("onboard", SIGNUP)  # runs up to its first wait
    env.advance(3600 + 2 * 86_400)  # the cool-off, then two days without an approval
    assert env.result(run_id).output == {"status": "expired"}


def test_the_signup_event_starts_onboarding(relaykit_env: EnvFactory) -> None:
    env = relaykit_env(client)
    env.mock_task("plan", output="pro")

    sent = env.send_event("user.signed-up", SIGNUP)
    [run_id] = sent["runs"]
    assert env.result(run_id).task("cool-off").status == "waiting"


def test_github_is_never_called_unless_mocked(relaykit_env: EnvFactory) -> None:
    env = relaykit_env(client)
    env.mock_task("plan", output="pro")
    run = env.run("onboard", SIGNUP)
    env.send_event("signup.approved", {"email": "ada@example.com"})

    result = env.result(run.id)
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert "mock it with env.mock_task('issue', output=...)" in result.error["message"]


def test_the_digest_reports_every_morning(relaykit_env: EnvFactory) -> None:
    env = relaykit_env(client, start=datetime(2026, 7, 1, 6, 0, tzinfo=UTC))
    env.mock_task("plan", output="pro")
    env.mock_task("issue", output=ISSUE)
    run = env.run("onboard", SIGNUP)
    env.send_event("signup.approved", {"email": "ada@example.com"})
    assert env.result(run.id).ok

    digests = [r for r in env.advance(2 * 86_400) if r.job == "daily-digest"]
    assert [(d.output["day"], d.output["signups"]) for d in digests] == [
        ("2026-07-01", 1),
        ("2026-07-02", 1),
    ]


def test_against_a_fake_github(relaykit_env: EnvFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    def github_api(request: httpx2.Request) -> httpx2.Response:
        assert request.url.path == "/repos/acme/onboarding/issues"
        return httpx2.Response(201, json={"number": 7, "html_url": "https://github.com/x/7"})

    monkeypatch.setattr(github, "transport", httpx2.MockTransport(github_api))
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_test")
    env = relaykit_env(client, allow_network=["github"])  # github's tasks really run
    env.mock_task("plan", output="pro")
    run = env.run("onboard", SIGNUP)
    env.send_event("signup.approved", {"email": "ada@example.com"})
    assert env.result(run.id).output == {"status": "onboarded", "plan": "pro", "issue": 7}


POSTGRES = os.environ.get("RELAYKIT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1/postgres")


def test_on_postgresql(relaykit_env: EnvFactory) -> None:
    env = relaykit_env(client, database_url=POSTGRES)  # a schema of its own, dropped after
    env.mock_task("plan", output="pro")
    assert env.run("onboard", SIGNUP).status is RunStatus.WAITING


def test_without_the_fixture() -> None:
    with RelaykitEnv(client) as env:  # a temporary SQLite file; verify() on a clean exit
        env.mock_task("plan", output="pro")
        assert env.run("onboard", SIGNUP).task("plan").mocked


@pytest.mark.anyio
async def test_in_an_async_test(relaykit_env: EnvFactory) -> None:
    env = relaykit_env(client)
    env.mock_task("plan", output="pro")
    run = await env.run_async("onboard", SIGNUP)
    assert run.status is RunStatus.WAITING


@pytest.fixture
def anyio_backend() -> str:
    """``@pytest.mark.anyio`` tests run on asyncio (pytest-asyncio's marker works alike)."""
    return "asyncio"

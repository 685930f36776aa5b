"""The pytest plugin as a user meets it: a test file in a fresh folder, no conftest, no ``-p``.

``relaykit_env`` must be there because relaykit is installed (the ``pytest11`` entry point);
pytest's start-up must not import relaykit; a mock no task reached fails the test at its end
(only when it passed otherwise); and every test gets the app's client on a store of its own.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

APP = """
from typing import Any

from relaykit import Client

client = Client("user-app")
calls: list[str] = []


def classify(text: str) -> str:
    calls.append(text)
    return "real"


@client.define_job(id="welcome", version="1.0.0")
async def welcome(payload: Any, io: Any, ctx: Any) -> Any:
    label = await io.run_task("classify", classify, payload["text"])
    await io.wait("cool-off", days=1)
    return label
"""


@pytest.fixture
def app(pytester: pytest.Pytester) -> pytest.Pytester:
    """A folder with the user's app module and nothing else (module names that no test of
    this suite uses: the in-process runs share its ``sys.modules``)."""
    pytester.makepyfile(rkenv_user_app=APP)
    return pytester


@pytest.mark.slow
def test_the_fixture_comes_with_the_installed_package(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_rkenv_welcome="""
        import sys

        def test_pytest_started_without_importing_relaykit():
            assert "relaykit" not in sys.modules  # nothing here has imported it yet

        def test_welcome(relaykit_env):
            from rkenv_user_app import client

            env = relaykit_env(client)
            env.mock_task("classify", output="mocked")
            result = env.run("welcome", {"text": "hi"})
            assert result.ok and result.output == "mocked"
        """
    )
    # a subprocess: entry points are read afresh, as in the user's own pytest run
    result = app.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(passed=2)
    result.stdout.re_match_lines([r"plugins: .*relaykit-\d+\.\d+\.\d+"])


def test_a_mock_never_reached_fails_the_test_at_its_end(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_rkenv_mocks="""
        from rkenv_user_app import client

        def test_typo(relaykit_env):
            env = relaykit_env(client)
            env.mock_task("clasify", output="mocked")
            assert env.run("welcome", {"text": "hi"}).ok

        def test_failing_anyway(relaykit_env):
            env = relaykit_env(client)
            env.mock_task("clasify", output="mocked")
            assert False, "the test's own failure"
        """
    )
    result = app.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_typo*",
            "relaykit_env: mock_task('clasify') was never reached: no task 'clasify' ran "
            "(nested tasks are 'parent/child'); the tasks that ran: 'classify', 'cool-off'; "
            "check the key or remove the mock",
        ]
    )
    assert "ERROR at teardown of test_failing_anyway" not in result.stdout.str()


def test_every_test_starts_clean_and_the_client_is_given_back(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_rkenv_clean="""
        from relaykit import RunStatus
        from relaykit.testing import ManualClock
        from rkenv_user_app import calls, client

        def test_first(relaykit_env):
            env = relaykit_env(client)
            assert env.run("welcome", {"text": "first"}).status is RunStatus.SUCCEEDED
            assert isinstance(client.clock, ManualClock)

        def test_second_sees_nothing_of_the_first(relaykit_env):
            env = relaykit_env(client)
            assert env.runs() == []
            assert env.run("welcome", {"text": "second"}).ok
            assert calls == ["first", "second"]  # not mocked: the real function ran

        def test_after_the_envs(tmp_path):
            assert not isinstance(client.clock, ManualClock)
            assert client._store is None
        """
    )
    app.runpytest("-p", "no:cacheprovider", "-W", "error").assert_outcomes(passed=3)


def test_an_unmocked_integration_call_fails_the_run_in_one_line(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_rkenv_integration="""
        import httpx2
        import relaykit
        from relaykit import Client, Credentials

        class Crm(relaykit.Integration):
            def create_client(self, credentials: Credentials) -> httpx2.AsyncClient:
                return self.http_client(base_url="https://crm.invalid")

            @relaykit.task()
            async def add_contact(self, client: httpx2.AsyncClient, *, email: str) -> dict:
                return (await client.post("/contacts", json={"email": email})).json()

        client = Client("crm-app")

        @client.define_job(id="sync", version="1.0.0", integrations={"crm": Crm(id="crm")})
        async def sync(payload, io, ctx):
            return await io.crm.add_contact("contact", email="ada@example.com")

        def test_sync(relaykit_env):
            result = relaykit_env(client).run("sync", {})
            assert result.ok, result.error["message"]
        """
    )
    result = app.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    line = (
        "AssertionError: task 'contact' failed after 1 attempt(s): UnmockedTask: task "
        "'contact' (crm.add_contact) of job 'sync' calls integration 'crm', which "
        "relaykit_env keeps off the network: mock it with "
        "env.mock_task('contact', output=...), or let it run with "
        "relaykit_env(client, allow_network=['crm'])"
    )
    assert f"E       {line}" in result.stdout.lines


def test_a_skipped_test_reports_no_mock(app: pytest.Pytester) -> None:
    app.makepyfile(
        test_rkenv_skip="""
        import pytest
        from rkenv_user_app import client

        def test_skipped(relaykit_env):
            relaykit_env(client).mock_task("classify", output="never used")
            pytest.skip("not today")
        """
    )
    app.runpytest("-p", "no:cacheprovider").assert_outcomes(skipped=1)

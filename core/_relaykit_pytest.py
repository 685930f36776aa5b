"""relaykit's pytest plugin: the ``relaykit_env`` fixture (see ``relaykit.testing``).

pytest loads it through the ``pytest11`` entry point whenever relaykit is installed. It is a
top-level module rather than part of the ``relaykit`` package because pytest imports every
``pytest11`` plugin when it starts, and importing ``relaykit`` takes most of a second: relaykit
is imported only when a test asks for the fixture (hypothesis ships its plugin the same way).
"""

from __future__ import annotations

from collections.abc import Collection, Generator, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from relaykit import Client
    from relaykit.testing import EnvFactory, RelaykitEnv

#: Whether the test itself passed (if it failed or was skipped, an unreached mock is no news).
_PASSED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember how the test itself went, for ``relaykit_env``'s teardown."""
    report = yield
    if report.when == "call":
        item.stash[_PASSED] = report.passed
    return report


@pytest.fixture
def relaykit_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EnvFactory]:
    """Bind your app's ``Client`` to a throwaway store and a ``ManualClock`` for this test:
    ``env = relaykit_env(client)``. After the test the client gets its own store and clock
    back, and a mock no task reached fails the test (when it passed otherwise).

    Options: ``database_url=`` (a PostgreSQL database to make a schema of its own in),
    ``start=`` (the clock's start), ``allow_network=`` (integrations whose tasks run for real).
    """
    from relaykit.testing import MockNotReached, RelaykitEnv

    envs: list[RelaykitEnv] = []

    def make(
        client: Client,
        *,
        database_url: str | None = None,
        start: float | datetime | None = None,
        allow_network: bool | Collection[str] = False,
    ) -> RelaykitEnv:
        env = RelaykitEnv(
            client,
            directory=tmp_path / f"relaykit-env-{len(envs)}",
            database_url=database_url,
            start=start,
            allow_network=allow_network,
        )
        envs.append(env)
        return env

    yield make
    problems: list[str] = []
    try:
        if request.node.stash.get(_PASSED, False):
            for env in envs:
                try:
                    env.verify()
                except MockNotReached as exc:
                    problems.append(str(exc))
    finally:
        _close_all(envs)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def _close_all(envs: list[RelaykitEnv]) -> None:
    """Close every env, the last made first, even when closing one fails."""
    if envs:
        env = envs.pop()
        try:
            env.close()
        finally:
            _close_all(envs)

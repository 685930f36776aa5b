"""Testing jobs: a user's own ``Client`` on a throwaway store, driven by the test.

``relaykit_env`` is a pytest fixture, active as soon as relaykit is installed (the ``pytest11``
entry point): ``env = relaykit_env(client)`` binds the client to a new store and a
``ManualClock`` for one test, ``env.mock_task(key, output=...)`` answers for a task instead of
running it, and ``env.run(job, payload)`` drives a run to its end with waits and retry delays
elapsing at once. ``RelaykitEnv`` is the same thing without pytest. See docs/testing.md.

Importing this module does not import pytest.
"""

from ..errors import MockNotReached, UnmockedTask
from ._clock import ManualClock
from ._env import EnvFactory, RelaykitEnv
from ._mocks import MockedTask

__all__ = [
    "EnvFactory",
    "ManualClock",
    "MockNotReached",
    "MockedTask",
    "RelaykitEnv",
    "UnmockedTask",
]

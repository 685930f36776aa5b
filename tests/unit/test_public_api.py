"""The public surface is exactly what ``__all__`` lists: nothing leaks."""

from __future__ import annotations

import types

import relaykit


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name, value in vars(relaykit).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    public.add("__version__")
    assert set(relaykit.__all__) == public


def test_design_names_are_exported() -> None:
    for name in (
        "Client",
        "Retry",
        "RetryAfter",
        "NonRetriable",
        "TaskFailed",
        "event_trigger",
        "cron_trigger",
        "interval_trigger",
        "invoke_trigger",
        "current_task",
        "RunResult",
        "RunStatus",
    ):
        assert name in relaykit.__all__, name


def test_run_status_values_are_the_design_state_names() -> None:
    assert [s.value for s in relaykit.RunStatus] == [
        "queued",
        "running",
        "waiting",
        "succeeded",
        "failed",
        "canceled",
        "timed_out",
        "invalid_payload",
        "waiting_for_connection",
    ]
    assert [s.value for s in relaykit.TaskStatus] == [
        "running",
        "waiting",
        "completed",
        "errored",
        "canceled",
    ]
    assert isinstance(relaykit.RunStatus.SUCCEEDED, str)  # a str enum
    assert str(relaykit.RunStatus.SUCCEEDED) == "succeeded"


def test_relaykit_testing_exports_exactly_its_public_names() -> None:
    import relaykit.testing

    public = {
        name
        for name, value in vars(relaykit.testing).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert set(relaykit.testing.__all__) == public
    assert set(relaykit.testing.__all__) == {
        "EnvFactory",
        "ManualClock",
        "MockNotReached",
        "MockedTask",
        "RelaykitEnv",
        "UnmockedTask",
    }


def test_importing_relaykit_loads_neither_the_testing_kit_nor_pytest() -> None:
    import subprocess
    import sys

    check = (
        "import sys, relaykit; "
        "unwanted = ('pytest', '_pytest', 'relaykit.testing'); "
        "loaded = sorted(m for m in sys.modules if m in unwanted); "
        "assert not loaded, loaded; "
        "import relaykit.testing; "
        "assert 'pytest' not in sys.modules, 'relaykit.testing imported pytest'"
    )
    subprocess.run([sys.executable, "-c", check], check=True, timeout=60)

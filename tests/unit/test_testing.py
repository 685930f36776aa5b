"""relaykit.testing's pieces that need no store: the manual clock, ``RunResult.task``, the
``mocked`` mark and the plugin-manager seams the env uses (``TaskCall.annotate``,
``Plugins.unregister``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from relaykit import Plugins, RunResult, RunStatus, TaskCall, TaskResult, TaskStatus, UnknownTask
from relaykit.testing import ManualClock

NOON = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)


def _task(key: str, properties: dict[str, object] | None = None) -> TaskResult:
    return TaskResult(
        key=key,
        name=key,
        kind="task",
        status=TaskStatus.COMPLETED,
        attempts=1,
        params=None,
        output=key.upper(),
        error=None,
        started_at=NOON,
        ended_at=NOON,
        properties=properties,
    )


def _run(*tasks: TaskResult) -> RunResult:
    return RunResult(
        id="run_1",
        job="welcome",
        status=RunStatus.SUCCEEDED,
        payload={},
        output=None,
        error=None,
        created_at=NOON,
        started_at=NOON,
        ended_at=NOON,
        tasks=list(tasks),
    )


def test_manual_clock_starts_at_an_aware_datetime_or_epoch_seconds() -> None:
    assert ManualClock(NOON).now() == NOON.timestamp()
    paris = timezone(timedelta(hours=2))
    assert ManualClock(datetime(2026, 7, 1, 14, 0, tzinfo=paris)).now() == NOON.timestamp()
    assert ManualClock(1000).now() == 1000.0
    assert repr(ManualClock(NOON)) == "<ManualClock 2026-07-01T12:00:00+00:00>"


def test_manual_clock_refuses_a_naive_start_and_going_back() -> None:
    with pytest.raises(ValueError, match="use a timezone-aware datetime"):
        ManualClock(datetime(2026, 7, 1))
    with pytest.raises(ValueError, match="seconds must be >= 0, got -1"):
        ManualClock(0).advance(-1)


def test_run_result_task_finds_a_task_by_its_full_key() -> None:
    run = _run(_task("notify"), _task("notify/post"))
    assert run.task("notify/post").output == "NOTIFY/POST"


def test_run_result_task_raises_a_key_error_that_reads_well() -> None:
    with pytest.raises(KeyError) as caught:
        _run(_task("notify"), _task("notify/post")).task("post")
    assert isinstance(caught.value, UnknownTask)
    # a KeyError would print its message in quotes; this one prints it as written
    assert str(caught.value) == (
        "run run_1 of job 'welcome' has no task 'post'; its tasks are: 'notify', 'notify/post'"
    )
    with pytest.raises(UnknownTask, match="its tasks are: none"):
        _run().task("a")


def test_a_task_is_mocked_when_its_properties_say_so() -> None:
    assert _task("a", {"mocked": True}).mocked
    assert not _task("a", {"integration": "github"}).mocked
    assert not _task("a").mocked


def test_task_call_annotate_hands_properties_to_the_runner() -> None:
    seen: list[dict[str, object]] = []
    call = TaskCall("run_1", "job", "key", "name", 1, _annotate=lambda p: seen.append(dict(p)))
    call.annotate(trace="abc", mocked=True)
    assert seen == [{"trace": "abc", "mocked": True}]
    TaskCall("run_1", "job", "key", "name", 1).annotate(ignored=True)  # default: nothing


def test_plugins_unregister_removes_a_plugin_and_forgets_it() -> None:
    class Hooks:
        pass

    plugins = Plugins(entry_points=False)
    plugins.register(Hooks(), name="mine")
    assert [p.name for p in plugins.list()] == ["mine"]
    plugins.unregister("mine")
    plugins.unregister("mine")  # twice: nothing
    assert plugins.list() == []

"""Scenario 10: a replay that no longer matches the recorded history fails the run.

The job's code changes while its run sleeps (the test "deploys" a new version when the engine
sleeps through the wait). On the replay, a recorded key met with different arguments, a
different task name or a different kind of call raises ``NonDeterministicRun``: the run ends
``failed`` and the new code behind that key never runs.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from relaykit import IO, Client, Context, Job, RunResult, RunStatus, TaskStatus
from relaykit.testing import ManualClock


class DeployDuringWait:
    """A ``ManualClock`` that flips ``deployed`` the first time the engine sleeps."""

    def __init__(self) -> None:
        self.manual = ManualClock()
        self.deployed = False

    def now(self) -> float:
        return self.manual.now()

    async def sleep(self, seconds: float) -> None:
        self.deployed = True
        await self.manual.sleep(seconds)


@pytest.fixture
def deploy() -> DeployDuringWait:
    return DeployDuringWait()


@pytest.fixture
def nd_client(db_url: str, deploy: DeployDuringWait) -> Iterator[Client]:
    c = Client("scenarios", database_url=db_url, clock=deploy, lease_seconds=5)
    yield c
    asyncio.run(c.close())


def assert_non_deterministic(result: RunResult, key: str) -> str:
    """The run failed with ``NonDeterministicRun`` about ``key``; returns the message."""
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error["type"] == "NonDeterministicRun", result.error
    assert f"task {key!r} was recorded as" in result.error["message"]
    return result.error["message"]


def define(
    client: Client, kind: str, deploy: DeployDuringWait, effects: Counter[str], change: str
) -> Job:
    """``charge`` -> wait -> ``receipt``. After the deploy, the ``charge`` call changes: its
    arguments (``args``), its function (``name``) or the kind of call (``kind``)."""

    def charge(amount: int) -> str:
        effects[f"charge {amount}"] += 1
        return f"charged {amount}"

    def charge_twice(amount: int) -> str:
        effects[f"charge_twice {amount}"] += 1
        return f"charged {amount} twice"

    def receipt() -> str:
        effects["receipt"] += 1
        return "sent"

    def charge_call() -> tuple[Callable[[int], str], int]:
        """The ``charge`` task's function and argument in the running version."""
        if not deploy.deployed:
            return charge, 10  # version 1
        return (charge, 20) if change == "args" else (charge_twice, 10)

    if kind == "async":

        @client.define_job(id="billing", version="1.0.0")
        async def billing(payload: Any, io: IO, ctx: Context) -> str:
            if deploy.deployed and change == "kind":
                await io.wait("charge", seconds=1)
            else:
                await io.run_task("charge", *charge_call())
            await io.wait("grace-period", minutes=5)
            return str(await io.run_task("receipt", receipt))

        return billing

    @client.define_job(id="billing", version="1.0.0")
    def billing_sync(payload: Any, io: Any, ctx: Context) -> str:
        if deploy.deployed and change == "kind":
            io.wait("charge", seconds=1)
        else:
            io.run_task("charge", *charge_call())
        io.wait("grace-period", minutes=5)
        return str(io.run_task("receipt", receipt))

    return billing_sync


@pytest.mark.parametrize("kind", ["async", "sync"])
@pytest.mark.parametrize(
    ("change", "replayed_as"),
    [
        ("args", "this replay runs task 'charge' with params [20]"),
        ("name", "this replay runs task 'charge_twice' with params [10]"),
        ("kind", "this replay runs wait 'wait'"),
    ],
)
def test_a_replay_that_changes_a_recorded_call_fails_the_run(
    nd_client: Client,
    deploy: DeployDuringWait,
    effects: Counter[str],
    kind: str,
    change: str,
    replayed_as: str,
) -> None:
    result = nd_client.run_sync(define(nd_client, kind, deploy, effects, change))

    assert deploy.deployed
    message = assert_non_deterministic(result, "charge")
    assert "recorded as task 'charge' with params [10]" in message
    assert replayed_as in message
    # Only the first version's charge ran; neither the changed call nor `receipt` did.
    assert effects == Counter({"charge 10": 1})
    tasks = {t.key: t for t in result.tasks}
    assert set(tasks) == {"charge", "grace-period"}  # the replay stopped before the wait
    assert (tasks["charge"].status, tasks["charge"].attempts) == (TaskStatus.COMPLETED, 1)
    assert tasks["charge"].params == [10]
    assert tasks["charge"].output == "charged 10"


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_new_work_under_a_new_key_is_fine_on_replay(
    nd_client: Client, deploy: DeployDuringWait, effects: Counter[str], kind: str
) -> None:
    def step(name: str) -> str:
        effects[name] += 1
        return name

    if kind == "async":

        @nd_client.define_job(id="evolving", version="1.0.0")
        async def evolving(payload: Any, io: IO, ctx: Context) -> list[str]:
            done = [await io.run_task("old", step, "old")]
            await io.wait("pause", minutes=5)
            if deploy.deployed:
                done.append(await io.run_task("added-in-v2", step, "added-in-v2"))
            return done

        job = evolving
    else:

        @nd_client.define_job(id="evolving", version="1.0.0")
        def evolving_sync(payload: Any, io: Any, ctx: Context) -> list[str]:
            done = [io.run_task("old", step, "old")]
            io.wait("pause", minutes=5)
            if deploy.deployed:
                done.append(io.run_task("added-in-v2", step, "added-in-v2"))
            return done

        job = evolving_sync

    result = nd_client.run_sync(job)

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == ["old", "added-in-v2"]
    assert effects == Counter({"old": 1, "added-in-v2": 1})


def test_non_determinism_inside_a_parent_task_fails_the_run(
    nd_client: Client, deploy: DeployDuringWait, effects: Counter[str]
) -> None:
    def charge(amount: int) -> str:
        effects[f"charge {amount}"] += 1
        return f"charged {amount}"

    @nd_client.define_job(id="nested-billing", version="1.0.0")
    async def nested_billing(payload: Any, io: IO, ctx: Context) -> str:
        async def checkout() -> str:
            amount = 20 if deploy.deployed else 10
            charged = await io.run_task("charge", charge, amount)
            await io.wait("grace-period", minutes=5)
            return str(charged)

        return str(await io.run_task("checkout", checkout))

    result = nd_client.run_sync(nested_billing)

    assert_non_deterministic(result, "checkout/charge")
    assert effects == Counter({"charge 10": 1})

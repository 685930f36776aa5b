"""Scenario 24: a broken rule of the execution model fails the run, whatever user code does.

``DuplicateTaskKey`` and ``NonDeterministicRun`` are ordinary exceptions, so ``except
Exception:`` catches them. The attempt remembers the first one it raised: the run ends
``failed`` with it even if the run function then returns normally, raises something else, or
suspends.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from relaykit import IO, Client, Context, RunStatus


@pytest.mark.parametrize("then", ["returns", "raises", "waits"])
def test_a_caught_duplicate_key_still_fails_the_run(
    client: Client, effects: Counter[str], then: str
) -> None:
    def send(n: int) -> int:
        effects[f"send {n}"] += 1
        return n

    @client.define_job(id="dup", version="1.0.0")
    async def dup(payload: Any, io: IO, ctx: Context) -> str:
        await io.run_task("send", send, 0)
        try:
            await io.run_task("send", send, 1)
        except Exception:  # the footgun: swallowing everything
            effects["swallowed"] += 1
        if then == "raises":
            raise ValueError("something else went wrong afterwards")
        if then == "waits":
            await io.wait("later", seconds=60)
        return "looks fine"

    result = client.run_sync(dup)

    assert result.status is RunStatus.FAILED
    assert result.error is not None and result.error["type"] == "DuplicateTaskKey"
    assert "'send' is used twice" in result.error["message"]
    assert effects == Counter({"send 0": 1, "swallowed": 1})
    assert result.output is None


def test_a_caught_duplicate_key_fails_a_sync_run_too(client: Client, effects: Counter[str]) -> None:
    @client.define_job(id="dup", version="1.0.0")
    def dup(payload: Any, io: Any, ctx: Context) -> str:
        io.run_task("send", lambda: effects.update(["send"]))
        try:
            io.run_task("send", lambda: effects.update(["again"]))
        except Exception:
            return "swallowed"
        return "unreachable"

    result = client.run_sync(dup)

    assert (result.status, result.error and result.error["type"]) == (
        RunStatus.FAILED,
        "DuplicateTaskKey",
    )
    assert effects == Counter({"send": 1})


def test_a_caught_non_determinism_on_replay_still_fails_the_run(
    client: Client, effects: Counter[str]
) -> None:
    deployed = {"version": 1}

    def charge(amount: int) -> str:
        effects[f"charge {amount}"] += 1
        return "ok"

    @client.define_job(id="pay", version="1.0.0")
    async def pay(payload: Any, io: IO, ctx: Context) -> str:
        # the code changes between the first attempt and the replay: the amount differs
        amount = 10 if deployed["version"] == 1 else 20
        try:
            await io.run_task("charge", charge, amount)
        except Exception:
            effects["swallowed"] += 1
        deployed["version"] = 2
        await io.wait("settle", seconds=5)
        return "done"

    result = client.run_sync(pay)

    assert result.status is RunStatus.FAILED
    assert result.error is not None and result.error["type"] == "NonDeterministicRun"
    assert "'charge'" in result.error["message"]
    assert effects == Counter({"charge 10": 1, "swallowed": 1})

"""Scenario 16: ``io.random``, ``io.uuid`` and ``io.now`` give the same values on every replay.

A run function must be deterministic; these calls are how it gets random numbers, ids and the
time anyway: each is recorded under its key on the first attempt and handed back on replays.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from relaykit import IO, Client, Context, Job, RunStatus, TaskStatus
from relaykit.testing import ManualClock


def define(client: Client, kind: str, seen: list[tuple[Any, ...]]) -> Job:
    if kind == "async":

        @client.define_job(id="dice", version="1.0.0")
        async def dice(payload: Any, io: IO, ctx: Context) -> int:
            roll = await io.random("roll", min=1, max=6, round=True)
            share = await io.random("share", min=0.0, max=1.0)
            ident = await io.uuid("id")
            now = await io.now("now")
            seen.append((ctx.run.attempt, roll, share, ident, now))
            await io.wait("pause", minutes=5)
            return ctx.run.attempt

        return dice

    @client.define_job(id="dice", version="1.0.0")
    def dice_sync(payload: Any, io: Any, ctx: Context) -> int:
        roll = io.random("roll", min=1, max=6, round=True)
        share = io.random("share", min=0.0, max=1.0)
        ident = io.uuid("id")
        now = io.now("now")
        seen.append((ctx.run.attempt, roll, share, ident, now))
        io.wait("pause", minutes=5)
        return int(ctx.run.attempt)

    return dice_sync


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_random_uuid_and_now_are_the_same_on_replay(
    client: Client, clock: ManualClock, kind: str
) -> None:
    seen: list[tuple[Any, ...]] = []
    started = clock.now()

    result = client.run_sync(define(client, kind, seen))

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == 2
    assert [s[0] for s in seen] == [1, 2]
    first, replayed = seen[0][1:], seen[1][1:]
    assert first == replayed  # although the clock moved five minutes in between
    roll, share, ident, now = replayed
    assert type(roll) is int and 1 <= roll <= 6
    assert type(share) is float and 0.0 <= share < 1.0
    assert type(ident) is str and len(ident) == 36
    assert isinstance(now, datetime) and now.timestamp() == pytest.approx(started)
    assert {t.key: (t.kind, t.status) for t in result.tasks} == {
        "roll": ("random", TaskStatus.COMPLETED),
        "share": ("random", TaskStatus.COMPLETED),
        "id": ("uuid", TaskStatus.COMPLETED),
        "now": ("now", TaskStatus.COMPLETED),
        "pause": ("wait", TaskStatus.COMPLETED),
    }

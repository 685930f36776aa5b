"""Scenario 12: a payload that fails the trigger's schema ends the run as ``invalid_payload``.

The error carries pydantic's validation message; the run function is never called, so no task
runs and nothing is recorded.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from pydantic import BaseModel, Field

from relaykit import IO, Client, Context, RunStatus, invoke_trigger


class Order(BaseModel):
    sku: str
    qty: int = Field(gt=0)


@pytest.mark.parametrize("kind", ["async", "sync"])
@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        # a constraint violated
        ({"sku": "A-1", "qty": 0}, "Input should be greater than 0"),
        # a required field missing
        ({"qty": 3}, "Field required"),
        # a value of the wrong type
        ({"sku": "A-1", "qty": "many"}, "Input should be a valid integer"),
        # not an object at all
        (["A-1", 3], "Input should be a valid dictionary or instance of Order"),
    ],
)
def test_an_invalid_payload_runs_nothing(
    client: Client, effects: Counter[str], kind: str, payload: Any, expected: str
) -> None:
    def reserve(sku: str, qty: int) -> str:
        effects["reserve"] += 1
        return f"{qty} x {sku}"

    trigger = invoke_trigger(schema=Order)
    if kind == "async":

        @client.define_job(id="order", version="1.0.0", trigger=trigger)
        async def order(payload: Order, io: IO, ctx: Context) -> str:
            effects["run function"] += 1
            return str(await io.run_task("reserve", reserve, payload.sku, payload.qty))

        job = order
    else:

        @client.define_job(id="order", version="1.0.0", trigger=trigger)
        def order_sync(payload: Order, io: Any, ctx: Context) -> str:
            effects["run function"] += 1
            return str(io.run_task("reserve", reserve, payload.sku, payload.qty))

        job = order_sync

    result = client.run_sync(job, payload)

    assert result.status is RunStatus.INVALID_PAYLOAD
    assert result.output is None
    assert result.payload == payload  # stored as given
    assert result.error is not None
    assert result.error["type"] == "ValidationError"
    assert "validation error for Order" in result.error["message"]
    assert expected in result.error["message"]
    assert effects == Counter()  # neither the run function nor any task ran
    assert result.tasks == []
    assert result.logs == []
    assert result.ended_at is not None


def test_a_valid_payload_reaches_the_run_function_as_the_model(
    client: Client, effects: Counter[str]
) -> None:
    @client.define_job(id="order", version="1.0.0", trigger=invoke_trigger(schema=Order))
    async def order(payload: Order, io: IO, ctx: Context) -> str:
        effects[type(payload).__name__] += 1
        return f"{payload.qty} x {payload.sku}"

    result = client.run_sync(order, Order(sku="A-1", qty=2))

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output == "2 x A-1"
    assert effects == Counter({"Order": 1})

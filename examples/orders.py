"""Orders: child jobs, flow control and cancellation working together.

``fulfil-order`` packs every item in parallel child runs (``io.batch_invoke``), then charges
the customer through the ``charge`` job, which runs at most once per order (its idempotency
key) and one at a time per customer (a keyed concurrency limit). ``remind-unpaid`` waits a
day for payment and is canceled by an ``order.canceled`` event for the same order.

Run it with:
    python3 -m relaykit run examples/orders.py fulfil-order \\
        --payload '{"order_id": "A-1", "customer": "ada", "items": ["mug", "tea"]}'
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from relaykit import (
    IO,
    CancelOn,
    Client,
    Concurrency,
    Context,
    event_trigger,
    invoke_trigger,
)

client = Client(id="orders")

# one shared budget for every job that calls the (imaginary) warehouse API
warehouse = client.define_concurrency_limit("warehouse-api", 4)


class Order(BaseModel):
    """An order to fulfil."""

    order_id: str
    customer: str
    items: list[str]


class Item(BaseModel):
    """One item to pack."""

    order_id: str
    sku: str


class Charge(BaseModel):
    """A payment to take."""

    order_id: str
    customer: str
    amount: int


@client.define_job(
    id="pack-item",
    version="1.0.0",
    trigger=invoke_trigger(schema=Item),
    concurrency_limit=warehouse,
)
async def pack_item(payload: Item, io: IO, ctx: Context) -> dict[str, str]:
    """Pack one item (a task, so a replay never packs it twice)."""

    async def pack() -> dict[str, str]:
        return {"sku": payload.sku, "box": f"{payload.order_id}/{payload.sku}"}

    result: dict[str, str] = await io.run_task("pack", pack)
    return result


@client.define_job(
    id="charge",
    version="1.0.0",
    trigger=invoke_trigger(schema=Charge),
    idempotency_key="order_id",
    concurrency_limit=Concurrency(key="customer", limit=1),
    timeout=300,
)
async def charge(payload: Charge, io: IO, ctx: Context) -> dict[str, Any]:
    """Take the payment; one charge per order, one at a time per customer."""
    await io.logger.info("charging", customer=payload.customer, amount=payload.amount)
    return {"order_id": payload.order_id, "charged": payload.amount}


@client.define_job(id="fulfil-order", version="1.0.0", trigger=invoke_trigger(schema=Order))
async def fulfil_order(payload: Order, io: IO, ctx: Context) -> dict[str, Any]:
    """Pack all items in parallel child runs, then charge."""
    items = [{"order_id": payload.order_id, "sku": sku} for sku in payload.items]
    boxes = await io.batch_invoke("pack", "pack-item", items)
    amount = 500 * len(boxes)
    receipt = await io.invoke(
        "charge",
        "charge",
        {"order_id": payload.order_id, "customer": payload.customer, "amount": amount},
    )
    return {"boxes": [b["box"] for b in boxes], "receipt": receipt}


@client.define_job(
    id="remind-unpaid",
    version="1.0.0",
    trigger=event_trigger("order.placed"),
    cancel_on=CancelOn(event="order.canceled", match="order_id"),
)
async def remind_unpaid(payload: Any, io: IO, ctx: Context) -> str:
    """Remind the customer after a day, unless the order is canceled first."""
    await io.wait("a-day", seconds=86_400)
    return f"reminded {payload['customer']} about {payload['order_id']}"

"""Task functions for scenario 13 in a module with ``from __future__ import annotations``.

Here every annotation is a string; relaykit must resolve them (against this module's globals)
to restore task outputs into the declared types.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel


class Money(BaseModel):
    """A pydantic model a task returns."""

    amount: int
    currency: str


async def price() -> Money:
    """An async task returning a model."""
    return Money(amount=5, currency="EUR")


def due_date() -> datetime:
    """A sync task returning an aware datetime."""
    return datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


def pair() -> tuple[int, str]:
    """A sync task returning a tuple, declared as one."""
    return (1, "one")


def maybe_money(present: bool) -> Money | None:
    """An optional model."""
    return Money(amount=1, currency="USD") if present else None

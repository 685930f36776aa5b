"""Trigger definitions are validated when the job is defined."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import BaseModel

from relaykit import (
    InvalidJobDefinition,
    cron_trigger,
    event_trigger,
    interval_trigger,
    invoke_trigger,
)


def test_event_trigger_accepts_one_or_many_names() -> None:
    assert event_trigger("user.created").names == ("user.created",)
    assert event_trigger(["a", "b"]).names == ("a", "b")


@pytest.mark.parametrize("name", ["", [], ["ok", ""]])
def test_event_trigger_rejects_empty_names(name: str | list[str]) -> None:
    with pytest.raises(InvalidJobDefinition, match="name"):
        event_trigger(name)


def test_schema_must_be_a_pydantic_model() -> None:
    with pytest.raises(InvalidJobDefinition, match="BaseModel"):
        invoke_trigger(schema=dict)  # type: ignore[arg-type]

    class M(BaseModel):
        x: int

    assert invoke_trigger(schema=M).schema is M


@pytest.mark.parametrize("expr", ["* * * *", "61 * * * *", "every day", "* * * * * *"])
def test_invalid_cron_expressions_name_the_field(expr: str) -> None:
    with pytest.raises(InvalidJobDefinition, match="cron"):
        cron_trigger(expr)


def test_unknown_timezone() -> None:
    with pytest.raises(InvalidJobDefinition, match="timezone"):
        cron_trigger("0 9 * * *", timezone="Mars/Olympus")


def test_cron_next_fire_time_honours_the_timezone() -> None:
    trigger = cron_trigger("0 9 * * *", timezone="Europe/Paris")
    after = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)  # 14:00 in Paris (summer time)
    assert trigger.next_after(after) == datetime(2026, 7, 2, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize("seconds", [0, -5, 1.5, True])
def test_interval_must_be_a_positive_integer(seconds: object) -> None:
    with pytest.raises(InvalidJobDefinition, match="seconds"):
        interval_trigger(seconds=seconds)  # type: ignore[arg-type]


def test_interval_of_one_second_is_fine() -> None:
    assert interval_trigger(seconds=1).seconds == 1


def test_event_filter_is_validated_when_defined() -> None:
    with pytest.raises(InvalidJobDefinition, match=r"event_trigger\(user.created\).*\$gtt"):
        event_trigger("user.created", filter={"age": [{"$gtt": 5}]})
    assert event_trigger("user.created", filter={"plan": ["pro"]}).filter == {"plan": ["pro"]}

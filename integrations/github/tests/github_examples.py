"""GitHub's published example webhook deliveries (``data/webhook-examples.json.gz``, an extract
of ``@octokit/webhooks-examples`` 7.6.1, MIT; refreshed by ``make_github_cassettes.py``)."""

from __future__ import annotations

import gzip
import json
from functools import cache
from pathlib import Path
from typing import Any

EXAMPLES_FILE = Path(__file__).parent / "data" / "webhook-examples.json.gz"


@cache
def _events() -> list[dict[str, Any]]:
    with gzip.open(EXAMPLES_FILE, "rt", encoding="utf-8") as fh:
        events: list[dict[str, Any]] = json.load(fh)["events"]
    return events


def deliveries(*names: str) -> list[tuple[str, dict[str, Any]]]:
    """``(event name, delivery body)`` for every example, or for the events in ``names``."""
    return [
        (event["name"], example)
        for event in _events()
        if not names or event["name"] in names
        for example in event["examples"]
    ]


def delivery_id(event: str, index: int) -> str:
    """A readable pytest id for the ``index``-th example of ``event``."""
    return f"{event}-{index}"

"""The API's request bodies agree with the engine: a bulk filter's status names every run
status (and nothing else), and its action every bulk action."""

from __future__ import annotations

from typing import get_args

from relaykit import RunStatus
from relaykit.engine.operations import BULK_ACTIONS
from relaykit.server._models import BulkBody, RunStatusName


def test_bulk_body_names_exactly_the_engines_statuses_and_actions() -> None:
    assert set(get_args(RunStatusName)) == {s.value for s in RunStatus}
    action = BulkBody.model_fields["action"].annotation
    assert set(get_args(action)) == set(BULK_ACTIONS)

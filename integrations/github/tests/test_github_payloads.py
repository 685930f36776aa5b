"""Every published example delivery of a modelled event parses into its typed model."""

from __future__ import annotations

from typing import Any

import pytest

from relaykit_github import (
    PAYLOAD_MODELS,
    IssueCommentEvent,
    IssuesEvent,
    PullRequestEvent,
    PushEvent,
    StarEvent,
    parse_payload,
)
from tests.github_examples import deliveries

MODELLED = deliveries(*PAYLOAD_MODELS)


def test_the_five_common_events_have_models_and_examples() -> None:
    assert set(PAYLOAD_MODELS) == {"issues", "issue_comment", "push", "pull_request", "star"}
    assert {event for event, _ in MODELLED} == set(PAYLOAD_MODELS)


@pytest.mark.parametrize(
    ("event", "body"), MODELLED, ids=[f"{event}-{i}" for i, (event, _) in enumerate(MODELLED)]
)
def test_every_example_parses_into_its_model_and_keeps_unmodelled_fields(
    event: str, body: dict[str, Any]
) -> None:
    model = parse_payload(event, body)
    assert isinstance(model, PAYLOAD_MODELS[event])
    # Lenient models keep every field GitHub sent, so nothing is lost on the way to a job.
    assert model.model_dump(exclude_unset=True).keys() == body.keys()
    assert model.repository.full_name == body["repository"]["full_name"]  # type: ignore[attr-defined]


def test_fields_users_read_are_typed() -> None:
    issue = next(b for e, b in MODELLED if e == "issues" and b["action"] == "opened")
    parsed = IssuesEvent.model_validate(issue)
    assert parsed.issue.number == issue["issue"]["number"]
    assert parsed.issue.html_url.startswith("https://github.com/")
    assert parsed.sender.login == issue["sender"]["login"]

    comment = IssueCommentEvent.model_validate(next(b for e, b in MODELLED if e == "issue_comment"))
    assert isinstance(comment.comment.body, str)

    push = PushEvent.model_validate(next(b for e, b in MODELLED if e == "push" and b["commits"]))
    assert push.ref.startswith("refs/")
    assert all(len(commit.id) == 40 for commit in push.commits)

    pr = PullRequestEvent.model_validate(next(b for e, b in MODELLED if e == "pull_request"))
    assert pr.pull_request.number == pr.number
    assert pr.pull_request.head.sha != pr.pull_request.base.sha

    star = StarEvent.model_validate(next(b for e, b in MODELLED if e == "star"))
    assert star.action in ("created", "deleted")


def test_events_without_a_model_pass_through_unchanged() -> None:
    body = {"zen": "Design for failure.", "hook_id": 1}
    assert parse_payload("ping", body) is body


def test_a_modelled_payload_missing_a_required_field_fails() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="issue"):
        parse_payload("issues", {"action": "opened"})

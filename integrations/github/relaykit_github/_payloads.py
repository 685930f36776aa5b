"""Typed models of the webhook payloads users handle most.

The models are lenient (``extra="allow"``): they name the fields a job usually reads and keep
every other field GitHub sends, reachable as attributes and through ``model_dump()``. GitHub adds
fields over time, so a strict model would reject tomorrow's deliveries.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class User(_Model):
    """A user, bot or organization account."""

    login: str
    id: int
    type: str | None = None
    html_url: str | None = None


class Repository(_Model):
    """The repository a delivery is about."""

    id: int
    name: str
    full_name: str
    private: bool
    owner: User
    html_url: str
    default_branch: str | None = None


class Label(_Model):
    """An issue or pull request label."""

    id: int
    name: str
    color: str | None = None


class Issue(_Model):
    """An issue (a pull request too, when ``pull_request`` is set)."""

    id: int
    number: int
    title: str
    body: str | None = None
    state: str | None = None
    html_url: str
    user: User | None
    labels: list[Label] = []
    assignees: list[User] = []
    pull_request: dict[str, Any] | None = None

    @field_validator("labels", "assignees", mode="before")
    @classmethod
    def _none_is_empty(cls, value: object) -> object:
        # Some deliveries send null instead of an empty list.
        return [] if value is None else value


class Comment(_Model):
    """A comment on an issue or pull request."""

    id: int
    body: str
    html_url: str
    user: User | None
    created_at: str
    updated_at: str | None = None


class PullRequestRef(_Model):
    """A pull request's head or base: a branch of a repository at a commit."""

    label: str | None = None
    ref: str
    sha: str
    repo: Repository | None = None


class PullRequest(_Model):
    """A pull request."""

    id: int
    number: int
    title: str
    body: str | None = None
    state: str
    html_url: str
    user: User | None
    draft: bool | None = None
    merged: bool | None = None
    merged_at: str | None = None
    head: PullRequestRef
    base: PullRequestRef


class CommitAuthor(_Model):
    """The author or committer of a pushed commit."""

    name: str
    email: str | None = None
    username: str | None = None


class PushCommit(_Model):
    """A commit in a push."""

    id: str
    message: str
    timestamp: str
    url: str
    author: CommitAuthor
    added: list[str] = []
    removed: list[str] = []
    modified: list[str] = []


class Pusher(_Model):
    """Who pushed."""

    name: str
    email: str | None = None


class IssuesEvent(_Model):
    """``issues`` (``issues.opened``, ``issues.labeled``, ...)."""

    action: str
    issue: Issue
    repository: Repository
    sender: User
    label: Label | None = None
    assignee: User | None = None
    changes: dict[str, Any] | None = None


class IssueCommentEvent(_Model):
    """``issue_comment`` (``issue_comment.created``, ``.edited``, ``.deleted``)."""

    action: str
    issue: Issue
    comment: Comment
    repository: Repository
    sender: User


class PushEvent(_Model):
    """``push``: commits pushed to a branch or tag (``ref``); no action."""

    ref: str
    before: str
    after: str
    created: bool
    deleted: bool
    forced: bool
    compare: str
    commits: list[PushCommit]
    head_commit: PushCommit | None
    pusher: Pusher
    repository: Repository
    sender: User | None = None


class PullRequestEvent(_Model):
    """``pull_request`` (``pull_request.opened``, ``.closed``, ``.synchronize``, ...)."""

    action: str
    number: int
    pull_request: PullRequest
    repository: Repository
    sender: User


class StarEvent(_Model):
    """``star`` (``star.created``, ``star.deleted``)."""

    action: str
    starred_at: str | None
    repository: Repository
    sender: User


PAYLOAD_MODELS: dict[str, type[BaseModel]] = {
    "issues": IssuesEvent,
    "issue_comment": IssueCommentEvent,
    "push": PushEvent,
    "pull_request": PullRequestEvent,
    "star": StarEvent,
}
"""The typed model of each event (``X-GitHub-Event``) that has one."""


def parse_payload(event: str, payload: dict[str, Any]) -> BaseModel | dict[str, Any]:
    """The delivery ``payload`` of ``event`` as its typed model, or unchanged when the event has
    no model. Raises ``pydantic.ValidationError`` when a modelled payload lacks a field."""
    model = PAYLOAD_MODELS.get(event)
    return model.model_validate(payload) if model else payload

"""Issues, issue comments and their reactions."""

from __future__ import annotations

import httpx2

from ._client import JSONObject, _call, _fields, _repo, _seg


async def create_issue(
    client: httpx2.AsyncClient,
    *,
    owner: str,
    repo: str,
    title: str,
    body: str | None = None,
    assignees: list[str] | None = None,
    labels: list[str] | None = None,
    milestone: int | None = None,
) -> JSONObject:
    """Create an issue (``POST /repos/{owner}/{repo}/issues``)."""
    payload = _fields(
        title=title, body=body, assignees=assignees, labels=labels, milestone=milestone
    )
    result: JSONObject = await _call(client, "POST", f"{_repo(owner, repo)}/issues", json=payload)
    return result


async def get_issue(
    client: httpx2.AsyncClient, *, owner: str, repo: str, issue_number: int
) -> JSONObject:
    """Get an issue (``GET /repos/{owner}/{repo}/issues/{issue_number}``)."""
    result: JSONObject = await _call(
        client, "GET", f"{_repo(owner, repo)}/issues/{_seg(issue_number)}"
    )
    return result


async def add_issue_assignees(
    client: httpx2.AsyncClient, *, owner: str, repo: str, issue_number: int, assignees: list[str]
) -> JSONObject:
    """Add assignees to an issue; returns the issue."""
    path = f"{_repo(owner, repo)}/issues/{_seg(issue_number)}/assignees"
    result: JSONObject = await _call(client, "POST", path, json={"assignees": assignees})
    return result


async def add_issue_labels(
    client: httpx2.AsyncClient, *, owner: str, repo: str, issue_number: int, labels: list[str]
) -> list[JSONObject]:
    """Add labels to an issue; returns every label the issue now has."""
    path = f"{_repo(owner, repo)}/issues/{_seg(issue_number)}/labels"
    result: list[JSONObject] = await _call(client, "POST", path, json={"labels": labels})
    return result


async def create_issue_comment(
    client: httpx2.AsyncClient, *, owner: str, repo: str, issue_number: int, body: str
) -> JSONObject:
    """Comment on an issue or pull request."""
    path = f"{_repo(owner, repo)}/issues/{_seg(issue_number)}/comments"
    result: JSONObject = await _call(client, "POST", path, json={"body": body})
    return result


async def add_issue_comment_reaction(
    client: httpx2.AsyncClient, *, owner: str, repo: str, comment_id: int, content: str
) -> JSONObject:
    """React to an issue comment (``content``: ``+1``, ``-1``, ``laugh``, ``confused``,
    ``heart``, ``hooray``, ``rocket`` or ``eyes``)."""
    path = f"{_repo(owner, repo)}/issues/comments/{_seg(comment_id)}/reactions"
    result: JSONObject = await _call(client, "POST", path, json={"content": content})
    return result


async def create_issue_comment_with_reaction(
    client: httpx2.AsyncClient,
    *,
    owner: str,
    repo: str,
    issue_number: int,
    body: str,
    reaction: str,
) -> JSONObject:
    """Comment on an issue and react to the new comment; returns ``{"comment", "reaction"}``."""
    comment = await create_issue_comment(
        client, owner=owner, repo=repo, issue_number=issue_number, body=body
    )
    added = await add_issue_comment_reaction(
        client, owner=owner, repo=repo, comment_id=int(comment["id"]), content=reaction
    )
    return {"comment": comment, "reaction": added}

"""Pull requests."""

from __future__ import annotations

import httpx2

from ._client import JSONObject, _call, _fields, _repo, _seg
from ._http import paginate


async def create_pull(
    client: httpx2.AsyncClient,
    *,
    owner: str,
    repo: str,
    title: str,
    head: str,
    base: str,
    body: str | None = None,
    draft: bool | None = None,
) -> JSONObject:
    """Open a pull request merging ``head`` into ``base``."""
    payload = _fields(title=title, head=head, base=base, body=body, draft=draft)
    result: JSONObject = await _call(client, "POST", f"{_repo(owner, repo)}/pulls", json=payload)
    return result


async def get_pull(
    client: httpx2.AsyncClient, *, owner: str, repo: str, pull_number: int
) -> JSONObject:
    """Get a pull request."""
    path = f"{_repo(owner, repo)}/pulls/{_seg(pull_number)}"
    result: JSONObject = await _call(client, "GET", path)
    return result


async def list_pulls(
    client: httpx2.AsyncClient,
    *,
    owner: str,
    repo: str,
    state: str | None = None,
    head: str | None = None,
    base: str | None = None,
    per_page: int = 100,
    max_pages: int | None = None,
) -> list[JSONObject]:
    """Pull requests of a repository (all pages, or ``max_pages``)."""
    params = _fields(state=state, head=head, base=base, per_page=per_page)
    path = f"{_repo(owner, repo)}/pulls"
    return [item async for item in paginate(client, path, params=params, max_pages=max_pages)]


async def merge_pull(
    client: httpx2.AsyncClient,
    *,
    owner: str,
    repo: str,
    pull_number: int,
    commit_title: str | None = None,
    commit_message: str | None = None,
    merge_method: str | None = None,
    sha: str | None = None,
) -> JSONObject:
    """Merge a pull request (``merge_method``: ``merge``, ``squash`` or ``rebase``); ``sha``
    makes the merge fail if the head moved."""
    payload = _fields(
        commit_title=commit_title, commit_message=commit_message, merge_method=merge_method, sha=sha
    )
    path = f"{_repo(owner, repo)}/pulls/{_seg(pull_number)}/merge"
    result: JSONObject = await _call(client, "PUT", path, json=payload)
    return result

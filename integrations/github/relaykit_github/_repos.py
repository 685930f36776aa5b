"""Repositories and their webhooks, and organization webhooks."""

from __future__ import annotations

import httpx2

from ._client import JSONObject, _call, _fields, _list_all, _repo, _seg


async def get_repo(client: httpx2.AsyncClient, *, owner: str, repo: str) -> JSONObject:
    """Get a repository."""
    result: JSONObject = await _call(client, "GET", _repo(owner, repo))
    return result


def _hook_config(
    url: str | None, secret: str | None, content_type: str | None, insecure_ssl: bool | None
) -> JSONObject | None:
    config = _fields(
        url=url,
        secret=secret,
        content_type=content_type,
        insecure_ssl=None if insecure_ssl is None else ("1" if insecure_ssl else "0"),
    )
    return config or None


async def list_repo_webhooks(
    client: httpx2.AsyncClient, *, owner: str, repo: str, per_page: int = 100
) -> list[JSONObject]:
    """Every webhook of a repository (all pages)."""
    return await _list_all(client, f"{_repo(owner, repo)}/hooks", {"per_page": per_page})


async def create_repo_webhook(
    client: httpx2.AsyncClient,
    *,
    owner: str,
    repo: str,
    url: str,
    events: list[str],
    secret: str | None = None,
    content_type: str = "json",
    active: bool = True,
    insecure_ssl: bool | None = None,
) -> JSONObject:
    """Create a repository webhook delivering ``events`` to ``url``, signed with ``secret``."""
    hooks = f"{_repo(owner, repo)}/hooks"
    return await _create_hook(
        client, hooks, url, events, secret, content_type, active, insecure_ssl
    )


async def update_repo_webhook(
    client: httpx2.AsyncClient,
    *,
    owner: str,
    repo: str,
    hook_id: int,
    url: str | None = None,
    secret: str | None = None,
    content_type: str | None = None,
    events: list[str] | None = None,
    active: bool | None = None,
) -> JSONObject:
    """Update a repository webhook; only the arguments given are changed."""
    path = f"{_repo(owner, repo)}/hooks/{_seg(hook_id)}"
    return await _update_hook(client, path, url, secret, content_type, events, active)


async def list_org_webhooks(
    client: httpx2.AsyncClient, *, org: str, per_page: int = 100
) -> list[JSONObject]:
    """Every webhook of an organization (all pages)."""
    return await _list_all(client, f"/orgs/{_seg(org)}/hooks", {"per_page": per_page})


async def create_org_webhook(
    client: httpx2.AsyncClient,
    *,
    org: str,
    url: str,
    events: list[str],
    secret: str | None = None,
    content_type: str = "json",
    active: bool = True,
    insecure_ssl: bool | None = None,
) -> JSONObject:
    """Create an organization webhook delivering ``events`` to ``url``, signed with ``secret``."""
    hooks = f"/orgs/{_seg(org)}/hooks"
    return await _create_hook(
        client, hooks, url, events, secret, content_type, active, insecure_ssl
    )


async def update_org_webhook(
    client: httpx2.AsyncClient,
    *,
    org: str,
    hook_id: int,
    url: str | None = None,
    secret: str | None = None,
    content_type: str | None = None,
    events: list[str] | None = None,
    active: bool | None = None,
) -> JSONObject:
    """Update an organization webhook; only the arguments given are changed."""
    path = f"/orgs/{_seg(org)}/hooks/{_seg(hook_id)}"
    return await _update_hook(client, path, url, secret, content_type, events, active)


# Repository and organization webhooks take the same bodies; only their paths differ.


async def _create_hook(
    client: httpx2.AsyncClient,
    hooks: str,
    url: str,
    events: list[str],
    secret: str | None,
    content_type: str,
    active: bool,
    insecure_ssl: bool | None,
) -> JSONObject:
    payload = _fields(
        name="web",
        config=_hook_config(url, secret, content_type, insecure_ssl),
        events=events,
        active=active,
    )
    result: JSONObject = await _call(client, "POST", hooks, json=payload)
    return result


async def _update_hook(
    client: httpx2.AsyncClient,
    path: str,
    url: str | None,
    secret: str | None,
    content_type: str | None,
    events: list[str] | None,
    active: bool | None,
) -> JSONObject:
    payload = _fields(
        config=_hook_config(url, secret, content_type, None), events=events, active=active
    )
    result: JSONObject = await _call(client, "PATCH", path, json=payload)
    return result

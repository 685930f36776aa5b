"""The authenticated GitHub client and the request plumbing every API module shares.

The API functions (``_issues``, ``_repos``, ``_git``, ``_pulls``, ``_contents``) take the
``httpx2.AsyncClient`` made by ``create_client`` and keyword arguments named as in GitHub's REST
reference, and return the response's parsed JSON. A failure raises the error ``classify`` picks
(``GitHubRateLimited``, ``GitHubRequestError`` or ``GitHubServerError``). Optional arguments left
as ``None`` are not sent, so GitHub applies its own defaults.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx2

from ._http import paginate, raise_for_status

JSONObject = dict[str, Any]

API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"


def create_client(
    token: str, *, base_url: str = API_URL, transport: httpx2.AsyncBaseTransport | None = None
) -> httpx2.AsyncClient:
    """An ``httpx2.AsyncClient`` authenticated with ``token`` for GitHub's REST API.

    ``base_url`` points at GitHub Enterprise Server (``https://HOST/api/v3``); ``transport`` is
    the testing seam (``httpx2.MockTransport``).
    """
    if not token:
        raise ValueError("GitHub token is empty; pass a personal access token or an app token")
    return httpx2.AsyncClient(
        base_url=base_url,
        transport=transport,
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": "relaykit-github",
        },
        timeout=30.0,
    )


def _seg(value: str | int) -> str:
    """One path segment, escaped (an owner or repo name never contains a slash)."""
    return quote(str(value), safe="")


def _slashed(value: str) -> str:
    """A path parameter that may hold slashes (a git ref, a file path), escaped otherwise."""
    return quote(value.lstrip("/"), safe="/")


def _repo(owner: str, repo: str) -> str:
    return f"/repos/{_seg(owner)}/{_seg(repo)}"


def _fields(**values: Any) -> JSONObject:
    return {name: value for name, value in values.items() if value is not None}


async def _call(
    client: httpx2.AsyncClient,
    method: str,
    path: str,
    *,
    json: JSONObject | None = None,
    params: JSONObject | None = None,
) -> Any:
    response = await client.request(method, path, json=json, params=params or None)
    raise_for_status(response)
    return response.json() if response.content else None


async def _list_all(client: httpx2.AsyncClient, path: str, params: JSONObject) -> list[JSONObject]:
    return [item async for item in paginate(client, path, params=_fields(**params) or None)]

"""Repository contents: reading a file or directory, writing a file in one commit."""

from __future__ import annotations

import base64
from typing import Any

import httpx2

from ._client import JSONObject, _call, _fields, _repo, _slashed


async def get_content(
    client: httpx2.AsyncClient, *, owner: str, repo: str, path: str, ref: str | None = None
) -> Any:
    """A file (an object with base64 ``content``) or a directory listing (a list) at ``path``."""
    url = f"{_repo(owner, repo)}/contents/{_slashed(path)}"
    return await _call(client, "GET", url, params=_fields(ref=ref))


async def create_or_update_file(
    client: httpx2.AsyncClient,
    *,
    owner: str,
    repo: str,
    path: str,
    message: str,
    content: str | bytes,
    sha: str | None = None,
    branch: str | None = None,
    committer: JSONObject | None = None,
) -> JSONObject:
    """Write a file in one commit. ``content`` is the file's text or bytes (base64-encoded here);
    updating an existing file needs its blob ``sha``."""
    raw = content.encode() if isinstance(content, str) else content
    payload = _fields(
        message=message,
        content=base64.b64encode(raw).decode("ascii"),
        sha=sha,
        branch=branch,
        committer=committer,
    )
    url = f"{_repo(owner, repo)}/contents/{_slashed(path)}"
    result: JSONObject = await _call(client, "PUT", url, json=payload)
    return result

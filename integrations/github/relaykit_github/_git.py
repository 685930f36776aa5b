"""Git data: blobs, commits, references, annotated tags and trees."""

from __future__ import annotations

import httpx2

from ._client import JSONObject, _call, _fields, _repo, _seg, _slashed


async def create_blob(
    client: httpx2.AsyncClient, *, owner: str, repo: str, content: str, encoding: str = "utf-8"
) -> JSONObject:
    """Create a blob (``encoding``: ``utf-8`` or ``base64``); returns its ``sha`` and ``url``."""
    path = f"{_repo(owner, repo)}/git/blobs"
    payload = {"content": content, "encoding": encoding}
    result: JSONObject = await _call(client, "POST", path, json=payload)
    return result


async def get_blob(
    client: httpx2.AsyncClient, *, owner: str, repo: str, file_sha: str
) -> JSONObject:
    """Get a blob (its ``content`` is base64)."""
    path = f"{_repo(owner, repo)}/git/blobs/{_seg(file_sha)}"
    result: JSONObject = await _call(client, "GET", path)
    return result


async def create_commit(
    client: httpx2.AsyncClient,
    *,
    owner: str,
    repo: str,
    message: str,
    tree: str,
    parents: list[str],
    author: JSONObject | None = None,
    committer: JSONObject | None = None,
) -> JSONObject:
    """Create a commit object of ``tree`` with ``parents`` (it moves no branch: see
    ``update_ref``)."""
    payload = _fields(
        message=message, tree=tree, parents=parents, author=author, committer=committer
    )
    path = f"{_repo(owner, repo)}/git/commits"
    result: JSONObject = await _call(client, "POST", path, json=payload)
    return result


async def get_commit(
    client: httpx2.AsyncClient, *, owner: str, repo: str, commit_sha: str
) -> JSONObject:
    """Get a commit object."""
    path = f"{_repo(owner, repo)}/git/commits/{_seg(commit_sha)}"
    result: JSONObject = await _call(client, "GET", path)
    return result


def _short_ref(ref: str) -> str:
    # GitHub's ref endpoints take ``heads/main`` (no ``refs/`` prefix) in the path.
    return _slashed(ref.removeprefix("refs/"))


async def get_ref(client: httpx2.AsyncClient, *, owner: str, repo: str, ref: str) -> JSONObject:
    """Get a reference (``heads/main``, ``tags/v1.0``)."""
    path = f"{_repo(owner, repo)}/git/ref/{_short_ref(ref)}"
    result: JSONObject = await _call(client, "GET", path)
    return result


async def list_matching_refs(
    client: httpx2.AsyncClient, *, owner: str, repo: str, ref: str
) -> list[JSONObject]:
    """Every reference starting with ``ref`` (``heads/feature``, ``tags/``)."""
    path = f"{_repo(owner, repo)}/git/matching-refs/{_short_ref(ref)}"
    result: list[JSONObject] = await _call(client, "GET", path)
    return result


async def create_ref(
    client: httpx2.AsyncClient, *, owner: str, repo: str, ref: str, sha: str
) -> JSONObject:
    """Create a reference (``ref`` is fully qualified: ``refs/heads/feature``)."""
    if not ref.startswith("refs/"):
        raise ValueError(
            f"create_ref: ref must start with 'refs/' (like refs/heads/x), got {ref!r}"
        )
    path = f"{_repo(owner, repo)}/git/refs"
    result: JSONObject = await _call(client, "POST", path, json={"ref": ref, "sha": sha})
    return result


async def update_ref(
    client: httpx2.AsyncClient, *, owner: str, repo: str, ref: str, sha: str, force: bool = False
) -> JSONObject:
    """Point a reference at ``sha``; ``force`` allows a move that is not a fast-forward."""
    path = f"{_repo(owner, repo)}/git/refs/{_short_ref(ref)}"
    result: JSONObject = await _call(client, "PATCH", path, json={"sha": sha, "force": force})
    return result


async def create_tag(
    client: httpx2.AsyncClient,
    *,
    owner: str,
    repo: str,
    tag: str,
    message: str,
    object: str,
    type: str = "commit",
    tagger: JSONObject | None = None,
) -> JSONObject:
    """Create an annotated tag object (create the ``refs/tags/...`` ref with ``create_ref``)."""
    payload = _fields(tag=tag, message=message, object=object, type=type, tagger=tagger)
    path = f"{_repo(owner, repo)}/git/tags"
    result: JSONObject = await _call(client, "POST", path, json=payload)
    return result


async def get_tag(client: httpx2.AsyncClient, *, owner: str, repo: str, tag_sha: str) -> JSONObject:
    """Get an annotated tag object."""
    path = f"{_repo(owner, repo)}/git/tags/{_seg(tag_sha)}"
    result: JSONObject = await _call(client, "GET", path)
    return result


async def create_tree(
    client: httpx2.AsyncClient,
    *,
    owner: str,
    repo: str,
    tree: list[JSONObject],
    base_tree: str | None = None,
) -> JSONObject:
    """Create a tree from entries (``path``, ``mode``, ``type`` and ``sha`` or ``content``)."""
    path = f"{_repo(owner, repo)}/git/trees"
    result: JSONObject = await _call(
        client, "POST", path, json=_fields(tree=tree, base_tree=base_tree)
    )
    return result


async def get_tree(
    client: httpx2.AsyncClient, *, owner: str, repo: str, tree_sha: str, recursive: bool = False
) -> JSONObject:
    """Get a tree; ``recursive`` includes every subtree's entries."""
    path = f"{_repo(owner, repo)}/git/trees/{_seg(tree_sha)}"
    # GitHub treats any value of ``recursive`` as true, so the parameter is sent only when set.
    params = {"recursive": "1"} if recursive else None
    result: JSONObject = await _call(client, "GET", path, params=params)
    return result

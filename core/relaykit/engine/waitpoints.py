"""Waitpoint tokens inside a run: ``io.create_token`` and ``io.wait_for_token``.

A token is created by a memoized task (its id derives from the run and the task's key, so a
task re-run after a crash stores the same token again, which changes nothing). Waiting is an
event wait on the token's reserved name (``Attempt.wait_for_token``): the run suspends,
holding no worker slot, until ``Store.complete_token`` resolves it or the token expires. See
``store/_tokens.py`` for why the run is woken exactly once.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import uuid as _uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._base.durations import check_seconds
from .._base.names import check_tags
from .._base.serde import dumps
from ..definitions.retry import NO_RETRY
from ..errors import ConfigurationError
from ..records import TokenRecord
from .runner import Attempt
from .tokens import TokenSigner

if TYPE_CHECKING:  # pydantic's models cost ~75 ms to import: only when a token is made
    from .resources import Token

_UUID_NAMESPACE = _uuid.UUID("6f1c1f0e-5b4c-4a57-9a43-9d0c6f2f7a11")


def _token_id(attempt: Attempt, full_key: str) -> str:
    return "tok_" + _uuid.uuid5(_UUID_NAMESPACE, f"token/{attempt.run.id}/{full_key}").hex


async def create_token(
    attempt: Attempt,
    key: str,
    *,
    timeout: float | None = None,  # noqa: ASYNC109 -- the token's lifetime, in seconds
    tags: Sequence[str] = (),
) -> Token:
    """Create a waitpoint token, once per run and key: someone (a person approving, an
    external system) completes it with JSON data through its signed ``url``, the HTTP API,
    ``relaykit tokens complete`` or ``client.complete_token``, and ``io.wait_for_token``
    hands that data back. It times out ``timeout`` seconds after it was created (None:
    never). ``tags`` (up to 10 strings) label it in ``relaykit tokens list``."""
    where = f"io.create_token({key!r})"
    if timeout is not None:
        check_seconds(timeout, f"{where}: timeout", error=ConfigurationError)
    tag_list = check_tags(tags, where)
    run = attempt.run
    full = attempt.full_key(key)
    token_id = _token_id(attempt, full)
    now = attempt.services.clock.now()
    record = TokenRecord(
        id=token_id,
        run_id=run.id,
        task_key=full,
        created_at=now,
        expires_at=None if timeout is None else now + timeout,
        tags=tuple(tag_list),
    )
    store = attempt.services.store

    async def create() -> dict[str, Any]:
        await store.create_token(run_id=run.id, epoch=run.epoch, token=record)
        return {
            "id": token_id,
            "created_at": record.created_at,
            "expires_at": record.expires_at,
            "tags": tag_list,
        }

    made = await attempt.task(
        key,
        create,
        kind="token",
        name="create token",
        params=dumps({"timeout": timeout, "tags": tag_list}, what="create_token params"),
        check_params=False,
        retry=NO_RETRY,
        hint=Any,
        icon="key",
    )
    stored = TokenRecord(
        id=made["id"],
        run_id=run.id,
        task_key=full,
        created_at=made["created_at"],
        expires_at=made["expires_at"],
        tags=tuple(made["tags"]),
    )
    signer = TokenSigner.from_env()
    model = await _token_model()
    return model.from_record(stored, now=now, url=signer.url(stored.id))


async def _token_model() -> type[Token]:
    """``resources.Token``, its module imported in a thread the first time (pydantic's models
    take ~75 ms to build, which would stall every run on this loop)."""
    name = f"{__package__}.resources"
    module = sys.modules.get(name)
    if module is None:
        module = await asyncio.to_thread(importlib.import_module, name)
    token: type[Token] = module.Token
    return token


async def wait_for_token(attempt: Attempt, token: Token | str, *, key: str | None = None) -> Any:
    """Suspend the run — holding no worker slot — until ``token`` (what
    ``io.create_token`` returned, its id, or the key it was created with in this run) is
    completed, and return the data it was completed with; return None once the token
    timed out first. A run waits only for tokens it created. The wait is recorded under
    ``key`` (default ``wait:<token id>``)."""
    run = attempt.run
    where = f"io.wait_for_token({token if isinstance(token, str) else token.id!r})"
    if not isinstance(token, str) and hasattr(token, "run_id"):  # a Token io.create_token made
        token_id, owner = token.id, token.run_id
        expires = None if token.expires_at is None else token.expires_at.timestamp()
    elif isinstance(token, str) and token:
        token_id = token
        if not token.startswith("tok_"):  # the key of an io.create_token in this scope
            made = attempt.completed_output(token)
            full = attempt.full_key(token)
            token_id = (
                made["id"] if isinstance(made, dict) and "id" in made else _token_id(attempt, full)
            )
        found = await attempt.services.store.get_token(token_id)
        if found is None:
            raise ConfigurationError(
                f"{where}: run {run.id} has no token {token!r}; create it first with "
                f"`token = await io.create_token(key)` and pass the token or its key"
            )
        owner, expires = found.run_id, found.expires_at
    else:
        raise ConfigurationError(
            f"{where}: pass the token io.create_token returned, its id, or its key"
        )
    wait_key = key or f"wait:{token_id}"
    params = dumps({"token": token_id}, what="wait_for_token params")
    if owner != run.id and not attempt.has_completed(wait_key):
        # another run's token (a retried run's predecessor made it): only its answer can
        # be taken, since only the run that made a token is woken when it is completed
        found = await attempt.services.store.get_token(token_id)
        if found is None or found.completed_at is None:
            raise ConfigurationError(
                f"{where}: token {token_id} was created by run {owner}; a run waits only "
                "for tokens it created (create one with io.create_token in this run)"
            )
        answer = {"data": found.data}

        async def answered() -> dict[str, Any]:
            return answer

        await attempt.task(
            wait_key,
            answered,
            kind="token",
            name="wait for token",
            params=params,
            check_params=False,
            retry=NO_RETRY,
            hint=Any,
        )
        return found.data
    _found, data = await attempt.wait_for_token(wait_key, token_id, expires, params)
    return data

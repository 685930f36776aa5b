"""What a run attaches to itself: ``io.tags`` (labels to find it by) and ``io.metadata``
(a small JSON object of progress and counts, shown with the run)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

from .._base.names import check_tags, check_text
from .._base.serde import dumps, loads
from .._base.sync import Bridged
from ..definitions.retry import NO_RETRY
from ..errors import ConfigurationError, NonRetriable, StoreError
from ..records import KvWrite
from .attempt import Abort
from .runner import Attempt

#: Where a run's metadata document is kept (a key-value entry of its own scope).
METADATA_SCOPE = "meta:"
METADATA_NAME = "metadata"
#: The largest metadata document a run may keep (JSON text).
MAX_METADATA_BYTES = 64 * 1024


class Metadata(Bridged):
    """``io.metadata``: a small JSON object this run updates while it works (progress,
    counts), shown with the run (``runs show``, ``GET /api/v1/runs/{id}`` ``"metadata"``).

    Each update is a task (a key first), so a replay neither repeats an ``append`` nor counts
    an ``increment`` twice; the new document is written in the task's own transaction.
    """

    def __init__(self, attempt: Attempt) -> None:
        self._attempt = attempt
        self._scope = f"{METADATA_SCOPE}{attempt.run.id}"
        # parallel branches updating at once: each reads the document its predecessor wrote
        self._lock = asyncio.Lock()

    async def set(self, key: str, name: str, value: Any) -> Any:
        """Set ``name`` to ``value`` (JSON); returns it."""
        return await self._update(key, "set", name, value, lambda _old: value)

    async def append(self, key: str, name: str, value: Any) -> list[Any]:
        """Append ``value`` to the list under ``name`` (made when absent); returns the list."""

        def add(old: Any) -> list[Any]:
            if old is not None and not isinstance(old, list):
                raise ConfigurationError(
                    f"io.metadata.append({key!r}): {name!r} holds {type(old).__name__}, not a list"
                )
            return [*(old or []), value]

        found: list[Any] = await self._update(key, "append", name, value, add)
        return found

    async def increment(self, key: str, name: str, by: float = 1) -> float:
        """Add ``by`` to the number under ``name`` (0 when absent); returns the new number."""
        if isinstance(by, bool) or not isinstance(by, (int, float)) or not math.isfinite(by):
            raise ConfigurationError(f"io.metadata.increment({key!r}): by must be a number")

        def add(old: Any) -> float:
            if old is not None and (isinstance(old, bool) or not isinstance(old, (int, float))):
                raise ConfigurationError(
                    f"io.metadata.increment({key!r}): {name!r} holds {type(old).__name__}, "
                    "not a number"
                )
            return (old or 0) + by

        found: float = await self._update(key, "increment", name, by, add)
        return found

    async def _update(
        self, key: str, verb: str, name: str, value: Any, change: Callable[[Any], Any]
    ) -> Any:
        where = f"io.metadata.{verb}({key!r})"
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"{where}: the name must be a non-empty string")
        check_text(name, "the name", where)
        params = dumps({"name": name, "value": value}, what=f"{where} params")
        store, scope = self._attempt.services.store, self._scope
        writes: list[KvWrite] = []  # filled by the task, written with it

        async def update() -> Any:
            document = loads(await store.kv_get(scope, METADATA_NAME)) or {}
            document[name] = change(document.get(name))
            text = dumps(document, what="the run's metadata")
            if len(text.encode()) > MAX_METADATA_BYTES:
                raise NonRetriable(
                    f"{where}: the run's metadata would be {len(text.encode()):,} bytes, over "
                    f"{MAX_METADATA_BYTES:,}; keep metadata small (progress, counts)"
                )
            writes.append(KvWrite(scope, METADATA_NAME, text))
            return document[name]

        async with self._lock:
            return await self._attempt.task(
                key,
                update,
                kind="metadata",
                name=f"metadata.{verb}",
                params=params,
                check_params=False,
                retry=NO_RETRY,
                hint=Any,
                kv=writes,
                icon="chart",
            )


class RunTags(Bridged):
    """``io.tags``: labels on this run, listed by ``relaykit runs list --tag``."""

    def __init__(self, attempt: Attempt) -> None:
        self._attempt = attempt

    async def add(self, *tags: str) -> None:
        """Add ``tags`` to this run (up to 10 per call; one it has already is kept once).

        Tags are a set, so this takes no key: a replay adding them again changes nothing.
        The write is fenced by the attempt, like every write of a run."""
        attempt = self._attempt
        found = check_tags(list(tags), "io.tags.add")
        if attempt.closed or attempt.lost:
            raise Abort()
        if attempt.dry or not found:  # ``relaykit check-replay`` writes nothing
            return
        try:
            await attempt.services.store.add_run_tags(
                attempt.run.id, found, epoch=attempt.run.epoch
            )
        except StoreError as exc:
            attempt.give_up(exc)

"""The realtime streams' algorithm (``Operations.watch_run``/``watch_runs``): on each change
the ``ChangeFeed`` reports, re-read only what is watched (one run and its tasks, or one page
of runs) and yield what differs from what was yielded before.

Each ``Change`` carries ``id``: a digest of the whole watched state after it. A client that
reconnects with that id (SSE ``Last-Event-ID``) gets nothing again while the state is still
the same, and the full current state otherwise (no history is kept to replay).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .resources import Run, RunDetail

if TYPE_CHECKING:
    from .changes import ChangeFeed

ChangeKind = Literal["run", "task", "log", "metadata", "remove", "end", "idle"]


@dataclass(frozen=True, slots=True)
class Change:
    """One stream event: ``run`` (a run resource), ``task`` (a task resource), ``log`` (a
    new log line of the run), ``metadata`` (``{"tags", "metadata"}`` of the run), ``remove``
    (``{"id": ...}``: a run left the watched page), ``end`` (the watched run ended; the
    stream stops), ``idle`` (nothing changed for a while: a heartbeat, no data)."""

    kind: ChangeKind
    data: dict[str, Any] | None = None
    id: str | None = None


def _digest(sent: dict[str, str]) -> str:
    h = hashlib.sha256()
    for key in sorted(sent):
        h.update(f"{key}\0{sent[key]}\1".encode())
    return h.hexdigest()[:32]


Snapshot = dict[str, tuple[ChangeKind, dict[str, Any]]]


def _texts(snapshot: Snapshot) -> dict[str, str]:
    return {k: json.dumps(v[1], sort_keys=True) for k, v in snapshot.items()}


def _run_snapshot(detail: RunDetail, *, run_first: bool) -> Snapshot:
    run = Run.model_validate({k: getattr(detail, k) for k in Run.model_fields}).to_json()
    snapshot: Snapshot = {}
    # the first read: the run, then its tasks and logs; later ones: tasks and logs first, so
    # a run's final status comes after what led to it
    if run_first:
        snapshot["run"] = ("run", run)
    for task in detail.tasks:
        snapshot[f"task:{task.key}"] = ("task", task.to_json())
    for i, log in enumerate(detail.logs):  # a run's log only grows, in this order
        snapshot[f"log:{i}"] = ("log", log.to_json())
    snapshot["metadata"] = ("metadata", {"tags": detail.tags, "metadata": detail.metadata})
    snapshot["run"] = ("run", run)
    return snapshot


def run_state_id(detail: RunDetail) -> str:
    """The ``id`` a run stream gives the state of ``detail``: a page that shows that state
    passes it as the stream's last id, and hears only of later changes."""
    return _digest(_texts(_run_snapshot(detail, run_first=True)))


async def _changes(
    feed: ChangeFeed,
    read: Callable[[], Awaitable[Snapshot | None]],
    *,
    last_id: str | None,
    idle: float | None,
    ended: Callable[[Snapshot], bool],
) -> AsyncGenerator[Change, None]:
    sent: dict[str, str] = {}
    first = True
    async with feed.subscribe() as sub:
        while not sub.closed:
            snapshot = await read()
            if snapshot is None:
                return
            texts = _texts(snapshot)
            if first and last_id is not None and last_id == _digest(texts):
                sent = dict(texts)
            first = False
            for key in [k for k in sent if k not in texts]:
                del sent[key]
                yield Change("remove", {"id": key.partition(":")[2]}, _digest(sent))
            for key, (kind, data) in snapshot.items():
                if sent.get(key) != texts[key]:
                    sent[key] = texts[key]
                    yield Change(kind, data, _digest(sent))
            if ended(snapshot):
                yield Change("end", snapshot["run"][1], _digest(sent))
                return
            if not await sub.wait(idle) and not sub.closed:
                yield Change("idle")


def watch_run(
    feed: ChangeFeed,
    read_run: Callable[[], Awaitable[RunDetail | None]],
    *,
    last_id: str | None,
    idle: float | None,
) -> AsyncGenerator[Change, None]:
    """The changes of one run, read with ``read_run`` (see ``Operations.watch_run``)."""
    reads = [0]

    async def read() -> Snapshot | None:
        detail = await read_run()
        if detail is None:
            return None
        reads[0] += 1
        return _run_snapshot(detail, run_first=reads[0] == 1)

    def ended(snapshot: Snapshot) -> bool:
        return Run.model_validate(snapshot["run"][1]).status.is_terminal

    return _changes(feed, read, last_id=last_id, idle=idle, ended=ended)


def _runs_snapshot(runs: list[Run]) -> Snapshot:
    return {f"run:{r.id}": ("run", r.to_json()) for r in reversed(runs)}


def runs_state_id(runs: list[Run]) -> str:
    """The ``id`` a list stream gives the state of the page ``runs`` (newest first)."""
    return _digest(_texts(_runs_snapshot(runs)))


def watch_runs(
    feed: ChangeFeed,
    page: Callable[[], Awaitable[list[Run]]],
    *,
    last_id: str | None,
    idle: float | None,
) -> AsyncGenerator[Change, None]:
    """The changes of a page of runs (see ``Operations.watch_runs``): oldest first."""

    async def read() -> Snapshot:
        return _runs_snapshot(await page())

    return _changes(feed, read, last_id=last_id, idle=idle, ended=lambda _: False)

"""The ``Store`` protocol: everything the engine asks of a database, in domain terms.

The engine depends on this protocol only; ``SqliteStore`` and ``PostgresStore`` implement it.
Every write that changes a run being executed is *fenced*: it names the lease owner and fails
with ``LeaseLost`` when that worker no longer holds the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from .._models import (
    ErrorInfo,
    EventRecord,
    KvWrite,
    LogRecord,
    RunRecord,
    RunStatus,
    TaskRecord,
)


class Store(Protocol):
    """Durable state of runs, tasks, logs, events and the key-value store."""

    @property
    def url(self) -> str:
        """The database URL with any password removed (safe to print)."""
        ...

    async def open(self, *, migrate: bool = True) -> None:
        """Connect, and apply pending migrations unless ``migrate`` is false.

        Raises ``StoreError`` when the database cannot be opened and ``SchemaTooNew`` when it was
        migrated by a newer relaykit; nothing is changed in either case.
        """
        ...

    async def close(self) -> None:
        """Release connections."""
        ...

    async def migrate(self) -> list[int]:
        """Apply pending migrations; return the versions applied (empty when up to date)."""
        ...

    async def schema_version(self) -> int:
        """The highest applied migration version (0 for an empty database)."""
        ...

    # -- runs ---------------------------------------------------------------------------------

    async def create_run(self, run: RunRecord) -> None:
        """Insert a new run."""
        ...

    async def get_run(self, run_id: str) -> RunRecord | None:
        """One run, or None."""
        ...

    async def list_runs(
        self, *, job_id: str | None = None, status: str | None = None, limit: int = 50
    ) -> list[RunRecord]:
        """Runs, newest first."""
        ...

    async def claim_runs(
        self,
        *,
        owner: str,
        now: float,
        lease_until: float,
        limit: int,
        job_ids: Sequence[str],
        run_id: str | None = None,
    ) -> list[RunRecord]:
        """Lease up to ``limit`` runnable runs of ``job_ids`` (or just ``run_id``) to ``owner``.

        Runnable: queued or waiting with a due ``next_attempt_at``, or running with an expired
        lease (its worker died). Claiming sets status ``running`` and increments ``attempt``.
        """
        ...

    async def renew_leases(
        self, *, owner: str, run_ids: Sequence[str], lease_until: float
    ) -> set[str]:
        """Extend ``owner``'s leases; return the ids it still holds."""
        ...

    async def release_runs(self, *, owner: str, run_ids: Sequence[str], now: float) -> None:
        """Give leased runs back (graceful shutdown): runnable again at once by anyone."""
        ...

    async def end_attempt(
        self,
        *,
        run_id: str,
        owner: str,
        status: RunStatus,
        now: float,
        output: str | None = None,
        error: ErrorInfo | None = None,
        wake_at: float | None = None,
        tasks: Sequence[TaskRecord] = (),
        logs: Sequence[LogRecord] = (),
    ) -> None:
        """Finish an attempt in one transaction: write ``tasks`` and ``logs``, then set the
        run's status. ``waiting`` keeps the run alive until ``wake_at`` (None: until woken);
        a terminal status ends it. Raises ``LeaseLost`` when ``owner`` lost the run."""
        ...

    async def cancel_run(self, run_id: str, *, now: float) -> RunRecord | None:
        """Cancel a run that has not ended (its waiting tasks too); return it as it is now."""
        ...

    async def next_wakeup(self, *, job_ids: Sequence[str]) -> float | None:
        """The earliest time a run of ``job_ids`` becomes runnable (due time or lease expiry)."""
        ...

    async def has_unfinished_work(self, *, job_ids: Sequence[str], now: float) -> bool:
        """True when a run of ``job_ids`` is runnable now or leased by any worker."""
        ...

    # -- tasks and logs -----------------------------------------------------------------------

    async def load_tasks(self, run_id: str) -> list[TaskRecord]:
        """All task records of a run, in one query."""
        ...

    async def load_logs(self, run_id: str) -> list[LogRecord]:
        """All log lines of a run, oldest first."""
        ...

    async def record_task(
        self,
        *,
        run_id: str,
        owner: str,
        task: TaskRecord,
        logs: Sequence[LogRecord] = (),
        kv: Sequence[KvWrite] = (),
        events: Sequence[EventRecord] = (),
    ) -> None:
        """Write one task outcome with its side effects in exactly one transaction.

        Raises ``LeaseLost`` (writing nothing) when ``owner`` no longer holds the running run.
        """
        ...

    # -- events and key-value store -----------------------------------------------------------

    async def insert_event(self, event: EventRecord) -> bool:
        """Store an event unless one with its id exists; True when inserted."""
        ...

    async def list_events(self, *, limit: int = 50) -> list[EventRecord]:
        """Events, newest first."""
        ...

    async def kv_get(self, scope: str, name: str) -> str | None:
        """A key-value store entry's JSON text, or None."""
        ...

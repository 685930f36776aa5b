"""The ``Store`` protocol: everything the engine asks of a database, in domain terms.

The engine depends on this protocol only; ``SqliteStore`` and ``PostgresStore`` implement it.
Every write that changes a run being executed is *fenced*: it names the lease owner and fails
with ``LeaseLost`` when that worker no longer holds the run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from .._models import (
    ErrorInfo,
    EventMatch,
    EventRecord,
    EventWait,
    KvWrite,
    LogRecord,
    RunRecord,
    RunStatus,
    ScheduleFire,
    ScheduleSpec,
    TaskRecord,
)
from ._connections import ConnectionRecord


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
        event_waits: Sequence[EventWait] = (),
    ) -> None:
        """Finish an attempt in one transaction: write ``tasks``, ``logs`` and new
        ``event_waits``, then set the run's status. ``waiting`` keeps the run alive until
        ``wake_at`` (None: until woken) — or makes it due at once when one of its event waits
        was matched meanwhile; a terminal status ends it and drops its event waits. Raises
        ``LeaseLost`` when ``owner`` lost the run."""
        ...

    async def cancel_run(self, run_id: str, *, now: float) -> RunRecord | None:
        """Cancel a run that has not ended (its waiting tasks too); return it as it is now."""
        ...

    async def next_wakeup(self, *, job_ids: Sequence[str]) -> float | None:
        """The earliest time a run of ``job_ids`` becomes runnable (due time or lease expiry),
        a pending event becomes due, or a schedule fires."""
        ...

    async def has_unfinished_work(self, *, job_ids: Sequence[str], now: float) -> bool:
        """True when a run of ``job_ids`` is runnable now or leased by any worker, or a pending
        event or a schedule is due."""
        ...

    # -- tasks and logs -----------------------------------------------------------------------

    async def load_tasks(self, run_id: str) -> list[TaskRecord]:
        """All task records of a run, in one query."""
        ...

    async def load_event_matches(self, run_id: str) -> list[EventMatch]:
        """The run's event waits that an event has resolved (not yet consumed)."""
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

        Events in ``events`` are stored (once per id) as pending, for the delivery loop to
        route. A completed task of kind ``event`` consumes its event wait. Raises
        ``LeaseLost`` (writing nothing) when ``owner`` no longer holds the running run.
        """
        ...

    async def expire_event_wait(self, *, run_id: str, owner: str, task: TaskRecord) -> bool:
        """Record an event wait's timeout (``task`` completed with no event) unless an event
        matched it first; False (and nothing written) in that case. Fenced like
        ``record_task``."""
        ...

    # -- events and key-value store -----------------------------------------------------------

    async def insert_event(
        self,
        event: EventRecord,
        *,
        runs: Sequence[RunRecord] = (),
        deliver: bool = False,
        now: float = 0.0,
    ) -> bool:
        """Store an event unless one with its id exists; True when inserted.

        With ``deliver`` the event is routed in the same transaction: ``runs`` (the runs it
        starts) are created and every matching event wait is resolved (its run made due at
        ``now``). Without it the event stays pending for ``deliver_due_events``.
        """
        ...

    async def deliver_due_events(
        self,
        *,
        now: float,
        route: Callable[[EventRecord], Sequence[RunRecord]],
        limit: int = 100,
    ) -> list[str]:
        """Route pending events due by ``now`` (``route`` says which runs each starts), each in
        one transaction with its runs and resolved waits; return their ids. Concurrent
        callers never deliver an event twice."""
        ...

    async def cancel_event(self, event_id: str) -> bool:
        """Cancel a pending event (not yet delivered); True when it was pending."""
        ...

    async def get_event(self, event_id: str) -> EventRecord | None:
        """One event, or None."""
        ...

    async def list_events(self, *, limit: int = 50) -> list[EventRecord]:
        """Events, newest first."""
        ...

    # -- schedules ----------------------------------------------------------------------------

    async def sync_schedules(
        self, specs: Sequence[ScheduleSpec], *, first_fire: Callable[[ScheduleSpec], float]
    ) -> None:
        """Make the stored schedules match ``specs``: add new ones (first due at
        ``first_fire(spec)``), re-time those whose spec changed, keep the others' timing."""
        ...

    async def fire_due_schedules(
        self,
        *,
        now: float,
        plan: Callable[[ScheduleFire], tuple[float, RunRecord, float] | None],
        limit: int = 100,
    ) -> list[str]:
        """Fire the schedules due by ``now``. ``plan`` returns (the slot fired, its run, the
        next due time), or None to leave a schedule alone (a job this worker does not know);
        the run is created only if that (schedule, slot) never fired before, in one
        transaction with moving the schedule on. Returns the ids of runs created."""
        ...

    async def kv_get(self, scope: str, name: str) -> str | None:
        """A key-value store entry's JSON text, or None."""
        ...

    # -- connections (issue 5: integration credentials, stored encrypted) ---------------------

    async def get_connection(self, integration_id: str) -> ConnectionRecord | None:
        """The connection of the integration with this id, or None."""
        ...

    async def put_connection(self, connection: ConnectionRecord) -> None:
        """Insert or replace a connection."""
        ...

    async def delete_connection(self, integration_id: str) -> bool:
        """Remove a connection; True when there was one."""
        ...

    async def list_connections(self) -> list[ConnectionRecord]:
        """Every connection, by integration id."""
        ...

    async def refresh_connection(
        self,
        integration_id: str,
        refresh: Callable[[ConnectionRecord], Awaitable[ConnectionRecord | None]],
        *,
        clock: Callable[[], float],
        lock_seconds: float = 60.0,
    ) -> ConnectionRecord | None:
        """Call ``refresh`` with the current connection while no other refresher of it runs, in
        this process or any other (single flight), and store what it returns.

        ``refresh`` sees the row as it is once the lock is held, so a refresher that waited
        finds the token another one just refreshed and returns None (nothing to store).
        Returns the connection as stored afterwards, or None when there is none. A lock whose
        holder died is taken over after ``lock_seconds`` (by ``clock``'s time).
        """
        ...

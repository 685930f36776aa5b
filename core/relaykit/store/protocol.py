"""The ``Store`` protocol: everything the engine asks of a database, in domain terms.

The engine depends on this protocol only; ``SqliteStore`` and ``PostgresStore`` implement it.
It is split by aggregate — ``Lifecycle``, ``RunStore`` (runs, attempts and flow control),
``TaskStore``, ``EventStore`` (events and waits), ``ScheduleStore``, ``KvStore``,
``AccessStore`` (API keys, users, sessions) and ``ConnectionStore`` — and ``Store`` combines
them; code that needs one concern can ask for that protocol alone.
Every write that changes a run being executed is *fenced*: it names the attempt's **epoch**
(``RunRecord.epoch`` as its claim returned it) and fails with ``LeaseLost``, writing nothing,
once the run is no longer running under that epoch — another claim took it (even by the same
worker), or it was canceled or released.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any, Protocol

from ..records import (
    NO_ROUTING,
    ErrorInfo,
    EventMatch,
    EventRecord,
    EventWait,
    KvWrite,
    LogRecord,
    Routing,
    RunRecord,
    RunStatus,
    ScheduleFire,
    ScheduleSpec,
    TaskAttempt,
    TaskRecord,
    TokenRecord,
)
from ._connections import ConnectionRecord
from .access import ApiKeyRecord, SessionRecord, UserRecord


class Lifecycle(Protocol):
    """Opening, migrating, checking and closing the database."""

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

    async def check(self) -> None:
        """Verify the database's integrity as far as the backend can (SQLite's
        ``quick_check``); raise ``StoreCorrupt`` naming the problem."""
        ...

    async def change_marker(self) -> str | None:
        """A value that differs after any commit to the store by any process (compare with
        ``!=``); cheap enough to read a few times a second (``ChangeFeed``, the realtime
        streams). It may also differ without a change to runs or tasks (a spurious wake-up,
        harmless); None: the backend cannot tell now (treat it as a change)."""
        ...


class RunStore(Protocol):
    """Runs and their attempts: creating (with flow control: idempotency and debounce keys,
    concurrency and throttle groups), leasing under an epoch, ending, cancelling, replaying."""

    async def create_run(self, run: RunRecord, *, tags: Sequence[str] = ()) -> RunRecord:
        """Insert a new run and return it — or, instead, the existing run its live
        ``idempotency_key`` leads to, or the queued run with its ``debounce_key`` (which takes
        the new payload and due time). ``tags`` are added to the run returned, in the same
        transaction."""
        ...

    async def unfinished_by_job(self) -> dict[str, dict[str, int]]:
        """How many runs of each job id have not ended, by status (``queued``, ``running``,
        ``waiting``, ``waiting_for_connection``; a status with no run is left out)."""
        ...

    async def get_run_code(self, run_id: str) -> str | None:
        """The code fingerprint the run started on (None: none recorded, or no such run)."""
        ...

    async def get_run(self, run_id: str) -> RunRecord | None:
        """One run, or None."""
        ...

    async def list_runs(
        self,
        *,
        job_id: str | None = None,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
        before: tuple[float, str] | None = None,
    ) -> list[RunRecord]:
        """Runs, newest first (by ``created_at`` then ``id``), skipping the first ``offset``;
        with ``before`` (a run's ``(created_at, id)``), only the runs after it in that order
        (keyset pagination: an index range, however deep the page)."""
        ...

    async def run_ids_with_prefix(self, prefix: str, *, limit: int) -> list[str]:
        """The ids of up to ``limit`` runs whose id starts with ``prefix``, in id order (to
        resolve the short id a user typed)."""
        ...

    async def runs_of_event(
        self, event_id: str, *, created_from: float, limit: int
    ) -> list[RunRecord]:
        """The runs the event ``event_id`` started, oldest first, among those created at or
        after ``created_from`` (pass the event's timestamp)."""
        ...

    async def runs_containing(self, text: str, *, limit: int) -> list[RunRecord]:
        """Up to ``limit`` runs, newest first, whose stored payload or output JSON contains
        ``text`` (a plain substring, case-sensitive)."""
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
        family: bool = False,
        exclude: Collection[str] = (),
    ) -> list[RunRecord]:
        """Lease up to ``limit`` runnable runs of ``job_ids`` (or just ``run_id``; with
        ``family`` also the runs it invoked, and theirs) to ``owner``, highest ``priority``
        first, then by due time; never a run in ``exclude`` (the runs the caller is still
        executing: its own expired lease must not make it run them twice).

        Runnable: queued or waiting with a due ``next_attempt_at``, or running with an expired
        lease (its worker died or stalled). A run in a concurrency group that has ``limit`` runs
        running, or a throttle group that started ``limit`` runs within its period, is not
        claimed (a throttle holds back only a run's first start). Claiming sets status
        ``running`` and increments ``attempt`` and ``epoch`` (which fences out every earlier
        attempt). Concurrent callers never exceed a limit together.
        """
        ...

    async def renew_leases(self, *, leases: Mapping[str, int], lease_until: float) -> set[str]:
        """Extend the leases of runs still running under the given epochs (run id -> epoch);
        return the ids renewed. A run missing from the answer is lost to its attempt."""
        ...

    async def release_runs(self, *, leases: Mapping[str, int], now: float) -> None:
        """Give runs back (graceful shutdown, an interrupted ``relaykit run``): those still
        running under the given epochs become runnable again at once, by anyone."""
        ...

    async def replay_run(
        self, run_id: str, *, new_id: str, now: float, payload: str | None = None
    ) -> RunRecord | None:
        """Queue a new run ``new_id`` of the same job, version, payload (``payload``, a JSON
        text, instead when given), environment, test
        flag and triggering event as ``run_id``, counting against the same concurrency and
        throttle groups with the same priority and cancel key (not its idempotency or
        debounce key: a replay is asked for explicitly). None when ``run_id`` does not exist.
        """
        ...

    async def retry_run(
        self,
        run_id: str,
        *,
        new_id: str,
        now: float,
        keep: Sequence[str],
        payload: str | None = None,
    ) -> RunRecord | None:
        """Queue ``new_id`` as ``replay_run`` does (with ``payload`` instead of the old one when
        given) holding copies of ``run_id``'s tasks whose keys are in ``keep`` and of its
        ``io.store.run`` entries, in one transaction; ``run_id`` is left as it was. None when
        there is no such run."""
        ...

    async def get_retry_of(self, run_id: str) -> str | None:
        """The run ``run_id`` was made to retry by ``retry_run`` (None: none)."""
        ...

    async def end_attempt(
        self,
        *,
        run_id: str,
        epoch: int,
        status: RunStatus,
        now: float,
        output: str | None = None,
        error: ErrorInfo | None = None,
        wake_at: float | None = None,
        tasks: Sequence[TaskRecord] = (),
        logs: Sequence[LogRecord] = (),
        event_waits: Sequence[EventWait] = (),
        code: str | None = None,
    ) -> None:
        """Finish an attempt in one transaction: write ``tasks``, ``logs`` and new
        ``event_waits``, then set the run's status (and its ``code`` fingerprint, when it has
        none yet). ``waiting`` keeps the run alive until
        ``wake_at`` (None: until woken) — or makes it due at once when one of its event waits
        was matched or one of the child runs it waits for ended meanwhile; a terminal status
        ends it, drops its event waits and wakes the run that invoked it. Raises
        ``LeaseLost`` (writing nothing) when the run is no longer running under ``epoch``."""
        ...

    async def cancel_run(self, run_id: str, *, now: float) -> RunRecord | None:
        """Cancel a run that has not ended (its waiting tasks too, and wake the run that
        invoked it); return it as it is now. A running run is canceled too: its attempt's
        next write is refused, so it stops at its next task boundary."""
        ...

    async def next_wakeup(self, *, job_ids: Sequence[str]) -> float | None:
        """The earliest time a run of ``job_ids`` becomes runnable (due time or lease expiry),
        a pending event becomes due, or a schedule fires."""
        ...

    async def has_unfinished_work(self, *, job_ids: Sequence[str], now: float) -> bool:
        """True when a run of ``job_ids`` is runnable now or leased by any worker, or a pending
        event or a schedule is due."""
        ...


class TaskStore(Protocol):
    """Task records and log lines of a run, each task's outcome written with its effects."""

    async def load_tasks(self, run_id: str) -> list[TaskRecord]:
        """All task records of a run, in one query."""
        ...

    async def load_task_attempts(self, run_id: str) -> list[TaskAttempt]:
        """Every recorded attempt of the run's tasks' functions, by task key then attempt
        (each written with the task record that ended it, fenced like it)."""
        ...

    async def load_logs(self, run_id: str) -> list[LogRecord]:
        """All log lines of a run, oldest first."""
        ...

    async def record_task(
        self,
        *,
        run_id: str,
        epoch: int,
        task: TaskRecord,
        logs: Sequence[LogRecord] = (),
        kv: Sequence[KvWrite] = (),
        events: Sequence[EventRecord] = (),
        runs: Sequence[RunRecord] = (),
    ) -> None:
        """Write one task outcome with its side effects in exactly one transaction.

        Events in ``events`` are stored (once per id) as pending, for the delivery loop to
        route; ``runs`` (child runs of ``io.invoke``) are created. A completed task of kind
        ``event`` consumes its event wait; a task that ends an attempt of its function
        (``task.ended_attempt``) writes that attempt's history row (once per attempt number).
        Raises ``LeaseLost`` (writing nothing) when the run is no longer running under
        ``epoch``.
        """
        ...

    async def expire_event_wait(self, *, run_id: str, epoch: int, task: TaskRecord) -> bool:
        """Record an event wait's timeout (``task`` completed with no event) unless an event
        matched it first; False (and nothing written) in that case. Fenced like
        ``record_task``."""
        ...


class EventStore(Protocol):
    """Events (stored once per id), their delivery, and the event waits they resolve."""

    async def insert_event(
        self,
        event: EventRecord,
        *,
        routing: Routing = NO_ROUTING,
        deliver: bool = False,
        now: float = 0.0,
    ) -> list[RunRecord] | None:
        """Store an event unless one with its id exists (then return None).

        With ``deliver`` the event is routed in the same transaction: the runs not yet ended
        whose ``cancel_key`` is in ``routing.cancels`` are canceled (a running one stops at
        its next task boundary, as with ``cancel_run``), ``routing.runs``
        (the runs it starts) are created and every matching event wait is resolved (its run
        made due at ``now``). Without it the event stays pending for ``deliver_due_events``.
        Returns the runs that stand for ``routing.runs`` (a debounced or idempotent run may
        be an existing one).
        """
        ...

    async def deliver_due_events(
        self,
        *,
        now: float,
        route: Callable[[EventRecord], Routing],
        limit: int = 100,
    ) -> list[str]:
        """Route pending events due by ``now`` (``route`` says what each does), each in
        one transaction with its runs and resolved waits; return their ids. Concurrent
        callers never deliver an event twice."""
        ...

    async def cancel_event(self, event_id: str) -> bool:
        """Cancel a pending event (not yet delivered); True when it was pending."""
        ...

    async def get_event(self, event_id: str) -> EventRecord | None:
        """One event, or None."""
        ...

    async def list_events(
        self, *, limit: int = 50, before: tuple[float, str] | None = None
    ) -> list[EventRecord]:
        """Events, newest first (by ``timestamp`` then ``id``); with ``before`` (an event's
        ``(timestamp, id)``), only the events after it in that order."""
        ...

    async def load_event_matches(self, run_id: str) -> list[EventMatch]:
        """The run's event waits that an event has resolved (not yet consumed)."""
        ...


class ScheduleStore(Protocol):
    """Cron and interval schedules; each (schedule, slot) fires at most once."""

    async def sync_schedules(
        self, specs: Sequence[ScheduleSpec], *, first_fire: Callable[[ScheduleSpec], float]
    ) -> None:
        """Make the stored schedules match ``specs``: add new ones (first due at
        ``first_fire(spec)``), re-time those whose spec changed, keep the others' timing."""
        ...

    async def remove_schedules(self, schedule_ids: Sequence[str]) -> int:
        """Stop the given schedules (registering one again revives it); return how many
        were active."""
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


class KvStore(Protocol):
    """The durable key-value store (``store.run/job/env``): JSON text by (scope, name)."""

    async def kv_get(self, scope: str, name: str) -> str | None:
        """A key-value store entry's JSON text, or None."""
        ...

    async def kv_set(self, scope: str, name: str, value: str | None, *, now: float) -> None:
        """Write (JSON text) or, with None, delete one key-value store entry."""
        ...


class AccessStore(Protocol):
    """The HTTP API's and dashboard's API keys, users and sessions (hashes only)."""

    async def create_api_key(self, key: ApiKeyRecord) -> None:
        """Store a new API key (its hash only)."""
        ...

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        """One API key by id (revoked ones too), or None."""
        ...

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        """All API keys, oldest first."""
        ...

    async def revoke_api_key(self, key_id: str, *, now: float) -> bool:
        """Revoke a key; False when there is no such unrevoked key."""
        ...

    async def create_user(self, user: UserRecord) -> bool:
        """Store a new dashboard user; False (nothing changed) when the name is taken."""
        ...

    async def get_user(self, name: str) -> UserRecord | None:
        """One user, or None."""
        ...

    async def create_session(self, session: SessionRecord) -> None:
        """Store a session or a one-time login token (dropping expired ones)."""
        ...

    async def get_session(self, token_hash: str, *, now: float) -> SessionRecord | None:
        """The session with this token hash unless it expired by ``now``."""
        ...

    async def take_session(self, token_hash: str, *, now: float) -> SessionRecord | None:
        """Delete the session with this token hash and return it unless it had expired by
        ``now``: single-use login tokens and logging out. Of two concurrent callers at most
        one gets it."""
        ...


class ConnectionStore(Protocol):
    """Integration credentials (issue 5), stored encrypted; refreshed single-flight."""

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


class TokenStore(Protocol):
    """Waitpoint tokens (``io.create_token``): created by a run, completed once."""

    async def create_token(self, *, run_id: str, epoch: int, token: TokenRecord) -> None:
        """Store ``token`` for the attempt ``epoch`` of ``run_id`` (fenced: ``LeaseLost``,
        nothing written, once the attempt lost the run); the same id again changes nothing."""
        ...

    async def get_token(self, token_id: str) -> TokenRecord | None:
        """One token, or None."""
        ...

    async def list_tokens(self, *, run_id: str | None = None, limit: int = 50) -> list[TokenRecord]:
        """Tokens newest first (of ``run_id`` when given)."""
        ...

    async def complete_token(
        self, token_id: str, data: Any, *, now: float
    ) -> tuple[TokenRecord | None, bool]:
        """Complete a waiting, unexpired token with ``data`` and make its run due when it waits
        for it (the wait is resolved once), in one transaction. Returns the token as stored
        (None: no such token) and whether this call completed it; a token completed or timed
        out before keeps what it had."""
        ...


class TagStore(Protocol):
    """Run tags: a set of labels per run."""

    async def add_run_tags(
        self, run_id: str, tags: Sequence[str], *, epoch: int | None = None
    ) -> None:
        """Add ``tags`` to ``run_id`` (a set: one it has is kept once). With ``epoch``, the
        attempt's write, fenced (``LeaseLost``, nothing written, once it lost the run)."""
        ...

    async def get_run_tags(self, run_ids: Sequence[str]) -> dict[str, list[str]]:
        """The sorted tags of each of ``run_ids`` that has any."""
        ...

    async def list_tagged_runs(
        self,
        tag: str,
        *,
        job_id: str | None = None,
        status: str | None = None,
        limit: int = 50,
        before: tuple[float, str] | None = None,
    ) -> list[RunRecord]:
        """Runs carrying ``tag``, newest first (of ``job_id``, in ``status``), after the
        keyset position ``before`` (created_at, id)."""
        ...


class Store(
    Lifecycle,
    RunStore,
    TaskStore,
    EventStore,
    ScheduleStore,
    KvStore,
    AccessStore,
    ConnectionStore,
    TokenStore,
    TagStore,
    Protocol,
):
    """Durable state of runs, tasks, logs, events and the key-value store: every aggregate's
    protocol in one, the name the engine, the HTTP API and the CLI depend on."""

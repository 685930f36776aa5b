"""Flow control: which runs may start, and when.

Options of ``client.define_job`` (all enforced by the store when a worker claims runs, so they
hold across any number of workers; a run that may not start yet stays ``queued`` and starts
when it may — nothing is dropped):

- ``concurrency_limit=N``: at most N runs of the job *running* at once (a waiting run, asleep
  in ``io.wait`` or ``io.wait_for_event``, holds no slot);
  ``Concurrency(key="user.id", limit=1)``: the same, per value of a payload path;
  ``client.define_concurrency_limit(id, limit)``: one limit shared by several jobs. A list
  combines them: a run starts only when every group it belongs to has room.
- ``throttle=Throttle(limit=10, period=60)``: at most ``limit`` run starts per ``period``.
- ``debounce=Debounce(seconds=5, key="doc_id")``: a run starts ``seconds`` after the last
  trigger with the same key; triggers meanwhile replace its payload instead of adding runs.
- ``idempotency_key="order.id"`` (a payload path, or a function of the payload): triggering
  the job again with the same key within 24 hours returns the existing run.
- ``timeout=seconds``: a run still unfinished that long after it first started (waits
  included) ends ``timed_out``.
- ``cancel_on=CancelOn(event="order.canceled", match="order_id")``: an event of that name
  whose payload has the same value at ``match`` cancels the job's queued and waiting runs.
- ``priority=N``: among runnable runs, higher priorities are claimed first.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict, final

from ..errors import InvalidJobDefinition
from ..records import RunGroup

_MISSING = object()


def lookup(payload: Any, path: str) -> Any:
    """The value at a dotted ``path`` in a JSON payload (None when absent)."""
    value = payload
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _check_path(where: str, path: Any) -> str:
    if not isinstance(path, str) or not path or any(not p for p in path.split(".")):
        raise InvalidJobDefinition(f"{where}: {path!r} is not a dotted payload path like 'user.id'")
    return path


def _check_positive(where: str, value: Any, *, integer: bool = True) -> None:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not value > 0:
        what = "a positive integer" if integer else "a positive number of seconds"
        raise InvalidJobDefinition(f"{where} must be {what}, got {value!r}")
    if not integer and not math.isfinite(value):
        raise InvalidJobDefinition(f"{where} must be finite, got {value!r}")


@final
@dataclass(frozen=True, slots=True)
class Concurrency:
    """At most ``limit`` running runs per value of the payload path ``key``."""

    key: str
    limit: int = 1

    def __post_init__(self) -> None:
        _check_path("Concurrency(key=...)", self.key)
        _check_positive("Concurrency(limit=...)", self.limit)


@final
@dataclass(frozen=True, slots=True)
class ConcurrencyLimit:
    """A limit shared by every job that names it (``client.define_concurrency_limit``)."""

    id: str
    limit: int

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise InvalidJobDefinition(f"a concurrency limit needs a non-empty id, got {self.id!r}")
        _check_positive(f"concurrency limit {self.id!r}: limit", self.limit)


@final
@dataclass(frozen=True, slots=True)
class Throttle:
    """At most ``limit`` runs started per ``period`` seconds (per payload ``key`` if given)."""

    limit: int
    period: float
    key: str | None = None

    def __post_init__(self) -> None:
        _check_positive("Throttle(limit=...)", self.limit)
        _check_positive("Throttle(period=...)", self.period, integer=False)
        if self.key is not None:
            _check_path("Throttle(key=...)", self.key)


@final
@dataclass(frozen=True, slots=True)
class Debounce:
    """Start ``seconds`` after the last trigger (per payload ``key`` if given)."""

    seconds: float
    key: str | None = None

    def __post_init__(self) -> None:
        _check_positive("Debounce(seconds=...)", self.seconds, integer=False)
        if self.key is not None:
            _check_path("Debounce(key=...)", self.key)


@final
@dataclass(frozen=True, slots=True)
class CancelOn:
    """Cancel the runs not yet ended (queued, waiting or running: a running one stops at its
    next task boundary) when event ``event`` has the run's value at ``match``."""

    event: str
    match: str

    def __post_init__(self) -> None:
        if not isinstance(self.event, str) or not self.event or "\x00" in self.event:
            raise InvalidJobDefinition(
                f"CancelOn(event=...) must name an event (no NUL), got {self.event!r}"
            )
        _check_path("CancelOn(match=...)", self.match)


ConcurrencyOption = int | Concurrency | ConcurrencyLimit
IdempotencyKey = str | Callable[[Any], Any]


class FlowOptions(TypedDict, total=False):
    """The flow-control keyword arguments of ``client.define_job``."""

    concurrency_limit: ConcurrencyOption | Sequence[ConcurrencyOption] | None
    throttle: Throttle | None
    debounce: Debounce | float | None
    idempotency_key: IdempotencyKey | None
    timeout: float | None
    cancel_on: CancelOn | None
    priority: int


def _value_key(value: Any) -> str:
    # a stable, bounded text for any JSON value (a key may be a long string or an object)
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return text if len(text) <= 64 else hashlib.sha256(text.encode()).hexdigest()


@final
@dataclass(frozen=True, slots=True)
class Flow:
    """A job's flow-control settings, validated when the job is defined."""

    job_id: str
    concurrency: tuple[ConcurrencyOption, ...] = ()
    throttle: Throttle | None = None
    debounce: Debounce | None = None
    idempotency_key: IdempotencyKey | None = None
    timeout: float | None = None
    cancel_on: CancelOn | None = None
    priority: int = 0

    @classmethod
    def build(
        cls,
        job_id: str,
        *,
        concurrency_limit: ConcurrencyOption | Sequence[ConcurrencyOption] | None = None,
        throttle: Throttle | None = None,
        debounce: Debounce | float | None = None,
        idempotency_key: IdempotencyKey | None = None,
        timeout: float | None = None,
        cancel_on: CancelOn | None = None,
        priority: int = 0,
    ) -> Flow:
        """Check ``define_job``'s flow options for job ``job_id``."""
        where = f"job {job_id!r}"
        options: tuple[Any, ...]
        if concurrency_limit is None:
            options = ()
        elif isinstance(concurrency_limit, (list, tuple)):
            options = tuple(concurrency_limit)
        else:
            options = (concurrency_limit,)
        for option in options:
            if isinstance(option, (Concurrency, ConcurrencyLimit)):
                continue
            _check_positive(f"{where}: concurrency_limit", option)
        if throttle is not None and not isinstance(throttle, Throttle):
            raise InvalidJobDefinition(f"{where}: throttle must be Throttle(limit=, period=)")
        if debounce is not None and not isinstance(debounce, Debounce):
            _check_positive(f"{where}: debounce", debounce, integer=False)
            debounce = Debounce(float(debounce))
        if idempotency_key is not None and not callable(idempotency_key):
            _check_path(f"{where}: idempotency_key", idempotency_key)
        if timeout is not None:
            _check_positive(f"{where}: timeout", timeout, integer=False)
        if cancel_on is not None and not isinstance(cancel_on, CancelOn):
            raise InvalidJobDefinition(f"{where}: cancel_on must be CancelOn(event=, match=)")
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise InvalidJobDefinition(f"{where}: priority must be an integer, got {priority!r}")
        return cls(
            job_id,
            options,
            throttle,
            debounce,
            idempotency_key,
            None if timeout is None else float(timeout),
            cancel_on,
            priority,
        )

    def groups(self, payload: Any) -> tuple[RunGroup, ...]:
        """The concurrency and throttle groups a run with ``payload`` counts against."""
        groups = []
        for option in self.concurrency:
            if isinstance(option, Concurrency):
                value = _value_key(lookup(payload, option.key))
                groups.append(RunGroup(f"job:{self.job_id}:{option.key}={value}", option.limit))
            elif isinstance(option, ConcurrencyLimit):
                groups.append(RunGroup(f"shared:{option.id}", option.limit))
            else:
                groups.append(RunGroup(f"job:{self.job_id}", option))
        if (t := self.throttle) is not None:
            suffix = "" if t.key is None else f":{t.key}={_value_key(lookup(payload, t.key))}"
            groups.append(RunGroup(f"throttle:{self.job_id}{suffix}", t.limit, t.period))
        return tuple(groups)

    def idempotency(self, payload: Any) -> str | None:
        """The run's idempotency key for ``payload`` (None: no key, or the path is absent)."""
        key = self.idempotency_key
        if key is None:
            return None
        value = key(payload) if callable(key) else lookup(payload, key)
        return None if value is None else _value_key(value)

    def debounce_key(self, payload: Any) -> str | None:
        """The key under which triggers of this job are debounced together."""
        d = self.debounce
        if d is None:
            return None
        return "*" if d.key is None else _value_key(lookup(payload, d.key))

    def cancel_key(self, payload: Any) -> str | None:
        """The key an event must produce (``event_cancel_key``) to cancel this run."""
        c = self.cancel_on
        if c is None:
            return None
        return cancel_key(self.job_id, c.event, lookup(payload, c.match))

    def event_cancel_key(self, name: str, payload: Any) -> str | None:
        """The cancel key event ``name`` with ``payload`` carries for this job, if any."""
        c = self.cancel_on
        if c is None or c.event != name:
            return None
        value = lookup(payload, c.match)
        return None if value is None else cancel_key(self.job_id, name, value)

    @property
    def needs_payload(self) -> bool:
        """Whether creating a run must look inside its payload."""
        return bool(
            any(isinstance(o, Concurrency) for o in self.concurrency)
            or (self.throttle is not None and self.throttle.key is not None)
            or (self.debounce is not None and self.debounce.key is not None)
            or self.idempotency_key is not None
            or self.cancel_on is not None
        )


def cancel_key(job_id: str, event: str, value: Any) -> str:
    """The text matching a run to the events that cancel it."""
    return f"{job_id}|{event}|{_value_key(value)}"

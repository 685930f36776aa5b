"""Job definitions: an id, a name, a version, a trigger and a run function."""

from __future__ import annotations

import hashlib
import inspect
import re
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, final

import pydantic

from ..errors import InvalidJobDefinition
from .flow import Flow
from .triggers import InvokeTrigger, Trigger

RunFunction = Callable[[Any, Any, Any], Any]
Callback = Callable[[Any], Any]
"""``on_success``/``on_failure``: called with the ended run's ``RunResult`` (sync or async)."""

VERSION_PATTERN = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
"""A job version: MAJOR.MINOR.PATCH."""
_NOT_SLUG = re.compile(r"[^a-z0-9\-._~]+")


def slugify(raw: str) -> str:
    """Lowercase ``raw`` and replace runs of characters outside ``[a-z0-9-._~]`` with ``-``."""
    slug = _NOT_SLUG.sub("-", raw.strip().lower()).strip("-")
    return re.sub(r"-{2,}", "-", slug)


@final
@dataclass(frozen=True, slots=True, eq=False)
class Job:
    """A defined job. Made by ``client.define_job``; call ``client.run(job, payload)`` to run it."""

    id: str
    name: str
    version: str
    trigger: Trigger
    run: RunFunction
    integrations: Mapping[str, Any] = field(default_factory=dict)
    flow: Flow | None = None
    enabled: bool = True
    is_async: bool = True
    on_success: Callback | None = None
    on_failure: Callback | None = None
    client: Any = field(default=None, repr=False)
    fingerprint: str = ""
    """What ``code_fingerprint`` makes of the run function (runs record it; see there)."""
    remote: Any = field(default=None, repr=False)
    """Endpoint mode: the ``engine.remote.RemoteEndpoint`` that executes this job's attempts
    in the user's deployed app (``run`` is then a stand-in); None for a job run here."""

    @property
    def concurrency_limit(self) -> int | None:
        """The job's own limit of running runs (None: unlimited)."""
        flow = self.flow
        limits = [] if flow is None else [c for c in flow.concurrency if isinstance(c, int)]
        return min(limits) if limits else None

    async def invoke(
        self, payload: Any = None, *, idempotency_key: str | None = None, is_test: bool = False
    ) -> str:
        """Queue a run of this job (for any worker) and return its id.

        A run with the same ``idempotency_key`` created in the last 24 hours is returned
        instead of a new one.
        """
        if self.client is None:
            raise InvalidJobDefinition(f"job {self.id!r} was not defined by a Client")
        run_id: str = await self.client.enqueue(
            self, payload, idempotency_key=idempotency_key, is_test=is_test
        )
        return run_id

    @property
    def schema(self) -> type[pydantic.BaseModel] | None:
        """The pydantic model that validates this job's payload, if any."""
        return self.trigger.schema

    def parse_payload(self, payload: Any) -> Any:
        """Validate a payload (raises pydantic.ValidationError) into what ``run`` receives.

        A missing payload (None) is validated as ``{}`` when there is a schema, so a schema
        whose fields all have defaults needs no payload.
        """
        schema = self.schema
        if schema is None:
            return payload
        return schema.model_validate({} if payload is None else payload)

    def __repr__(self) -> str:
        return f"<Job {self.id}@{self.version} ({self.trigger.describe()})>"


def make_job(
    *,
    id: str,
    name: str | None,
    version: str,
    trigger: Trigger | None,
    run: RunFunction,
    integrations: Mapping[str, Any] | None,
    enabled: bool,
    on_success: Callback | None = None,
    on_failure: Callback | None = None,
    flow: Mapping[str, Any] | None = None,
    client: Any = None,
) -> Job:
    """Validate a job definition and build the Job (``client.define_job`` calls this)."""
    if not isinstance(id, str) or not slugify(id):
        raise InvalidJobDefinition(
            f"job id {id!r} is empty after slugifying; use letters, digits and -._~"
        )
    slug = slugify(id)
    if not isinstance(version, str) or not VERSION_PATTERN.match(version):
        raise InvalidJobDefinition(
            f"job {slug!r}: version {version!r} is not MAJOR.MINOR.PATCH (e.g. '1.0.0')"
        )
    if not callable(run):
        raise InvalidJobDefinition(f"job {slug!r}: run must be a function, got {run!r}")
    _check_signature(slug, run)
    built = Flow.build(slug, **(flow or {}))
    for label, callback in (("on_success", on_success), ("on_failure", on_failure)):
        if callback is not None and not callable(callback):
            raise InvalidJobDefinition(f"job {slug!r}: {label} must be callable, got {callback!r}")
    return Job(
        id=slug,
        name=name or id,
        version=version,
        trigger=trigger or InvokeTrigger(),
        run=run,
        integrations=dict(integrations or {}),
        flow=built if built != Flow(slug) else None,
        enabled=enabled,
        is_async=inspect.iscoroutinefunction(run),
        on_success=on_success,
        on_failure=on_failure,
        client=client,
        fingerprint=code_fingerprint(run),
    )


def code_fingerprint(fn: Callable[..., Any]) -> str:
    """A short hash of what ``fn`` does: its bytecode, constants and names, and those of the
    functions, lambdas and classes defined inside it, recursively.

    Line numbers, comments and formatting do not count, so moving a job in its file keeps the
    fingerprint; changing what it does (or its docstring) changes it. Functions it *calls* are
    not part of it (they are looked up by name when it runs), nor are its defaults. Bytecode
    differs between Python minor versions, so upgrading Python changes every fingerprint.
    Computed once, when the job is defined (a few µs, no file is read).
    """
    digest = hashlib.sha256()
    target: Any = inspect.unwrap(fn)
    code = getattr(target, "__code__", None)
    if code is None:  # a callable object: what its class's __call__ does
        code = getattr(vars(type(target)).get("__call__"), "__code__", None)
    if not isinstance(code, types.CodeType):  # a builtin or C callable: only its name is known
        digest.update(repr(getattr(target, "__qualname__", target)).encode())
        return digest.hexdigest()[:12]
    _hash_code(code, digest)
    return digest.hexdigest()[:12]


def _hash_code(code: types.CodeType, digest: Any) -> None:
    digest.update(code.co_code)
    digest.update(repr((code.co_names, code.co_varnames, code.co_freevars)).encode())
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _hash_code(const, digest)
        else:
            digest.update(_stable_repr(const).encode())


def _stable_repr(const: Any) -> str:
    # a frozenset's order follows string hashing, which differs between processes
    if isinstance(const, frozenset):
        return "frozenset(" + ",".join(sorted(_stable_repr(c) for c in const)) + ")"
    if isinstance(const, tuple):
        return "(" + ",".join(_stable_repr(c) for c in const) + ")"
    return repr(const)


def _check_signature(slug: str, run: RunFunction) -> None:
    try:
        sig = inspect.signature(run)
    except (TypeError, ValueError):
        return  # builtins and some callables have no signature; trust them
    try:
        sig.bind(None, None, None)
    except TypeError as exc:
        raise InvalidJobDefinition(
            f"job {slug!r}: the run function must accept (payload, io, ctx): {exc}"
        ) from exc

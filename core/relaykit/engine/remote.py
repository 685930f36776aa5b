"""relaykit's side of endpoint mode: the jobs of a deployed app, and their attempts over HTTP.

``RemoteEndpoint.describe`` asks the app (``client.endpoint()``) for its jobs and returns
them as ``Job``s whose ``remote`` is this endpoint; a worker claims their runs like any other.
``Engine._execute`` hands such a run's attempt to ``attempt``: one signed POST carrying the
run, its recorded tasks and a time budget. The answer streams one signed line per task the
app committed; each is written at once with ``record_task`` under the attempt's epoch (so a
stale attempt's answer is refused by the store, and the attempt stops), and the last line is
the attempt's end, which the engine records as for an in-process attempt.

A request that fails (connection refused or reset, a timeout, a 5xx, a bad signature, an
answer cut short) is no verdict on the run: the attempt ends ``waiting`` and the run is tried
again after a backoff that doubles per failure in a row (1 s up to 60 s). Everything the app
committed before the failure stays committed and is not run again.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

from .._base.signing import SIGNATURE_HEADER, Signer, endpoint_secret
from ..definitions.jobs import VERSION_PATTERN, Job, slugify
from ..definitions.triggers import (
    CronTrigger,
    EventTrigger,
    IntervalTrigger,
    InvokeTrigger,
    Trigger,
)
from ..errors import (
    EndpointError,
    InvalidJobDefinition,
    LeaseLost,
    SignatureRejected,
    StoreError,
)
from ..records import EventMatch, RunRecord, RunStatus, TaskRecord
from ..store import Store
from . import wire
from .attempt import Outcome

if TYPE_CHECKING:
    import httpx2

_log = logging.getLogger("relaykit.endpoint")
MAX_BACKOFF_SECONDS = 60.0


def _trigger(data: dict[str, Any]) -> Trigger:
    kind = data.get("kind")
    if kind == "event":
        return EventTrigger(
            names=tuple(data["names"]), filter=data.get("filter"), source=data.get("source")
        )
    if kind == "cron":
        return CronTrigger(expr=data["expr"], timezone=data.get("timezone") or "UTC")
    if kind == "interval":
        return IntervalTrigger(seconds=int(data["seconds"]))
    return InvokeTrigger()


def _runs_elsewhere(payload: Any, io: Any, ctx: Any) -> NoReturn:
    raise EndpointError("this job runs in its endpoint; relaykit calls it over HTTP")


class _Failed(Exception):
    """One request of an attempt failed (said why, without the secret)."""


class RemoteEndpoint:
    """One deployed app (``client.endpoint()``) at ``url``, called with one pooled HTTP client.

    ``budget_seconds`` is each attempt's time budget, sent with the request (the app may cap
    it lower); ``timeout`` bounds connecting and the silence between two answer lines (the
    app sends one at least every 10 s while it works, so a long task is not a timeout)."""

    def __init__(
        self,
        url: str,
        *,
        secret: str | None = None,
        budget_seconds: float = 60.0,
        timeout: float = 30.0,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        #: the URL as logs and errors show it: without credentials or a query string
        self.shown_url = _shown(url)
        self.budget_seconds = budget_seconds
        self.timeout = timeout
        self._signer = Signer(endpoint_secret(secret))
        self._transport = transport
        self._http: httpx2.AsyncClient | None = None
        self._failures: dict[str, int] = {}
        self._rng = random.Random()  # noqa: S311 -- backoff jitter
        #: requests sent (describe and execute), for ``relaykit serve``'s log and the tests
        self.requests = 0

    def __repr__(self) -> str:
        return f"<RemoteEndpoint {self.shown_url}>"

    def _client(self) -> httpx2.AsyncClient:
        if self._http is None:
            import httpx2

            # the endpoint sends a line at least every 10 s while it works (a ``beat`` in a
            # long task): ``timeout`` without one means it is gone
            self._http = httpx2.AsyncClient(
                transport=self._transport, timeout=httpx2.Timeout(self.timeout)
            )
        return self._http

    async def aclose(self) -> None:
        """Close the pooled HTTP client."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # -- describe ----------------------------------------------------------------------------

    async def describe(self) -> tuple[str, list[Job]]:
        """The app's client id and its jobs, to register with a relaykit ``Client``; an
        unreachable app or a bad answer is an ``EndpointError`` naming the URL."""
        import httpx2

        body, headers = self._sign({"protocol": wire.PROTOCOL, "action": "describe"})
        self.requests += 1
        try:
            response = await self._client().post(self.url, content=body, headers=headers)
        except httpx2.HTTPError as exc:
            raise EndpointError(
                f"endpoint {self.shown_url} cannot be reached: {_why(exc)}"
            ) from exc
        try:
            answer = self._answer(response, headers[SIGNATURE_HEADER])
        except _Failed as exc:
            raise EndpointError(f"endpoint {self.shown_url}: describe failed: {exc}") from exc
        try:
            jobs = [self._job(j) for j in answer.get("jobs", [])]
        except (KeyError, TypeError, ValueError, InvalidJobDefinition) as exc:
            raise EndpointError(
                f"endpoint {self.shown_url}: describe answered a malformed job: {_why(exc)}"
            ) from exc
        return str(answer.get("client") or "endpoint"), jobs

    def _job(self, data: dict[str, Any]) -> Job:
        """One described job, checked as ``define_job`` checks its id and version."""
        job_id, version = data["id"], data["version"]
        if not isinstance(job_id, str) or slugify(job_id) != job_id or not job_id:
            raise InvalidJobDefinition(f"job id {job_id!r} is not a slug")
        if not isinstance(version, str) or not VERSION_PATTERN.match(version):
            raise InvalidJobDefinition(f"job {job_id!r}: version {version!r} is not X.Y.Z")
        return Job(
            id=job_id,
            name=str(data.get("name") or job_id),
            version=version,
            trigger=_trigger(data.get("trigger") or {}),
            run=_runs_elsewhere,
            enabled=bool(data.get("enabled", True)),
            fingerprint=str(data.get("fingerprint") or ""),
            remote=self,
        )

    def _sign(self, message: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        # a nonce: two identical messages in one second (two describes, a retried request)
        # must not share a signature, which the endpoint would take for a replay
        message = {**message, "nonce": secrets.token_hex(12)}
        body = json.dumps(message, separators=(",", ":")).encode()
        headers = self._signer.sign_request(body)
        headers["content-type"] = "application/json"
        return body, headers

    def _answer(self, response: httpx2.Response, signature: str) -> dict[str, Any]:
        """The one signed line of a non-streamed answer."""
        if response.status_code == 401:
            raise _Failed(
                "401: the endpoint refused relaykit's signature (is RELAYKIT_ENDPOINT_SECRET "
                "the same on both sides?)"
            )
        if response.status_code >= 500:
            raise _Failed(f"the endpoint answered {response.status_code}")
        try:
            data = self._signer.verify_line(signature, 0, response.content)
        except SignatureRejected as exc:
            raise _Failed(f"answer {response.status_code}: {exc}") from exc
        answer: dict[str, Any] = json.loads(data)
        if response.status_code != 200:
            raise _Failed(f"answer {response.status_code}: {answer.get('message')}")
        return answer

    # -- execute -----------------------------------------------------------------------------

    async def attempt(
        self,
        run: RunRecord,
        *,
        recorded: Sequence[TaskRecord],
        log_keys: set[str],
        event_matches: Sequence[EventMatch],
        store: Store,
    ) -> Outcome:
        """Execute one attempt of ``run`` at the endpoint, committing its tasks as they come."""
        message = {
            "protocol": wire.PROTOCOL,
            "action": "execute",
            "run": wire.dump(run),
            "tasks": [wire.dump(t) for t in recorded],
            "log_keys": sorted(log_keys),
            "event_matches": [wire.dump(m) for m in event_matches],
            "budget_seconds": self.budget_seconds,
        }
        body, headers = self._sign(message)
        self.requests += 1
        try:
            outcome = await self._exchange(run, body, headers, store)
        except LeaseLost:
            return Outcome(RunStatus.RUNNING, lease_lost=True)
        except StoreError as exc:  # relaykit's own database: the lease expires, then a retry
            _log.warning("run %s: recording the endpoint's answer failed (%s)", run.id, exc)
            return Outcome(RunStatus.RUNNING, lease_lost=True)
        except _Failed as exc:
            return self._retry_later(run, str(exc))
        self._failures.pop(run.id, None)
        return outcome

    async def _exchange(
        self, run: RunRecord, body: bytes, headers: dict[str, str], store: Store
    ) -> Outcome:
        import httpx2

        signature = headers[SIGNATURE_HEADER]
        try:
            async with self._client().stream(
                "POST", self.url, content=body, headers=headers
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    self._answer(response, signature)  # raises _Failed for any status but 200
                    raise _Failed(f"the endpoint answered {response.status_code}")
                seq = 0
                async for line in response.aiter_lines():
                    if not line:
                        continue
                    try:
                        data = json.loads(self._signer.verify_line(signature, seq, line.encode()))
                    except SignatureRejected as exc:
                        raise _Failed(str(exc)) from exc
                    seq += 1
                    ended = await self._apply(run, data, store)
                    if ended is not None:
                        return ended
        except httpx2.HTTPError as exc:
            raise _Failed(_why(exc)) from exc
        except (KeyError, TypeError, ValueError) as exc:  # a signed line of the wrong shape
            raise _Failed(f"a malformed answer line: {_why(exc)}") from exc
        raise _Failed("the answer ended before the attempt did (the endpoint stopped?)")

    async def _apply(self, run: RunRecord, data: dict[str, Any], store: Store) -> Outcome | None:
        """Write one answer line; the attempt's ``Outcome`` once it is the last."""
        kind = data.get("t")
        if kind == "beat":  # the endpoint is alive, in a long task
            return None
        if kind == "task":
            await store.record_task(
                run_id=run.id,
                epoch=run.epoch,
                task=wire.task(data["task"]),
                logs=[wire.log(g) for g in data.get("logs", [])],
                kv=[wire.kv(w) for w in data.get("kv", [])],
                events=[wire.event(e) for e in data.get("events", [])],
                runs=[wire.run(r) for r in data.get("runs", [])],
            )
            return None
        if kind == "expire":
            task = wire.task(data["task"])
            if await store.expire_event_wait(run_id=run.id, epoch=run.epoch, task=task):
                return None
            # an event won the race: stop here (hanging up cancels the app's attempt) and
            # replay at once, which hands the event to the wait
            return Outcome(RunStatus.WAITING, wake_at=time.time())
        if kind == "end":
            status = RunStatus(data["status"])
            if status is RunStatus.RUNNING:  # the app's attempt gave up without a verdict
                raise _Failed("the endpoint's attempt ended without an outcome")
            return Outcome(
                status,
                output=data.get("output"),
                error=data.get("error"),
                wake_at=data.get("wake_at"),
                tasks=[wire.task(t) for t in data.get("tasks", [])],
                logs=[wire.log(g) for g in data.get("logs", [])],
                event_waits=[wire.event_wait(w) for w in data.get("event_waits", [])],
                code=data.get("code") or None,
            )
        if kind == "error":
            raise _Failed(f"the endpoint failed: {data.get('message')}")
        raise _Failed(f"an answer line of unknown type {kind!r}")

    def _retry_later(self, run: RunRecord, why: str) -> Outcome:
        failures = self._failures.get(run.id, 0) + 1
        self._failures[run.id] = failures
        delay = min(2.0 ** (failures - 1), MAX_BACKOFF_SECONDS) * (0.5 + self._rng.random() / 2)
        _log.warning(
            "run %s: endpoint %s: %s; the run is tried again in %.1fs (failure %d in a row)",
            run.id,
            self.shown_url,
            why,
            delay,
            failures,
        )
        return Outcome(RunStatus.WAITING, wake_at=time.time() + delay)


def _shown(url: str) -> str:
    """``url`` without ``user:password@`` and without its query (either may hold a token)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

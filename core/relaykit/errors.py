"""Every error relaykit raises, in one place.

The tree::

    RelaykitError                      base of everything below; never raised itself
    ├── ConfigurationError             a bad argument to a public API, refused at the call
    │   ├── InvalidJobDefinition       bad job id, version, trigger or run function
    │   ├── DuplicateJob               two jobs with the same id on one client
    │   ├── PayloadTooLarge            a run or event payload over the size limit
    │   └── InvalidCursor              a list cursor that no list page handed out
    ├── NotFound
    │   ├── UnknownJob
    │   ├── UnknownRun
    │   ├── UnknownEvent
    │   ├── UnknownToken               no waitpoint token with that id
    │   └── UnknownTask                ``RunResult.task(key)`` for a key the run has no task for
    ├── RunNotRetriable                retrying a run that has not ended, or succeeded
    ├── TokenNotWaiting                completing a token that was completed or timed out before
    ├── AppLoadError                   an APP argument that cannot be imported or has no Client
    ├── StoreError                     the database cannot be opened or used
    │   ├── SchemaTooNew               the database was migrated by a newer relaykit
    │   ├── StoreUnavailable           the database failed while in use (disk full, I/O…)
    │   │   └── StoreBusy              another process held the database's lock too long
    │   ├── StoreCorrupt               the database file is damaged or not a database
    │   └── LeaseLost                  this attempt no longer holds the run it is writing
    ├── RunError                       ends a run as ``failed`` when it escapes the run function
    │   ├── DuplicateTaskKey
    │   ├── NonDeterministicRun
    │   └── SerializationError         a task output / run output that is not JSON-serializable
    │       └── JsonTooDeep            JSON nested over 200 levels deep (also a ValueError)
    ├── TaskFailed                     a task exhausted its retries (user code may catch it)
    ├── NonRetriable                   raise inside a task: fail it now, no more attempts
    │   ├── MissingConnection          an integration has no credentials (token or connection)
    │   └── UnmockedTask               relaykit.testing: an integration task with no mock
    ├── IntegrationError               an integration task failed with a secret in its message
    ├── RetryAfter                     raise inside a task: retry it after exactly ``seconds``
    ├── WebhookRejected                a webhook delivery refused (``status``: 401, 400, 404)
    ├── SignatureRejected              endpoint mode: an unsigned, stale or badly signed message
    ├── EndpointError                  endpoint mode: unreachable, or a bad answer
    │   └── EndpointUnsupported        an io feature endpoint mode does not offer yet
    ├── FetchError                     ``io.background_fetch`` got a status with no retry rule
    └── MockNotReached                 relaykit.testing: a mocked task never ran

Suspension is *not* in this tree: it derives from ``BaseException`` (see ``_internal``), so a
user's ``except Exception:`` can never swallow it.

Every error's docstring is its default message; messages name the job, run, task key or field
involved and say what to do.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ._base.durations import MAX_SECONDS, check_seconds


class RelaykitError(Exception):
    """A relaykit error."""

    retriable: ClassVar[bool] = True

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or type(self).__name__).strip())

    @property
    def message(self) -> str:
        """The error's one-line message."""
        return str(self.args[0]) if self.args else ""


class ConfigurationError(RelaykitError, ValueError):
    """Invalid configuration."""

    retriable = False


class InvalidJobDefinition(ConfigurationError):
    """Invalid job definition."""


class DuplicateJob(ConfigurationError):
    """A job with this id is already defined on this client."""


class PayloadTooLarge(ConfigurationError):
    """The payload is larger than the client's limit (Client(max_payload_bytes=...))."""


class InvalidCursor(ConfigurationError):
    """The cursor is not one a list page handed out (its ``next_cursor``); start again
    without one."""


class NotFound(RelaykitError, LookupError):
    """Not found."""

    retriable = False


class UnknownJob(NotFound):
    """No job with that id is defined; run `relaykit jobs APP` to list the job ids."""


class UnknownRun(NotFound):
    """No run with that id; run `relaykit runs list` to see recent runs."""


class UnknownEvent(NotFound):
    """No event with that id; `GET /api/v1/events` lists recent events."""


class UnknownToken(NotFound):
    """No waitpoint token with that id; run `relaykit tokens list` to see tokens."""


class RunNotRetriable(RelaykitError):
    """The run cannot be retried in its state: cancel a run that has not ended first; fork a
    run that succeeded with a task key or a payload, or replay it."""

    retriable = False


class TokenNotWaiting(RelaykitError):
    """The token was completed already or timed out; a token completes once."""

    retriable = False

    def __init__(self, message: str | None = None, *, status: str = "completed") -> None:
        super().__init__(message)
        self.status = status


class UnknownTask(NotFound, KeyError):
    """The run has no task with that key; ``RunResult.tasks`` lists the keys it has."""

    def __str__(self) -> str:
        # KeyError would show the message quoted, as it shows a missing key
        return self.message


class AppLoadError(RelaykitError):
    """The APP could not be loaded; pass a path to a .py file or module:attribute."""

    retriable = False


class StoreError(RelaykitError):
    """The relaykit database could not be used."""


class SchemaTooNew(StoreError):
    """The database schema is newer than this relaykit; upgrade relaykit."""

    retriable = False


class StoreUnavailable(StoreError):
    """The database failed while in use (disk full, I/O error, lost connection); nothing was
    written by the failed operation, and trying again later may succeed."""


class StoreBusy(StoreUnavailable):
    """Another process held the database's write lock past the busy timeout; try again."""


class StoreCorrupt(StoreError):
    """The database file is damaged or is not a relaykit database."""

    retriable = False


class LeaseLost(StoreError):
    """This attempt no longer holds the run: another claim took it (its lease expired), or it
    was canceled or released. The attempt stops and writes nothing more."""


class RunError(RelaykitError):
    """The run function broke a rule of the execution model."""

    retriable = False


class DuplicateTaskKey(RunError):
    """A task key was used twice in the same scope; give each task a unique key."""


class NonDeterministicRun(RunError):
    """A replay met a recorded task whose name or parameters differ."""


class SerializationError(RunError):
    """A value could not be serialized to JSON."""


class JsonTooDeep(SerializationError, ValueError):
    """A JSON value nests arrays and objects deeper than relaykit's limit (200 levels).

    Raised by every surface that reads or writes JSON (the HTTP API, the dashboard, webhooks,
    ``--payload``, ``client.send_event``/``enqueue``/``run``, task outputs), before anything
    is stored. A ``ValueError`` too, so code that catches malformed JSON catches it.
    """


class TaskFailed(RelaykitError):
    """A task failed and will not be retried."""

    retriable = False

    def __init__(
        self,
        message: str | None = None,
        *,
        key: str | None = None,
        cause_type: str | None = None,
        cause_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.key = key
        self.cause_type = cause_type
        self.cause_message = cause_message


class NonRetriable(RelaykitError):
    """The task failed in a way that retrying will not fix."""

    retriable = False


class RetryAfter(RelaykitError):
    """Retry this task after a given delay.

    ``seconds`` must be a finite number from 0 to ``RetryAfter.MAX_SECONDS`` (100 years);
    anything else (NaN, infinity, a negative number) is a ``ConfigurationError`` at once.
    Code reading a vendor's ``Retry-After`` header should treat a value outside that range as
    no header.
    """

    MAX_SECONDS: ClassVar[float] = MAX_SECONDS

    def __init__(self, seconds: float, message: str | None = None) -> None:
        self.seconds = check_seconds(seconds, "RetryAfter: seconds", error=ConfigurationError)
        super().__init__(message or f"retry after {self.seconds:g}s")


class FetchError(RelaykitError):
    """An HTTP request made by io.background_fetch failed."""

    retriable = False

    def __init__(self, message: str, *, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class MissingConnection(NonRetriable):
    """An integration has no credentials; pass token=, set its token variable, or run
    `relaykit connect ID`."""

    def __init__(self, message: str | None = None, *, integration_id: str | None = None) -> None:
        super().__init__(message)
        self.integration_id = integration_id


class UnmockedTask(NonRetriable):
    """An integration task ran inside ``relaykit_env`` with no mock: mock it with
    ``env.mock_task(key, output=...)``, or let its integration run with
    ``relaykit_env(client, allow_network=[...])``."""

    def __init__(self, message: str | None = None, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class MockNotReached(RelaykitError, AssertionError):
    """A task mocked with ``env.mock_task`` never ran; check its key (nested tasks are
    ``parent/child``) or remove the mock."""

    retriable = False


class IntegrationError(RelaykitError):
    """An integration task failed; its message held a secret, which was redacted."""


class WebhookRejected(RelaykitError):
    """The webhook delivery was rejected; check the webhook's secret and content type.

    ``Integration.handle_webhook`` raises it; the webhook route answers ``status`` (401 a bad
    or missing signature, 400 a malformed delivery, 404 no webhooks here) with a JSON error and
    stores nothing.
    """

    retriable = False

    def __init__(self, status: int = 400, message: str | None = None) -> None:
        super().__init__(message)
        self.status = status


class SignatureRejected(RelaykitError):
    """An endpoint-mode request or answer is unsigned, stale, replayed or signed with another
    secret; set the same RELAYKIT_ENDPOINT_SECRET on relaykit and on the endpoint."""

    retriable = False


class EndpointError(RelaykitError):
    """An endpoint (``client.endpoint()``) could not be used: unreachable, a bad answer, or an
    ``io`` feature endpoint mode does not offer yet."""


class EndpointUnsupported(EndpointError):
    """An ``io`` feature that endpoint mode does not offer yet (it needs relaykit's database);
    not retried."""

    retriable = False

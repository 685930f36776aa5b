"""Every error relaykit-openai raises, in one place.

The tree (the bases are relaykit's public errors, so the core's retry rules apply unchanged)::

    relaykit.RelaykitError
    ├── relaykit.http.APIError
    │   └── OpenAIError             every OpenAI API failure (``except OpenAIError``)
    │       ├── OpenAITransientError  5xx, 408, 409, a 429 without a delay hint, a timeout or a
    │       │                         dropped connection: retried with the task's backoff
    │       ├── OpenAIRequestError    a 4xx that retrying will not change (400, 401, 403, 404,
    │       │   │                     422); also a ``relaykit.NonRetriable``
    │       │   └── OpenAIQuotaExceeded  a 429 ``insufficient_quota``: out of credit
    │       └── OpenAIRateLimited     a rate limit with a known reset; ``seconds`` until a
    │                                 retry; also a ``relaykit.RetryAfter``
    ├── relaykit.NonRetriable
    │   ├── OpenAIJobFailed         a background response, file or batch ended in failure
    │   └── OpenAIWaitTimedOut      a durable wait polled ``max_polls`` times without an end
    └── relaykit.RetryAfter
        └── OpenAIStillRunning      a durable wait's poll found the job unfinished: the run
                                    suspends (no worker slot held) and polls again later

The API errors carry ``status`` (``None`` for a timeout or connection error), ``method``,
``url``, OpenAI's ``request_id``, and the error body's ``code``, ``type`` and ``openai_message``.
"""

from __future__ import annotations

from typing import Required, TypedDict, Unpack

from relaykit import NonRetriable, RetryAfter
from relaykit.http import APIError


class ErrorFields(TypedDict, total=False):
    """The request and response facts every OpenAI API error carries (keyword arguments)."""

    status: Required[int | None]
    method: Required[str]
    url: Required[str]
    request_id: str | None
    code: str | None
    type: str | None
    openai_message: str | None


class OpenAIError(APIError):
    """OpenAI's API failed; the base of every OpenAI API error (catch it to handle them all).
    Its fields are ``ErrorFields``, ``None`` where the response did not say.

    The retry class comes from the concrete error: ``OpenAIRequestError`` is also a
    ``relaykit.NonRetriable``, ``OpenAIRateLimited`` a ``relaykit.RetryAfter``.
    """

    status: int | None
    method: str
    url: str
    request_id: str | None
    code: str | None
    type: str | None
    openai_message: str | None

    def _set_fields(self, fields: ErrorFields) -> None:
        self.set_api_fields(
            status=fields["status"],
            method=fields["method"],
            url=fields["url"],
            vendor_message=fields.get("openai_message"),
        )
        self.request_id = fields.get("request_id")
        self.code = fields.get("code")
        self.type = fields.get("type")
        self.openai_message = fields.get("openai_message")


class OpenAITransientError(OpenAIError):
    """OpenAI failed in a way that may pass (server error, timeout); the task will be retried."""

    retriable = True

    def __init__(self, message: str, **fields: Unpack[ErrorFields]) -> None:
        super().__init__(message)
        self._set_fields(fields)


class OpenAIRequestError(OpenAIError, NonRetriable):
    """OpenAI rejected the request in a way that retrying will not fix."""

    def __init__(self, message: str, **fields: Unpack[ErrorFields]) -> None:
        super().__init__(message)
        self._set_fields(fields)


class OpenAIQuotaExceeded(OpenAIRequestError):
    """The OpenAI account has no quota left (``insufficient_quota``); add credit, then replay."""


class OpenAIRateLimited(OpenAIError, RetryAfter):
    """OpenAI's rate limit was hit; retry after ``seconds`` (from its reset headers)."""

    def __init__(self, seconds: float, message: str, **fields: Unpack[ErrorFields]) -> None:
        super().__init__(seconds, message)
        self._set_fields(fields)


class OpenAIJobFailed(NonRetriable):
    """A background response, uploaded file or batch ended in failure; see ``result``.

    ``kind`` is ``"response"``, ``"file"`` or ``"batch"``; ``result`` the object OpenAI returned
    (a JSON dict), so the failure's details are kept in the task's error.
    """

    def __init__(self, message: str, *, kind: str, result: dict[str, object]) -> None:
        super().__init__(message)
        self.kind = kind
        self.result = result


class OpenAIStillRunning(RetryAfter):
    """A background response, file or batch is not done yet: poll again in ``seconds``.

    Raised by the ``wait_for_*`` tasks; the engine persists the next poll time and suspends the
    run, so a wait of hours holds no worker. ``kind`` (``"response"``, ``"file"``,
    ``"batch"``) and ``object_id`` name what is awaited.
    """

    def __init__(self, seconds: float, *, kind: str, object_id: str) -> None:
        super().__init__(
            seconds, f"OpenAI {kind} {object_id} has not finished; checking again in {seconds:g}s"
        )
        self.kind = kind
        self.object_id = object_id


class OpenAIWaitTimedOut(NonRetriable):
    """A ``wait_for_*`` task polled ``max_polls`` times and the job had still not ended.

    The job itself goes on at OpenAI; replay the run (or wait again with a larger
    ``max_polls`` or ``poll_every``) to pick its result up.
    """

    def __init__(self, message: str, *, kind: str, object_id: str, polls: int) -> None:
        super().__init__(message)
        self.kind = kind
        self.object_id = object_id
        self.polls = polls

"""Every error relaykit-slack raises, in one place.

The tree (the bases are relaykit's public errors, so the core's retry rules apply unchanged)::

    relaykit.RelaykitError
    ├── EventRejected              an Events API request failed verification; ``status`` is
    │                              401 (signature, age: not from Slack) or 400 (malformed body)
    ├── relaykit.http.APIError
    │   └── SlackError             every Slack API failure (``except SlackError``)
    │       ├── SlackServerError   5xx, 408, or ``ok: false`` with a transient code (retriable)
    │       ├── SlackAPIError      ``ok: false`` with a code retrying will not change, or a
    │       │                      4xx; also a ``relaykit.NonRetriable``
    │       └── SlackRateLimited   HTTP 429 / ``ratelimited``; ``seconds`` until a retry; also
    │                              a ``relaykit.RetryAfter``
    ├── relaykit.NonRetriable
    │   └── SlackOAuthError        ``oauth.v2.access`` answered ``ok: false``
    └── relaykit.RetryAfter
        └── FileNotSharedYet       an uploaded file is not shared yet; poll again later

The API errors carry ``status``, ``method`` (Slack's method name, ``chat.postMessage``),
``url`` and Slack's ``error`` code (``channel_not_found``); ``missing_scope`` errors also carry
``needed`` and ``provided`` scopes.
"""

from __future__ import annotations

from relaykit import NonRetriable, RelaykitError, RetryAfter
from relaykit.http import APIError


class EventRejected(RelaykitError):
    """The Events API request was rejected; answer 401 and check the app's signing secret.

    ``status`` is the HTTP status to answer: 401 when the request is not proven to come from
    Slack (signature, timestamp, no secret), 400 when it is signed but malformed.
    """

    retriable = False

    def __init__(self, message: str | None = None, *, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


class SlackError(APIError):
    """Slack's API failed; the base of every Slack API error (catch it to handle them all).

    The retry class comes from the concrete error: ``SlackAPIError`` is also a
    ``relaykit.NonRetriable``, ``SlackRateLimited`` a ``relaykit.RetryAfter``.
    """

    status: int
    method: str
    url: str
    error: str | None
    needed: str | None
    provided: str | None

    def _set_fields(
        self,
        *,
        status: int,
        method: str,
        url: str,
        error: str | None,
        needed: str | None = None,
        provided: str | None = None,
    ) -> None:
        self.set_api_fields(status=status, method=method, url=url, vendor_message=error)
        self.error = error
        self.needed = needed
        self.provided = provided


class SlackServerError(SlackError):
    """Slack failed in a way that may pass (a 5xx, or a transient error code); retried."""

    retriable = True

    def __init__(
        self,
        message: str,
        *,
        status: int,
        method: str,
        url: str,
        error: str | None,
        needed: str | None = None,
        provided: str | None = None,
    ) -> None:
        super().__init__(message)
        self._set_fields(
            status=status, method=method, url=url, error=error, needed=needed, provided=provided
        )


class SlackAPIError(SlackError, NonRetriable):
    """Slack rejected the call in a way that retrying will not fix (bad channel, auth, scope)."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        method: str,
        url: str,
        error: str | None,
        needed: str | None = None,
        provided: str | None = None,
    ) -> None:
        super().__init__(message)
        self._set_fields(
            status=status, method=method, url=url, error=error, needed=needed, provided=provided
        )


class SlackRateLimited(SlackError, RetryAfter):
    """Slack's rate limit was hit; retry after ``seconds`` (its ``Retry-After`` header)."""

    def __init__(
        self,
        seconds: float,
        message: str,
        *,
        status: int,
        method: str,
        url: str,
        error: str | None,
    ) -> None:
        super().__init__(seconds, message)
        self._set_fields(status=status, method=method, url=url, error=error)


class SlackOAuthError(NonRetriable):
    """Slack refused to issue a token; start the OAuth flow again (the code is single-use)."""

    def __init__(self, message: str, *, error: str | None) -> None:
        super().__init__(message)
        self.error = error


class FileNotSharedYet(RetryAfter):
    """The uploaded file has no shares yet; Slack shares it asynchronously, so ask again."""

    def __init__(self, seconds: float, message: str, *, file_id: str) -> None:
        super().__init__(seconds, message)
        self.file_id = file_id

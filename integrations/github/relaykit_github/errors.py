"""Every error relaykit-github raises, in one place.

The tree (the bases are relaykit's public errors, so the core's retry rules apply unchanged)::

    relaykit.RelaykitError
    ├── WebhookRejected            a delivery failed verification (signature, headers, body)
    ├── GitHubServerError          5xx or another status worth retrying (retriable)
    ├── relaykit.NonRetriable
    │   └── GitHubRequestError     a 4xx that retrying will not change (400, 401, 404, 422, ...)
    └── relaykit.RetryAfter
        └── GitHubRateLimited      a primary or secondary rate limit; ``seconds`` until a retry

The API errors carry ``status``, ``method``, ``url`` and GitHub's own ``message``.
"""

from __future__ import annotations

from relaykit import NonRetriable, RelaykitError, RetryAfter


class WebhookRejected(RelaykitError):
    """The webhook delivery was rejected; check the webhook's secret and content type."""

    retriable = False


class _APIErrorFields:
    """The request and response facts every GitHub API error carries."""

    status: int
    method: str
    url: str
    github_message: str | None

    def _set_fields(self, status: int, method: str, url: str, github_message: str | None) -> None:
        self.status = status
        self.method = method
        self.url = url
        self.github_message = github_message


class GitHubServerError(_APIErrorFields, RelaykitError):
    """GitHub answered with a server error; the task will be retried."""

    retriable = True

    def __init__(
        self, message: str, *, status: int, method: str, url: str, github_message: str | None
    ) -> None:
        super().__init__(message)
        self._set_fields(status, method, url, github_message)


class GitHubRequestError(_APIErrorFields, NonRetriable):
    """GitHub rejected the request in a way that retrying will not fix."""

    def __init__(
        self, message: str, *, status: int, method: str, url: str, github_message: str | None
    ) -> None:
        super().__init__(message)
        self._set_fields(status, method, url, github_message)


class GitHubRateLimited(_APIErrorFields, RetryAfter):
    """GitHub's rate limit was hit; retry after ``seconds``.

    ``kind`` is ``"primary"`` (the hourly quota; waits until ``x-ratelimit-reset``) or
    ``"secondary"`` (too many requests too fast; waits ``retry-after`` or at least a minute).
    """

    def __init__(
        self,
        seconds: float,
        message: str,
        *,
        kind: str,
        status: int,
        method: str,
        url: str,
        github_message: str | None,
        reset_at: float | None = None,
    ) -> None:
        super().__init__(seconds, message)
        self.kind = kind
        #: A primary limit's ``x-ratelimit-reset`` (epoch seconds), to measure the wait on
        #: another clock than the one ``seconds`` was computed with (a run's).
        self.reset_at = reset_at
        self._set_fields(status, method, url, github_message)

"""Every error relaykit-github raises, in one place.

The tree (the bases are relaykit's public errors, so the core's retry rules apply unchanged)::

    relaykit.RelaykitError
    ├── WebhookRejected            a delivery failed verification (signature, headers, body)
    └── relaykit.http.APIError
        └── GitHubError            every GitHub API failure (``except GitHubError``)
            ├── GitHubServerError  5xx or another status worth retrying (retriable)
            ├── GitHubRequestError a 4xx that retrying will not change (400, 401, 404, 422,
            │                      ...); also a ``relaykit.NonRetriable``
            └── GitHubRateLimited  a primary or secondary rate limit; ``seconds`` until a
                                   retry; also a ``relaykit.RetryAfter``

The API errors carry ``status``, ``method``, ``url`` and GitHub's own ``message``
(``github_message``, also ``vendor_message``).
"""

from __future__ import annotations

from relaykit import NonRetriable, RelaykitError, RetryAfter
from relaykit.http import APIError


class WebhookRejected(RelaykitError):
    """The webhook delivery was rejected; check the webhook's secret and content type."""

    retriable = False


class GitHubError(APIError):
    """GitHub's API failed; the base of every GitHub API error (catch it to handle them all).

    The retry class comes from the concrete error: ``GitHubRequestError`` is also a
    ``relaykit.NonRetriable``, ``GitHubRateLimited`` a ``relaykit.RetryAfter``.
    """

    status: int
    method: str
    url: str
    github_message: str | None

    def _set_fields(self, status: int, method: str, url: str, github_message: str | None) -> None:
        self.set_api_fields(status=status, method=method, url=url, vendor_message=github_message)
        self.github_message = github_message


class GitHubServerError(GitHubError):
    """GitHub answered with a server error; the task will be retried."""

    retriable = True

    def __init__(
        self, message: str, *, status: int, method: str, url: str, github_message: str | None
    ) -> None:
        super().__init__(message)
        self._set_fields(status, method, url, github_message)


class GitHubRequestError(GitHubError, NonRetriable):
    """GitHub rejected the request in a way that retrying will not fix."""

    def __init__(
        self, message: str, *, status: int, method: str, url: str, github_message: str | None
    ) -> None:
        super().__init__(message)
        self._set_fields(status, method, url, github_message)


class GitHubRateLimited(GitHubError, RetryAfter):
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

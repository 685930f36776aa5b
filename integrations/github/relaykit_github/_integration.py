"""``GitHub``: the relaykit integration over this package's REST functions and webhooks.

Every API function becomes a task method (``await io.github.create_issue("key", owner=...,
repo=..., title=...)``): memoized by key, retried by the engine with GitHub's rate-limit rules
(``GitHubRateLimited`` is a ``RetryAfter``; a 4xx other than a rate limit is
``NonRetriable``). Deliveries to ``/webhooks/<id>/<owner>/<repo>`` (or ``/<org>``) are verified
with the secret ``register_webhooks`` stored, and sent as events named ``github.<event>``.
"""

from __future__ import annotations

import hashlib
import inspect
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar, Concatenate, ParamSpec, TypeVar

import httpx2

from relaykit import (
    Client,
    Credentials,
    Integration,
    MissingConnection,
    NonRetriable,
    RetryAfter,
    TaskFailed,
    TaskMethod,
    WebhookEvent,
    WebhookExample,
    WebhookRejected,
    WebhookRequest,
    WebhookResponse,
    WebhookSecrets,
    api_task,
    task,
)

from . import _contents, _examples, _git, _issues, _pulls, _repos
from ._app import AppAuth, installation_token
from ._client import API_URL, create_client
from ._http import primary_reset_delay
from ._triggers import Triggers, repo_filter
from ._webhooks import generate_webhook_secret, parse_delivery, verify_signature
from .errors import GitHubRateLimited
from .errors import WebhookRejected as DeliveryRejected

P = ParamSpec("P")
R = TypeVar("R")

#: The secret's name among a webhook source's stored secrets.
WEBHOOK_SECRET = "webhook_secret"  # noqa: S105 -- a name, not a secret


def _api_task(
    fn: Callable[Concatenate[httpx2.AsyncClient, P], Awaitable[R]],
) -> TaskMethod[GitHub, P, R]:
    """A task method calling the API function ``fn`` with the task's client, recorded as
    ``github.<fn>`` (a ``secret`` argument as ``[redacted]``)."""
    redact = ("secret",) if "secret" in inspect.signature(fn).parameters else ()
    return api_task(fn, name=f"github.{fn.__name__}", icon="github", redact=redact)


class GitHub(Integration):
    """GitHub's REST API and webhooks for relaykit jobs.

    ``GitHub(id="github")`` reads its token from ``$GITHUB_TOKEN`` when a task runs (or pass
    ``token=``, or ``token_env=`` for another variable, or ``relaykit connect github``).
    ``base_url`` points at GitHub Enterprise Server (``https://HOST/api/v3``). Use
    ``github.triggers.repo(...)``/``.org(...)`` as job triggers and ``register_webhooks`` to
    point GitHub at the server.

    As a GitHub App: ``GitHub(app_id=..., installation_id=..., private_key=PEM)`` (or the key
    read from ``$GITHUB_APP_PRIVATE_KEY``, or ``private_key_env=`` another variable). Each task
    then uses an installation token, obtained with a JWT signed by the key and cached in the
    process until a minute before it expires.
    """

    slug: ClassVar[str] = "github"
    name: ClassVar[str] = "GitHub"
    icon: ClassVar[str] = "github"
    docs_url: ClassVar[str | None] = "https://docs.github.com/en/rest"
    auth_modes: ClassVar[tuple[str, ...]] = ("token", "app")
    token_env: ClassVar[str | None] = "GITHUB_TOKEN"  # noqa: S105 -- a variable name, not a token
    private_key_env: ClassVar[str] = "GITHUB_APP_PRIVATE_KEY"
    webhook_secret_name: ClassVar[str | None] = WEBHOOK_SECRET

    def __init__(
        self,
        id: str = "github",
        *,
        token: str | None = None,
        token_env: str | None = None,
        base_url: str = API_URL,
        transport: httpx2.AsyncBaseTransport | None = None,
        app_id: int | str | None = None,
        installation_id: int | str | None = None,
        private_key: str | None = None,
        private_key_env: str | None = None,
    ) -> None:
        super().__init__(id, token=token, token_env=token_env, transport=transport)
        self.base_url = base_url
        self.triggers = Triggers(self)
        app_given = (app_id, installation_id, private_key, private_key_env)
        self._app_mode = any(v is not None for v in app_given)
        if self._app_mode and (token is not None or token_env is not None):
            raise ValueError(
                f"GitHub(id={id!r}): pass a token (token=/token_env=) or a GitHub App "
                "(app_id=, installation_id=, private_key=/private_key_env=), not both"
            )
        self._app_id = None if app_id is None else str(app_id)
        self._installation_id = None if installation_id is None else str(installation_id)
        self._private_key = private_key
        self._private_key_env = private_key_env

    async def credentials(self) -> Credentials:
        """The token's credentials, or as a GitHub App the installation's (cached) token."""
        if not self._app_mode:
            return await super().credentials()
        return await installation_token(
            self._app_auth(), base_url=self.base_url, transport=self.transport, now=self.now()
        )

    def _app_auth(self) -> AppAuth:
        """The app's identity, or ``MissingConnection`` naming what to set."""
        env = self._private_key_env or type(self).private_key_env
        missing = []
        if not self._app_id:
            missing.append("app_id= (the app's id, on its settings page)")
        if not self._installation_id:
            missing.append(
                "installation_id= (in the installation's URL, or GET /app/installations)"
            )
        if not self._private_key and not os.environ.get(env):
            missing.append(f"private_key= (the app's .pem) or the environment variable {env}")
        if missing:
            raise MissingConnection(
                f"integration {self.id!r} is a GitHub App without credentials: set "
                + "; ".join(missing),
                integration_id=self.id,
            )
        literal = self._private_key

        def read_key() -> str:
            return literal or os.environ.get(env, "")

        return AppAuth(self._app_id or "", self._installation_id or "", read_key)

    def create_client(self, credentials: Credentials) -> httpx2.AsyncClient:
        """The package's authenticated client (no transport retries: the engine retries)."""
        return create_client(
            credentials.access_token, base_url=self.base_url, transport=self.transport
        )

    def classify_error(self, exc: Exception) -> BaseException | None:
        """GitHub's errors already say how to retry; a primary rate limit's wait is measured
        on the run's clock, and a failed nested task fails its parent at once."""
        if isinstance(exc, GitHubRateLimited) and exc.reset_at is not None:
            seconds = primary_reset_delay(exc.reset_at, self.now())
            if seconds is not None:  # else the delay measured when GitHub answered stands
                return RetryAfter(seconds, str(exc))
        if isinstance(exc, TaskFailed):
            return NonRetriable(str(exc))
        return super().classify_error(exc)

    # -- issues, comments, reactions ------------------------------------------------------------
    create_issue = _api_task(_issues.create_issue)
    get_issue = _api_task(_issues.get_issue)
    add_issue_assignees = _api_task(_issues.add_issue_assignees)
    add_issue_labels = _api_task(_issues.add_issue_labels)
    create_issue_comment = _api_task(_issues.create_issue_comment)
    add_issue_comment_reaction = _api_task(_issues.add_issue_comment_reaction)

    @task(name="github.create_issue_comment_with_reaction", icon="github")
    async def create_issue_comment_with_reaction(
        self,
        client: httpx2.AsyncClient,
        *,
        owner: str,
        repo: str,
        issue_number: int,
        body: str,
        reaction: str,
    ) -> dict[str, Any]:
        """Comment on an issue and react to the new comment, as two nested tasks (``comment``,
        ``reaction``): a retried reaction never posts the comment twice."""
        comment = await self.create_issue_comment(
            "comment", owner=owner, repo=repo, issue_number=issue_number, body=body
        )
        added = await self.add_issue_comment_reaction(
            "reaction", owner=owner, repo=repo, comment_id=int(comment["id"]), content=reaction
        )
        return {"comment": comment, "reaction": added}

    # -- repositories and webhooks --------------------------------------------------------------
    get_repo = _api_task(_repos.get_repo)
    list_repo_webhooks = _api_task(_repos.list_repo_webhooks)
    create_repo_webhook = _api_task(_repos.create_repo_webhook)
    update_repo_webhook = _api_task(_repos.update_repo_webhook)
    list_org_webhooks = _api_task(_repos.list_org_webhooks)
    create_org_webhook = _api_task(_repos.create_org_webhook)
    update_org_webhook = _api_task(_repos.update_org_webhook)

    # -- git data -------------------------------------------------------------------------------
    create_blob = _api_task(_git.create_blob)
    get_blob = _api_task(_git.get_blob)
    create_commit = _api_task(_git.create_commit)
    get_commit = _api_task(_git.get_commit)
    get_ref = _api_task(_git.get_ref)
    list_matching_refs = _api_task(_git.list_matching_refs)
    create_ref = _api_task(_git.create_ref)
    update_ref = _api_task(_git.update_ref)
    create_tag = _api_task(_git.create_tag)
    get_tag = _api_task(_git.get_tag)
    create_tree = _api_task(_git.create_tree)
    get_tree = _api_task(_git.get_tree)

    # -- pull requests and contents -------------------------------------------------------------
    create_pull = _api_task(_pulls.create_pull)
    get_pull = _api_task(_pulls.get_pull)
    list_pulls = _api_task(_pulls.list_pulls)
    merge_pull = _api_task(_pulls.merge_pull)
    get_content = _api_task(_contents.get_content)
    create_or_update_file = _api_task(_contents.create_or_update_file)

    # -- webhooks -------------------------------------------------------------------------------

    async def handle_webhook(
        self, request: WebhookRequest, secrets: WebhookSecrets
    ) -> WebhookResponse:
        """Verify a delivery's signature (401), read it (400), answer ``ping`` with 200 and
        no event, else send ``github.<event>[.<action>]`` with id ``github:<delivery id>``
        and the body's SHA-256 as its ``replay_key`` (a signed body re-sent under another
        delivery id is a replay)."""
        secret = await self.webhook_secret(secrets) or ""
        try:
            verify_signature(request.body, request.headers.get("x-hub-signature-256"), secret)
        except DeliveryRejected as exc:
            raise WebhookRejected(401, exc.message) from None
        try:
            delivery = parse_delivery(request.headers, request.body, secret)
        except DeliveryRejected as exc:
            raise WebhookRejected(400, exc.message) from None
        if delivery.event == "ping":
            return WebhookResponse(200, {"ok": True, "zen": delivery.payload.get("zen")})
        event = WebhookEvent(
            id=f"github:{delivery.id}",
            name=f"github.{delivery.name}",
            payload=delivery.payload,
            source="github",
            # GitHub signs the body, not X-GitHub-Delivery: the same signed body under a new
            # delivery id is a replay (relaykit drops it within REPLAY_WINDOW_SECONDS)
            replay_key=hashlib.sha256(request.body).hexdigest(),
        )
        return WebhookResponse(200, {"ok": True}, (event,))

    def webhook_examples(self) -> tuple[str, ...]:
        """GitHub's published example deliveries shipped with the package (``issues.opened``,
        ``pull_request.opened``, ``push``, ...)."""
        return _examples.example_names()

    def example_delivery(
        self, name: str, secret: str, *, source_id: str, now: float
    ) -> WebhookExample | None:
        """GitHub's example ``name`` delivered to ``source_id`` (its repository becomes the
        source's ``owner/repo``), signed with ``secret`` as GitHub signs deliveries."""
        return _examples.example_delivery(name, secret, source_id=source_id, now=now)

    def example_source(self, trigger_filter: Mapping[str, Any] | None) -> str:
        """The repository (``owner/repo``) or organization a trigger's filter names, so the
        dashboard's sample matches the job; else GitHub's example repository."""
        return _examples.source_of(trigger_filter)

    async def register_webhooks(
        self,
        url_base: str,
        *,
        client: Client,
        owner: str | None = None,
        repo: str | None = None,
        org: str | None = None,
        events: list[str] | None = None,
    ) -> dict[str, Any]:
        """Point a repository's (``owner``/``repo``) or an organization's (``org``) webhook at
        ``{url_base}/webhooks/{id}/{owner}/{repo}`` (or ``/{org}``), with a new secret stored
        for it (``client.webhook_secrets``; ``RELAYKIT_SECRET_KEY`` must be set).

        The hook whose ``config.url`` is that URL is updated, else one is created; ``events``
        default to ``["*"]`` (every event: the triggers filter). Returns GitHub's hook.
        """
        if org is None and not (owner and repo):
            raise ValueError("register_webhooks: pass owner= and repo=, or org=")
        source = org if org is not None else f"{owner}/{repo}"
        url = f"{url_base.rstrip('/')}/webhooks/{self.id}/{source}"
        secret = generate_webhook_secret()
        chosen = events or ["*"]
        await client.open()
        where: dict[str, Any] = {"org": org} if org is not None else {"owner": owner, "repo": repo}
        async with self.create_client(await self.credentials()) as http:
            listing = _repos.list_org_webhooks if org is not None else _repos.list_repo_webhooks
            hooks = await listing(http, **where)
            found = next((h for h in hooks if h.get("config", {}).get("url") == url), None)
            if found is None:
                create = _repos.create_org_webhook if org else _repos.create_repo_webhook
                hook = await create(http, **where, url=url, events=chosen, secret=secret)
            else:
                update = _repos.update_org_webhook if org else _repos.update_repo_webhook
                hook = await update(
                    http, **where, hook_id=int(found["id"]), url=url, events=chosen, secret=secret
                )
        # Stored only once GitHub accepted it: a failed call leaves the old secret working.
        await client.webhook_secrets(self.id, source).set(WEBHOOK_SECRET, secret)
        return hook


__all__ = ["WEBHOOK_SECRET", "GitHub", "repo_filter"]

"""``Slack``: the relaykit integration. Each Web API function is a memoized, retried task.

Inside a run, ``await io.slack.post_message("greet", channel="C0123", text="hi")`` is a task
keyed ``greet`` whose params are the call's keyword arguments. The errors the API functions
raise are already classified (``_http.classify``): ``SlackRateLimited`` is a
``relaykit.RetryAfter`` (the run suspends for Slack's ``Retry-After``), ``SlackAPIError`` a
``relaykit.NonRetriable``, ``SlackServerError`` retried by the task's policy.
"""

from __future__ import annotations

import copy
import hashlib
import os
from collections.abc import Mapping
from typing import Any

import httpx2

import relaykit
from relaykit import (
    Credentials,
    NonRetriable,
    OAuth2,
    Retry,
    WebhookEvent,
    WebhookExample,
    WebhookRejected,
    WebhookRequest,
    WebhookResponse,
    WebhookSecrets,
)

from . import _chat, _conversations, _examples, _files, _users
from ._client import API_URL, JSONObject, create_client
from ._events import EventCallback, UrlVerification, parse_request
from ._oauth import normalize_oauth_v2_response
from ._triggers import SOURCE, SlackTriggers
from .errors import EventRejected

AUTHORIZE_URL = "https://slack.com/oauth/v2/authorize"
TOKEN_URL = "https://slack.com/api/oauth.v2.access"  # noqa: S105 -- a URL, not a secret

BOT_SCOPES = (
    "app_mentions:read",
    "channels:history",
    "channels:join",
    "channels:read",
    "chat:write",
    "files:read",
    "files:write",
    "reactions:write",
    "users:read",
    "users:read.email",
)
"""The bot scopes ``relaykit connect slack`` asks for: what the task methods call. Another set:
subclass with ``oauth = dataclasses.replace(Slack.oauth, scopes=(",".join(mine),))``."""

SHARE_ATTEMPTS = 30
"""How many times the share wait asks ``files.info`` (``SHARE_POLL_INTERVAL`` apart) before the
upload task fails: Slack usually shares a file within seconds."""


def _digest(content: bytes) -> dict[str, Any]:
    """What a task records of uploaded bytes: enough to detect a change, never the bytes."""
    return {"sha256": hashlib.sha256(content).hexdigest(), "length": len(content)}


class Slack(relaykit.Integration):
    """Slack's Web API as tasks, and its Events API as a webhook source.

    ``Slack(id="slack")`` reads the bot token from ``$SLACK_BOT_TOKEN`` when a task runs, else
    uses the connection stored with ``relaykit connect slack`` (an API token, or OAuth v2 with
    ``$SLACK_CLIENT_ID``/``$SLACK_CLIENT_SECRET``). ``token=`` gives the token directly.
    ``signing_secret=`` (else ``$SLACK_SIGNING_SECRET``, else the webhook source's stored
    ``signing_secret``) verifies Events API deliveries. ``base_url`` and ``transport`` point the
    client elsewhere (tests).
    """

    slug = "slack"
    name = "Slack"
    icon = "slack"
    docs_url = "https://api.slack.com/web"
    auth_modes = ("token", "oauth2")
    token_env = "SLACK_BOT_TOKEN"  # noqa: S105 -- the name of a variable, not a token
    webhook_secret_name = "signing_secret"  # noqa: S105 -- a name, not a secret
    oauth = OAuth2(
        authorize_url=AUTHORIZE_URL,
        token_url=TOKEN_URL,
        # Slack reads ``scope`` as a comma-separated list; the core joins scopes with spaces,
        # so they travel as one pre-joined item.
        scopes=(",".join(BOT_SCOPES),),
        client_id_env="SLACK_CLIENT_ID",
        client_secret_env="SLACK_CLIENT_SECRET",  # noqa: S106 -- a variable name, not a secret
        # Slack's oauth.v2.access answers ok/bot-token/authed_user: made standard for authlib
        token_response=lambda response, now: normalize_oauth_v2_response(response, now=now),
    )

    def __init__(
        self,
        id: str = "slack",
        *,
        token: str | None = None,
        token_env: str | None = "SLACK_BOT_TOKEN",  # noqa: S107 -- a variable name
        signing_secret: str | None = None,
        signing_secret_env: str | None = "SLACK_SIGNING_SECRET",  # noqa: S107 -- a variable name
        base_url: str = API_URL,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        # The default variable is the class's ``token_env``: passing it on as an explicit
        # ``token_env=`` would make the core refuse to fall back to a stored connection.
        explicit_env = None if token_env == type(self).token_env else token_env
        super().__init__(id, token=token, token_env=explicit_env, transport=transport)
        self._signing_secret = signing_secret
        self._signing_secret_env = signing_secret_env
        self.base_url = base_url
        self.triggers = SlackTriggers(id)
        self._upload_content: bytes | None = None

    def create_client(self, credentials: Credentials) -> httpx2.AsyncClient:
        """The package's client, authenticated with the bot (or user) token. Slack's own
        ``token_type`` (``bot``/``user``) is not a header scheme: the token is always Bearer."""
        return create_client(
            credentials.access_token, base_url=self.base_url, transport=self.transport
        )

    @staticmethod
    def credentials_from_oauth_response(response: Mapping[str, Any], *, now: float) -> Credentials:
        """Credentials from a raw ``oauth.v2.access`` response (``normalize_oauth_v2_response``:
        the bot token, or the user token of a user-scopes-only install; ``SlackOAuthError`` for
        ``ok: false``). For code that receives Slack's token response itself."""
        return Credentials.from_token_response(normalize_oauth_v2_response(response, now=now), now)

    # -- Events API --------------------------------------------------------------------------

    async def webhook_secret(self, secrets: WebhookSecrets) -> str | None:
        """The signing secret: ``signing_secret=``, else ``$SLACK_SIGNING_SECRET`` (or the
        ``signing_secret_env=`` variable), else the source's stored ``signing_secret``."""
        return (
            self._signing_secret
            or (os.environ.get(self._signing_secret_env) if self._signing_secret_env else None)
            or await super().webhook_secret(secrets)
        )

    def webhook_examples(self) -> tuple[str, ...]:
        """Example ``event_callback`` requests: ``app_mention``, ``member_joined_channel``,
        ``message``, ``reaction_added``."""
        return _examples.EXAMPLE_NAMES

    def example_delivery(
        self, name: str, secret: str, *, source_id: str, now: float
    ) -> WebhookExample | None:
        """The ``event_callback`` request for the example event ``name``, signed at ``now``
        as Slack signs requests (any ``source_id``: Slack's events carry no source)."""
        return _examples.example_delivery(name, secret, now=now)

    async def handle_webhook(
        self, request: WebhookRequest, secrets: WebhookSecrets
    ) -> WebhookResponse:
        """Verify and read one Events API request .

        ``url_verification`` answers 200 with ``{"challenge": ...}``; an ``event_callback``
        becomes one event ``slack.<type>`` with id ``slack:<event_id>`` (Slack's retries of it
        are deduplicated) and an empty 200; ``app_rate_limited`` answers 200. A bad or missing
        signature or a stale timestamp raises ``WebhookRejected(401)``, a malformed body 400.
        """
        secret = await self.webhook_secret(secrets)
        if not secret:
            env = f"${self._signing_secret_env}, " if self._signing_secret_env else ""
            raise WebhookRejected(
                401,
                f"integration {self.id!r} has no Slack signing secret: pass signing_secret=, "
                f"set {env}or store the source's 'signing_secret' (the app's Basic Information "
                "page shows it)",
            )
        try:
            parsed = parse_request(request.headers, request.body, secret, now=request.received_at)
        except EventRejected as exc:
            raise WebhookRejected(exc.status, str(exc)) from None
        if isinstance(parsed, UrlVerification):
            return WebhookResponse(status=200, body=parsed.response_body())
        if isinstance(parsed, EventCallback):
            event = WebhookEvent(
                id=f"{SOURCE}:{parsed.id}", name=parsed.name, payload=parsed.payload, source=SOURCE
            )
            return WebhookResponse(status=200, events=(event,))
        return WebhookResponse(status=200)  # app_rate_limited: nothing to store

    # -- the Web API functions, each a task (written once, in _chat, _conversations, ...) -----

    post_message = relaykit.api_task(_chat.post_message, icon="message-square")
    update_message = relaykit.api_task(_chat.update_message, icon="pencil")
    delete_message = relaykit.api_task(_chat.delete_message, icon="trash")
    add_reaction = relaykit.api_task(_chat.add_reaction, icon="smile")

    join_conversation = relaykit.api_task(_conversations.join_conversation, icon="log-in")
    # The list-shaped methods are one task per page: pass the previous page's
    # ``response_metadata.next_cursor`` as ``cursor`` under a new key.
    list_conversations = relaykit.api_task(_conversations.list_conversations, icon="list")
    get_conversation_history = relaykit.api_task(
        _conversations.get_conversation_history, icon="history"
    )
    get_conversation_replies = relaykit.api_task(
        _conversations.get_conversation_replies, icon="messages-square"
    )
    get_conversation_info = relaykit.api_task(_conversations.get_conversation_info, icon="info")

    get_user_info = relaykit.api_task(_users.get_user_info, icon="user")
    lookup_user_by_email = relaykit.api_task(_users.lookup_user_by_email, icon="at-sign")

    get_file_info = relaykit.api_task(_files.get_file_info, icon="file")

    @relaykit.task(icon="hourglass", retry=Retry(limit=SHARE_ATTEMPTS))
    async def require_file_shared(
        self, client: httpx2.AsyncClient, *, file: str, channel_id: str | None = None
    ) -> JSONObject:
        """The file once Slack has shared it (in ``channel_id``): each "not yet" is a
        ``FileNotSharedYet`` retry ``SHARE_POLL_INTERVAL`` later (the run suspends, holding no
        worker), at most ``SHARE_ATTEMPTS`` attempts."""
        return await _files.require_file_shared(client, file=file, channel_id=channel_id)

    async def upload_file(
        self,
        key: str,
        /,
        *,
        content: bytes,
        filename: str,
        title: str | None = None,
        channel_id: str | None = None,
        initial_comment: str | None = None,
        thread_ts: str | None = None,
        alt_txt: str | None = None,
        snippet_type: str | None = None,
    ) -> JSONObject:
        """Upload ``content`` as ``filename``; with ``channel_id``, share it there and wait
        until the share is visible. Returns the file (``files.info``'s object once shared, else
        ``{"id", "title"}``).

        A task ``key`` with two subtasks: ``key/upload`` (Slack's three upload calls) and, with
        a channel, ``key/share`` (``require_file_shared``). Its params record the content's
        ``{"sha256", "length"}``, never the bytes; a replay with different bytes is a
        ``NonDeterministicRun``.
        """
        if not isinstance(content, bytes | bytearray):
            raise TypeError(f"Slack.upload_file({key!r}, ...): content must be bytes")
        # The bytes reach the task through this per-call copy, not through its params.
        carrier = copy.copy(self)
        carrier._upload_content = bytes(content)
        # Only the options given are recorded, as for every other task.
        given = {
            "title": title,
            "channel_id": channel_id,
            "initial_comment": initial_comment,
            "thread_ts": thread_ts,
            "alt_txt": alt_txt,
            "snippet_type": snippet_type,
        }
        options: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        return await carrier._upload(
            key, file=_digest(carrier._upload_content), filename=filename, **options
        )

    @relaykit.task(name="slack.upload_file", icon="upload")
    async def _upload(
        self,
        client: httpx2.AsyncClient,
        *,
        file: dict[str, Any],
        filename: str,
        title: str | None = None,
        channel_id: str | None = None,
        initial_comment: str | None = None,
        thread_ts: str | None = None,
        alt_txt: str | None = None,
        snippet_type: str | None = None,
    ) -> JSONObject:
        """``upload_file``'s task: upload (a subtask), then wait for the share (another)."""
        content = self._upload_content
        if content is None or _digest(content) != file:
            raise NonRetriable("Slack upload: call io.slack.upload_file(key, content=..., ...)")

        async def upload(api: httpx2.AsyncClient) -> JSONObject:
            return await _files.upload_file(
                api,
                content=content,
                filename=filename,
                title=title,
                channel_id=channel_id,
                initial_comment=initial_comment,
                thread_ts=thread_ts,
                alt_txt=alt_txt,
                snippet_type=snippet_type,
            )

        done: JSONObject = await self.run_task(
            "upload", upload, name="slack.files.upload", icon="upload"
        )
        if channel_id is None:
            return done
        return await self.require_file_shared("share", file=str(done["id"]), channel_id=channel_id)

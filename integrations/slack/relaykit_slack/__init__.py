"""relaykit-slack: Slack for relaykit jobs.

``Slack(id="slack")`` is the integration: declare it on a job (``integrations={"slack":
slack}``) and call its tasks on ``io.slack`` (``post_message``, ``upload_file``, ...); start
jobs from Slack events with ``slack.triggers.events("app_mention")``. The plugin hook below
registers it with relaykit (entry point ``relaykit: slack = "relaykit_slack"``).

Underneath, the Web API calls (``post_message``, ``upload_file``, ...) are plain async
functions over an ``httpx2.AsyncClient`` from ``create_client``; Events API requests are
verified and read with ``parse_request``; ``normalize_oauth_v2_response`` turns Slack's token
response into a standard OAuth 2.0 token.
"""

import typing as _typing

import relaykit

from ._chat import add_reaction, delete_message, post_message, update_message
from ._client import API_URL, create_client
from ._conversations import (
    get_conversation_history,
    get_conversation_info,
    get_conversation_replies,
    iter_conversation_history,
    iter_conversations,
    join_conversation,
    list_conversations,
)
from ._events import (
    EVENT_PREFIX,
    TIMESTAMP_TOLERANCE,
    AppRateLimited,
    EventCallback,
    SlackRequest,
    UrlVerification,
    event_name,
    parse_request,
    sign,
    verify_signature,
)
from ._files import (
    complete_upload_external,
    file_share_status,
    get_file_info,
    get_upload_url_external,
    require_file_shared,
    upload_file,
    upload_to_url,
    wait_for_file_share,
)
from ._http import (
    RATE_LIMIT_CODES,
    RETRIABLE_CODES,
    classify,
    next_cursor,
    paginate,
    raise_for_slack,
)
from ._integration import AUTHORIZE_URL, BOT_SCOPES, SHARE_ATTEMPTS, TOKEN_URL, Slack
from ._oauth import normalize_oauth_v2_response
from ._payloads import (
    EVENT_MODELS,
    AppMentionEvent,
    AppRateLimitedNotice,
    Authorization,
    EventEnvelope,
    MessageEvent,
    ReactionAddedEvent,
    ReactionItem,
    ReactionRemovedEvent,
    SlackEvent,
    SlackModel,
    UrlVerificationRequest,
    parse_event,
)
from ._triggers import SlackTriggers
from ._users import get_user_info, lookup_user_by_email
from .errors import (
    EventRejected,
    FileNotSharedYet,
    SlackAPIError,
    SlackError,
    SlackOAuthError,
    SlackRateLimited,
    SlackServerError,
)

__version__ = "0.1.0"


@relaykit.hookimpl
def relaykit_register_integrations(register: _typing.Any) -> None:
    """Make ``Slack`` known to relaykit (``relaykit plugins``, ``relaykit connect slack``)."""
    register(Slack)


__all__ = [
    "API_URL",
    "AUTHORIZE_URL",
    "BOT_SCOPES",
    "EVENT_MODELS",
    "EVENT_PREFIX",
    "RATE_LIMIT_CODES",
    "RETRIABLE_CODES",
    "SHARE_ATTEMPTS",
    "TIMESTAMP_TOLERANCE",
    "TOKEN_URL",
    "AppMentionEvent",
    "AppRateLimited",
    "AppRateLimitedNotice",
    "Authorization",
    "EventCallback",
    "EventEnvelope",
    "EventRejected",
    "FileNotSharedYet",
    "MessageEvent",
    "ReactionAddedEvent",
    "ReactionItem",
    "ReactionRemovedEvent",
    "Slack",
    "SlackAPIError",
    "SlackError",
    "SlackEvent",
    "SlackModel",
    "SlackOAuthError",
    "SlackRateLimited",
    "SlackRequest",
    "SlackServerError",
    "SlackTriggers",
    "UrlVerification",
    "UrlVerificationRequest",
    "__version__",
    "add_reaction",
    "classify",
    "complete_upload_external",
    "create_client",
    "delete_message",
    "event_name",
    "file_share_status",
    "get_conversation_history",
    "get_conversation_info",
    "get_conversation_replies",
    "get_file_info",
    "get_upload_url_external",
    "get_user_info",
    "iter_conversation_history",
    "iter_conversations",
    "join_conversation",
    "list_conversations",
    "lookup_user_by_email",
    "next_cursor",
    "normalize_oauth_v2_response",
    "paginate",
    "parse_event",
    "parse_request",
    "post_message",
    "raise_for_slack",
    "relaykit_register_integrations",
    "require_file_shared",
    "sign",
    "update_message",
    "upload_file",
    "upload_to_url",
    "verify_signature",
    "wait_for_file_share",
]

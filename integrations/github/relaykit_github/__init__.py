"""relaykit-github: GitHub for relaykit jobs.

``GitHub`` is the integration (``io.github.create_issue(...)``, ``github.triggers.repo(...)``,
verified webhooks), registered with relaykit through the ``relaykit`` entry point.

The REST calls (``create_issue``, ``get_ref``, ...) are plain async functions over an
``httpx2.AsyncClient`` from ``create_client``; webhook deliveries are verified with
``parse_delivery``; the payloads of common events have typed models.
"""

import collections.abc

import relaykit

from ._client import API_URL, API_VERSION, create_client
from ._contents import create_or_update_file, get_content
from ._git import (
    create_blob,
    create_commit,
    create_ref,
    create_tag,
    create_tree,
    get_blob,
    get_commit,
    get_ref,
    get_tag,
    get_tree,
    list_matching_refs,
    update_ref,
)
from ._http import classify, paginate, raise_for_status
from ._integration import WEBHOOK_SECRET, GitHub
from ._issues import (
    add_issue_assignees,
    add_issue_comment_reaction,
    add_issue_labels,
    create_issue,
    create_issue_comment,
    create_issue_comment_with_reaction,
    get_issue,
)
from ._payloads import (
    PAYLOAD_MODELS,
    Comment,
    Issue,
    IssueCommentEvent,
    IssuesEvent,
    Label,
    PullRequest,
    PullRequestEvent,
    PushEvent,
    Repository,
    StarEvent,
    User,
    parse_payload,
)
from ._pulls import create_pull, get_pull, list_pulls, merge_pull
from ._repos import (
    create_org_webhook,
    create_repo_webhook,
    get_repo,
    list_org_webhooks,
    list_repo_webhooks,
    update_org_webhook,
    update_repo_webhook,
)
from ._webhooks import (
    WebhookDelivery,
    generate_webhook_secret,
    parse_delivery,
    sign,
    verify_signature,
)
from .errors import (
    GitHubError,
    GitHubRateLimited,
    GitHubRequestError,
    GitHubServerError,
    WebhookRejected,
)

__version__ = "0.1.0"


@relaykit.hookimpl
def relaykit_register_integrations(
    register: collections.abc.Callable[[type[relaykit.Integration]], None],
) -> None:
    """relaykit's plugin hook: this package provides the ``GitHub`` integration."""
    register(GitHub)


__all__ = [
    "API_URL",
    "API_VERSION",
    "PAYLOAD_MODELS",
    "WEBHOOK_SECRET",
    "Comment",
    "GitHub",
    "GitHubError",
    "GitHubRateLimited",
    "GitHubRequestError",
    "GitHubServerError",
    "Issue",
    "IssueCommentEvent",
    "IssuesEvent",
    "Label",
    "PullRequest",
    "PullRequestEvent",
    "PushEvent",
    "Repository",
    "StarEvent",
    "User",
    "WebhookDelivery",
    "WebhookRejected",
    "__version__",
    "add_issue_assignees",
    "add_issue_comment_reaction",
    "add_issue_labels",
    "classify",
    "create_blob",
    "create_client",
    "create_commit",
    "create_issue",
    "create_issue_comment",
    "create_issue_comment_with_reaction",
    "create_or_update_file",
    "create_org_webhook",
    "create_pull",
    "create_ref",
    "create_repo_webhook",
    "create_tag",
    "create_tree",
    "generate_webhook_secret",
    "get_blob",
    "get_commit",
    "get_content",
    "get_issue",
    "get_pull",
    "get_ref",
    "get_repo",
    "get_tag",
    "get_tree",
    "list_matching_refs",
    "list_org_webhooks",
    "list_pulls",
    "list_repo_webhooks",
    "merge_pull",
    "paginate",
    "parse_delivery",
    "parse_payload",
    "raise_for_status",
    "relaykit_register_integrations",
    "sign",
    "update_org_webhook",
    "update_ref",
    "update_repo_webhook",
    "verify_signature",
]

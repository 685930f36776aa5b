"""Generate the GitHub test data and cassettes from GitHub's official descriptions.

GitHub is not reachable from the machines this project is built on, so the cassettes are made
from the OpenAPI description instead of recorded: each response body is one of the examples the
description publishes for that operation and status (checked against the response schema here and
again by ``test_github_cassettes.py``), and each request is the one the API function sends.

Two steps (run from the repository root)::

    PYTHONPATH=. python integrations/github/tests/make_github_cassettes.py --extract
        # reads ../shared/specs and rewrites tests/data/ (the operations the package calls, with
        # every schema and example they reference; the example webhook deliveries)
    PYTHONPATH=. python integrations/github/tests/make_github_cassettes.py
        # rewrites tests/cassettes/ from tests/data/github-operations.json alone

Sources (both MIT): the npm packages ``@octokit/openapi`` 23.0.2
(``generated/api.github.com.json``) and ``@octokit/webhooks-examples`` 7.6.1
(``api.github.com/index.json``).
"""

from __future__ import annotations

import argparse
import copy
import gzip
import io
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
DATA = HERE / "data"
CASSETTES = HERE / "cassettes"
OPERATIONS_FILE = DATA / "github-operations.json"
EXAMPLES_FILE = DATA / "webhook-examples.json.gz"
API = "https://api.github.com"
REPO = "/repos/octocat/Hello-World"

# Every operation relaykit_github calls: (method, path template).
OPERATIONS = [
    ("POST", "/repos/{owner}/{repo}/issues"),
    ("GET", "/repos/{owner}/{repo}/issues/{issue_number}"),
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/assignees"),
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/labels"),
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("POST", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"),
    ("GET", "/repos/{owner}/{repo}"),
    ("GET", "/repos/{owner}/{repo}/hooks"),
    ("POST", "/repos/{owner}/{repo}/hooks"),
    ("PATCH", "/repos/{owner}/{repo}/hooks/{hook_id}"),
    ("GET", "/orgs/{org}/hooks"),
    ("POST", "/orgs/{org}/hooks"),
    ("PATCH", "/orgs/{org}/hooks/{hook_id}"),
    ("POST", "/repos/{owner}/{repo}/git/blobs"),
    ("GET", "/repos/{owner}/{repo}/git/blobs/{file_sha}"),
    ("POST", "/repos/{owner}/{repo}/git/commits"),
    ("GET", "/repos/{owner}/{repo}/git/commits/{commit_sha}"),
    ("GET", "/repos/{owner}/{repo}/git/ref/{ref}"),
    ("POST", "/repos/{owner}/{repo}/git/refs"),
    ("PATCH", "/repos/{owner}/{repo}/git/refs/{ref}"),
    ("GET", "/repos/{owner}/{repo}/git/matching-refs/{ref}"),
    ("POST", "/repos/{owner}/{repo}/git/tags"),
    ("GET", "/repos/{owner}/{repo}/git/tags/{tag_sha}"),
    ("POST", "/repos/{owner}/{repo}/git/trees"),
    ("GET", "/repos/{owner}/{repo}/git/trees/{tree_sha}"),
    ("POST", "/repos/{owner}/{repo}/pulls"),
    ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("GET", "/repos/{owner}/{repo}/pulls"),
    ("PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/merge"),
    ("GET", "/repos/{owner}/{repo}/contents/{path}"),
    ("PUT", "/repos/{owner}/{repo}/contents/{path}"),
    ("POST", "/app/installations/{installation_id}/access_tokens"),
]

STATUS_TEXT = {200: "OK", 201: "Created", 403: "Forbidden", 404: "Not Found"}
STATUS_TEXT |= {422: "Unprocessable Entity", 503: "Service Unavailable"}


@dataclass
class Exchange:
    """One request the test makes and the response GitHub gives, per the description.

    ``example`` names the response example: ``(path template, method, status, example name)``;
    ``body`` replaces it for responses without a published example (errors).
    """

    method: str
    path: str
    json: Any = None
    query: str = ""
    status: int = 200
    example: tuple[str, str, str, str] | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    edit: Callable[[Any], None] | None = None
    """Changes the example body (still checked against the schema): a value the test needs."""


def _ex(
    template: str, method: str, status: int, name: str = "default"
) -> tuple[str, str, str, str]:
    return (template, method.lower(), str(status), name)


T = "/repos/{owner}/{repo}"
SHA = "7638417db6d59f3c431d3e1f261cc637155684cd"
NOT_FOUND = {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
RATE_LIMITED = {
    "message": "API rate limit exceeded for user ID 1.",
    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
}
ISSUE_JSON = {"title": "Found a bug", "body": "I'm having a problem with this.", "labels": ["bug"]}
HOOK_JSON = {
    "name": "web",
    "active": True,
    "events": ["push", "pull_request"],
    "config": {
        "url": "https://example.com/webhook",
        "content_type": "json",
        "secret": "<redacted>",
    },
}
NEXT = (
    '<https://api.github.com{path}?{query}&page=2>; rel="next", '
    '<https://api.github.com{path}?{query}&page=2>; rel="last"'
)

# Where register_webhooks points the hooks in test_github_integration.
REGISTERED_URL = "https://relay.example.com/webhooks/github/octocat/Hello-World"
REGISTERED_ORG_URL = "https://relay.example.com/webhooks/github/octo-org"


def _point_first_hook_at(url: str) -> Callable[[Any], None]:
    def edit(hooks: Any) -> None:
        hooks[0]["config"]["url"] = url

    return edit


def _integration_cases() -> dict[tuple[str, str], list[Exchange]]:
    """The exchanges of test_github_integration (the ``GitHub`` integration in real runs)."""
    m = "test_github_integration"
    created = Exchange(
        "POST", f"{REPO}/issues", ISSUE_JSON, status=201, example=_ex(f"{T}/issues", "post", 201)
    )
    limited = Exchange(
        "POST",
        f"{REPO}/issues",
        ISSUE_JSON,
        status=403,
        body=RATE_LIMITED,
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1700000000"},
    )
    hook: dict[str, Any] = {
        "name": "web",
        "active": True,
        "events": ["*"],
        "config": {"url": REGISTERED_URL, "content_type": "json", "secret": "<redacted>"},
    }
    org_hook = copy.deepcopy(hook)
    org_hook["config"]["url"] = REGISTERED_ORG_URL
    patch = {"events": ["*"], "config": {"url": REGISTERED_URL, "secret": "<redacted>"}}
    return {
        (m, "test_a_job_creates_an_issue_once_and_replays_it_without_a_request"): [created],
        (m, "test_a_rate_limited_task_is_retried_after_the_reset"): [limited, created],
        (m, "test_not_found_fails_the_task_without_a_retry"): [
            Exchange("GET", f"{REPO}/issues/9999", status=404, body=NOT_FOUND)
        ],
        (m, "test_a_comment_and_its_reaction_are_two_nested_tasks"): [
            Exchange(
                "POST",
                f"{REPO}/issues/1347/comments",
                {"body": "Me too"},
                status=201,
                example=_ex(f"{T}/issues/{{issue_number}}/comments", "post", 201),
            ),
            Exchange(
                "POST",
                f"{REPO}/issues/comments/1/reactions",
                {"content": "rocket"},
                status=201,
                example=_ex(f"{T}/issues/comments/{{comment_id}}/reactions", "post", 201),
            ),
        ],
        (m, "test_a_retried_reaction_does_not_post_the_comment_again"): [
            Exchange(
                "POST",
                f"{REPO}/issues/1347/comments",
                {"body": "Me too"},
                status=201,
                example=_ex(f"{T}/issues/{{issue_number}}/comments", "post", 201),
            ),
            # The first reaction's answer is lost on the way back (the test's plugin raises
            # after it): the reaction is sent again, the comment is not.
            Exchange(
                "POST",
                f"{REPO}/issues/comments/1/reactions",
                {"content": "rocket"},
                status=201,
                example=_ex(f"{T}/issues/comments/{{comment_id}}/reactions", "post", 201),
            ),
            Exchange(
                "POST",
                f"{REPO}/issues/comments/1/reactions",
                {"content": "rocket"},
                status=201,
                example=_ex(f"{T}/issues/comments/{{comment_id}}/reactions", "post", 201),
            ),
        ],
        (m, "test_register_webhooks_creates_a_hook_when_none_points_here"): [
            Exchange(
                "GET", f"{REPO}/hooks", query="per_page=100", example=_ex(f"{T}/hooks", "get", 200)
            ),
            Exchange(
                "POST", f"{REPO}/hooks", hook, status=201, example=_ex(f"{T}/hooks", "post", 201)
            ),
        ],
        (m, "test_register_webhooks_updates_the_hook_that_points_here"): [
            Exchange(
                "GET",
                f"{REPO}/hooks",
                query="per_page=100",
                example=_ex(f"{T}/hooks", "get", 200),
                edit=_point_first_hook_at(REGISTERED_URL),
            ),
            Exchange(
                "PATCH",
                f"{REPO}/hooks/12345678",
                patch,
                example=_ex(f"{T}/hooks/{{hook_id}}", "patch", 200),
            ),
        ],
        (m, "test_register_webhooks_on_an_organization"): [
            Exchange(
                "GET",
                "/orgs/octo-org/hooks",
                query="per_page=100",
                example=_ex("/orgs/{org}/hooks", "get", 200),
            ),
            Exchange(
                "POST",
                "/orgs/octo-org/hooks",
                org_hook,
                status=201,
                example=_ex("/orgs/{org}/hooks", "post", 201),
            ),
        ],
    }


# The installation test_github_app_auth authenticates as, and its tokens' expiry times: the
# test's clock starts at 1700000000 (2023-11-14T22:13:20Z); a token lasts an hour.
INSTALLATION_ID = 42
FIRST_TOKEN_EXPIRES = "2023-11-14T23:13:20Z"
SECOND_TOKEN_EXPIRES = "2023-11-15T00:13:20Z"


def _installation_token(expires_at: str) -> Callable[[Any], None]:
    """The example token as a recording would hold it (the scrubber redacts ``token``: the test
    puts a real-looking one back at replay), expiring at ``expires_at``."""

    def edit(body: Any) -> None:
        body["token"] = "<redacted>"
        body["expires_at"] = expires_at

    return edit


def _app_cases() -> dict[tuple[str, str], list[Exchange]]:
    """The exchanges of test_github_app_auth: an installation token, then API calls with it."""
    m = "test_github_app_auth"
    template = "/app/installations/{installation_id}/access_tokens"

    def exchange(expires_at: str) -> Exchange:
        return Exchange(
            "POST",
            f"/app/installations/{INSTALLATION_ID}/access_tokens",
            status=201,
            example=_ex(template, "post", 201),
            edit=_installation_token(expires_at),
        )

    issue = Exchange(
        "GET", f"{REPO}/issues/1347", example=_ex(f"{T}/issues/{{issue_number}}", "get", 200)
    )
    return {
        (m, "test_two_tasks_share_one_installation_token"): [
            exchange(FIRST_TOKEN_EXPIRES),
            issue,
            issue,
        ],
        (m, "test_the_installation_token_is_refreshed_before_it_expires"): [
            exchange(FIRST_TOKEN_EXPIRES),
            issue,
            exchange(SECOND_TOKEN_EXPIRES),
            issue,
        ],
    }


# (test module, test name) -> the exchanges of that test, in order.
CASES: dict[tuple[str, str], list[Exchange]] = {
    ("test_github_issues", "test_create_issue"): [
        Exchange(
            "POST",
            f"{REPO}/issues",
            ISSUE_JSON,
            status=201,
            example=_ex(f"{T}/issues", "post", 201),
        )
    ],
    ("test_github_issues", "test_get_issue"): [
        Exchange(
            "GET", f"{REPO}/issues/1347", example=_ex(f"{T}/issues/{{issue_number}}", "get", 200)
        )
    ],
    ("test_github_issues", "test_add_issue_assignees"): [
        Exchange(
            "POST",
            f"{REPO}/issues/1347/assignees",
            {"assignees": ["hubot", "other_user"]},
            status=201,
            example=_ex(f"{T}/issues/{{issue_number}}/assignees", "post", 201),
        )
    ],
    ("test_github_issues", "test_add_issue_labels"): [
        Exchange(
            "POST",
            f"{REPO}/issues/1347/labels",
            {"labels": ["bug", "enhancement"]},
            example=_ex(f"{T}/issues/{{issue_number}}/labels", "post", 200),
        )
    ],
    ("test_github_issues", "test_create_issue_comment"): [
        Exchange(
            "POST",
            f"{REPO}/issues/1347/comments",
            {"body": "Me too"},
            status=201,
            example=_ex(f"{T}/issues/{{issue_number}}/comments", "post", 201),
        )
    ],
    ("test_github_issues", "test_add_issue_comment_reaction"): [
        Exchange(
            "POST",
            f"{REPO}/issues/comments/1/reactions",
            {"content": "heart"},
            status=201,
            example=_ex(f"{T}/issues/comments/{{comment_id}}/reactions", "post", 201),
        )
    ],
    ("test_github_issues", "test_create_issue_comment_with_reaction"): [
        Exchange(
            "POST",
            f"{REPO}/issues/1347/comments",
            {"body": "Me too"},
            status=201,
            example=_ex(f"{T}/issues/{{issue_number}}/comments", "post", 201),
        ),
        Exchange(
            "POST",
            f"{REPO}/issues/comments/1/reactions",
            {"content": "rocket"},
            status=201,
            example=_ex(f"{T}/issues/comments/{{comment_id}}/reactions", "post", 201),
        ),
    ],
    ("test_github_issues", "test_get_issue_not_found"): [
        Exchange("GET", f"{REPO}/issues/9999", status=404, body=NOT_FOUND)
    ],
    ("test_github_issues", "test_create_issue_invalid"): [
        Exchange(
            "POST",
            f"{REPO}/issues",
            {"title": ""},
            status=422,
            body={
                "message": "Validation Failed",
                "errors": [{"resource": "Issue", "code": "missing_field", "field": "title"}],
                "documentation_url": "https://docs.github.com/rest/issues/issues#create-an-issue",
            },
        )
    ],
    ("test_github_issues", "test_create_issue_rate_limited"): [
        Exchange(
            "POST",
            f"{REPO}/issues",
            ISSUE_JSON,
            status=403,
            body=RATE_LIMITED,
            headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1700000000"},
        )
    ],
    ("test_github_issues", "test_create_issue_unavailable"): [
        Exchange(
            "POST",
            f"{REPO}/issues",
            ISSUE_JSON,
            status=503,
            body={"message": "Service unavailable", "documentation_url": "https://docs.github.com"},
        )
    ],
    ("test_github_repos", "test_get_repo"): [
        Exchange("GET", REPO, example=_ex(T, "get", 200, "default-response"))
    ],
    ("test_github_repos", "test_list_repo_webhooks"): [
        Exchange(
            "GET",
            f"{REPO}/hooks",
            query="per_page=2",
            example=_ex(f"{T}/hooks", "get", 200),
            headers={"link": NEXT.format(path=f"{REPO}/hooks", query="per_page=2")},
        ),
        Exchange(
            "GET", f"{REPO}/hooks", query="per_page=2&page=2", example=_ex(f"{T}/hooks", "get", 200)
        ),
    ],
    ("test_github_repos", "test_create_repo_webhook"): [
        Exchange(
            "POST", f"{REPO}/hooks", HOOK_JSON, status=201, example=_ex(f"{T}/hooks", "post", 201)
        )
    ],
    ("test_github_repos", "test_update_repo_webhook"): [
        Exchange(
            "PATCH",
            f"{REPO}/hooks/12345678",
            {"active": True, "events": ["issues", "issue_comment"]},
            example=_ex(f"{T}/hooks/{{hook_id}}", "patch", 200),
        )
    ],
    ("test_github_repos", "test_list_org_webhooks"): [
        Exchange(
            "GET",
            "/orgs/octo-org/hooks",
            query="per_page=100",
            example=_ex("/orgs/{org}/hooks", "get", 200),
        )
    ],
    ("test_github_repos", "test_create_org_webhook"): [
        Exchange(
            "POST",
            "/orgs/octo-org/hooks",
            HOOK_JSON,
            status=201,
            example=_ex("/orgs/{org}/hooks", "post", 201),
        )
    ],
    ("test_github_repos", "test_update_org_webhook"): [
        Exchange(
            "PATCH",
            "/orgs/octo-org/hooks/1",
            {"config": {"url": "https://example.com/new"}, "active": False},
            example=_ex("/orgs/{org}/hooks/{hook_id}", "patch", 200),
        )
    ],
    ("test_github_git", "test_create_blob"): [
        Exchange(
            "POST",
            f"{REPO}/git/blobs",
            {"content": "Content of the blob", "encoding": "utf-8"},
            status=201,
            example=_ex(f"{T}/git/blobs", "post", 201),
        )
    ],
    ("test_github_git", "test_get_blob"): [
        Exchange(
            "GET",
            f"{REPO}/git/blobs/3a0f86fb8db8eea7ccbb9a95f325ddbedfb25e15",
            example=_ex(f"{T}/git/blobs/{{file_sha}}", "get", 200),
        )
    ],
    ("test_github_git", "test_create_commit"): [
        Exchange(
            "POST",
            f"{REPO}/git/commits",
            {
                "message": "my commit message",
                "tree": "827efc6d56897b048c772eb4087f854f46256132",
                "parents": [SHA],
            },
            status=201,
            example=_ex(f"{T}/git/commits", "post", 201),
        )
    ],
    ("test_github_git", "test_get_commit"): [
        Exchange(
            "GET",
            f"{REPO}/git/commits/{SHA}",
            example=_ex(f"{T}/git/commits/{{commit_sha}}", "get", 200),
        )
    ],
    ("test_github_git", "test_get_ref"): [
        Exchange(
            "GET", f"{REPO}/git/ref/heads/featureA", example=_ex(f"{T}/git/ref/{{ref}}", "get", 200)
        )
    ],
    ("test_github_git", "test_create_ref"): [
        Exchange(
            "POST",
            f"{REPO}/git/refs",
            {"ref": "refs/heads/featureA", "sha": "aa218f56b14c9653891f9e74264a383fa43fefbd"},
            status=201,
            example=_ex(f"{T}/git/refs", "post", 201),
        )
    ],
    ("test_github_git", "test_update_ref"): [
        Exchange(
            "PATCH",
            f"{REPO}/git/refs/heads/featureA",
            {"sha": "aa218f56b14c9653891f9e74264a383fa43fefbd", "force": True},
            example=_ex(f"{T}/git/refs/{{ref}}", "patch", 200),
        )
    ],
    ("test_github_git", "test_list_matching_refs"): [
        Exchange(
            "GET",
            f"{REPO}/git/matching-refs/heads/feature",
            example=_ex(f"{T}/git/matching-refs/{{ref}}", "get", 200),
        )
    ],
    ("test_github_git", "test_create_tag"): [
        Exchange(
            "POST",
            f"{REPO}/git/tags",
            {
                "tag": "v0.0.1",
                "message": "initial version",
                "object": "c3d0be41ecbe669545ee3e94d31ed9a4bc91ee3c",
                "type": "commit",
            },
            status=201,
            example=_ex(f"{T}/git/tags", "post", 201),
        )
    ],
    ("test_github_git", "test_get_tag"): [
        Exchange(
            "GET",
            f"{REPO}/git/tags/940bd336248efae0f9ee5bc7b2d5c985887b16ac",
            example=_ex(f"{T}/git/tags/{{tag_sha}}", "get", 200),
        )
    ],
    ("test_github_git", "test_create_tree"): [
        Exchange(
            "POST",
            f"{REPO}/git/trees",
            {
                "base_tree": "9fb037999f264ba9a7fc6274d15fa3ae2ab98312",
                "tree": [
                    {
                        "path": "file.rb",
                        "mode": "100644",
                        "type": "blob",
                        "sha": "44b4fc6d56897b048c772eb4087f854f46256132",
                    }
                ],
            },
            status=201,
            example=_ex(f"{T}/git/trees", "post", 201),
        )
    ],
    ("test_github_git", "test_get_tree"): [
        Exchange(
            "GET",
            f"{REPO}/git/trees/fc6274d15fa3ae2ab983129fb037999f264ba9a7",
            query="recursive=1",
            example=_ex(
                f"{T}/git/trees/{{tree_sha}}", "get", 200, "response-recursively-retrieving-a-tree"
            ),
        )
    ],
    ("test_github_pulls", "test_create_pull"): [
        Exchange(
            "POST",
            f"{REPO}/pulls",
            {
                "title": "Amazing new feature",
                "body": "Please pull these awesome changes in!",
                "head": "octocat:new-feature",
                "base": "master",
            },
            status=201,
            example=_ex(f"{T}/pulls", "post", 201),
        )
    ],
    ("test_github_pulls", "test_get_pull"): [
        Exchange("GET", f"{REPO}/pulls/1347", example=_ex(f"{T}/pulls/{{pull_number}}", "get", 200))
    ],
    ("test_github_pulls", "test_list_pulls"): [
        Exchange(
            "GET",
            f"{REPO}/pulls",
            query="state=open&per_page=2",
            example=_ex(f"{T}/pulls", "get", 200),
            headers={"link": NEXT.format(path=f"{REPO}/pulls", query="state=open&per_page=2")},
        ),
        Exchange(
            "GET",
            f"{REPO}/pulls",
            query="state=open&per_page=2&page=2",
            example=_ex(f"{T}/pulls", "get", 200),
        ),
    ],
    ("test_github_pulls", "test_merge_pull"): [
        Exchange(
            "PUT",
            f"{REPO}/pulls/1347/merge",
            {
                "commit_title": "Expand enum",
                "commit_message": "Add a new value to the merge_method enum",
            },
            example=_ex(
                f"{T}/pulls/{{pull_number}}/merge", "put", 200, "response-if-merge-was-successful"
            ),
        )
    ],
    ("test_github_contents", "test_get_content"): [
        Exchange(
            "GET",
            f"{REPO}/contents/README.md",
            query="ref=main",
            example=_ex(f"{T}/contents/{{path}}", "get", 200, "response-if-content-is-a-file"),
        )
    ],
    ("test_github_contents", "test_create_or_update_file"): [
        Exchange(
            "PUT",
            f"{REPO}/contents/notes/hello.txt",
            {
                "message": "my commit message",
                "committer": {"name": "Monalisa Octocat", "email": "octocat@github.com"},
                "content": "bXkgbmV3IGZpbGUgY29udGVudHM=",
            },
            status=201,
            example=_ex(f"{T}/contents/{{path}}", "put", 201, "example-for-creating-a-file"),
        )
    ],
}
CASES |= _integration_cases()
CASES |= _app_cases()


def _resolve(document: Any, node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target = document
        for token in node["$ref"][2:].split("/"):
            target = target[token.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def _team_type(body: Any) -> None:
    for pull in body if isinstance(body, list) else [body]:
        for team in pull.get("requested_teams") or []:
            team.setdefault("type", "organization")


def _repo_language(body: Any) -> None:
    for repo in (body, body.get("source"), body.get("parent")):
        if isinstance(repo, dict):
            repo.setdefault("language", None)


# The published examples of these operations lack a field their own schema requires (the
# description is generated from two sources that drift); GitHub's real responses carry it, so
# the cassettes do too. Keyed by (path template, method).
FIXES: dict[tuple[str, str], Callable[[Any], None]] = {
    (f"{T}/pulls", "post"): _team_type,
    (f"{T}/pulls", "get"): _team_type,
    (f"{T}/pulls/{{pull_number}}", "get"): _team_type,
    (T, "get"): _repo_language,
}


def example_body(document: Any, example: tuple[str, str, str, str]) -> Any:
    """The value of a response example published in the description, completed by ``FIXES``."""
    template, method, status, name = example
    response = _resolve(document, document["paths"][template][method]["responses"][status])
    examples = response["content"]["application/json"]["examples"]
    value = _resolve(document, examples[name])["value"]
    if isinstance(value, dict) and "$ref" in value:
        # A few examples put the $ref to another example object inside ``value``.
        value = _resolve(document, value)["value"]
    value = copy.deepcopy(value)
    fix = FIXES.get((template, method))
    if fix is not None:
        fix(value)
    return value


def _headers(values: dict[str, str]) -> dict[str, list[str]]:
    return {name: [value] for name, value in values.items()}


def interaction(document: Any, exchange: Exchange) -> dict[str, Any]:
    """One vcrpy interaction (the cassette format vcrpy reads) for an exchange."""
    body = exchange.body if exchange.example is None else example_body(document, exchange.example)
    if exchange.edit is not None:
        exchange.edit(body)
    request_headers = {
        "accept": "application/vnd.github+json",
        "x-github-api-version": "2022-11-28",
        "user-agent": "relaykit-github",
    }
    if exchange.json is not None:
        request_headers["content-type"] = "application/json"
    uri = f"{API}{exchange.path}" + (f"?{exchange.query}" if exchange.query else "")
    response_headers = {
        "content-type": "application/json; charset=utf-8",
        "x-github-api-version-selected": "2022-11-28",
        "x-ratelimit-limit": "5000",
        "x-ratelimit-remaining": "4999",
        "x-ratelimit-reset": "1700000000",
    } | exchange.headers
    return {
        "request": {
            "body": "" if exchange.json is None else json.dumps(exchange.json),
            "headers": _headers(request_headers),
            "method": exchange.method,
            "uri": uri,
        },
        "response": {
            "body": {"string": json.dumps(body, indent=1)},
            "headers": _headers(response_headers),
            "status": {"code": exchange.status, "message": STATUS_TEXT[exchange.status]},
        },
    }


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (the JSON bodies) as literal blocks, readable in a review."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render_cassettes(document: Any) -> dict[Path, str]:
    """Every cassette file (path -> YAML text) the cases describe."""
    out = {}
    for (module, test), exchanges in CASES.items():
        cassette = {"interactions": [interaction(document, e) for e in exchanges], "version": 1}
        text = yaml.dump(cassette, Dumper=_Dumper, sort_keys=True, allow_unicode=True, width=100)
        out[CASSETTES / module / f"{test}.yaml"] = text
    return out


def extract(specs: Path) -> None:
    """Rewrite ``tests/data`` from the full descriptions in ``specs``."""
    from tests.spec_subset import (
        subset_document,
    )  # imported here: only --extract needs PYTHONPATH=.

    with gzip.open(specs / "github-rest-api.json.gz", "rt", encoding="utf-8") as fh:
        full = json.load(fh)
    subset = subset_document(full, OPERATIONS)
    subset["info"]["x-relaykit-source"] = (
        "extract of @octokit/openapi 23.0.2 generated/api.github.com.json (MIT), made by "
        "integrations/github/tests/make_github_cassettes.py --extract"
    )
    DATA.mkdir(parents=True, exist_ok=True)
    OPERATIONS_FILE.write_text(json.dumps(subset, indent=1, sort_keys=True) + "\n")
    with gzip.open(specs / "github-webhook-examples.json.gz", "rt", encoding="utf-8") as fh:
        events = json.load(fh)
    kept = {
        "source": "@octokit/webhooks-examples 7.6.1 api.github.com/index.json (MIT)",
        "events": [{"name": e["name"], "examples": e["examples"]} for e in events],
    }
    # mtime=0 makes the archive byte-identical between runs, so git sees no change.
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz:
        gz.write(json.dumps(kept, sort_keys=True, separators=(",", ":")).encode())
    EXAMPLES_FILE.write_bytes(buffer.getvalue())


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--extract [--specs DIR]`` refreshes the data; always writes cassettes."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--extract", action="store_true", help="refresh tests/data first")
    parser.add_argument("--specs", type=Path, default=ROOT.parent / "shared" / "specs")
    args = parser.parse_args(argv)
    if args.extract:
        extract(args.specs)
    document = json.loads(OPERATIONS_FILE.read_text())
    for path, text in render_cassettes(document).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    print(f"wrote {len(CASES)} cassettes under {CASSETTES}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

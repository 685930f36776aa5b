"""relaykit-github as a relaykit plugin: its hook registers ``GitHub``, its distribution
declares the entry point, and ``GitHub`` describes itself and its task methods."""

from __future__ import annotations

import tomllib
import typing
from collections.abc import Callable
from pathlib import Path

import pytest

import relaykit_github
from relaykit import InvalidJobDefinition, Plugins
from relaykit_github import GitHub

PACKAGE = Path(__file__).resolve().parents[1]
ROOT = PACKAGE.parents[1]


def test_the_hook_registers_github() -> None:
    plugins = Plugins(entry_points=False)
    plugins.register(relaykit_github)
    assert plugins.errors == []
    assert plugins.integration("github") is GitHub


def test_the_distribution_declares_the_entry_point_and_the_root_extra() -> None:
    project = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["relaykit"] == {"github": "relaykit_github"}
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = root["project"]["optional-dependencies"]
    assert extras["github"] == ["relaykit-github"]
    # The tests import the plugin from its folder: the dev group must not install it.
    assert not any("relaykit-" in str(dep) for dep in root["dependency-groups"]["dev"])
    assert "dev" not in extras  # tools are a dependency group, never a published extra
    # In the uv workspace the extra resolves to this folder.
    assert root["tool"]["uv"]["sources"]["relaykit-github"] == {"workspace": True}


def test_every_api_function_is_a_task_method() -> None:
    functions = {
        name
        for name in relaykit_github.__all__
        if name.startswith(("create_", "get_", "list_", "add_", "update_", "merge_"))
        and name != "create_client"
    }
    tasks = {name for name in functions if hasattr(GitHub, name)}
    assert tasks == functions
    method = GitHub.create_issue
    assert list(method.signature.parameters)[2:] == [
        "owner",
        "repo",
        "title",
        "body",
        "assignees",
        "labels",
        "milestone",
    ]
    # A webhook's secret is recorded as [redacted] in the task's params.
    assert GitHub.create_repo_webhook.redact == {"secret"}
    assert GitHub.create_issue.redact == frozenset()


def test_metadata_and_the_default_token_variable() -> None:
    github = GitHub()
    assert (github.id, GitHub.slug, GitHub.name, GitHub.token_env) == (
        "github",
        "github",
        "GitHub",
        "GITHUB_TOKEN",
    )
    trigger = github.triggers.org(event="push", org="octo-org")
    assert (trigger.names, trigger.source) == (("github.push",), "github")
    assert trigger.filter == {"organization": {"login": ["octo-org"]}}


def test_a_repo_triggers_filter_adds_to_the_repository_constraint() -> None:
    # The user's filter on ``repository`` used to replace {"full_name": [...]}: the trigger
    # then fired for every repository.
    github = GitHub()
    trigger = github.triggers.repo(
        event="issues.opened",
        owner="acme",
        repo="crm",
        filter={"repository": {"private": [True]}, "issue": {"labels": {"name": ["bug"]}}},
    )
    assert trigger.filter == {
        "repository": {"full_name": ["acme/crm"], "private": [True]},
        "issue": {"labels": {"name": ["bug"]}},
    }
    org = github.triggers.org(event="push", org="octo-org", filter={"organization": {"id": [1]}})
    assert org.filter == {"organization": {"login": ["octo-org"], "id": [1]}}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda gh: gh.triggers.repo(
                event="push",
                owner="acme",
                repo="crm",
                filter={"repository": {"full_name": ["x/y"]}},
            ),
            "github.triggers.repo(event='push', owner='acme', repo='crm'): "
            "filter.repository.full_name: the combined filter can never match: it must be one "
            "of ['acme/crm'] and one of ['x/y']",
        ),
        (
            lambda gh: gh.triggers.org(event="push", org="octo-org", filter={"organization": "x"}),
            "github.triggers.org(event='push', org='octo-org'): filter.organization: a value to "
            "match must be in a list",
        ),
    ],
)
def test_a_filter_that_cannot_be_added_is_an_error_naming_the_trigger(
    make: Callable[[GitHub], object], message: str
) -> None:
    with pytest.raises(InvalidJobDefinition) as caught:
        make(GitHub())
    assert caught.value.message.startswith(message)


def test_each_task_method_declares_its_api_function_return_type() -> None:
    # The engine restores a task's output by this type. The methods are generated and share
    # one code object, so it is given explicitly (task(returns=)), not read from a
    # per-code-object cache that would hand every method the first one's type.
    for name in ("create_issue", "add_issue_labels", "list_pulls", "get_content"):
        method = getattr(GitHub, name)
        api = getattr(relaykit_github, name)
        assert method.returns == typing.get_type_hints(api)["return"]
        assert typing.get_type_hints(method.fn)["return"] == typing.get_type_hints(api)["return"]
    assert GitHub.create_issue.returns != GitHub.list_pulls.returns

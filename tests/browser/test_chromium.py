"""The choice of Chromium (tests/browser/chromium.py): a given executable, the system's, then
provisioning once under a lock, else one line saying how to get one."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from tests.browser import chromium


@pytest.fixture
def bare_machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No given, system or managed Chromium; the lock in ``tmp_path``."""
    monkeypatch.delenv(chromium.ENV_VAR, raising=False)
    monkeypatch.setattr(chromium, "system_chromium", lambda: None)
    monkeypatch.setattr(chromium, "managed_chromium", lambda: None)
    monkeypatch.setattr(chromium, "LOCK", tmp_path / "chromium.lock")


def test_the_given_executable_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(chromium.ENV_VAR, sys.executable)  # any executable file will do
    assert chromium.find_chromium(installers=()) == sys.executable


def test_a_given_path_that_is_not_executable_fails_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(chromium.ENV_VAR, str(tmp_path / "chrome"))
    with pytest.raises(chromium.NoChromium, match="chrome is not an executable file"):
        chromium.find_chromium(installers=())


@pytest.mark.usefixtures("bare_machine")
def test_installers_run_in_order_until_one_gives_a_browser() -> None:
    calls: list[str] = []

    def failing() -> str | None:
        calls.append("playwright")
        return None

    def working() -> str | None:
        calls.append("apt")
        return "/usr/bin/chromium"

    def unused() -> str | None:
        calls.append("unused")
        return None

    assert chromium.find_chromium(installers=(failing, working, unused)) == "/usr/bin/chromium"
    assert calls == ["playwright", "apt"]


def test_one_installed_by_another_worker_while_waiting_is_used(
    bare_machine: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = iter([None, "/opt/chromium"])  # missing before the lock, there once it is held
    monkeypatch.setattr(chromium, "system_chromium", lambda: next(seen))

    def never() -> str | None:
        raise AssertionError("nothing should be installed")

    assert chromium.find_chromium(installers=(never,)) == "/opt/chromium"


@pytest.mark.usefixtures("bare_machine")
def test_without_any_way_to_get_one_it_fails_with_one_line() -> None:
    with pytest.raises(chromium.NoChromium) as raised:
        chromium.find_chromium(installers=(lambda: None,))
    message = str(raised.value)
    assert "\n" not in message
    assert chromium.ENV_VAR in message and "playwright install chromium" in message


def test_the_system_package_is_not_tried_without_root_or_apt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert chromium.install_system_package() is None

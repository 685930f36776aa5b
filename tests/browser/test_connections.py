"""The Connections page in real headless Chromium against a real ``relaykit serve`` of an app
whose job declares an integration: store an API token, see it connected (never the token),
disconnect."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from tests.browser.conftest import Server, serving

from relaykit._base.secrets import SecretBox

TOKEN = "tok-BROWSER-5e6f7a8b9c"
APP_SOURCE = """
from typing import Any

import relaykit
from relaykit import Client, Credentials, Integration


class Plain(Integration):
    name = "Plain API"

    def create_client(self, credentials: Credentials) -> Any:
        return self.http_client(base_url="https://api.plain.example")


client = Client(id="conn")


@client.define_job(id="sync", version="1.0.0", integrations={"plain": Plain(id="plain")})
async def sync(payload: Any, io: relaykit.IO, ctx: relaykit.Context) -> None:
    return None
"""


@pytest.fixture
def conn_server(tmp_path: Path) -> Iterator[Server]:
    """``relaykit serve`` of the app above, with a ``RELAYKIT_SECRET_KEY``."""
    (tmp_path / "conn_app.py").write_text(APP_SOURCE, encoding="utf-8")
    database = f"sqlite:///{tmp_path / 'relaykit.db'}"
    env = {**os.environ, "RELAYKIT_SECRET_KEY": SecretBox.generate_key()}
    with serving("conn_app.py", database, tmp_path, env) as (url, link):
        yield Server(url, link, str(tmp_path / "relaykit.db"))


def test_connect_with_a_token_and_disconnect(page: Page, conn_server: Server) -> None:
    page.goto(conn_server.login_link)
    page.get_by_role("link", name="Connections").click()
    expect(page.get_by_role("heading", name="Connections")).to_be_visible()
    row = page.locator('tr[data-integration="plain"]')
    expect(row).to_contain_text("Plain API")
    expect(row.locator("[data-state]")).to_have_text("not connected")
    row.get_by_label("API token").fill(TOKEN)
    row.get_by_role("button", name="Save token").click()
    expect(page.get_by_role("status")).to_have_text("plain connected")
    expect(row.locator("[data-state]")).to_have_text("connected")
    assert TOKEN not in page.content()
    with sqlite3.connect(conn_server.database) as db:
        (stored,) = db.execute("SELECT credentials FROM connections").fetchone()
    assert TOKEN not in stored
    row.get_by_role("button", name="Disconnect").click()
    expect(page.get_by_role("status")).to_have_text("plain disconnected")
    expect(row.locator("[data-state]")).to_have_text("not connected")

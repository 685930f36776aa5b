"""``relaykit plugins`` and ``relaykit connect`` as a user runs them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx2
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from cryptography.fernet import Fernet
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tests.acceptance.conftest import DB, CliResult, Relaykit
from tests.localserver import serve
from tests.plugin_dists import IMPORT_ERROR_PLUGIN, good_source, make_dist

from relaykit import Credentials
from relaykit._base.secrets import SecretBox
from relaykit.integrations.auth import Connections
from relaykit.store import store_from_url


def _site(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    make_dist(
        site,
        dist="relaykit-alpha",
        version="2.0.1",
        name="alpha",
        module="rk_cli_alpha",
        source=good_source("Alpha", "alpha"),
    )
    make_dist(
        site,
        dist="relaykit-broken",
        version="0.1.0",
        name="broken",
        module="rk_cli_broken",
        source=IMPORT_ERROR_PLUGIN,
    )
    return {"PYTHONPATH": str(site)}


# Plugins found through $PYTHONPATH and entry points by a fresh interpreter.
@pytest.mark.subprocess
def test_plugins_json_lists_plugins_and_reports_broken_ones(rk: Relaykit, tmp_path: Path) -> None:
    done = rk("plugins", "--json", env=_site(tmp_path))
    assert done.returncode == 0, done.describe()
    data = done.json()
    [alpha] = [p for p in data["plugins"] if p["name"] == "alpha"]
    assert alpha == {
        "name": "alpha",
        "distribution": "relaykit-alpha",
        "version": "2.0.1",
        "integrations": ["alpha"],
        "hooks": ["relaykit_register_integrations", "relaykit_wrap_task"],
    }
    [broken] = [e for e in data["errors"] if e["name"] == "broken"]
    assert broken["distribution"] == "relaykit-broken"
    assert "ImportError: this plugin needs libfoo, which is missing" in broken["error"]


def test_plugins_honours_the_block_list(rk: Relaykit, tmp_path: Path) -> None:
    site = _site(tmp_path)
    done = rk("plugins", "--json", env={**site, "RELAYKIT_DISABLE_PLUGINS": "alpha,broken"})
    assert done.returncode == 0, done.describe()
    data = done.json()
    assert {p["name"] for p in data["plugins"]} & {"alpha", "broken"} == set()
    assert data["errors"] == []
    human = rk("plugins", env=site)
    assert "alpha" in human.stdout and "2.0.1" in human.stdout
    assert "plugin broken was not loaded: ImportError" in human.stderr


def _connect(rk: Relaykit, token: str, env: dict[str, str]) -> CliResult:
    return rk("connect", "github", "--token-stdin", *DB, env=env, input=token + "\n")


def test_connect_stores_the_token_encrypted(rk: Relaykit) -> None:
    env = {k: v for k, v in rk.env.items() if k != "RELAYKIT_SECRET_KEY"}
    rk.env = env
    missing = _connect(rk, "ghp_from_stdin", {})
    assert missing.returncode == 2
    [line] = missing.stderr.splitlines()
    assert line.startswith("relaykit: error: RELAYKIT_SECRET_KEY is not set")

    key = Fernet.generate_key().decode()
    done = _connect(rk, "ghp_from_stdin", {"RELAYKIT_SECRET_KEY": key})
    assert done.returncode == 0, done.stderr
    assert "connection 'github' saved" in done.stdout
    files = [f for f in rk.cwd.iterdir() if f.name.startswith("relaykit.db")]  # with -wal
    assert files and all(b"ghp_from_stdin" not in f.read_bytes() for f in files)

    async def load(with_key: str) -> str | None:
        store = store_from_url(f"sqlite:///{rk.cwd / 'relaykit.db'}")
        await store.open()
        try:
            box = SecretBox([with_key])
            found = await Connections(store, clock=lambda: 0.0, box=lambda: box).load("github")
        finally:
            await store.close()
        return None if found is None else found.access_token

    assert asyncio.run(load(key)) == "ghp_from_stdin"

    # Key rotation: the new key first, rotate, then the old key can go.
    new_key = Fernet.generate_key().decode()
    rotated = rk("connections", "rotate", *DB, env={"RELAYKIT_SECRET_KEY": f"{new_key},{key}"})
    assert rotated.returncode == 0, rotated.describe()
    assert "re-encrypted 1 connection(s)" in rotated.stdout
    assert asyncio.run(load(new_key)) == "ghp_from_stdin"
    listed = rk("connections", "list", "--json", *DB)
    assert listed.returncode == 0, listed.describe()
    [row] = listed.json()
    assert row["id"] == "github" and row["expires_at"] is None
    assert "ghp_from_stdin" not in listed.stdout


OAUTH_PLUGIN = """
import os
from typing import Any

import relaykit


class Cloudy(relaykit.Integration):
    slug = "cloudy"
    auth_modes = ("oauth2",)
    oauth = relaykit.OAuth2(
        authorize_url=os.environ["TEST_OAUTH_BASE"] + "/authorize",
        token_url=os.environ["TEST_OAUTH_BASE"] + "/token",
        scopes=("read",),
        client_id_env="CLOUDY_CLIENT_ID",
    )

    def create_client(self, credentials: relaykit.Credentials) -> Any:
        return None


@relaykit.hookimpl
def relaykit_register_integrations(register: Any) -> None:
    register(Cloudy)
"""


class _TokenEndpoint:
    def __init__(self) -> None:
        self.forms: list[dict[str, str]] = []
        self.app = Starlette(routes=[Route("/token", self.token, methods=["POST"])])

    async def token(self, request: Request) -> JSONResponse:
        self.forms.append(dict(parse_qsl((await request.body()).decode())))
        return JSONResponse(
            {"access_token": "oauth-access", "refresh_token": "oauth-refresh", "expires_in": 60}
        )


def test_connect_runs_the_oauth_code_flow_with_a_local_redirect(
    rk: Relaykit, tmp_path: Path
) -> None:
    make_dist(
        tmp_path / "site",
        dist="relaykit-cloudy",
        version="1.0.0",
        name="cloudy",
        module="rk_cli_cloudy",
        source=OAUTH_PLUGIN,
    )
    key = Fernet.generate_key().decode()
    endpoint = _TokenEndpoint()
    with serve(endpoint.app) as base:
        env = {
            "PYTHONPATH": str(tmp_path / "site"),
            "TEST_OAUTH_BASE": base,
            "CLOUDY_CLIENT_ID": "cloudy-app",
            "RELAYKIT_SECRET_KEY": key,
        }
        with rk.popen("connect", "cloudy", "--timeout", "60", *DB, env=env) as proc:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip()
            query = dict(parse_qsl(urlsplit(url).query))
            assert url.startswith(f"{base}/authorize?")
            assert query["client_id"] == "cloudy-app"
            # The browser, after the user approved: redirected to the local callback.
            answer = httpx2.get(
                query["redirect_uri"], params={"code": "c0de", "state": query["state"]}
            )
            assert answer.status_code == 200
            out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    assert "connection 'cloudy' saved" in out
    [form] = endpoint.forms
    assert form["grant_type"] == "authorization_code" and form["code"] == "c0de"
    assert create_s256_code_challenge(form["code_verifier"]) == query["code_challenge"]

    async def load() -> Credentials | None:
        store = store_from_url(f"sqlite:///{rk.cwd / 'relaykit.db'}")
        await store.open()
        try:
            box = SecretBox([key])
            return await Connections(store, clock=lambda: 0.0, box=lambda: box).load("cloudy")
        finally:
            await store.close()

    stored = asyncio.run(load())
    assert stored is not None
    assert (stored.access_token, stored.refresh_token) == ("oauth-access", "oauth-refresh")
    assert stored.expires_at is not None


def test_connect_without_token_or_oauth_integration_is_one_clear_line(rk: Relaykit) -> None:
    key = Fernet.generate_key().decode()
    done = rk("connect", "nosuch", *DB, env={"RELAYKIT_SECRET_KEY": key})
    line = done.error_line()
    assert "integration 'nosuch' is not installed; pass the API token with --token-stdin" in line

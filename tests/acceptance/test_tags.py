"""Run tags as users drive them: given at trigger time (``client.enqueue(tags=)``,
``client.send_event(tags=)``) and in the run (``io.tags.add``), then filtered with
``relaykit runs list --tag`` (the real CLI in a subprocess) and ``GET /api/v1/runs?tag=``
(the real ASGI app), all on one real SQLite file with a real worker."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx2
import pytest
from tests.acceptance._shapes import check_component

from relaykit import Client
from relaykit.cli._app import load_client
from relaykit.errors import ConfigurationError
from relaykit.server import Access

if TYPE_CHECKING:
    from tests.acceptance.conftest import Relaykit

APP = textwrap.dedent(
    """
    from typing import Any
    from relaykit import Client, event_trigger

    client = Client(id="tags-app")

    @client.define_job(
        id="signup", name="Signup", version="1.0.0", trigger=event_trigger(name="user.created")
    )
    async def signup(payload: Any, io, ctx) -> Any:
        await io.tags.add(f"plan:{payload['plan']}")
        await io.run_task("welcome", lambda: "sent")
        await io.tags.add(f"plan:{payload['plan']}", "welcomed")  # again after a task: a set
        return payload["plan"]
    """
)
DB = ("--database", "sqlite:///relaykit.db")


def _load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Client:
    (tmp_path / "app.py").write_text(APP, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    client = load_client("app.py")
    client.use_database(f"sqlite:///{tmp_path / 'relaykit.db'}")
    return client


@pytest.mark.subprocess
def test_tags_from_the_trigger_and_the_run_filter_every_list(
    rk: Relaykit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _load(tmp_path, monkeypatch)

    async def trigger() -> dict[str, Any]:
        try:
            pro = await client.enqueue("signup", {"plan": "pro"}, tags=["vip", "eu"])
            sent = await client.send_event("user.created", {"plan": "free"}, tags=["from-event"])
            with pytest.raises(ConfigurationError, match="tags must be a list"):
                await client.enqueue("signup", {"plan": "x"}, tags="vip")
            with pytest.raises(ConfigurationError, match="delayed event"):
                await client.send_event("user.created", {}, tags=["t"], deliver_after=60)
            await client.worker(exit_when_idle=True).run()
            return {"pro": pro, "free": sent["runs"][0]}
        finally:
            await client.close()

    ids = asyncio.run(trigger())

    def listed(*args: str) -> list[str]:
        done = rk("runs", "list", *args, "--json", *DB)
        assert done.returncode == 0, done.describe()
        return [r["id"] for r in check_component(done.json(), "RunPage")["data"]]

    assert listed("--tag", "vip") == [ids["pro"]]
    assert listed("--tag", "from-event") == [ids["free"]]
    assert listed("--tag", "welcomed") == [ids["free"], ids["pro"]]
    assert listed("--tag", "welcomed", "--job", "other") == []
    assert listed("--tag", "nobody") == []
    assert rk.show(ids["pro"])["tags"] == ["eu", "plan:pro", "vip", "welcomed"]
    human = rk("runs", "show", ids["free"], *DB)
    assert "tags: from-event, plan:free, welcomed" in human.stdout, human.describe()


def test_the_http_api_filters_runs_by_tag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client = _load(tmp_path, monkeypatch)

    async def go() -> dict[str, Any]:
        await client.open()
        key = await Access(client.store, client.clock).create_key("tests")
        auth = {"Authorization": f"Bearer {key.secret}"}
        try:
            first = await client.enqueue("signup", {"plan": "pro"}, tags=["vip"])
            await client.enqueue("signup", {"plan": "free"})
            await client.worker(exit_when_idle=True).run()
            transport = httpx2.ASGITransport(app=client.asgi_app())
            async with httpx2.AsyncClient(transport=transport, base_url="http://t") as http:
                vip = await http.get("/api/v1/runs", params={"tag": "vip"}, headers=auth)
                plan = await http.get("/api/v1/runs", params={"tag": "plan:free"}, headers=auth)
                empty = await http.get("/api/v1/runs", params={"tag": ""}, headers=auth)
                detail = await http.get(f"/api/v1/runs/{first}", headers=auth)
            return {
                "first": first,
                "vip": [r["id"] for r in vip.json()["data"]],
                "plan": [r["payload"] for r in plan.json()["data"]],
                "empty": (empty.status_code, empty.json()["error"]["code"]),
                "tags": detail.json()["tags"],
            }
        finally:
            await client.close()

    got = asyncio.run(go())
    assert got["vip"] == [got["first"]]
    assert got["plan"] == [{"plan": "free"}]
    assert got["empty"] == (422, "invalid_query")
    assert got["tags"] == ["plan:pro", "vip", "welcomed"]


def test_metadata_updates_are_applied_once_across_replays_and_shown_with_the_run(
    tmp_path: Path,
) -> None:
    client = Client(id="meta", database_url=f"sqlite:///{tmp_path / 'relaykit.db'}")
    effects: list[str] = []

    @client.define_job(id="import", name="Import", version="1.0.0")
    async def import_rows(payload: Any, io: Any, ctx: Any) -> int:
        await io.metadata.set("start", "progress", 0.0)
        # parallel updates each see the document the one before wrote
        await asyncio.gather(*(io.metadata.increment(f"row-{i}", "rows") for i in range(4)))
        await io.metadata.append("first", "batches", "a")
        await io.wait("pause", seconds=0.01)  # the run is replayed from the top after this
        effects.append("after-wait")
        await io.metadata.append("second", "batches", "b")
        await io.metadata.set("end", "progress", 1.0)
        await io.metadata.increment("bad", "batches")  # a list is not a number: the run fails
        return 0

    async def go() -> dict[str, Any]:
        try:
            run_id = await client.enqueue("import", {})
            while (await client.get_run(run_id)).status in ("queued", "waiting"):
                await client.worker(exit_when_idle=True).run()
                await asyncio.sleep(0.02)
            ops = await client.operations()
            return (await ops.get_run(run_id)).to_json()
        finally:
            await client.close()

    run = asyncio.run(go())
    assert run["metadata"] == {"progress": 1.0, "rows": 4, "batches": ["a", "b"]}
    assert effects == ["after-wait"]
    assert run["status"] == "failed"
    assert "'batches' holds list, not a number" in run["error"]["message"]

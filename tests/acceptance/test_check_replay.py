"""``relaykit check-replay APP``: stored runs replayed dry on changed code, as before a deploy.

Runs are left waiting by a worker on version 1 of an app; ``check-replay`` then loads edited
versions and must say, per run, whether it would replay — without executing or writing
anything (a task body that would run writes a marker file; the stored runs must be unchanged).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from relaykit import IO, Client, Context, RunStatus

if TYPE_CHECKING:
    from tests.acceptance.conftest import Relaykit

V1 = """
from pathlib import Path
from relaykit import Client

client = Client("shop")
HERE = Path(__file__).parent


def executed(what):
    with (HERE / "executed").open("a") as f:
        f.write(what + "\\n")


def charge(n):
    executed("charge")
    return {"charged": n}


def ship():
    executed("ship")
    return "shipped"


@client.define_job(id="order", version="1.0.0")
async def order(payload, io, ctx):
    a = await io.run_task("charge", charge, payload["n"])
    await io.wait("cool-off", seconds=3600)
    b = await io.run_task("ship", ship)
    return [a, b]
"""

VARIANTS = {
    # a new version number, the same tasks: compatible
    "bumped": V1.replace('version="1.0.0"', 'version="1.1.0"'),
    # new work after the recorded tasks: compatible (a worker carries on there)
    "more": V1.replace(
        "    return [a, b]", '    c = await io.run_task("audit", ship)\n    return [a, b, c]'
    ),
    # the recorded key now names other work: NonDeterministicRun
    "other_fn": V1.replace('io.run_task("charge", charge,', 'io.run_task("charge", ship,').replace(
        'ship, payload["n"])', "ship)"
    ),
    # a renamed key: the charge would run again
    "renamed": V1.replace('"charge", charge', '"charge-v2", charge'),
    # the new code raises on the recorded history
    "bug": V1.replace(
        '    a = await io.run_task("charge"',
        '    payload["coupon"]\n    a = await io.run_task("charge"',
    ),
    # the job is gone
    "gone": 'from relaykit import Client\n\nclient = Client("shop")\n',
    # the new step is guarded by a patch: old runs keep their path
    "patched": V1.replace(
        '    await io.wait("cool-off", seconds=3600)',
        '    if await io.patched("fraud-check"):\n'
        '        await io.run_task("fraud", ship)\n'
        '    await io.wait("cool-off", seconds=3600)',
    ),
    # the same new step without the patch: the replay reaches it before the recorded wait
    "unpatched": V1.replace(
        '    await io.wait("cool-off", seconds=3600)',
        '    await io.run_task("fraud", ship)\n    await io.wait("cool-off", seconds=3600)',
    ),
}

EXPECTED = {
    "bumped": "compatible",
    "more": "compatible",
    "other_fn": "diverges",
    "renamed": "diverges",
    "bug": "fails",
    "gone": "unknown_job",
    "patched": "compatible",
    "unpatched": "diverges",
}


@pytest.fixture
def waiting_runs(rk: Relaykit, db_url: str) -> tuple[tuple[str, str], list[str]]:
    """Three runs of version 1, each waiting on its one-hour wait after its charge."""
    (rk.cwd / "v1.py").write_text(V1, encoding="utf-8")
    for name, source in VARIANTS.items():
        (rk.cwd / f"{name}.py").write_text(source, encoding="utf-8")
    db = ("--database", db_url)
    ids = [rk.detach("v1.py", "order", {"n": n}, db=db) for n in (1, 2, 3)]
    rk.worker_until_idle("v1.py", db=db)
    assert [rk.show(i, db=db)["status"] for i in ids] == ["waiting"] * 3
    (rk.cwd / "executed").unlink()  # the three charges
    return db, ids


def _check(rk: Relaykit, app: str, db: tuple[str, str], *extra: str) -> tuple[int, Any]:
    done = rk("check-replay", app, "--json", *db, *extra)
    assert done.returncode in (0, 1), done.describe()
    return done.returncode, done.json()


def test_each_change_gets_its_verdict_and_nothing_runs_or_changes(
    rk: Relaykit, waiting_runs: tuple[tuple[str, str], list[str]]
) -> None:
    db, ids = waiting_runs
    before = [rk.show(i, db=db) for i in ids]
    for name, verdict in EXPECTED.items():
        code, report = _check(rk, f"{name}.py", db)
        assert report["checked"] == 3, (name, report)
        assert {r["run_id"] for r in report["runs"]} == set(ids)
        assert {r["verdict"] for r in report["runs"]} == {verdict}, (name, report)
        assert code == (0 if verdict == "compatible" else 1), name
        assert report["ok"] is (verdict == "compatible")
    assert not (rk.cwd / "executed").exists()  # no task body ran
    assert [rk.show(i, db=db) for i in ids] == before  # nothing was written


def test_a_divergence_names_the_key_and_the_users_line(
    rk: Relaykit, waiting_runs: tuple[tuple[str, str], list[str]]
) -> None:
    db, _ = waiting_runs
    _, report = _check(rk, "other_fn.py", db)
    first = report["runs"][0]
    assert "'charge'" in first["message"] and "ship" in first["message"]
    line = next(
        i for i, t in enumerate(VARIANTS["other_fn"].splitlines(), 1) if 'io.run_task("charge"' in t
    )
    assert first["where"] == f"{rk.cwd / 'other_fn.py'}:{line}"

    _, report = _check(rk, "bug.py", db)
    assert "KeyError" in report["runs"][0]["message"]
    assert report["runs"][0]["where"].endswith(
        "bug.py:"
        + str(next(i for i, t in enumerate(VARIANTS["bug"].splitlines(), 1) if "coupon" in t))
    )

    _, report = _check(rk, "more.py", db)
    assert {r["replayed"] for r in report["runs"]} == {2}  # the charge and the wait
    assert {r["next_key"] for r in report["runs"]} == {None}  # still waiting: no new work yet
    _, report = _check(rk, "unpatched.py", db)
    assert {r["next_key"] for r in report["runs"]} == {"fraud"}  # where the replay stopped
    assert all("'cool-off'" in r["message"] for r in report["runs"])


def test_the_human_output_and_the_filters(
    rk: Relaykit, waiting_runs: tuple[tuple[str, str], list[str]]
) -> None:
    db, _ = waiting_runs
    done = rk("check-replay", "renamed.py", *db)
    assert done.returncode == 1, done.describe()
    assert done.stdout.count("diverges run ") == 3
    assert "3 would not replay" in done.stdout

    done = rk("check-replay", "bumped.py", *db)
    assert done.returncode == 0 and "all compatible" in done.stdout, done.describe()

    _, report = _check(rk, "renamed.py", db, "--limit", "2")
    assert report["checked"] == 2
    _, report = _check(rk, "renamed.py", db, "--status", "succeeded,failed")
    assert report == {**report, "checked": 0, "ok": True}
    _, report = _check(rk, "renamed.py", db, "--job", "other")
    assert report["checked"] == 0

    bad = rk("check-replay", "renamed.py", *db, "--status", "sleeping")
    assert bad.returncode == 2 and "unknown status sleeping" in bad.stderr, bad.describe()


def test_patched_keeps_old_runs_on_their_path_and_new_runs_take_the_new_one(
    rk: Relaykit, waiting_runs: tuple[tuple[str, str], list[str]]
) -> None:
    db, old = waiting_runs
    new = rk.detach("patched.py", "order", {"n": 9}, db=db)
    rk.worker_until_idle("patched.py", db=db)  # new: charge, patch, fraud; old: untouched

    fresh = rk.show(new, db=db)
    keys = [t["key"] for t in fresh["tasks"]]
    assert keys[:3] == ["charge", "patch:fraud-check", "fraud"], keys
    for run_id in old:
        assert "patch:fraud-check" not in {t["key"] for t in rk.show(run_id, db=db)["tasks"]}

    # Every run replays on the patched code, the new one included (its marker says True).
    code, report = _check(rk, "patched.py", db)
    assert code == 0 and report["checked"] == 4, report
    # The code without the patch would diverge on the old runs, not on the new one.
    _, report = _check(rk, "unpatched.py", db)
    verdicts = {r["run_id"]: r["verdict"] for r in report["runs"]}
    assert verdicts[new] == "compatible"  # it recorded fraud already; its marker goes unused
    assert {verdicts[i] for i in old} == {"diverges"}  # fraud would come before their wait
    assert json.loads(json.dumps(report))  # plain JSON


def test_a_bad_app_is_one_line(rk: Relaykit, tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("import nowhere_to_be_found\n", encoding="utf-8")
    done = rk("check-replay", "broken.py")
    assert done.returncode == 2, done.describe()
    assert done.stderr.count("\n") == 1 and "cannot load APP" in done.stderr


def test_patched_through_the_python_api(client: Client) -> None:
    seen: list[bool] = []

    @client.define_job(id="p", version="1.0.0")
    async def p(payload: Any, io: IO, ctx: Context) -> bool:
        decided = await io.patched("v2")
        seen.append(decided)
        await io.wait("pause", seconds=60)  # the replay after it gets the recorded answer
        return decided

    result = client.run_sync("p")
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.output is True and seen == [True, True]
    marker = result.task("patch:v2")
    assert (marker.kind, marker.output) == ("patch", True)

    @client.define_job(id="bad", version="1.0.0")
    async def bad(payload: Any, io: IO, ctx: Context) -> None:
        await io.patched("a/b")

    failed = client.run_sync("bad")
    assert failed.status is RunStatus.FAILED
    assert failed.error is not None and "patch name must be" in failed.error["message"]


def test_runs_record_the_code_they_started_on_and_a_vanished_job_is_reported(
    rk: Relaykit, waiting_runs: tuple[tuple[str, str], list[str]]
) -> None:
    db, ids = waiting_runs
    started_on = {rk.show(i, db=db)["code"] for i in ids}
    assert len(started_on) == 1 and None not in started_on
    (code,) = started_on
    shown = rk("runs", "show", ids[0], *db)
    assert f"order 1.0.0 code {code} waiting" in shown.stdout.splitlines()[0], shown.describe()

    # A new version number on the same function: the same fingerprint.
    _, report = _check(rk, "bumped.py", db)
    assert {(r["code"], r["code_now"]) for r in report["runs"]} == {(code, code)}
    # Other work: another fingerprint, named with the verdict.
    _, report = _check(rk, "other_fn.py", db)
    ((was, now),) = {(r["code"], r["code_now"]) for r in report["runs"]}
    assert was == code and now not in (None, code)
    human = rk("check-replay", "other_fn.py", *db)
    assert f"(started on code {code}, now {now})" in " ".join(human.stdout.split())
    _, report = _check(rk, "gone.py", db)
    assert {(r["code"], r["code_now"]) for r in report["runs"]} == {(code, None)}

    # A worker of code that no longer defines the job says so once, and leaves the runs be.
    (rk.cwd / "elsewhere.py").write_text(
        VARIANTS["gone"] + '\n\n@client.define_job(id="other", version="1.0.0")\n'
        "async def other(payload, io, ctx):\n    return None\n",
        encoding="utf-8",
    )
    done = rk.worker_until_idle("elsewhere.py", db=db)
    assert done.stderr.count("3 unfinished run(s) of job 'order'") == 1, done.describe()
    assert "which this app does not define" in done.stderr
    assert [rk.show(i, db=db)["status"] for i in ids] == ["waiting"] * 3

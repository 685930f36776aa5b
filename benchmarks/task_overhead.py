"""Task overhead: relaykit and DBOS side by side on the same SQLite workload.

    python3 benchmarks/task_overhead.py [--rounds 3] [--tasks 1000] [--runs 500]

Each measurement is a fresh subprocess on a fresh SQLite file, and the two systems alternate
in every round, so machine noise falls on both alike. Workloads:

- ``one-run``: one run (DBOS: one workflow) of 1,000 sequential no-op tasks (steps);
- ``many-runs``: 500 runs of 3 no-op tasks, one after another;
- ``one-run`` at WAL+NORMAL again with plain ``def`` task functions in an async job
  (``sync-fn``) and in a plain ``def`` job (``sync-job``), beside DBOS's one-run of the round.

SQLite settings: WAL with ``synchronous=NORMAL`` on both, then each one's defaults (relaykit:
WAL + FULL). A bare loop committing one row per transaction gives the floor at each setting.
Prints medians over the rounds (µs per task, runs/s), the relaykit/DBOS ratios, relaykit's
resume cost per memoized task and write transactions per task, and the targets of issue 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
#: relaykit's sync variants (``_relaykit_side.py --kind``) and the issue-11 target for each:
#: at least this many times cheaper per task than DBOS. ``sync-fn``: an async job whose task
#: functions are plain ``def``s; ``sync-job``: a plain ``def`` job, sync ``io``, ``def`` tasks.
SYNC_KINDS = {"sync-fn": 15, "sync-job": 20}
SIDES = {"relaykit": HERE / "_relaykit_side.py", "dbos": HERE / "_dbos_side.py"}


def raw_commit_us(synchronous: str, n: int = 1000) -> float:
    """µs per one-row commit of a bare loop in WAL mode: the floor for one write per task."""
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(os.path.join(tmp, "raw.db"), isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID")
        started = time.perf_counter()
        for i in range(n):
            conn.execute("INSERT INTO t VALUES (?, ?)", (f"k{i}", "null"))
        seconds = time.perf_counter() - started
        conn.close()
    return seconds / n * 1e6


def measure(
    side: str, workload: str, mode: str, args: argparse.Namespace, kind: str = "async"
) -> dict[str, Any]:
    """Run one side once in a subprocess on a fresh database; return its JSON line."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            str(SIDES[side]),
            "--workload",
            workload,
            "--sqlite-mode",
            mode,
            "--db",
            os.path.join(tmp, f"{side}.db"),
            "--tasks",
            str(args.tasks),
            "--runs",
            str(args.runs),
            "--tasks-per-run",
            str(args.tasks_per_run),
        ]
        if side == "relaykit":
            cmd += ["--kind", kind]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{side} {workload} {mode} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    """Alternate the two systems over the rounds and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--tasks-per-run", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="Also print raw results as JSON.")
    parser.add_argument(
        "--figures", metavar="FILE", help="write the headline figures as JSON (benchmarks/all.py)"
    )
    args = parser.parse_args()

    # (workload, relaykit mode, dbos mode, label)
    cases = [
        ("one-run", "normal", "normal", "WAL+NORMAL"),
        ("one-run", "default", "default", "defaults"),
        ("many-runs", "normal", "normal", "WAL+NORMAL"),
        ("many-runs", "default", "default", "defaults"),
    ]
    results: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    raw: dict[str, list[float]] = {"NORMAL": [], "FULL": []}
    for round_no in range(args.rounds):
        for workload, rk_mode, dbos_mode, label in cases:
            order = ["relaykit", "dbos"] if round_no % 2 == 0 else ["dbos", "relaykit"]
            for side in order:
                mode = rk_mode if side == "relaykit" else dbos_mode
                data = measure(side, workload, mode, args)
                results.setdefault((workload, label, side), []).append(data)
                print(
                    f"round {round_no + 1}: {side:8} {workload:9} {label:10} "
                    f"{data['us_per_task']:9.1f} µs/task",
                    file=sys.stderr,
                )
        # relaykit's sync variants of one-run at WAL+NORMAL, beside this round's DBOS one-run
        # (DBOS's steps and workflow are plain ``def``s already)
        for kind in SYNC_KINDS:
            data = measure("relaykit", "one-run", "normal", args, kind)
            results.setdefault(("one-run", "WAL+NORMAL", kind), []).append(data)
            print(
                f"round {round_no + 1}: relaykit {kind:9} WAL+NORMAL {data['us_per_task']:9.1f} "
                "µs/task",
                file=sys.stderr,
            )
        for level in raw:
            raw[level].append(raw_commit_us(level))

    def med(workload: str, label: str, side: str, field: str) -> float:
        return float(statistics.median(r[field] for r in results[(workload, label, side)]))

    print(f"\nrelaykit vs DBOS {_dbos_version(results)}: median of {args.rounds} rounds\n")
    header = f"{'workload':10} {'sqlite':11} {'relaykit µs/task':>17} {'DBOS µs/task':>13}"
    print(f"{header} {'DBOS/relaykit':>14} {'relaykit runs/s':>16} {'DBOS runs/s':>12}")
    for workload, _, _, label in cases:
        rk = med(workload, label, "relaykit", "us_per_task")
        db = med(workload, label, "dbos", "us_per_task")
        rk_rps = med(workload, label, "relaykit", "runs_per_s")
        db_rps = med(workload, label, "dbos", "runs_per_s")
        print(
            f"{workload:10} {label:11} {rk:17.1f} {db:13.1f} {db / rk:13.1f}x "
            f"{rk_rps:16.1f} {db_rps:12.1f}"
        )
    for kind in SYNC_KINDS:
        rk = med("one-run", "WAL+NORMAL", kind, "us_per_task")
        db = med("one-run", "WAL+NORMAL", "dbos", "us_per_task")
        print(f"{'one-run':10} {kind:11} {rk:17.1f} {db:13.1f} {db / rk:13.1f}x")
    raw_normal, raw_full = statistics.median(raw["NORMAL"]), statistics.median(raw["FULL"])
    rk_normal = med("one-run", "WAL+NORMAL", "relaykit", "us_per_task")
    rk_full = med("one-run", "defaults", "relaykit", "us_per_task")
    db_normal = med("one-run", "WAL+NORMAL", "dbos", "us_per_task")
    resume = med("one-run", "WAL+NORMAL", "relaykit", "resume_us_per_task")
    writes = med("one-run", "WAL+NORMAL", "relaykit", "write_transactions_per_task")
    print(f"\nbare one-row commit: {raw_normal:.1f} µs at NORMAL, {raw_full:.1f} µs at FULL")
    print("\ntargets (issue 2):")
    _target("per-task overhead at WAL+NORMAL <= DBOS/20", rk_normal, db_normal / 20, "µs")
    _target("per-task cost at FULL <= 1.3x bare commit", rk_full, raw_full * 1.3, "µs")
    _target("resume cost per memoized task <= 10 µs", resume, 10.0, "µs")
    _target("write transactions per task == 1", writes, 1.0, "")
    _target("per-task cost at FULL <= 1.2x bare commit", rk_full, raw_full * 1.2, "µs")
    print("\ntargets (issue 11):")
    for kind, times in SYNC_KINDS.items():
        rk = med("one-run", "WAL+NORMAL", kind, "us_per_task")
        _target(f"{kind}: per-task cost <= DBOS/{times}", rk, db_normal / times, "µs")
    if args.json:
        print(json.dumps({f"{w}/{lbl}/{s}": v for (w, lbl, s), v in results.items()}))
    if args.figures:
        _write_figures(Path(args.figures), med, args.tasks_per_run, raw_normal, raw_full)


def _write_figures(
    path: Path, med: Any, tasks_per_run: int, raw_normal: float, raw_full: float
) -> None:
    """The headline figures for benchmarks/all.py's table (``med(workload, label, side,
    field)`` is the median over the rounds)."""
    rk_normal = med("one-run", "WAL+NORMAL", "relaykit", "us_per_task")
    db_normal = med("one-run", "WAL+NORMAL", "dbos", "us_per_task")
    rk_full = med("one-run", "defaults", "relaykit", "us_per_task")
    resume = med("one-run", "WAL+NORMAL", "relaykit", "resume_us_per_task")
    figures = [
        _figure("per task, async fn, WAL+NORMAL", rk_normal, db_normal, target_ratio=25),
        _figure("the same against the bare commit (<= 2x)", rk_normal, target=raw_normal * 2),
        _figure("per task at WAL+FULL (<= 1.2x the bare commit)", rk_full, target=raw_full * 1.2),
        _figure("resume, per memoized task", resume, target=10.0),
    ]
    for kind, times in SYNC_KINDS.items():
        rk = med("one-run", "WAL+NORMAL", kind, "us_per_task")
        figures.append(_figure(f"per task, {kind}, WAL+NORMAL", rk, db_normal, target_ratio=times))
    figures.append(
        {
            "figure": f"runs of {tasks_per_run} tasks one after another, WAL+NORMAL",
            "relaykit": round(med("many-runs", "WAL+NORMAL", "relaykit", "runs_per_s"), 1),
            "peer": round(med("many-runs", "WAL+NORMAL", "dbos", "runs_per_s"), 1),
            "unit": "runs/s",
            "better": "higher",
            "target_ratio": 25,
        }
    )
    path.write_text(json.dumps(figures), encoding="utf-8")


def _figure(
    name: str,
    value: float,
    peer: float | None = None,
    *,
    target: float | None = None,
    target_ratio: float | None = None,
) -> dict[str, Any]:
    """One row of benchmarks/all.py's table (µs, lower is better)."""
    row: dict[str, Any] = {"figure": name, "relaykit": round(value, 1), "unit": "µs"}
    row["better"] = "lower"
    if peer is not None:
        row["peer"] = round(peer, 1)
    if target is not None:
        row["target"] = round(target, 1)
    if target_ratio is not None:
        row["target_ratio"] = target_ratio
    return row


def _dbos_version(results: dict[tuple[str, str, str], list[dict[str, Any]]]) -> str:
    for (_, _, side), rows in results.items():
        if side == "dbos" and rows and rows[0].get("dbos_version"):
            return str(rows[0]["dbos_version"])
    return ""


def _target(what: str, value: float, limit: float, unit: str) -> None:
    verdict = "met" if value <= limit + 1e-9 else f"MISSED by {value / limit:.2f}x"
    print(f"  {what:48} {value:8.2f} {unit:3} (limit {limit:.2f}) {verdict}")


if __name__ == "__main__":
    main()

"""Every performance figure in one table: relaykit beside DBOS, ratios, targets, verdicts.

    python3 benchmarks/all.py [--full] [--only NAME[,NAME...]] [--log FILE]

Runs each benchmark of this folder one after another (never two at once: they would measure
each other), each writing its headline figures to a JSON file (``--figures FILE``, the same
option on every script), and prints one Markdown table. ``--full`` uses each script's own
default sizes and rounds (the figures of docs/performance.md, ~1 hour on 2 cores); without
it, smaller sizes and one or two rounds (~10 minutes): the same shape, noisier. ``--only``
picks benchmarks by name (see ``BENCHMARKS``). What each script measures, and how, is in its
docstring. Each benchmark's own output goes to ``--log`` (default: a temporary file, named
at the end).

Ratios read "how many times better relaykit is": DBOS/relaykit for a time, relaykit/DBOS for
a rate. A verdict compares a figure with its target in issue 11 (``met`` or ``MISSED by``);
figures without a target have none.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PG_SERVER = (
    os.environ.get("RELAYKIT_TEST_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
)


@dataclass(frozen=True)
class Bench:
    """One script and its arguments at the two sizes."""

    name: str
    script: str
    quick: tuple[str, ...]
    full: tuple[str, ...] = ()


BENCHMARKS = (
    Bench(
        "task_overhead",
        "task_overhead.py",
        ("--rounds", "1", "--tasks", "500", "--runs", "200"),
    ),
    Bench(
        "task_overhead_postgres",
        "task_overhead_postgres.py",
        ("--rounds", "1", "--tasks", "300", "--runs", "100", "--no-count"),
    ),
    Bench(
        "throughput_postgres",
        "throughput_postgres.py",
        ("--rounds", "1", "--runs", "500"),
    ),
    Bench(
        "event_latency",
        "event_latency.py",
        ("--rounds", "1", "--events", "60", "--queue-events", "5", "--cross-process"),
        ("--cross-process",),
    ),
    Bench("http_load", "http_load.py", ("--rounds", "1", "--seconds", "2")),
    Bench(
        "idle_check",
        "idle_check.py",
        ("--runs", "100000", "--jobs", "1", "--loops", "50", "--postgres", PG_SERVER),
        ("--postgres", PG_SERVER),
    ),
    Bench("runs_show", "runs_show.py", ("--rounds", "2")),
    Bench(
        "check_replay",
        "check_replay.py",
        ("--runs", "500", "--rounds", "2", "--postgres", PG_SERVER),
        ("--postgres", PG_SERVER),
    ),
    Bench(
        "api_pages",
        "api_pages.py",
        ("--runs", "20000", "--loops", "20", "--postgres", PG_SERVER),
        ("--postgres", PG_SERVER),
    ),
    Bench(
        "endpoint_overhead",
        "endpoint_overhead.py",
        ("--tasks", "200", "--runs", "20", "--rounds", "1"),
    ),
    Bench(
        "crash_campaign_sqlite",
        "crash_campaign.py",
        ("--backend", "sqlite", "--runs", "40", "--kill-every", "0.3:0.8"),
        ("--backend", "sqlite"),
    ),
    Bench(
        "crash_campaign_postgres",
        "crash_campaign.py",
        ("--backend", "postgres", "--runs", "40", "--kill-every", "0.3:0.8", "--pg-restarts", "1"),
    ),
)


def run(bench: Bench, full: bool, log: Any) -> tuple[list[dict[str, Any]], str | None]:
    """Run one benchmark; its figures, or the reason it produced none."""
    with tempfile.TemporaryDirectory(prefix="relaykit-bench-") as tmp:
        figures = Path(tmp, "figures.json")
        args = bench.full if full else bench.quick
        cmd = [sys.executable, str(HERE / bench.script), *args, "--figures", str(figures)]
        log.write(f"\n$ {' '.join(cmd)}\n")
        log.flush()
        done = subprocess.run(cmd, stdout=log, stderr=log, check=False)
        if not figures.exists():
            return [], f"{bench.script} exited {done.returncode} without figures (see the log)"
        found: list[dict[str, Any]] = json.loads(figures.read_text(encoding="utf-8"))
        return found, None if done.returncode == 0 else f"{bench.script} exited {done.returncode}"


def _ratio(figure: dict[str, Any]) -> float | None:
    mine, peer = figure.get("relaykit"), figure.get("peer")
    if not mine or not peer:
        return None
    return float(peer / mine if figure.get("better") == "lower" else mine / peer)


def verdict(figure: dict[str, Any]) -> str:
    """``met``, ``MISSED by …`` or empty (no target)."""
    value, target, lower = (
        figure.get("relaykit"),
        figure.get("target"),
        figure.get("better") == "lower",
    )
    if value is None:
        return ""
    if target is not None:
        ok = value <= target if lower else value >= target
        if ok:
            return "met"
        if target == 0:
            return f"MISSED ({value:g})"
        return f"MISSED by {value / target if lower else target / value:.2f}x"
    wanted, ratio = figure.get("target_ratio"), _ratio(figure)
    if wanted is not None and ratio is not None:
        return "met" if ratio >= wanted else f"MISSED by {wanted / ratio:.2f}x"
    return ""


def _cell(value: Any, unit: str) -> str:
    if value is None:
        return ""
    if isinstance(value, int) or float(value).is_integer():
        return f"{value:,.0f} {unit}".strip()
    return f"{value:,.{1 if abs(value) >= 10 else 2}f} {unit}".strip()


def table(figures: list[dict[str, Any]]) -> str:
    """The Markdown table of every figure."""
    lines = [
        "| figure | relaykit | DBOS | better by | target | verdict |",
        "|---|---:|---:|---:|---|---|",
    ]
    for f in figures:
        unit = f.get("unit", "")
        ratio = _ratio(f)
        if f.get("target") is not None:
            target = f"{'≤' if f.get('better') == 'lower' else '≥'} {_cell(f['target'], unit)}"
        elif f.get("target_ratio") is not None:
            target = f"≥ {f['target_ratio']:g}x DBOS"
        else:
            target = ""
        lines.append(
            f"| {f['figure']} | {_cell(f.get('relaykit'), unit)} | {_cell(f.get('peer'), unit)} "
            f"| {'' if ratio is None else f'{ratio:.1f}x'} | {target} | {verdict(f)} |"
        )
    return "\n".join(lines)


def main() -> int:
    """Run the chosen benchmarks in turn and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="each script's default sizes")
    parser.add_argument(
        "--only", help="comma-separated names: " + ",".join(b.name for b in BENCHMARKS)
    )
    parser.add_argument("--log", help="where the benchmarks' own output goes")
    args = parser.parse_args()
    chosen = list(BENCHMARKS)
    if args.only:
        names = {n.strip() for n in args.only.split(",") if n.strip()}
        unknown = names - {b.name for b in BENCHMARKS}
        if unknown:
            parser.error(f"--only: unknown benchmark(s) {', '.join(sorted(unknown))}")
        chosen = [b for b in BENCHMARKS if b.name in names]
    log_path = (
        Path(args.log)
        if args.log
        else Path(tempfile.mkstemp(prefix="relaykit-bench-", suffix=".log")[1])
    )
    figures: list[dict[str, Any]] = []
    problems: list[str] = []
    with log_path.open("a", encoding="utf-8") as log:
        for bench in chosen:
            started = time.monotonic()
            print(f"{bench.name} ...", end=" ", flush=True, file=sys.stderr)
            found, problem = run(bench, args.full, log)
            print(f"{time.monotonic() - started:.0f} s", file=sys.stderr)
            figures += found
            if problem:
                problems.append(problem)
    size = "full sizes" if args.full else "quick sizes (--full for the documented figures)"
    print(f"relaykit beside DBOS, {size}; each benchmark's own output: {log_path}\n")
    print(table(figures))
    for problem in problems:
        print(f"\nproblem: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

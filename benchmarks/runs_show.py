"""``relaykit runs show`` of a run with many tasks: the whole command, and its stages.

    python3 benchmarks/runs_show.py [--tasks 10000] [--rounds 5]

Makes one succeeded run of ``--tasks`` tasks on a fresh SQLite file (a job that runs them
one after another: nine in ten at the top level, one in ten inside a parent task, so the tree
has both shapes), then measures:

- ``command``: ``relaykit runs show RUN`` as a subprocess, output to a pipe (the whole command:
  start-up, loading, building and printing the tree);
- ``--json``: ``relaykit runs show RUN --json`` the same way;
- in this process, the stages of the command: loading the records from the store
  (``get_run`` + ``load_tasks`` + ``load_logs``), ``RunResult.from_records``, laying out the
  tree (``task_tree(result).lines()``), and printing it all (``print_result`` to a file).

Prints the median of ``--rounds`` of each, in ms, and per task in µs.
Target (issue 11): ``relaykit runs show`` of a 10,000-task run ≤ 200 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from relaykit import Client, RunResult, invoke_trigger
from relaykit.cli._render import print_result, task_tree
from relaykit.store import store_from_url


async def make_run(url: str, tasks: int) -> str:
    """One succeeded run of ``tasks`` no-op tasks; its id."""
    client = Client(id="runs-show", database_url=url)

    def noop(i: int) -> int:
        return i

    @client.define_job(id="many", version="1.0.0", trigger=invoke_trigger())
    async def many(payload: Any, io: Any, ctx: Any) -> int:
        done = 0
        while done < tasks:
            if done % 10 == 9:

                async def parent(i: int = done) -> int:
                    return int(await io.run_task("child", noop, i))

                await io.run_task(f"group-{done}", parent)
                done += 2
            else:
                await io.run_task(f"task-{done}", noop, done)
                done += 1
        await io.logger.info("done", tasks=done)
        return done

    result = await client.run("many", {})
    await client.close()
    assert str(result.status) == "succeeded", result.error
    return result.id


def timed(fn: Callable[[], Any], rounds: int) -> float:
    """The median wall time of ``fn`` over ``rounds``, in ms."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    """Make the run, time the command and its stages, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--figures", metavar="FILE", help="write the headline figures as JSON (benchmarks/all.py)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp, 'relaykit.db')}?synchronous=off"
        run_id = asyncio.run(make_run(url, args.tasks))

        def command(*extra: str) -> Callable[[], object]:
            cmd = [sys.executable, "-m", "relaykit", "runs", "show", run_id, "--database", url]
            return lambda: subprocess.run([*cmd, *extra], capture_output=True, check=True)

        async def load() -> tuple[Any, Any, Any]:
            store = store_from_url(url)
            await store.open()
            try:
                run = await store.get_run(run_id)
                return run, await store.load_tasks(run_id), await store.load_logs(run_id)
            finally:
                await store.close()

        records = asyncio.run(load())
        result = RunResult.from_records(*records)
        assert len(result.tasks) >= args.tasks, len(result.tasks)  # + the log line's task

        def render() -> None:
            print_result(Console(file=io.StringIO(), width=120), result)

        rows = [
            ("command (subprocess)", timed(command(), args.rounds)),
            ("command --json (subprocess)", timed(command("--json"), args.rounds)),
            ("load records", timed(lambda: asyncio.run(load()), args.rounds)),
            ("RunResult.from_records", timed(lambda: RunResult.from_records(*records), 3)),
            ("task tree lines", timed(lambda: list(task_tree(result).lines()), args.rounds)),
            ("print_result (tree + render)", timed(render, args.rounds)),
        ]
    print(f"relaykit runs show, one run of {args.tasks} tasks, median of {args.rounds} rounds")
    print("| stage | ms | µs per task |")
    print("|---|---:|---:|")
    for name, ms in rows:
        print(f"| {name} | {ms:.1f} | {ms * 1000 / args.tasks:.1f} |")
    if args.figures:
        whole = dict(rows)["command (subprocess)"]
        figure = {
            "figure": f"relaykit runs show, a run of {args.tasks:,} tasks (whole command)",
            "relaykit": round(whole, 1),
            "unit": "ms",
            "better": "lower",
            "target": 200,
        }
        Path(args.figures).write_text(json.dumps([figure]), encoding="utf-8")


if __name__ == "__main__":
    main()

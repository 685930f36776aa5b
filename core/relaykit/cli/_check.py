"""``relaykit check-replay APP``: before a deploy, replay the stored runs on the new code."""

from __future__ import annotations

import time

import click
from rich.markup import escape

from ..engine.replay_check import UNFINISHED, ReplayVerdict, check_replay
from ..records import RunStatus
from ._app import load_client
from ._common import (
    EXIT_RUN_NOT_SUCCEEDED,
    CliError,
    database_option,
    existing_database,
    print_json,
    reports_errors,
    run_async,
    stderr,
    stdout,
)


def _statuses(text: str) -> list[RunStatus]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    known = {s.value: s for s in RunStatus}
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise CliError(
            f"--status {text!r}: unknown status {', '.join(unknown) or '(none)'}; use a "
            f"comma-separated list of {', '.join(known)}"
        )
    return [known[n] for n in names]


@click.command("check-replay")
@click.argument("app")
@click.option("--job", "job_id", metavar="ID", help="Only the runs of this job.")
@click.option(
    "--status",
    "status",
    default=",".join(s.value for s in UNFINISHED),
    show_default=True,
    help="Comma-separated run statuses to check (add succeeded,failed for finished runs).",
)
@click.option("--limit", type=click.IntRange(min=1), default=10_000, show_default=True)
@click.option(
    "--stuck-after",
    type=click.FloatRange(min=0.01, max=3600),
    default=5.0,
    show_default=True,
    help="Seconds a run function may wait on non-relaykit work before it is reported stuck.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@database_option
@reports_errors
def check_replay_command(
    app: str,
    job_id: str | None,
    status: str,
    limit: int,
    stuck_after: float,
    as_json: bool,
    database: str | None,
) -> None:
    """Replay APP's stored runs on its current code without executing anything; exit 1 when
    any run would not replay (a divergence, a failure, a job that is gone)."""
    statuses = _statuses(status)
    client = load_client(app)
    if database:
        client.use_database(database)
    existing_database(client.database_url)  # reads only: never creates a database
    if job_id is not None and job_id not in client.jobs:
        # not an error: the stored runs of a job the code dropped are exactly what to report
        stderr.print(f"[yellow]job {escape(job_id)!r} is not defined by {escape(app)}[/]")

    async def go() -> tuple[list[ReplayVerdict], float]:
        try:
            engine = await client.engine()
            started = time.perf_counter()
            found = await check_replay(
                engine, job_id=job_id, statuses=statuses, limit=limit, stuck_after=stuck_after
            )
            return found, time.perf_counter() - started
        finally:
            await client.close()

    verdicts, seconds = run_async(go())
    bad = [v for v in verdicts if not v.ok]
    if as_json:
        print_json(
            {
                "checked": len(verdicts),
                "incompatible": len(bad),
                "seconds": round(seconds, 3),
                "ok": not bad,
                "runs": [v.as_json() for v in verdicts],
            }
        )
    else:
        for v in bad:
            where = f" at {v.where}" if v.where else ""
            if v.code and v.code_now and v.code != v.code_now:
                where += f" (started on code {v.code}, now {v.code_now})"
            stdout.print(
                f"[red]{v.verdict}[/] run {v.run_id} ({escape(v.job_id)} {escape(v.job_version)},"
                f" {v.status}){escape(where)}: {escape(v.message)}"
            )
        rate = f", {len(verdicts) / seconds:,.0f} runs/s" if seconds > 0 and verdicts else ""
        summary = f"checked {len(verdicts)} run(s) in {seconds:.2f} s{rate}: "
        if bad:
            stdout.print(f"{summary}[red]{len(bad)} would not replay[/]")
        else:
            stdout.print(f"{summary}[green]all compatible[/]")
    if bad:
        raise SystemExit(EXIT_RUN_NOT_SUCCEEDED)

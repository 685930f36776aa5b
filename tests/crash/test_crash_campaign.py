"""The kill -9 campaign at small scale, on both stores (``benchmarks/crash_campaign.py`` runs
the same driver at full scale).

Three real ``relaykit worker`` processes, with the GitHub, Slack and OpenAI plugins installed
(entry points), execute 30 runs of a 20-task job — async and sync tasks, a durable wait, a log
line, GitHub API calls answered by a local fake GitHub — while a random worker is SIGKILLed
every 0.2 to 0.6 s and replaced, 30 times at most (only a worker already seen beginning a
task, so that where workers take long to start, on a loaded machine, they still execute
tasks); on
PostgreSQL, every server connection to the test database is also terminated once. The
side-effect log every task body (and the fake GitHub) appends to is then compared with the
store:

- 0 runs lost or stuck: all 30 succeed, with the right output;
- 0 completed tasks executed again: no execution began after its task's recorded end;
- at most one re-execution of an in-flight task per run per fault that touched the run;
- 0 runs in two attempts at once: no two executions of one run's tasks overlap in time.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmarks.crash_campaign import Campaign, Config, Report

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

RUNS = 30
TASKS = 20


def campaign(db_url: str, workdir: Path, *, terminations: int) -> Report:
    """One small campaign; its figures are printed (``pytest -s`` shows them)."""
    config = Config(
        database_url=db_url,
        workdir=workdir,
        runs=RUNS,
        tasks=TASKS,
        workers=3,
        concurrency=2,
        kill_every=(0.2, 0.6),  # dense enough that a fast machine still sees many kills
        # bounded, so that where a worker takes seconds to start (a loaded machine) the runs
        # still finish: each kill costs a start-up, and killed workers redo in-flight tasks
        max_kills=30,
        terminations=terminations,
        deadline_seconds=300,
        seed=20261202,
    )
    report = Campaign(config).run()
    print(report.summary())
    return report


def test_a_kill_9_campaign_loses_nothing_and_repeats_no_completed_task(
    db_url: str, tmp_path: Path
) -> None:
    postgres = db_url.startswith("postgres")
    report = campaign(db_url, tmp_path / "campaign", terminations=1 if postgres else 0)

    assert report.kills >= 5, "the campaign must actually kill workers"
    assert report.terminations == (1 if postgres else 0)
    assert report.lost_or_stuck == []
    assert report.succeeded == RUNS
    assert report.store_mismatches == []
    # Every task but the wait was executed at least once, for every run.
    assert report.executions >= RUNS * (TASKS - 1)
    assert report.completed_reexecuted == []
    assert report.over_bound == []
    assert report.overlaps == []
    assert report.ok

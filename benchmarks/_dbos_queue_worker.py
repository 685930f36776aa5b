"""A DBOS queue worker for throughput_postgres.py, which starts 1 or 3 of them as subprocesses.

    python benchmarks/_dbos_queue_worker.py --database-url postgresql://... --app NAME
        --version VERSION --queue QUEUE --executor-id ID --concurrency 20 --polling-interval 0.1

Configures DBOS on the given PostgreSQL system database (``--executor-id`` tells the processes
apart, ``--version`` is the application version the benchmark enqueued with), launches it,
registers the queue (``worker_concurrency`` = ``--concurrency``, ``polling_interval_sec`` =
``--polling-interval``; the benchmark process registered it the same way before enqueueing),
and so dequeues and executes the queue's workflows: ``many(tasks)``, ``tasks`` sequential no-op
steps, synchronous as in _dbos_side.py. Prints ``ready`` once launched, runs until its standard
input is closed, then shuts DBOS down and exits. DBOS's logs go to stderr.
"""

from __future__ import annotations

import argparse
import sys

from dbos import DBOS, DBOSConfig


@DBOS.step()
def noop() -> None:
    """The step body: nothing, so only DBOS's own cost is measured."""


@DBOS.workflow()
def many(tasks: int) -> int:
    """Run ``tasks`` no-op steps one after another (registered as ``many``)."""
    for _ in range(tasks):
        noop()
    return tasks


def main() -> None:
    """Launch DBOS, serve the queue until stdin closes, shut down."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--app", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--executor-id", required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--polling-interval", type=float, required=True)
    args = parser.parse_args()
    config: DBOSConfig = {
        "name": args.app,
        "system_database_url": args.database_url,
        "application_version": args.version,
        "executor_id": args.executor_id,
        "log_level": "WARNING",
    }
    DBOS(config=config)
    try:
        DBOS.launch()
        DBOS.register_queue(
            args.queue,
            worker_concurrency=args.concurrency,
            polling_interval_sec=args.polling_interval,
        )
        print("ready", flush=True)
        sys.stdin.read()  # the benchmark closes our stdin once every workflow has succeeded
    finally:
        DBOS.destroy()


if __name__ == "__main__":
    main()

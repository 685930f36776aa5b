"""``io.invoke`` and ``io.batch_invoke``: start runs of other jobs from inside a run.

The child runs are created in the same transaction that records the invoking task, so they
are created exactly once however often the parent is replayed. A waiting parent suspends
without a worker slot; the store wakes it when a child ends (``end_attempt`` and
``cancel_run`` make the parent due), and the replayed task collects the children's outputs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from .._base.serde import dumps, restore
from ..errors import StoreError
from ..records import RunRecord, RunStatus, TaskRecord, TaskStatus
from .attempt import Suspend, error_info
from .runner import task_failed

if TYPE_CHECKING:
    from ..definitions.jobs import Job
    from .runner import Attempt


async def invoke(
    attempt: Attempt,
    key: str,
    job: Job | str,
    payloads: list[Any],
    *,
    wait: bool,
    batch: bool,
) -> Any:
    """Start one run of ``job`` per payload; with ``wait``, return their outputs (a list
    when ``batch``) once all have ended, raising ``TaskFailed`` if any did not succeed.
    Without ``wait``, return the new run id(s)."""
    try:
        return await _invoke(attempt, key, job, payloads, wait=wait, batch=batch)
    except Suspend:
        await attempt.park()  # as every suspension of a parallel branch does
        raise


async def _invoke(
    attempt: Attempt,
    key: str,
    job: Job | str,
    payloads: list[Any],
    *,
    wait: bool,
    batch: bool,
) -> Any:
    job_id = job if isinstance(job, str) else job.id
    full, parent = attempt.enter(key)
    name = f"invoke {job_id}"
    params = dumps(
        {"job": job_id, "payloads" if batch else "payload": payloads if batch else payloads[0]},
        what=f"the payload of io.invoke({key!r})",
    )
    rec = attempt.recorded(full, "invoke", name, params)
    if rec is not None and rec.status is TaskStatus.COMPLETED:
        return restore(rec.output)
    if rec is not None and rec.status is TaskStatus.ERRORED:
        raise task_failed(full, rec)
    if rec is None:
        now = attempt.services.clock.now()
        children = [attempt.services.spawn(job, p, attempt.run, full) for p in payloads]
        ids = [c.id for c in children]
        rec = TaskRecord(
            key=full,
            name=name,
            kind="invoke",
            status=TaskStatus.WAITING if wait else TaskStatus.COMPLETED,
            started_at=now,
            params=params,
            attempts=1,
            properties={"runs": ids},
            icon="invoke",
            parent=parent,
        )
        if not wait:
            rec.output = dumps(ids if batch else ids[0], what="run ids")
            rec.ended_at = now
        await attempt.commit(rec, runs=children)
        if not wait:
            return ids if batch else ids[0]
        attempt.suspend(None)  # woken by the store when a child ends
    return await _collect(attempt, rec, batch)


async def _collect(attempt: Attempt, rec: TaskRecord, batch: bool) -> Any:
    ids: list[str] = list((rec.properties or {}).get("runs", []))
    runs: list[RunRecord] = []
    for run_id in ids:
        try:
            child = await attempt.services.store.get_run(run_id)
        except StoreError as exc:
            attempt.give_up(exc)
        if child is None:  # deleted from the database by hand: it will never end
            await _fail(attempt, rec, f"child run {run_id} no longer exists (was it deleted?)")
        if not child.status.is_terminal:
            attempt.suspend(None)
        runs.append(child)
    rec.ended_at = attempt.services.clock.now()
    failed = [r for r in runs if r.status is not RunStatus.SUCCEEDED]
    if failed:
        child = failed[0]
        cause = child.error["message"] if child.error else "no error recorded"
        more = f" ({len(failed)} of {len(runs)} child runs did not succeed)" if batch else ""
        await _fail(
            attempt,
            rec,
            f"child run {child.id} of job {child.job_id!r} ended {child.status}: {cause}{more}",
        )
    outputs = [restore(r.output) for r in runs]
    rec.status = TaskStatus.COMPLETED
    rec.output = dumps(outputs if batch else outputs[0], what=f"the output of task {rec.key!r}")
    await attempt.commit(rec)
    return restore(rec.output)


async def _fail(attempt: Attempt, rec: TaskRecord, message: str) -> NoReturn:
    """End the invoking task as errored (children are not retried) and raise ``TaskFailed``."""
    rec.status = TaskStatus.ERRORED
    rec.ended_at = attempt.services.clock.now()
    info = error_info(RuntimeError(message), task=rec.key)
    info["type"] = "ChildRunFailed"
    rec.error = info
    await attempt.commit(rec)
    raise task_failed(rec.key, rec)

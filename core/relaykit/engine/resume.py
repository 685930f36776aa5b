"""Which recorded tasks a retried run keeps (``Operations.retry_run``).

A retried run is a new run that starts with copies of some of the old run's tasks: those
replay from their recorded outputs, everything else executes again. Kept are the tasks that
*completed* (an errored, canceled, waiting or running task runs again), and with
``from_task`` only those that started before it and are neither it, nor inside it, nor
enclose it (a parent's output depends on its children, so it runs again too).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from ..errors import UnknownTask
from ..records import TaskRecord, TaskStatus


def tasks_to_keep(
    run_id: str,
    tasks: Sequence[TaskRecord],
    from_task: str | None,
    completed_tokens: Collection[str] = (),
) -> list[str]:
    """The keys of ``tasks`` a retry of ``run_id`` keeps; ``UnknownTask`` when ``from_task``
    is not one of them. An ``io.create_token`` task is kept only when its token was
    completed (its key is in ``completed_tokens``): otherwise the retry creates a new token
    and waits again, since the old one belongs to the old run."""
    done = [
        t
        for t in tasks
        if t.status is TaskStatus.COMPLETED
        and (t.name != "create token" or t.kind != "token" or t.key in completed_tokens)
    ]
    if from_task is None:
        return [t.key for t in done]
    by_key = {t.key: t for t in tasks}
    cut = by_key.get(from_task)
    if cut is None:
        known = ", ".join(repr(t.key) for t in tasks[:20]) or "none"
        raise UnknownTask(
            f"run {run_id} has no task {from_task!r} to retry from (its tasks: {known}); "
            "nested tasks are named parent/child"
        )

    def related(key: str) -> bool:
        return (
            key == from_task or key.startswith(f"{from_task}/") or from_task.startswith(f"{key}/")
        )

    return [t.key for t in done if t.started_at < cut.started_at and not related(t.key)]

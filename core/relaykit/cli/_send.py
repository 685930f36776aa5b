"""``relaykit send APP NAME``: send an event (stored once, routed to the app's jobs)."""

from __future__ import annotations

import asyncio

import click

from ..client import Client
from ..definitions.events import delivery_time
from ..definitions.triggers import EventTrigger
from ..engine.resources import EventSent
from ._app import load_client
from ._common import (
    PAYLOAD_HELP,
    database_option,
    parse_payload,
    print_json,
    reports_errors,
    stdout,
)


@click.command("send")
@click.argument("app")
@click.argument("name")
@click.option("--payload", default=None, metavar="JSON|@FILE|-", help=PAYLOAD_HELP)
@click.option("--id", "event_id", default=None, help="Event id (sending an id twice is a no-op).")
@click.option(
    "--deliver-after",
    type=click.FloatRange(min=0),
    default=None,
    metavar="SECONDS",
    help="Deliver later (a worker delivers it when due).",
)
@click.option("--source", default="relaykit", show_default=True, help="The event's source.")
@click.option("--json", "as_json", is_flag=True, help="Print the event as one JSON line.")
@database_option
@reports_errors
def send_command(
    app: str,
    name: str,
    payload: str | None,
    event_id: str | None,
    deliver_after: float | None,
    source: str,
    as_json: bool,
    database: str | None,
) -> None:
    """Send event NAME: the runs it starts are executed by `relaykit worker APP`."""
    data = parse_payload(payload)
    client = load_client(app)
    if database:
        client.use_database(database)

    async def go() -> EventSent:
        try:
            ops = await client.operations()
            when = delivery_time(None, deliver_after, client.clock.now(), "relaykit send")
            return await ops.send_event(
                name, data, event_id=event_id, source=source, deliver_at=when
            )
        finally:
            await client.close()

    event = asyncio.run(go())
    if as_json:
        print_json(event.to_json())
    elif event.duplicate:
        stdout.print(f"event {event.id} was sent before; nothing new")
    elif event.deliver_at is not None and not event.runs:
        stdout.print(f"event {event.id} stored; delivered at {event.deliver_at.isoformat()}")
    elif not event.runs:
        stdout.print(
            f"event {event.id} sent; matched no job ({_listening(client, name)})", soft_wrap=True
        )
    else:
        runs = event.runs
        stdout.print(
            f"event {event.id} sent; started {len(runs)} run(s): {' '.join(runs)}", soft_wrap=True
        )


def _listening(client: Client, name: str) -> str:
    """Why an event started nothing: which jobs listen for ``name``, or which events the
    app's jobs do listen for."""
    names: set[str] = set()
    on_name: list[str] = []
    for job in client.jobs.values():
        if isinstance(job.trigger, EventTrigger):
            names.update(job.trigger.names)
            if name in job.trigger.names:
                on_name.append(job.id)
    if on_name:
        return f"the filters of {', '.join(sorted(on_name))} did not match its payload"
    if not names:
        return "no job of this app has an event trigger"
    return f"no job triggers on {name!r}; the app's jobs trigger on: {', '.join(sorted(names))}"

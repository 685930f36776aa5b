"""``relaykit webhooks``: a webhook source's secret, and signed sample deliveries, without
writing Python.

INTEGRATION is an integration instance id: with ``--app``, one the app's jobs declare (the
instance the server routes ``/webhooks/INTEGRATION/...`` to); without it, an installed
integration's slug (``github``, ``slack``), made with its defaults. The secret is stored where
``client.webhook_secrets(INTEGRATION, SOURCE).set(name, value)`` stores it (encrypted with
``RELAYKIT_SECRET_KEY``), under the name the integration verifies with
(``Integration.webhook_secret_name``). Samples are the integration's own
(``Integration.example_delivery``): the CLI only posts them.
"""

from __future__ import annotations

import difflib
import json
import sys
from typing import Any

import click

from .._base.secrets import SecretBox
from ..client import Client
from ..errors import UnknownEvent
from ..integrations.base import Integration
from ..integrations.webhooks import WebhookExample
from ._common import CliError, database_option, existing_database, reports_errors, run_async
from ._common import stdout as out

_APP_HELP = (
    "The app whose integration instance INTEGRATION is (its database, too); default: the "
    "installed integration whose slug is INTEGRATION."
)


@click.group("webhooks")
def webhooks_group() -> None:
    """Webhook sources: store a source's secret, list and send signed sample deliveries."""


@webhooks_group.group("secret")
def secret_group() -> None:
    """A webhook source's stored secret."""


def _integration(integration_id: str, app: str | None) -> tuple[Integration, Client]:
    """The integration instance, and a client on the database its webhook route uses."""
    if app is not None:
        from ._app import declared_integrations, load_client

        client = load_client(app)
        declared = declared_integrations(client)
        if integration_id not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise CliError(
                f"{app} declares no integration {integration_id!r} (its jobs declare: {known})"
            )
        return declared[integration_id], client
    from ..integrations.plugins import Plugins

    installed = Plugins().integrations()
    cls = installed.get(integration_id)
    if cls is None:
        known = ", ".join(sorted(installed)) or "none"
        raise CliError(
            f"no installed integration {integration_id!r} (installed: {known}); pass --app APP "
            "for an instance with another id"
        )
    try:
        instance = cls(integration_id)
    except Exception as exc:
        raise CliError(
            f"cannot make {cls.__name__}({integration_id!r}) without arguments ({exc}); "
            "pass --app APP"
        ) from exc
    return instance, Client(id="relaykit-cli")


def _secret_name(integration: Integration) -> str:
    name = type(integration).webhook_secret_name
    if name is None:
        raise CliError(
            f"integration {integration.id!r} ({type(integration).__name__}) keeps no stored "
            "webhook secret"
        )
    return name


def _read_secret(what: str) -> str:
    """The secret from stdin when piped, else from a prompt that does not echo."""
    if sys.stdin is not None and not sys.stdin.isatty():
        value = sys.stdin.readline().strip()
    else:
        value = str(click.prompt(f"{what}", hide_input=True, confirmation_prompt=True)).strip()
    if not value:
        raise CliError(f"no secret given for {what}: type it at the prompt or pipe it on stdin")
    return value


@secret_group.command("set")
@click.argument("integration_id", metavar="INTEGRATION")
@click.argument("source_id", metavar="SOURCE")
@click.option("--app", default=None, metavar="APP", help=_APP_HELP)
@database_option
@reports_errors
def secret_set(integration_id: str, source_id: str, app: str | None, database: str | None) -> None:
    """Store the webhook secret of INTEGRATION's SOURCE (``octo/repo`` for GitHub), encrypted
    with RELAYKIT_SECRET_KEY. The secret is read from a prompt that does not echo, or from
    stdin (`printenv SECRET | relaykit webhooks secret set ...`), never from the command line.
    """
    integration, client = _integration(integration_id, app)
    name = _secret_name(integration)
    SecretBox.from_env()  # fail before asking for anything when no key is configured
    if database:
        client.use_database(database)
    value = _read_secret(f"{name} of {integration_id}/{source_id}")

    async def store() -> None:
        try:
            await client.open()
            await client.webhook_secrets(integration_id, source_id).set(name, value)
        finally:
            await client.close()

    run_async(store())
    out.print(f"webhook secret {name!r} of {integration_id}/{source_id} saved (encrypted)")


@webhooks_group.command("examples")
@click.argument("integration_id", metavar="INTEGRATION")
@click.option("--app", default=None, metavar="APP", help=_APP_HELP)
@reports_errors
def examples_command(integration_id: str, app: str | None) -> None:
    """List the sample deliveries of INTEGRATION (`relaykit webhooks send --example NAME`)."""
    integration, _ = _integration(integration_id, app)
    names = integration.webhook_examples()
    if not names:
        raise CliError(f"integration {integration_id!r} has no sample deliveries")
    for name in names:
        out.print(name)


@webhooks_group.command("send")
@click.argument("integration_id", metavar="INTEGRATION")
@click.argument("source_id", metavar="SOURCE")
@click.option("--example", "example_name", required=True, metavar="NAME", help="The sample.")
@click.option(
    "--url",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="The server (`relaykit serve`/`dev`) to post to.",
)
@click.option("--app", default=None, metavar="APP", help=_APP_HELP)
@database_option
@reports_errors
def send_command(
    integration_id: str,
    source_id: str,
    example_name: str,
    url: str,
    app: str | None,
    database: str | None,
) -> None:
    """Sign the sample delivery NAME with SOURCE's stored secret, as the vendor signs it, and
    post it to the server's /webhooks/INTEGRATION/SOURCE; print the answer and the runs the
    delivery started (read from the database)."""
    integration, client = _integration(integration_id, app)
    names = integration.webhook_examples()
    if example_name not in names:
        close = difflib.get_close_matches(example_name, names, n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise CliError(
            f"integration {integration_id!r} has no sample delivery {example_name!r} ({hint}"
            f"`relaykit webhooks examples {integration_id}` lists them)"
            if names
            else f"integration {integration_id!r} has no sample deliveries"
        )
    if database or app is None:
        client.use_database(existing_database(database))
    example = run_async(_sign(client, integration, source_id, example_name))
    target = f"{url.rstrip('/')}/webhooks/{integration_id}/{source_id}"
    status, answer = _post(target, example)
    shown = answer if isinstance(answer, str) else json.dumps(answer)
    out.print(f"POST {target} -> {status} {shown}", soft_wrap=True, markup=False)
    if status >= 300:
        sys.exit(1)
    if isinstance(answer, dict) and answer.get("duplicate") is True:
        out.print(
            "the server stored nothing: it saw this signed body moments ago (a replay); "
            "send again in a second",
            soft_wrap=True,
        )
    elif example.event_id is not None:
        out.print(run_async(_started(client, example.event_id)), soft_wrap=True)


async def _sign(
    client: Client, integration: Integration, source_id: str, name: str
) -> WebhookExample:
    try:
        await client.open()
        secret = await integration.webhook_secret(client.webhook_secrets(integration.id, source_id))
    finally:
        await client.close()
    if not secret:
        raise CliError(
            f"no webhook secret for {integration.id}/{source_id}: store one with `relaykit "
            f"webhooks secret set {integration.id} {source_id}` (the secret the vendor has)"
        )
    example = integration.example_delivery(
        name, secret, source_id=source_id, now=client.clock.now()
    )
    if example is None:
        raise CliError(f"integration {integration.id!r} made no sample delivery {name!r}")
    return example


def _post(target: str, example: WebhookExample) -> tuple[int, Any]:
    """The server's status and answer (its JSON, else its text)."""
    import httpx2

    try:
        response = httpx2.post(target, content=example.body, headers=dict(example.headers))
    except httpx2.HTTPError as exc:
        raise CliError(
            f"cannot post to {target} ({type(exc).__name__}: {exc}); is `relaykit serve` "
            "running there? pass --url"
        ) from exc
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.text or "(empty body)"


async def _started(client: Client, event_id: str) -> str:
    try:
        found = await (await client.operations()).event_runs(event_id)
    except UnknownEvent:
        return (
            f"event {event_id} is not in this database: the integration answered the delivery "
            "without an event (GitHub's ping), or the server uses another database (--database)"
        )
    finally:
        await client.close()
    event = found.event
    if not found.runs:
        return f"event {event.id} ({event.name}) started no run"
    runs = " ".join(f"{r.id} ({r.job})" for r in found.runs)
    return f"event {event.id} ({event.name}) started {len(found.runs)} run(s): {runs}"

"""``relaykit serve APP`` and ``relaykit dev APP``: the HTTP API, the dashboard and a worker
(which also fires schedules and delivers events) in one process."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from ..client import Client
from ..engine.worker import Worker
from ..errors import AppLoadError
from ._app import check_secret_key, describe_load_error, load_client
from ._common import (
    CliError,
    database_option,
    print_run_summary,
    reports_errors,
    show_run_ends,
    stderr,
)
from ._reload import DevState, restart, take_state, watch, watched_root
from ._render import ProgressPrinter


async def serve(
    client: Client,
    *,
    host: str,
    port: int,
    run_worker: bool,
    concurrency: int,
    progress: bool,
    reload_root: Path | None = None,
    login_token: str | None = None,
    load_error: str | None = None,
    listen_fd: int | None = None,
) -> DevState | None:
    """Serve ``client``'s API and dashboard (and run a worker) until SIGINT/SIGTERM, or until
    a ``.py`` file under ``reload_root`` changes: then return what the restarted process
    needs (the login link's token, so it prints the same link, and the listening socket);
    None: stopped, do not restart.

    ``login_token`` is the link a previous process printed: printed again while it is unused
    and unexpired, else a new one is made. ``load_error``: the app failed to load, the
    dashboard shows it in a banner. ``listen_fd``: the previous process's listening socket,
    served instead of binding a new one."""
    # Imported here: every other command starts without loading the HTTP stack.
    import uvicorn

    from ..server import PUBLIC_URL_ENV, Access, create_app

    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{port}"
    # OAuth redirect URIs: $RELAYKIT_PUBLIC_URL, else the address printed below (a malformed
    # one is an error line before anything starts)
    app = create_app(
        client, public_url=os.environ.get(PUBLIC_URL_ENV) or url, load_error=load_error
    )
    # a port in use is one error line, before anything starts
    sock = _inherited(listen_fd, port) or _listen(host, port)
    # uvicorn closes its socket when it stops; a duplicate keeps it listening for a restart
    held = None if reload_root is None else os.dup(sock.fileno())
    await client.open()  # a database that cannot be opened is one error line, no banner
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
    server = _server_class(uvicorn.Server)(config)
    server.before_shutdown = client.changes.close  # open event streams end, not hold it up
    observer = ProgressPrinter(stderr, show_run=True) if progress else None
    worker = Worker(client, concurrency=concurrency, observer=observer) if run_worker else None
    tally = show_run_ends() if run_worker else None
    access = Access(client.store, client.clock)
    if login_token is None or not await access.login_link_pending(login_token):
        login_token = await access.login_link_token()
    token = login_token
    # click.echo, not rich: the link must stay on one line for terminals to make it clickable.
    click.echo(f"relaykit: dashboard {url}/  (API {url}/api/v1, store {client.store.url})")
    click.echo(f"relaykit: one-time login link {url}/login/link?token={token}", err=False)
    worker_task = None if worker is None else asyncio.create_task(worker.run())
    changed: list[Path] = []

    def on_change(path: Path) -> None:
        click.echo(f"relaykit: {path} changed; restarting", err=True)
        changed.append(path)
        server.should_exit = True

    watcher = None if reload_root is None else asyncio.create_task(watch(reload_root, on_change))
    try:
        await server.serve(sockets=[sock])  # returns on SIGINT/SIGTERM (uvicorn's handlers)
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        if worker is not None and worker_task is not None:
            worker.stop()  # running attempts finish or are handed back before a restart
            with contextlib.suppress(asyncio.CancelledError):
                await worker_task
        await client.close()
        if tally is not None:
            print_run_summary(tally)
    if not changed or server.signalled:
        if held is not None:
            os.close(held)
        return None
    return DevState(login_token=token, listen_fd=held)


def _inherited(fd: int | None, port: int) -> socket.socket | None:
    """The listening socket a restarted ``relaykit dev`` inherited as ``fd``, if it is one
    on ``port`` (anything else: None, and a new socket is bound)."""
    if fd is None:
        return None
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        return None
    if sock.type != socket.SOCK_STREAM or sock.getsockname()[1] != port:
        sock.close()
        return None
    os.set_inheritable(fd, False)  # not handed on to the app's subprocesses
    return sock


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (uvicorn listens on it), or a one-line CliError.

    Created with ``proto=IPPROTO_TCP``, as uvicorn creates its own: asyncio sets TCP_NODELAY
    on each accepted connection only when the socket's ``proto`` says TCP (an accepted socket
    inherits it from this one). With ``proto=0`` Nagle's algorithm stays on, and a response
    written in two parts (headers, then body) waits for the client's delayed ACK, ~40 ms, on
    every request of a keep-alive connection.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart at once (dev reload)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise CliError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; pass another --port "
            "or --host, or stop the process using it"
        ) from exc
    return sock


def _server_class(base: Any) -> Any:
    """uvicorn's ``Server`` that, once stopped by SIGINT/SIGTERM, does not raise the signal
    again: uvicorn re-raises it after shutting down, which would kill the process before the
    worker hands its runs back and the store is closed. We exit normally (code 0) instead."""

    class Server(base):  # type: ignore[misc]  # base is uvicorn.Server (Any: imported lazily)
        #: SIGINT/SIGTERM arrived: stop for good, even when a file changed too (a restart
        #: would lose the signal, and the process would never stop).
        signalled = False

        #: Called when the server starts shutting down, before it waits for connections.
        before_shutdown: Callable[[], None] | None = None

        async def shutdown(self, sockets: Any = None) -> None:
            if self.before_shutdown is not None:
                self.before_shutdown()
            await super().shutdown(sockets)

        def handle_exit(self, sig: int, frame: Any) -> None:
            self.signalled = True
            super().handle_exit(sig, frame)

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            handled = (signal.SIGINT, signal.SIGTERM)
            original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in original.items():
                    signal.signal(sig, handler)

    return Server


def _options(fn: click.decorators.FC, *, app_required: bool = True) -> click.decorators.FC:
    for option in reversed(
        [
            click.argument("app", required=app_required),
            click.option("--host", default="127.0.0.1", show_default=True, help="Bind address."),
            click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True),
            click.option(
                "--concurrency",
                type=click.IntRange(1, 10_000),
                default=10,
                show_default=True,
                help="Runs the worker executes at once.",
            ),
            database_option,
        ]
    ):
        fn = option(fn)
    return fn


def _serve_options(fn: click.decorators.FC) -> click.decorators.FC:
    return _options(fn, app_required=False)


@click.command("serve")
@_serve_options
@click.option("--no-worker", is_flag=True, help="Serve HTTP only (workers run elsewhere).")
@click.option(
    "--endpoint",
    "endpoint_url",
    metavar="URL",
    help="Endpoint mode: drive the jobs of the app deployed at URL (its client.endpoint()), "
    "signed with RELAYKIT_ENDPOINT_SECRET; no APP needed.",
)
@click.option(
    "--budget",
    type=click.FloatRange(min=1.0),
    default=60.0,
    show_default=True,
    help="Endpoint mode: seconds each request may run tasks before yielding.",
)
@reports_errors
def serve_command(
    app: str | None,
    host: str,
    port: int,
    concurrency: int,
    database: str | None,
    no_worker: bool,
    endpoint_url: str | None,
    budget: float,
) -> None:
    """Serve APP's HTTP API and dashboard, with a worker, until stopped."""
    if endpoint_url is not None:
        if app is not None:
            raise CliError("pass APP or --endpoint URL, not both: an endpoint's jobs come from it")
        asyncio.run(
            _serve_endpoint(
                endpoint_url,
                budget=budget,
                database=database,
                host=host,
                port=port,
                run_worker=not no_worker,
                concurrency=concurrency,
            )
        )
        return
    if app is None:
        raise CliError("missing APP (module:client or a .py file), or pass --endpoint URL")
    client = load_client(app)
    if not no_worker:
        check_secret_key(client, "relaykit serve")
    if database:
        client.use_database(database)
    asyncio.run(
        serve(
            client,
            host=host,
            port=port,
            run_worker=not no_worker,
            concurrency=concurrency,
            progress=False,
        )
    )


async def _serve_endpoint(url: str, *, budget: float, database: str | None, **options: Any) -> None:
    """``serve --endpoint URL``: a client holding the endpoint's jobs (from its describe)."""
    from ..engine.remote import RemoteEndpoint
    from ..errors import ConfigurationError, EndpointError

    try:
        remote = RemoteEndpoint(url, budget_seconds=budget)
    except ConfigurationError as exc:
        raise CliError(str(exc)) from exc
    try:
        try:
            client_id, jobs = await remote.describe()
        except EndpointError as exc:
            raise CliError(f"{exc}; is the app serving client.endpoint() there?") from exc
        client = Client(id=client_id, database_url=database)
        client.add_remote_jobs(jobs)
        click.echo(
            f"relaykit: endpoint {remote.shown_url}: jobs {', '.join(j.id for j in jobs) or 'none'}"
        )
        await serve(client, progress=False, **options)
    finally:
        await remote.aclose()


@click.command("dev")
@_options
@click.option("--no-reload", is_flag=True, help="Do not restart when a .py file changes.")
@reports_errors
def dev_command(
    app: str, host: str, port: int, concurrency: int, database: str | None, no_reload: bool
) -> None:
    """Develop APP: worker, scheduler, HTTP API and dashboard in one process, printing each
    task as it ends and restarting when a .py file beside APP changes (SQLite at
    .relaykit/relaykit.db unless --database/RELAYKIT_DATABASE_URL)."""
    state = take_state()
    root = None if no_reload else watched_root(app)
    client, load_error = _load_for_dev(app, database, root, state)
    if load_error is None:
        check_secret_key(client, "relaykit dev")
    again = asyncio.run(
        serve(
            client,
            host=host,
            port=port,
            run_worker=load_error is None,
            concurrency=concurrency,
            progress=True,
            reload_root=root,
            login_token=state.login_token,
            load_error=load_error,
            listen_fd=state.listen_fd,
        )
    )
    if again is not None:
        restart(dataclasses.replace(again, database_url=client.database_url))


def _load_for_dev(
    app: str, database: str | None, root: Path | None, state: DevState
) -> tuple[Client, str | None]:
    """APP's client, or, when it fails to load and dev reloads (after a restart, or when its
    code raised), a client without jobs on the same database and the error's description:
    printed here as one block, shown by the dashboard until the next save reloads."""
    try:
        client = load_client(app)
    except AppLoadError as exc:
        if root is None or (exc.__cause__ is None and not state.restarted):
            raise  # no reload to wait for, or a wrong APP argument: one error line, exit 2
        detail = describe_load_error(exc, root)
        indented = detail.replace("\n", "\n  ")
        click.echo(
            f"relaykit: APP {app} failed to load; serving the dashboard without its jobs "
            f"until a .py file is saved again:\n  {indented}",
            err=True,
        )
        return Client(id="relaykit-dev", database_url=database or state.database_url), detail
    if database:
        client.use_database(database)
    return client, None

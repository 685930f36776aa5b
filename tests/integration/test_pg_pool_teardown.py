"""A program that ends while the PostgreSQL pool is opening a connection exits.

psycopg_pool's maintenance workers swallow ``CancelledError`` (3.3.3), so ``asyncio.run``,
which cancels every task and waits for them, hung forever when a store was left open while its
pool was connecting (seen in the suite under load). The store's ``Pool`` ends its workers
once they are cancelled. A socket that accepts connections and never answers keeps the
pool's first connection attempt in flight; no PostgreSQL server is needed. (The same program
with psycopg_pool's own ``AsyncConnectionPool`` hangs until killed: checked by hand with
psycopg-pool 3.3.3.)
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

PROGRAM = """
import asyncio
from {module} import {name} as Pool

async def main():
    pool = Pool("host=127.0.0.1 port={port} connect_timeout=30", min_size=1, open=False)
    await pool.open(wait=False)  # a worker starts connecting, and waits for an answer
    await asyncio.sleep(0.5)

asyncio.run(main())  # returns with the pool open and its worker mid-connect
print("exited")
"""


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose listener completes TCP handshakes (the kernel's backlog) but never
    accepts or answers: a PostgreSQL connection to it waits for the server's reply."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


def _exits(module: str, name: str, port: int) -> bool:
    program = PROGRAM.format(module=module, name=name, port=port)
    try:
        done = subprocess.run(
            [sys.executable, "-c", program], capture_output=True, text=True, timeout=15
        )
    except subprocess.TimeoutExpired:
        return False
    assert done.returncode == 0, done.stderr
    return done.stdout.strip() == "exited"


def test_a_loop_that_ends_while_the_pool_connects_exits(silent_port: int) -> None:
    assert _exits("relaykit.store._postgres_io", "Pool", silent_port)

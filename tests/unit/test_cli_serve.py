"""The listening socket ``relaykit serve``/``relaykit dev`` hand to uvicorn."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import uvicorn

from relaykit.cli._serve import _listen


async def _app(scope: Any, receive: Any, send: Any) -> None:
    """An ASGI app that answers every request with an empty 204."""
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def _accepted_nodelay() -> int:
    """Serve ``_app`` with uvicorn on ``_listen``'s socket, open one keep-alive connection,
    and read TCP_NODELAY off the socket uvicorn accepted for it."""
    sock = _listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    config = uvicorn.Config(_app, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        await writer.drain()
        assert (await reader.readline()).startswith(b"HTTP/1.1 204")
        # the connection is still open (keep-alive): uvicorn holds its protocol object
        (connection,) = server.server_state.connections
        accepted: socket.socket = connection.transport.get_extra_info("socket")
        assert accepted.getsockname()[1] == port
        value: int = accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        writer.close()
        await writer.wait_closed()
        return value
    finally:
        server.should_exit = True
        await serving


def test_listening_socket_is_tcp() -> None:
    # asyncio decides on TCP_NODELAY from the socket's proto, inherited by accepted sockets
    with _listen("127.0.0.1", 0) as sock:
        assert sock.proto == socket.IPPROTO_TCP


def test_accepted_connection_has_tcp_nodelay() -> None:
    # Without it a response written in two parts waits ~40 ms for the client's delayed ACK:
    # 20 requests per second on a keep-alive connection (issue 11).
    assert asyncio.run(_accepted_nodelay()) != 0

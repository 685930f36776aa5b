"""The local OAuth2 redirect target of ``relaykit connect``: one GET on 127.0.0.1.

The provider redirects the user's browser to ``http://127.0.0.1:PORT/callback?code=&state=``;
this stdlib server takes that one request and hands its query to the command. (Register that
redirect URI with the provider; ``--port`` fixes the port.)
"""

from __future__ import annotations

import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

_PAGE = (
    b"<!doctype html><title>relaykit</title><p>relaykit received the authorization. "
    b"You can close this window.</p>"
)


class CallbackServer:
    """Listens on 127.0.0.1 for the OAuth2 redirect."""

    def __init__(self, port: int = 0) -> None:
        self.query: dict[str, str] | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != "/callback":
                    self.send_error(404)
                    return
                outer.query = dict(parse_qsl(parts.query))
                self.send_response(200)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(_PAGE)))
                self.end_headers()
                self.wfile.write(_PAGE)

            def log_message(self, format: str, *args: Any) -> None:
                return  # the command reports what matters; no access log on stderr

        self._server = HTTPServer(("127.0.0.1", port), Handler)
        self._server.timeout = 0.2

    @property
    def redirect_uri(self) -> str:
        """The URL to redirect to."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/callback"

    def wait(self, timeout: float) -> dict[str, str] | None:
        """The redirect's query parameters, or None when ``timeout`` seconds pass first."""
        deadline = time.monotonic() + timeout
        try:
            while self.query is None and time.monotonic() < deadline:
                self._server.handle_request()
        finally:
            self._server.server_close()
        return self.query

"""Real servers on 127.0.0.1 for tests that need sockets: an echoing API and a fake proxy.

Both run in a thread of the test process, each request bounded by a socket timeout, and
stop when their `with` block ends. They play the server side, and see credentials by
design (the suite's secret guard exempts test frames).
"""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

MINT_PATH = "/api/v2/public/session-token"
_TIMEOUT = 10.0  # seconds a connection may idle before the server drops it


class _EchoHandler(BaseHTTPRequestHandler):
    """Answers every request with 200 and JSON, echoing the credentials it received in
    response headers: raw, percent-encoded, and as `x-api-key` / `authorization`."""

    protocol_version = "HTTP/1.1"
    timeout = _TIMEOUT
    server: EchoServer

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        key = self.headers.get("x-api-key", "")
        auth = self.headers.get("authorization", "")
        self.server.seen.append((self.command, self.path, key, auth))
        if self.path.startswith(MINT_PATH):
            body: Any = {"token": self.server.token, "expires_in": 3600}
        else:
            body = {"ok": True}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("x-echo-key", key)
        self.send_header("x-echo-auth", auth)
        self.send_header("x-echo-quoted", quote(key or auth, safe=""))
        self.send_header("x-request-id", f"req-{key or auth}")
        if key:
            self.send_header("x-api-key", key)
        if auth:
            self.send_header("authorization", auth)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: the test reads the SDK's logs, not the server's


class EchoServer(ThreadingHTTPServer):
    """An HTTP/1.1 server on loopback that echoes credentials back (see `_EchoHandler`)."""

    daemon_threads = True

    def __init__(self, token: str) -> None:
        super().__init__(("127.0.0.1", 0), _EchoHandler)
        self.token = token
        self.seen: list[tuple[str, str, str, str]] = []

    def __repr__(self) -> str:
        return f"<EchoServer {self.url}>"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(socketserver.BaseRequestHandler):
    """Records what a client sent to the proxy, then answers 502 and closes."""

    server: FakeProxy

    def handle(self) -> None:
        self.request.settimeout(_TIMEOUT)
        received = b""
        try:
            while b"\r\n\r\n" not in received and len(received) < 65536:
                chunk = self.request.recv(4096)
                if not chunk:
                    break
                received += chunk
        except OSError:
            pass
        with self.server.lock:
            self.server.requests.append(received)
        answer = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        with suppress(OSError):
            self.request.sendall(answer)


class FakeProxy(socketserver.ThreadingTCPServer):
    """A 'proxy' on loopback that records every request it gets and forwards none."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.lock = threading.Lock()
        self.requests: list[bytes] = []

    def __repr__(self) -> str:
        return f"<FakeProxy {self.url}>"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextmanager
def serving(server: socketserver.BaseServer) -> Iterator[None]:
    """Serve `server` in a thread for the block, then stop it and close its socket."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=_TIMEOUT)

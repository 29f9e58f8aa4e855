"""Decompression bombs and hostile JSON: memory, loop lag and typed errors.

Each bomb is a small body that decodes to 128 MiB of zeros, under an encoding chain
(the SDK decodes every stage itself, a bounded step at a time). The call runs in a
process of its own (`rss_probe`), which reports its peak RSS growth and the longest
gap a 5 ms ticker saw during the call: the growth must stay under the limit + 16 MiB,
and the lag far below the seconds a whole-read decoder blocks the loop for.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.util
import json
import socket
import sys
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from refold_async import APIDecodeError, APIStatusError, AsyncRefold, RetryPolicy
from refold_async._payload import MAX_RESPONSE_JSON_DEPTH
from tests.core import ops
from tests.faults import server as faults
from tests.faults.server import Answer, Connection, FaultServer
from tests.helpers import API_KEY

ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024
LIMIT = 8 * MiB  # the probe's max_response_bytes
GROWTH_BOUND_MIB = LIMIT / MiB + 16
# A decoder that inflates a read at once blocks the loop for seconds on these bombs; the
# bounded one gives it a turn every few ms. Generous, for a loaded machine.
LAG_BOUND_MS = 250
BOMB = 128 * MiB


@functools.cache
def _deflated(wbits: int) -> bytes:
    """`BOMB` zero bytes compressed (31: gzip, 15: zlib, -15: raw deflate); built once."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    zeros = bytes(MiB)
    return b"".join(compressor.compress(zeros) for _ in range(BOMB // MiB)) + compressor.flush()


def _gzip(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    return compressor.compress(data) + compressor.flush()


def _gzip_gzip() -> bytes:
    return _gzip(_deflated(31))


def _brotli() -> bytes:
    import brotli  # type: ignore[import-not-found,unused-ignore]

    packed: bytes = brotli.compress(bytes(BOMB), quality=5)
    return packed


def _zstd() -> bytes:
    import zstandard  # type: ignore[import-not-found,unused-ignore]

    packed: bytes = zstandard.ZstdCompressor(level=3).compress(bytes(BOMB))
    return packed


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _bomb(encoding: str, body: Callable[[], bytes]) -> Answer:
    async def answer(conn: Connection) -> None:
        if conn.request.target == "/warm":
            await faults.json_ok(conn)
            return
        data = body()
        await conn.head(
            200,
            ("Content-Type", "application/json"),
            ("Content-Encoding", encoding),
            ("Content-Length", str(len(data))),
        )
        for start in range(0, len(data), faults.CHUNK):
            await conn.send(data[start : start + faults.CHUNK])

    return answer


async def _probe(server: FaultServer) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.faults.rss_probe",
        server.url,
        str(LIMIT),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0
    result: dict[str, Any] = json.loads(out)
    return result


_BROTLI = _has("brotli") or _has("brotlicffi")
_ZSTD = _has("zstandard") or _has("backports.zstd")


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        pytest.param("gzip, gzip", _gzip_gzip, id="gzip-gzip"),
        pytest.param("gzip, identity", lambda: _deflated(31), id="gzip-identity"),
        pytest.param("deflate, gzip", lambda: _gzip(_deflated(-15)), id="deflate-raw-gzip"),
        pytest.param(
            "br",
            _brotli,
            id="br",
            marks=pytest.mark.skipif(not _BROTLI, reason="no brotli module installed"),
        ),
        pytest.param(
            "zstd",
            _zstd,
            id="zstd",
            marks=pytest.mark.skipif(not _ZSTD, reason="no zstd module installed"),
        ),
    ],
)
async def test_bombs_stay_within_the_limit_and_never_stall_the_loop(
    server: FaultServer, encoding: str, body: Callable[[], bytes]
) -> None:
    """A bomb fails typed (too large), peak RSS grows < limit + 16 MiB, loop lag < 250 ms."""
    body()  # built before the probe starts, so the server answers at once
    server.answer = _bomb(encoding, body)
    result = await _probe(server)
    assert result["outcome"] == "APIResponseTooLargeError", result
    assert result["growth_mib"] < GROWTH_BOUND_MIB, result
    assert result["lag_ms"] < LAG_BOUND_MS, result


def _client(server: FaultServer) -> AsyncRefold:
    return AsyncRefold(
        api_key=API_KEY,
        base_url=server.url,
        rate_limit=None,
        timeout=10,
        retry=RetryPolicy(max_attempts=1),
    )


def _answer(status: int, body: bytes) -> Answer:
    async def answer(conn: Connection) -> None:
        await conn.head(
            status, ("Content-Type", "application/json"), ("Content-Length", str(len(body)))
        )
        await conn.send(body)

    return answer


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


async def test_deep_json_in_a_2xx_body_is_a_decode_error(server: FaultServer) -> None:
    """A 2xx body nested 100,000 deep is APIDecodeError, not RecursionError."""
    server.answer = _answer(200, _nested(100_000))
    async with _client(server) as client:
        with pytest.raises(APIDecodeError) as info:
            await client._transport.send(ops.ORG)
    assert f"deeper than {MAX_RESPONSE_JSON_DEPTH}" in str(info.value)


@pytest.mark.parametrize("depth", [900, 100_000])
async def test_deep_json_in_an_error_body_still_builds_the_error(
    server: FaultServer, depth: int
) -> None:
    """An error body nested deep still gives the typed status error, its body as text."""
    server.answer = _answer(400, b'{"error": ' + _nested(depth) + b"}")
    async with _client(server) as client:
        with pytest.raises(APIStatusError) as info:
            await client._transport.send(ops.ORG)
    assert info.value.status == 400
    assert isinstance(info.value.body, str)
    assert info.value.body.startswith('{"error": [[[')


async def test_json_at_the_documented_depth_decodes(server: FaultServer) -> None:
    """A body exactly `MAX_RESPONSE_JSON_DEPTH` deep is decoded as it is."""
    server.answer = _answer(200, _nested(MAX_RESPONSE_JSON_DEPTH))
    async with _client(server) as client:
        data = await client._transport.send(ops.ORG)
    for _ in range(MAX_RESPONSE_JSON_DEPTH - 1):
        (data,) = data
    assert data == []


class _KeepAlive:
    """A keep-alive HTTP/1.1 server whose every answer carries bytes past its
    Content-Length: a second response, smuggled into the same write."""

    def __init__(self) -> None:
        self.connections = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                body, smuggled = b'{"ok": 1}', b'{"smuggled": 1}'
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
                    + b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(smuggled), smuggled)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


async def test_bytes_past_content_length_close_the_connection() -> None:
    """The next call opens a new connection, and never reads the smuggled answer."""
    server = _KeepAlive()
    async with server as url:
        client = AsyncRefold(
            api_key=API_KEY, base_url=url, rate_limit=None, retry=RetryPolicy(max_attempts=1)
        )
        async with client:
            first = await client._transport.send(ops.ORG)
            second = await client._transport.send(ops.ORG)
    assert first == {"ok": 1}
    assert second == {"ok": 1}
    assert server.connections == 2


class _LateJunk:
    """A raw-socket keep-alive server: it answers, then (when told) writes junk on the
    idle connection, a second answer nobody asked for; later requests get `{"ok": n}`."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.connections = 0
        self.go = threading.Event()
        self.sent = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def __enter__(self) -> _LateJunk:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.go.set()
        self.listener.close()
        self.thread.join(timeout=10)

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while self.connections < 2:
                conn, _ = self.listener.accept()
                self.connections += 1
                with conn:
                    self._answer(conn, self.connections)
                    if self.connections == 1:
                        self.go.wait(timeout=10)
                        smuggled = b'{"smuggled": 1}'
                        conn.sendall(
                            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                            % (len(smuggled), smuggled)
                        )
                        self.sent.set()
                        with contextlib.suppress(OSError):  # a second request, if it comes
                            self._answer(conn, 99)

    @staticmethod
    def _answer(conn: socket.socket, n: int) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                raise OSError("closed")
            data += chunk
        body = b'{"ok": %d}' % n
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))


async def test_bytes_on_an_idle_connection_close_it() -> None:
    """Junk that arrives after the response was read (the connection idle in the pool) is
    never taken as the next answer: the next call opens a new connection."""
    with _LateJunk() as server:
        client = AsyncRefold(
            api_key=API_KEY, base_url=server.url, rate_limit=None, retry=RetryPolicy(max_attempts=1)
        )
        async with client:
            first = await client._transport.send(ops.ORG)
            server.go.set()
            assert await anyio.to_thread.run_sync(server.sent.wait, 10)
            second = await client._transport.send(ops.ORG)
    assert first == {"ok": 1}
    assert second == {"ok": 2}
    assert server.connections == 2

"""Pace by departure, not by grant (docs/architecture.md §4): late departures cannot bunch.

On a virtual clock, waiters take a slot, then leave after a delay of their own (a new
connection, a busy loop), and `Departure.before_headers()` runs where httpcore would
announce the headers. The departure times, not the grant times, must pass the server's
bucket, for any arrivals and any delays.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from refold_async import HostRateLimiter, LocalRateLimiter, RateLimit
from refold_async._pacing import HEADERS_STARTED, Departure
from refold_async._ratelimit import RateLimiter, UnlimitedRateLimiter
from refold_async.testing import audit_send_times

from .conftest import run_virtual

LIMITERS: dict[str, Callable[[], RateLimiter]] = {
    "process": lambda: LocalRateLimiter(RateLimit()),
    "host": lambda: HostRateLimiter(RateLimit(), directory=tempfile.mkdtemp(prefix="refold-p-")),
}
SCOPES = pytest.mark.parametrize("scope", sorted(LIMITERS))

# Six grants (0, 0, 0, 0, 0.05, 0.10) that all leave at 0.15, with the 0.15 one on time:
# seven at one instant, where the server takes five.
BUNCHED = [(0.0, 0.15)] * 4 + [(0.0, 0.10), (0.0, 0.05)] + [(0.0, 0.0)] * 14


async def depart(
    limiter: RateLimiter, requests: list[tuple[float, float]], *, paced: bool
) -> list[float]:
    """Each request: arrive, take a slot, wait its delay, run the check, leave."""
    loop = asyncio.get_running_loop()
    departures: list[float] = []

    async def one(arrival: float, delay: float) -> None:
        await asyncio.sleep(arrival)
        await limiter.acquire("k")
        departure = Departure(limiter, "k", loop.time)
        await asyncio.sleep(delay)
        if paced:
            await departure.before_headers()
        departures.append(loop.time())

    await asyncio.gather(*(one(a, d) for a, d in requests))
    return departures


def test_without_the_check_late_departures_draw_429s() -> None:
    """The control: grant-time pacing alone lets seven requests leave at one instant."""
    times = run_virtual(lambda: depart(LocalRateLimiter(RateLimit()), BUNCHED, paced=False))
    assert not audit_send_times(times).conforms


@SCOPES
@settings(max_examples=100, deadline=None)
@given(
    requests=st.lists(
        st.tuples(
            st.integers(0, 2000).map(lambda ms: ms / 1000),
            st.one_of(st.just(0.0), st.floats(0, 0.3, allow_nan=False)),
        ),
        min_size=1,
        max_size=80,
    )
)
@example(requests=BUNCHED)
def test_departures_pass_the_server_bucket_whatever_the_delays(
    scope: str, requests: list[tuple[float, float]]
) -> None:
    """For any arrivals and send delays up to 0.3 s (six intervals), no departure is early."""
    times = run_virtual(lambda: depart(LIMITERS[scope](), requests, paced=True))
    assert len(times) == len(requests)
    audit = audit_send_times(times)
    assert audit.conforms, audit.refused[:5]


def test_an_on_time_departure_takes_no_second_slot() -> None:
    """Within half an interval of its grant, a request leaves as granted."""

    async def main() -> int:
        limiter = LocalRateLimiter(RateLimit())
        await limiter.acquire("k")
        departure = Departure(limiter, "k", asyncio.get_running_loop().time)
        await asyncio.sleep(0.02)
        await departure.before_headers()
        return departure.retakes

    assert run_virtual(main) == 0


def test_without_a_limit_there_is_no_hook() -> None:
    """`rate_limit=None`: nothing to pace, so no trace extension is added."""
    assert Departure(UnlimitedRateLimiter(), "k", lambda: 0.0).extensions() == {}


async def test_httpcore_calls_the_hook_before_the_headers_over_a_real_socket() -> None:
    """A real HTTP/1.1 exchange announces the headers through `trace`: the hook runs."""
    seen: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    class Watching(Departure):
        async def before_headers(self) -> None:
            seen.append("before_headers")
            await super().before_headers()

    async with server, httpx.AsyncClient() as http:
        departure = Watching(LocalRateLimiter(RateLimit()), "k", lambda: 0.0)
        request = http.build_request(
            "GET", f"http://127.0.0.1:{port}/", extensions=departure.extensions()
        )
        response = await http.send(request)
    assert response.status_code == 200
    assert seen == ["before_headers"]
    assert "http11.send_request_headers.started" in HEADERS_STARTED

"""The web app of the `web` scenario: each request makes 2 API calls, bounded in queue time.

Run by the harness under `uvicorn --workers 4`, never by hand. Each worker process
builds one `AsyncRefold` from the environment (`REFOLD_API_KEY`, `REFOLD_BASE_URL`,
`BENCH_MAX_QUEUE_WAIT`); with `BENCH_RESERVE=1` a request reserves its 2 slots up front
(`client.reserve(2)`). A request whose slot is too far away is answered 503 at once.
The JSON answer says how many calls the request made (1 of 2 is a request shed between
its calls: half-done work).
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

from refold_async import AsyncRefold, RateLimitQueueTimeout

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_client: AsyncRefold | None = None


def _the_client() -> AsyncRefold:
    global _client
    if _client is None:
        _client = AsyncRefold(max_queue_wait=float(os.environ.get("BENCH_MAX_QUEUE_WAIT", "5")))
    return _client


async def _handle() -> tuple[int, int]:
    client = _the_client()
    made = 0
    try:
        if os.environ.get("BENCH_RESERVE") == "1":
            async with client.reserve(2):
                for _ in range(2):
                    await client.linked_accounts.list(limit=1)
                    made += 1
        else:
            for _ in range(2):
                await client.linked_accounts.list(limit=1)
                made += 1
    except RateLimitQueueTimeout:
        return 503, made
    except Exception:  # counted by the harness as a failure
        return 502, made
    return 200, made


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if _client is not None:
                    await _client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    status, made = await _handle()
    body = json.dumps({"calls": made}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})

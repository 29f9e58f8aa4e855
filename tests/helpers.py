"""Helpers shared by test modules: a client wired to a respx router, sleep and clock fakes."""

from __future__ import annotations

from typing import Any

import httpx
import respx

from refold_async import AsyncRefold, RetryPolicy

API_KEY = "tk_test_0123456789abcdef"
LIVE_KEY = "pk_live_0123456789abcdef"
TOKEN = "sess_tok_abcdefghijklmnop"
BASE_URL = "https://api.refold.invalid"


class RecordingSleep:
    """Records requested sleeps instead of sleeping, and advances a fake clock."""

    def __init__(self) -> None:
        self.calls: list[float] = []
        self.now = 0.0

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def mock_client(
    router: respx.Router, *, sleep: RecordingSleep | None = None, **options: Any
) -> AsyncRefold:
    """An `AsyncRefold` whose requests go to `router`; no rate limit unless asked."""
    if "session_token" not in options:  # a client holds one credential
        options.setdefault("api_key", API_KEY)
    options.setdefault("base_url", BASE_URL)
    options.setdefault("rate_limit", None)
    options.setdefault("retry", RetryPolicy())
    client = AsyncRefold(
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(router.async_handler)),
        **options,
    )
    sleeper = sleep or RecordingSleep()
    client._transport._sleep = sleeper
    client._transport._clock = sleeper.clock
    client._transport._rand = lambda: 0.5
    return client

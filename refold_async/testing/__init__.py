"""A stateful, in-memory fake of the Refold API for tests, demos and users' own suites.

The emulator answers every operation of the registry (`refold_async.operations`) with the
API's shapes, keeps linked accounts, tokens, configs, webhooks, events, workflows,
executions, schedules, datarefs, tables, variables and MCP servers in memory, enforces
auth and the rate limit as the API does (docs/architecture.md §1, §9), and fails on demand. Time-driven
behaviour follows its clock: schedules fire, executions end, and registered webhooks
receive signed events (with retries), visible in `emulator.deliveries`; with a
`FakeClock`, `await emulator.advance(seconds)` plays it out.

Two ways to reach it: in-process through an httpx transport (no sockets), or over
loopback HTTP (`emulator.server()`, or `refold emulator --port N` from a shell). For the
blocking client: `refold_sync.testing.sync_client(emulator)`.

Example:
    ```python
    from refold_async.testing import Emulator, FakeClock

    clock = FakeClock()
    emulator = Emulator(api_keys=["tk_test_123"], clock=clock)
    async with emulator.client() as client:
        await client.linked_accounts.upsert(linked_account_id="acme", name="Acme")
    emulator.faults.add(status=503, count=2)
    assert emulator.stats.rate_limited == 0
    ```
"""

from __future__ import annotations

import attrs as _attrs

from ._background import BackgroundServer
from ._clock import Clock, FakeClock, MonotonicClock
from ._delivery import Delivery, WebhookReceiver
from ._emulator import BASE_URL, DEFAULT_API_KEY, Emulator
from ._faults import Body, Drop, Fault, Faults
from ._http import EmulatedRequest, EmulatedResponse
from ._ratelimit import SendAudit, audit_send_times
from ._server import EmulatorServer
from ._state import World
from ._stats import CredentialStats, EmulatorStats
from ._transport import EmulatorTransport

__all__ = [
    "BASE_URL",
    "DEFAULT_API_KEY",
    "BackgroundServer",
    "Body",
    "Clock",
    "CredentialStats",
    "Delivery",
    "Drop",
    "EmulatedRequest",
    "EmulatedResponse",
    "Emulator",
    "EmulatorServer",
    "EmulatorStats",
    "EmulatorTransport",
    "FakeClock",
    "Fault",
    "Faults",
    "MonotonicClock",
    "SendAudit",
    "WebhookReceiver",
    "World",
    "audit_send_times",
]


def _publish_names() -> None:
    # Tracebacks and reprs name this package, not its private modules;
    # attrs classes keep theirs, where their string annotations resolve.
    for name in __all__:
        value = globals()[name]
        if (
            isinstance(value, type)
            and value.__module__.startswith(__name__ + ".")
            and not _attrs.has(value)
        ):
            value.__module__ = __name__


_publish_names()

"""`examples/webhook_receiver.py` fed by the emulator's deliveries over loopback HTTP."""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from refold_async import AsyncRefold
from refold_async.testing import Emulator, FakeClock
from refold_async.webhooks import (
    ConnectionCreated,
    ReplayGuard,
    WebhookEvent,
    WorkflowCompleted,
    WorkflowErrored,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "webhook_receiver.py"
EVENTS = ["Connection Created", "Workflow Completed", "Workflow Errored"]


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("webhook_receiver_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class Handled(list[WebhookEvent]):
    """The events the receiver handed on; fails the first `failures` of them."""

    def __init__(self, failures: int = 0) -> None:
        super().__init__()
        self.failures = failures

    def __call__(self, event: WebhookEvent) -> None:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("the database is down")
        self.append(event)


class Setup:
    def __init__(self, emulator: Emulator, client: AsyncRefold, url: str, handled: Handled) -> None:
        self.emulator, self.client, self.url, self.handled = emulator, client, url, handled


async def _setup(handled: Handled) -> AsyncIterator[Setup]:
    emulator = Emulator(clock=FakeClock(), rate_limit=None, execution_delay=2.0)
    guard = ReplayGuard(clock=emulator.clock.wall)  # the emulator's dates are its clock's
    server = _example().make_server([emulator.api_key], port=0, guard=guard, on_event=handled)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/refold/webhook"
    try:
        async with emulator.client(rate_limit=None) as client:
            await client.webhooks.create(webhook_url=url, webhook_events=EVENTS)
            await client.events.create(name="sync", response="ok")
            yield Setup(emulator, client, url, handled)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    async for value in _setup(Handled()):
        yield value


async def test_the_receiver_verifies_and_handles_every_delivery(setup: Setup) -> None:
    """An account created and a run completed and one errored: three typed events, all 200."""
    await setup.client.linked_accounts.upsert(linked_account_id="acme", name="Acme")
    await setup.client.events.trigger(event="sync", linked_account_id="acme")
    setup.emulator.fail_executions(1)
    await setup.client.events.trigger(event="sync", linked_account_id="acme")
    await setup.emulator.advance(2.0)
    assert [type(e) for e in setup.handled] == [
        ConnectionCreated,
        WorkflowCompleted,
        WorkflowErrored,
    ]
    assert {d.status for d in setup.emulator.deliveries} == {200}
    assert len(setup.emulator.deliveries) == 3


async def test_replays_and_forgeries_are_refused(setup: Setup) -> None:
    """A re-sent delivery is acknowledged but not handled again; a forged one is a 401."""
    await setup.client.linked_accounts.upsert(linked_account_id="acme", name="Acme")
    [delivery] = setup.emulator.deliveries
    headers = {"x-cobalt-signature": delivery.signature, "content-type": "application/json"}
    async with httpx.AsyncClient() as http:
        replay = await http.post(setup.url, content=delivery.body, headers=headers)
        forged = await http.post(
            setup.url, content=delivery.body.replace(b"acme", b"evil"), headers=headers
        )
        unsigned = await http.post(setup.url, content=delivery.body)
        elsewhere = await http.post(setup.url + "/x", content=delivery.body, headers=headers)
    assert (replay.status_code, forged.status_code, unsigned.status_code) == (200, 401, 401)
    assert elsewhere.status_code == 404
    assert len(setup.handled) == 1


async def test_a_failed_handling_is_retried_by_the_emulator_and_then_handled() -> None:
    """The handler fails once: 500, the guard forgets it, the emulator's retry is handled."""
    async for setup in _setup(Handled(failures=1)):
        await setup.client.linked_accounts.upsert(linked_account_id="acme", name="Acme")
        await setup.emulator.advance(1.0)
        assert [(d.attempt, d.status) for d in setup.emulator.deliveries] == [(1, 500), (2, 200)]
        assert [type(e) for e in setup.handled] == [ConnectionCreated]


def test_main_needs_the_signing_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without `REFOLD_API_KEY` the receiver does not start, and says why."""
    monkeypatch.delenv("REFOLD_API_KEY", raising=False)
    assert _example().main(["--port", "0"]) == 2
    assert "REFOLD_API_KEY" in capsys.readouterr().err

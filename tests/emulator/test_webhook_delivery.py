"""Webhook deliveries and schedules: the emulator's asynchronous paths, on its fake clock."""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, cast

import pytest

from refold_async import AsyncRefold
from refold_async.testing import Emulator, FakeClock
from refold_async.testing._handlers import schedules
from refold_async.webhooks import (
    ConnectionCreated,
    ConnectionDeleted,
    ConnectionExpired,
    WorkflowCompleted,
    WorkflowErrored,
    parse_event,
)

from .conftest import TEST_KEY, make_client

HOOK = "https://hooks.example.test/refold"
EVERY_EVENT = [
    "Connection Created", "Connection Deleted", "Connection Expired",
    "Workflow Completed", "Workflow Errored",
]  # fmt: skip


class Inbox:
    """An in-process receiver: keeps each body and answers the statuses it is told to."""

    def __init__(self, *answers: int) -> None:
        self.answers = list(answers)
        self.received: list[tuple[bytes, dict[str, str]]] = []

    def __call__(self, body: bytes, headers: Mapping[str, str]) -> int:
        self.received.append((body, dict(headers)))
        return self.answers.pop(0) if self.answers else 200


async def _register(client: AsyncRefold, url: str = HOOK, events: list[str] | None = None) -> str:
    hook = await client.webhooks.create(webhook_url=url, webhook_events=events or EVERY_EVENT)
    assert hook.id is not None
    return hook.id


async def test_a_new_linked_account_is_announced_signed(
    emulator: Emulator, client: AsyncRefold
) -> None:
    """`Connection Created` reaches the routed receiver, verifiable with the world's key."""
    inbox = Inbox()
    emulator.route_webhooks(HOOK, inbox)
    hook_id = await _register(client)
    await client.linked_accounts.upsert(linked_account_id="globex", name="Globex")
    [delivery] = emulator.deliveries
    assert (delivery.event, delivery.webhook_id, delivery.url) == (
        "Connection Created",
        hook_id,
        HOOK,
    )
    assert (delivery.status, delivery.ok, delivery.attempt, delivery.final) == (200, True, 1, True)
    body, headers = inbox.received[0]
    assert body == delivery.body
    event = parse_event(body, headers["x-cobalt-signature"], api_key=TEST_KEY)
    assert isinstance(event, ConnectionCreated)
    assert event.linked_account_id == "globex"
    assert event.occurred_at is not None
    with pytest.raises(Exception, match="does not match"):
        parse_event(body, headers["x-cobalt-signature"], api_key="tk_some_other_key_01")


async def test_only_subscribed_enabled_webhooks_of_the_same_key_receive(
    emulator: Emulator, client: AsyncRefold
) -> None:
    """A webhook gets the types it names; a disabled one and another key's world get nothing."""
    wanted, unwanted, disabled = Inbox(), Inbox(), Inbox()
    for url, box in (
        ("http://a.test/", wanted),
        ("http://b.test/", unwanted),
        ("http://c.test/", disabled),
    ):
        emulator.route_webhooks(url, box)
    await _register(client, "http://a.test/", ["Connection Deleted"])
    await _register(client, "http://b.test/", ["Workflow Completed"])
    await client.webhooks.create(
        webhook_url="http://c.test/", webhook_events=["Connection Deleted"], is_enabled=False
    )
    async with make_client(emulator, api_key="pk_live_emulator_suite_0001") as live:
        await live.linked_accounts.upsert(linked_account_id="acme", name="Acme live")
        await live.linked_accounts.delete("acme")
    await client.linked_accounts.delete("acme")
    assert [isinstance(parse_event(b, h["x-cobalt-signature"], api_key=TEST_KEY), ConnectionDeleted)
            for b, h in wanted.received] == [True]  # fmt: skip
    assert unwanted.received == disabled.received == []


async def test_executions_ending_on_the_clock_are_announced(
    emulator: Emulator, client: AsyncRefold, clock: FakeClock
) -> None:
    """`Workflow Completed` when the run ends (execution_delay later), `Errored` when told."""
    inbox = Inbox()
    emulator.route_webhooks(HOOK, inbox)
    await _register(client, events=["Workflow Completed", "Workflow Errored"])
    await client.events.create(name="sync", response="ok")
    await client.events.trigger(event="sync", linked_account_id="acme")
    assert emulator.deliveries == []  # still running
    await emulator.advance(1.0)
    assert emulator.deliveries == []
    await emulator.advance(1.0)  # execution_delay is 2 s
    [done] = emulator.deliveries
    event = parse_event(done.body, done.signature, api_key=TEST_KEY)
    assert isinstance(event, WorkflowCompleted)
    assert (event.status, event.linked_account_id) == ("COMPLETED", "acme")
    assert event.instance_id in emulator.world().executions
    emulator.fail_executions(1)
    await client.events.trigger(event="sync", linked_account_id="acme")
    await emulator.advance(2.0)
    failed = parse_event(
        emulator.deliveries[-1].body, emulator.deliveries[-1].signature, api_key=TEST_KEY
    )
    assert isinstance(failed, WorkflowErrored)
    assert failed.status == "ERRORED"
    assert clock.now() == 4.0


async def test_failed_deliveries_are_retried_on_the_clock_then_given_up(
    emulator: Emulator, client: AsyncRefold
) -> None:
    """Non-2xx answers are retried after 1, 10 and 60 s of the emulator's clock; four tries in all."""
    inbox = Inbox(500, 503, 502, 500)
    emulator.route_webhooks(HOOK, inbox)
    await _register(client)
    await client.linked_accounts.upsert(linked_account_id="initech", name="Initech")
    await emulator.advance(100.0)
    attempts = [(d.attempt, d.status, d.ok, d.final, d.at) for d in emulator.deliveries]
    start = attempts[0][4]
    assert [(a, s, ok, final, at - start) for a, s, ok, final, at in attempts] == [
        (1, 500, False, False, 0.0), (2, 503, False, False, 1.0),
        (3, 502, False, False, 11.0), (4, 500, False, True, 71.0),
    ]  # fmt: skip
    assert len({body for body, _ in inbox.received}) == 1  # the same event each time


async def test_a_retry_that_succeeds_ends_the_attempts(
    emulator: Emulator, client: AsyncRefold
) -> None:
    """A receiver that raises once, then answers 204: two attempts, the second final and ok."""
    calls: list[int] = []

    def flaky(body: bytes, headers: Mapping[str, str]) -> int:
        calls.append(len(body))
        if len(calls) == 1:
            raise RuntimeError("receiver down")
        return 204

    emulator.route_webhooks(HOOK, flaky)
    await _register(client)
    await client.linked_accounts.upsert(linked_account_id="hooli", name="Hooli")
    await emulator.advance(30.0)
    assert [(d.attempt, d.status, d.ok, d.error) for d in emulator.deliveries] == [
        (1, None, False, "the receiver raised RuntimeError"), (2, 204, True, None),
    ]  # fmt: skip


async def test_non_loopback_urls_are_refused_not_sent(
    emulator: Emulator, client: AsyncRefold
) -> None:
    """An unrouted URL off loopback is recorded as failed, once, and never contacted."""
    await _register(client, "https://receiver.example.com/hook")
    await client.linked_accounts.upsert(linked_account_id="umbrella", name="Umbrella")
    await emulator.advance(120.0)
    [refused] = emulator.deliveries
    assert (refused.ok, refused.status, refused.final) == (False, None, True)
    assert refused.error is not None
    assert "loopback" in refused.error


class Seen(list[tuple[str, bytes, str]]):
    """What a loopback receiver got; `arrived` is set by each POST."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = threading.Event()

    def append(self, item: tuple[str, bytes, str]) -> None:
        super().append(item)
        self.arrived.set()


@pytest.fixture
def loopback_receiver() -> Iterator[tuple[str, list[tuple[str, bytes, str]]]]:
    """A stdlib HTTP server on 127.0.0.1 recording (path, body, signature) of each POST."""
    seen = Seen()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            seen.append((self.path, body, self.headers["x-cobalt-signature"]))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/refold", seen
    finally:
        server.shutdown()
        server.server_close()


async def test_loopback_urls_get_a_real_signed_post(
    emulator: Emulator,
    client: AsyncRefold,
    loopback_receiver: tuple[str, list[tuple[str, bytes, str]]],
) -> None:
    """A webhook on 127.0.0.1 receives the POST over HTTP, with the signed body."""
    url, seen = loopback_receiver
    await _register(client, url, ["Connection Created"])
    await client.linked_accounts.upsert(linked_account_id="stark", name="Stark")
    [(path, body, signature)] = seen
    assert path == "/hooks/refold"
    assert isinstance(parse_event(body, signature, api_key=TEST_KEY), ConnectionCreated)
    assert emulator.deliveries[0].status == 200


async def test_an_expired_connection_is_announced(emulator: Emulator, client: AsyncRefold) -> None:
    """`expire_connection` flags the integration and sends `Connection Expired` with the slug."""
    inbox = Inbox()
    emulator.route_webhooks(HOOK, inbox)
    await _register(client, events=["Connection Expired"])
    emulator.expire_connection("acme", "hubspot")
    await emulator.pump()
    event = parse_event(
        inbox.received[0][0], inbox.received[0][1]["x-cobalt-signature"], api_key=TEST_KEY
    )
    assert isinstance(event, ConnectionExpired)
    assert (event.linked_account_id, event.slug) == ("acme", "hubspot")


# -- schedules ----------------------------------------------------------------------------


async def test_a_cron_schedule_fires_on_the_clock_and_its_runs_are_announced(
    emulator: Emulator, client: AsyncRefold, clock: FakeClock
) -> None:
    """`*/15 * * * *` from 00:00: four runs in the first hour, each announced when it ends."""
    inbox = Inbox()
    emulator.route_webhooks(HOOK, inbox)
    await _register(client, events=["Workflow Completed"])
    acme = client.for_linked_account("acme")
    await acme.schedules.create(
        slug="hubspot",
        workflow_id_alias="wf-sync",
        config_id="cfg-1",
        trigger_type="cron",
        regex="*/15 * * * *",
    )
    assert emulator.world().executions == {}
    await emulator.advance(3600.0)
    runs = sorted(r.doc["createdAt"] for r in emulator.world().executions.values())
    assert runs == [
        "2026-01-01T00:15:00.000Z", "2026-01-01T00:30:00.000Z",
        "2026-01-01T00:45:00.000Z", "2026-01-01T01:00:00.000Z",
    ]  # fmt: skip
    assert {r.doc["type_of_execution"] for r in emulator.world().executions.values()} == {
        "Schedule"
    }
    # The 01:00 run ends 2 s later, after the hour advanced: three announced so far.
    assert len(inbox.received) == 3
    await emulator.advance(2.0)
    assert len(inbox.received) == 4
    page = await acme.executions.list()
    assert page.total_docs == 4


async def test_paused_and_interval_schedules(emulator: Emulator, client: AsyncRefold) -> None:
    """A paused schedule does not fire; an interval schedule fires once at its date."""
    acme = client.for_linked_account("acme")
    paused = await acme.schedules.create(
        slug="hubspot",
        workflow_id_alias="wf-sync",
        config_id="cfg-1",
        trigger_type="cron",
        regex="* * * * *",
    )
    assert paused.id is not None
    await acme.schedules.pause(paused.id)
    await acme.schedules.create(
        slug="hubspot",
        workflow_id_alias="wf-sync",
        config_id="cfg-1",
        trigger_type="interval",
        interval_dates=[{"year": 2026, "month": 1, "day": 1, "hour": 0, "minute": 30}],
    )
    await emulator.advance(2 * 3600.0)
    runs = [r.doc["createdAt"] for r in emulator.world().executions.values()]
    assert runs == ["2026-01-01T00:30:00.000Z"]


async def test_a_bad_cron_expression_is_refused(emulator: Emulator, client: AsyncRefold) -> None:
    """An expression the emulator cannot read is a 400, and no schedule is kept."""
    from refold_async import BadRequestError

    with pytest.raises(BadRequestError, match="cron"):
        await client.for_linked_account("acme").schedules.create(
            slug="hubspot",
            workflow_id_alias="wf-sync",
            config_id="cfg-1",
            trigger_type="cron",
            regex="61 * * *",
        )
    assert emulator.world().schedules == {}


def test_advance_blocking_serves_blocking_tests() -> None:
    """The blocking twin of `advance()` works where no loop runs, and needs a fake clock."""
    emulator = Emulator(clock=FakeClock(), rate_limit=None, execution_delay=5.0)
    inbox = Inbox()
    emulator.route_webhooks(HOOK, inbox)
    world = emulator.world()
    from refold_sync.testing import sync_client

    with sync_client(emulator, rate_limit=None) as client:
        client.webhooks.create(webhook_url=HOOK, webhook_events=["Workflow Completed"])
        client.linked_accounts.upsert(linked_account_id="acme", name="Acme")
        client.events.create(name="go", response="ok")
        client.events.trigger(event="go", linked_account_id="acme")
    made = emulator.advance_blocking(5.0)
    assert [d.event for d in made] == ["Workflow Completed"]
    assert len(world.executions) == 1
    with pytest.raises(TypeError, match="FakeClock"):
        Emulator().advance_blocking(1.0)


def _readme_block(name: str) -> str:
    readme = (Path(__file__).resolve().parents[2] / "docs" / "testing.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    return next(b for b in blocks if f"def {name}(" in b)


async def test_the_readme_webhook_example_runs() -> None:
    """The testing guide's webhooks-and-schedules example passes as written."""
    block = _readme_block("test_a_run_is_announced_when_it_ends")
    namespace: dict[str, Any] = {}
    exec(block, namespace)  # noqa: S102 - our docs
    test = cast("Callable[[], Awaitable[None]]", namespace["test_a_run_is_announced_when_it_ends"])
    await test()


def test_a_served_emulator_on_real_time_delivers_without_further_requests(
    loopback_receiver: tuple[str, list[tuple[str, bytes, str]]],
) -> None:
    """On a real clock the server pumps by itself: a run's end is announced with no request after."""
    from refold_sync import Refold

    url, seen = loopback_receiver
    emulator = Emulator(rate_limit=None, execution_delay=0.05)
    with (
        emulator.serve_in_background() as server,
        Refold(api_key=emulator.api_key, base_url=server.url, rate_limit=None) as client,
    ):
        client.webhooks.create(webhook_url=url, webhook_events=["Workflow Completed"])
        client.linked_accounts.upsert(linked_account_id="acme", name="Acme")
        client.events.create(name="go", response="ok")
        client.events.trigger(event="go", linked_account_id="acme")
        requests = emulator.stats.requests
        assert isinstance(seen, Seen)
        assert seen.arrived.wait(10), "the run's end was never delivered"
        assert emulator.stats.requests == requests  # nothing asked for it
    [(_, body, signature)] = seen
    assert isinstance(parse_event(body, signature, api_key=emulator.api_key), WorkflowCompleted)


# -- schedules in their time zone --------------------------------------------------------

NEW_YORK = "America/New_York"


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        # 09:00 in New York is 14:00 UTC in winter (EST) and 13:00 UTC in summer (EDT).
        pytest.param("0 9 * * *", "2026-01-10T12:00", "2026-01-10T14:00", id="winter"),
        pytest.param("0 9 * * *", "2026-07-10T12:00", "2026-07-10T13:00", id="summer"),
        # 2026-03-08: 02:00 EST jumps to 03:00 EDT; 02:30 does not exist that day.
        pytest.param("30 2 * * *", "2026-03-08T05:00", "2026-03-09T06:30", id="skipped"),
        # 2026-11-01: 01:00-02:00 happens twice; 01:30 fires once, at its first (EDT).
        pytest.param("30 1 * * *", "2026-11-01T04:00", "2026-11-01T05:30", id="repeated"),
        pytest.param("30 1 * * *", "2026-11-01T05:30", "2026-11-02T06:30", id="not-twice"),
        # From 01:00 EST (the repeat), 01:30's first occurrence is already past.
        pytest.param("30 1 * * *", "2026-11-01T06:00", "2026-11-02T06:30", id="in-the-repeat"),
        # Monday in New York, not in UTC: Sunday 22:00 EST is Monday 03:00 UTC.
        pytest.param("0 22 * * 0", "2026-01-11T00:00", "2026-01-12T03:00", id="weekday"),
    ],
)
def test_cron_reads_the_schedules_wall_clock(expression: str, after: str, expected: str) -> None:
    """Cron fields match New York's wall clock across daylight-saving changes."""
    zone = schedules.zone_of(NEW_YORK)
    assert schedules.next_cron(expression, _utc(after), zone) == _utc(expected)


def test_utc_is_the_default_zone() -> None:
    assert schedules.next_cron("0 9 * * *", _utc("2026-01-10T12:00")) == _utc("2026-01-11T09:00")


async def test_a_schedule_fires_in_its_zone_and_within_its_dates(
    emulator: Emulator, client: AsyncRefold
) -> None:
    """tz, startDate and endDate apply: 09:00 New York time, on 2026-01-03 and 01-04 only."""
    acme = client.for_linked_account("acme")
    await acme.schedules.create(
        slug="hubspot",
        workflow_id_alias="wf-sync",
        config_id="cfg-1",
        trigger_type="cron",
        regex="0 9 * * *",
        tz=NEW_YORK,
        start_date="2026-01-03",
        end_date="2026-01-04",
    )
    await acme.schedules.create(
        slug="hubspot",
        workflow_id_alias="wf-sync",
        config_id="cfg-1",
        trigger_type="interval",
        interval_dates=[{"year": 2026, "month": 1, "day": 2, "hour": 7, "minute": 0}],
        tz=NEW_YORK,
    )
    await emulator.advance(7 * 86400.0)
    runs = sorted(r.doc["createdAt"] for r in emulator.world().executions.values())
    assert runs == [
        "2026-01-02T12:00:00.000Z",  # the interval date, 07:00 EST
        "2026-01-03T14:00:00.000Z",
        "2026-01-04T14:00:00.000Z",
    ]


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"tz": "Mars/Olympus_Mons"}, id="zone"),
        pytest.param({"start_date": "next tuesday"}, id="date"),
    ],
)
async def test_bad_schedule_options_are_refused(
    emulator: Emulator, client: AsyncRefold, options: dict[str, str]
) -> None:
    """An unknown zone or a date that is not YYYY-MM-DD is a 400; nothing is kept."""
    from refold_async import BadRequestError

    with pytest.raises(BadRequestError):
        await client.for_linked_account("acme").schedules.create(
            slug="hubspot",
            workflow_id_alias="wf-sync",
            config_id="cfg-1",
            trigger_type="cron",
            regex="0 9 * * *",
            **options,
        )
    assert emulator.world().schedules == {}

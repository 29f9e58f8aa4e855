"""The replay guard: seen events and events outside the window are refused; stores plug in."""

from __future__ import annotations

import contextlib
import email.utils
import json
import math
import os
import pickle
import threading
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from refold_async import InvalidArgumentError, WebhookReplayError, WebhookSignatureError
from refold_async.webhooks import (
    DEFAULT_REPLAY_WINDOW,
    MemoryReplayStore,
    ReplayGuard,
    ReplayStore,
    WebhookEvent,
    WorkflowCompleted,
    parse_event,
    sign,
)

KEY = "tk_webhook_replay_0123456789"
NOW = 1_700_000_000.0  # wall-clock seconds of the fake clock's start


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _workflow_body(run: str = "run-1") -> bytes:
    return json.dumps(
        {"event": "Workflow Completed", "instance_id": run, "status": "COMPLETED"}
    ).encode()


def _connection_body(at: float, account: str = "acct-1") -> bytes:
    created = email.utils.formatdate(at, usegmt=True)
    return json.dumps(
        {"event": "Connection Created", "linked_account_id": account, "slug": "hubspot",
         "createdAt": created}
    ).encode()  # fmt: skip


def _deliver(body: bytes, guard: ReplayGuard) -> WebhookEvent:
    return parse_event(body, sign(body, KEY), api_key=KEY, replay_guard=guard)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def guard(clock: Clock) -> ReplayGuard:
    store = MemoryReplayStore(clock=clock)
    return ReplayGuard(window=300, store=store, clock=clock)


def test_a_replayed_delivery_is_refused(guard: ReplayGuard) -> None:
    """The same signed body sent twice: the first is accepted, the second refused."""
    body = _workflow_body()
    assert isinstance(_deliver(body, guard), WorkflowCompleted)
    with pytest.raises(WebhookReplayError) as info:
        _deliver(body, guard)
    assert info.value.reason == "duplicate"
    assert info.value.dedup_key == _deliver(_workflow_body("run-1"), ReplayGuard()).dedup_key
    assert isinstance(info.value, WebhookSignatureError)  # handlers that refuse bad ones refuse it


def test_without_a_guard_a_replay_verifies(guard: ReplayGuard) -> None:
    """The signature alone cannot tell a replay: this is what the guard is for."""
    body = _workflow_body()
    assert parse_event(body, sign(body, KEY), api_key=KEY) == parse_event(
        body, sign(body, KEY), api_key=KEY
    )


def test_a_re_serialized_redelivery_is_a_duplicate(guard: ReplayGuard) -> None:
    """The guard keys on the event's identity, not on its exact bytes."""
    _deliver(_workflow_body(), guard)
    data = json.loads(_workflow_body())
    with pytest.raises(WebhookReplayError, match="already received"):
        _deliver(json.dumps(data, indent=1, sort_keys=True).encode(), guard)


def test_distinct_events_pass(guard: ReplayGuard, clock: Clock) -> None:
    """Other runs, and the same app reconnected later, are new events."""
    _deliver(_workflow_body("run-1"), guard)
    _deliver(_workflow_body("run-2"), guard)
    _deliver(_connection_body(NOW - 10), guard)
    _deliver(_connection_body(NOW - 5), guard)


def test_release_lets_a_redelivery_through(guard: ReplayGuard) -> None:
    """A handler that failed releases the event so Refold's retry is processed."""
    event = _deliver(_workflow_body(), guard)
    guard.release(event)
    _deliver(_workflow_body(), guard)
    with pytest.raises(WebhookReplayError):
        _deliver(_workflow_body(), guard)


@pytest.mark.parametrize(
    ("age", "reason"),
    [pytest.param(301, "stale", id="too-old"), pytest.param(-301, "future", id="too-new")],
)
def test_events_outside_the_window_are_refused(guard: ReplayGuard, age: float, reason: str) -> None:
    """A timed event further than the window from now is refused, first delivery or not."""
    with pytest.raises(WebhookReplayError) as info:
        _deliver(_connection_body(NOW - age), guard)
    assert info.value.reason == reason


@pytest.mark.parametrize("age", [pytest.param(299, id="old"), pytest.param(-299, id="ahead")])
def test_events_inside_the_window_are_accepted(guard: ReplayGuard, age: float) -> None:
    """Up to the window either way, a timed event is accepted once."""
    _deliver(_connection_body(NOW - age), guard)
    with pytest.raises(WebhookReplayError, match="already received"):
        _deliver(_connection_body(NOW - age), guard)


def test_a_timed_event_is_never_accepted_twice(guard: ReplayGuard, clock: Clock) -> None:
    """Remembered until it is stale, a timed event is refused at every later moment."""
    body = _connection_body(NOW - 100)
    _deliver(body, guard)
    for later in (0, 199, 199.999, 200, 200.001, 200.5, 201, 201.001, 202, 350, 10_000):
        clock.now = NOW + later
        with pytest.raises(WebhookReplayError) as info:
            _deliver(body, guard)
        assert info.value.reason in {"duplicate", "stale"}


def test_an_untimed_event_is_forgotten_after_the_window(guard: ReplayGuard, clock: Clock) -> None:
    """Workflow events carry no time: after the window a replay is not caught (documented)."""
    body = _workflow_body()
    _deliver(body, guard)
    clock.now = NOW + 299
    with pytest.raises(WebhookReplayError):
        _deliver(body, guard)
    clock.now = NOW + 301
    _deliver(body, guard)


def test_the_default_guard_keeps_its_own_memory() -> None:
    """ReplayGuard() works with no arguments: in memory, the default window."""
    guard = ReplayGuard()
    assert guard.window == DEFAULT_REPLAY_WINDOW
    _deliver(_workflow_body(), guard)
    with pytest.raises(WebhookReplayError):
        _deliver(_workflow_body(), guard)
    _deliver(_workflow_body(), ReplayGuard())  # another guard, another memory


def test_the_guard_runs_after_the_signature(guard: ReplayGuard) -> None:
    """A forged request neither passes nor uses up the real event's key."""
    body = _workflow_body()
    with pytest.raises(WebhookSignatureError) as info:
        parse_event(body, sign(body, "tk_attacker_key_0"), api_key=KEY, replay_guard=guard)
    assert not isinstance(info.value, WebhookReplayError)
    _deliver(body, guard)


def test_a_refused_replay_shows_neither_key_nor_signature(guard: ReplayGuard) -> None:
    """Rendered with every frame's locals, a replay refusal holds no secret."""
    body = _workflow_body()
    _deliver(body, guard)
    with pytest.raises(WebhookReplayError) as info:
        _deliver(body, guard)
    here = str(Path(__file__).resolve())
    te = traceback.TracebackException.from_exception(info.value, capture_locals=True)
    text = str(info.value) + repr(info.value)
    for frame in te.stack:
        if str(Path(frame.filename).resolve()) != here:
            text += repr(frame.locals)
    assert "parse_event" in "".join(te.format())
    assert KEY not in text
    assert sign(body, KEY) not in text


def test_the_replay_error_pickles() -> None:
    """Batch jobs move errors between processes: the reason and key survive."""
    error = WebhookReplayError("seen", reason="duplicate", dedup_key='["X","r"]')
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.reason, copy.dedup_key, str(copy)) == (
        WebhookReplayError,
        "duplicate",
        '["X","r"]',
        "seen",
    )


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        pytest.param(MemoryReplayStore(), "ReplayGuard(store=", id="a-store"),
        pytest.param(object(), "not object", id="object"),
    ],
)
def test_a_replay_guard_of_the_wrong_type_is_a_clear_type_error(value: Any, hint: str) -> None:
    """Passing a store where the guard goes says how to wrap it, before anything else."""
    body = _workflow_body()
    with pytest.raises(TypeError, match="replay_guard must be a ReplayGuard") as info:
        parse_event(body, sign(body, KEY), api_key=KEY, replay_guard=value)
    assert hint in str(info.value)


def test_a_failing_store_neither_accepts_nor_remembers(clock: Clock) -> None:
    """The store's own error reaches the caller; the retry of that event then passes."""

    class Down(DictStore):
        fail = True

        def add(self, key: str, ttl: float) -> bool:
            if self.fail:
                raise ConnectionError("store down")
            return super().add(key, ttl)

    store = Down()
    guard = ReplayGuard(store=store, clock=clock)
    with pytest.raises(ConnectionError):
        _deliver(_workflow_body(), guard)
    store.fail = False
    _deliver(_workflow_body(), guard)


# The in-memory store: bounded, expiring, thread-safe.


def test_the_memory_store_expires_keys(clock: Clock) -> None:
    """A key is remembered for its TTL, then forgotten."""
    store = MemoryReplayStore(clock=clock)
    assert store.add("a", 10)
    assert not store.add("a", 10)
    clock.now += 9.5
    assert not store.add("a", 10)
    assert len(store) == 1
    clock.now += 0.5
    assert len(store) == 0
    assert store.add("a", 10)


def test_the_memory_store_is_bounded_and_evicts_the_soonest_to_expire(clock: Clock) -> None:
    """At max_entries, a new key pushes out the one that would expire first."""
    store = MemoryReplayStore(max_entries=3, clock=clock)
    assert store.add("long", 100)
    assert store.add("short", 5)
    assert store.add("middle", 50)
    assert store.add("new", 10)
    assert len(store) == 3
    assert store.add("short", 5)  # it was evicted, so it is new again
    assert not store.add("long", 100)
    for index in range(10_000):
        store.add(f"flood-{index}", 1000)
    assert len(store) == 3


def test_discarded_keys_do_not_pile_up(clock: Clock) -> None:
    """Adding and discarding forever keeps the store's memory small."""
    store = MemoryReplayStore(max_entries=10, clock=clock)
    for index in range(5000):
        store.add(f"k{index}", 60)
        store.discard(f"k{index}")
    assert len(store) == 0
    assert len(store._heap) <= 2 * 10 + 64


class _RacingKey(str):
    """A key whose second hash in a thread (the store writing it) waits for all threads.

    Without the store's lock, every thread checks the key (absent), then all meet here
    and all write it: eight acceptances, deterministically. With the lock, the first
    thread waits in vain (the barrier times out and breaks) and the rest see the key.
    """

    meeting = threading.Barrier(8)
    calls = threading.local()

    def __hash__(self) -> int:
        count = getattr(self.calls, "n", 0) + 1
        self.calls.n = count
        if count == 2:
            with contextlib.suppress(threading.BrokenBarrierError):
                self.meeting.wait(timeout=0.5)
        return str.__hash__(self)


def test_concurrent_adds_of_one_key_admit_exactly_one() -> None:
    """Two deliveries racing on eight threads: one is accepted, the others refused."""
    store = MemoryReplayStore()
    key = _RacingKey("race")
    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda: results.append(store.add(key, 60))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        pytest.param({"window": 0}, InvalidArgumentError, id="zero-window"),
        pytest.param({"window": -1.0}, InvalidArgumentError, id="negative-window"),
        pytest.param({"window": math.inf}, InvalidArgumentError, id="infinite-window"),
        pytest.param({"window": "600"}, TypeError, id="text-window"),
        pytest.param({"window": True}, TypeError, id="bool-window"),
        pytest.param({"store": {}}, TypeError, id="dict-store"),
    ],
)
def test_guard_options_are_checked(kwargs: dict[str, Any], error: type[Exception]) -> None:
    """A guard that could not work is refused when it is made."""
    with pytest.raises(error):
        ReplayGuard(**kwargs)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        pytest.param(0, InvalidArgumentError, id="zero"),
        pytest.param(2.5, TypeError, id="float"),
        pytest.param(True, TypeError, id="bool"),
    ],
)
def test_memory_store_size_is_checked(value: object, error: type[Exception]) -> None:
    """max_entries is a positive whole number."""
    with pytest.raises(error):
        MemoryReplayStore(max_entries=value)  # type: ignore[arg-type]


# Plugging in another store: the guard hands it keys and TTLs.


class DictStore:
    """A store that records what the guard asks of it."""

    def __init__(self) -> None:
        self.keys: dict[str, float] = {}

    def add(self, key: str, ttl: float) -> bool:
        if key in self.keys:
            return False
        self.keys[key] = ttl
        return True

    def discard(self, key: str) -> None:
        self.keys.pop(key, None)


def test_a_custom_store_gets_each_key_with_its_ttl(clock: Clock) -> None:
    """Untimed events live for the window; timed ones until they would turn stale."""
    store = DictStore()
    assert isinstance(store, ReplayStore)
    guard = ReplayGuard(window=300, store=store, clock=clock)
    workflow = _deliver(_workflow_body(), guard)
    connection = _deliver(_connection_body(NOW - 100), guard)
    ahead = _deliver(_connection_body(NOW + 100, account="acct-2"), guard)
    late = _deliver(_connection_body(NOW - 300, account="acct-3"), guard)  # the last moment
    assert store.keys == {
        workflow.dedup_key: 300.0,
        connection.dedup_key: 200.0 + 1,  # until it turns stale, and a second more
        ahead.dedup_key: 400.0 + 1,
        late.dedup_key: 1.0,
    }
    guard.release(workflow)
    assert workflow.dedup_key not in store.keys


# The Redis store shown in ReplayStore's docstring and the webhooks guide, against a real server.

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


class RedisReplayStore:
    """The example of ReplayStore's docstring and the webhooks guide (the client typed loosely)."""

    def __init__(self, client: Any, prefix: str = "refold:webhook:") -> None:
        self._redis, self._prefix = client, prefix

    def add(self, key: str, ttl: float) -> bool:
        ms = max(1, math.ceil(ttl * 1000))
        return bool(self._redis.set(self._prefix + key, b"1", nx=True, px=ms))

    def discard(self, key: str) -> None:
        self._redis.delete(self._prefix + key)


@pytest.fixture
def redis_store() -> Iterator[RedisReplayStore]:
    redis = pytest.importorskip("redis", reason="the `redis` extra is not installed")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5)
    try:
        client.ping()
    except Exception as exc:
        client.close()
        if os.environ.get("REFOLD_REQUIRE_REDIS"):
            pytest.fail(f"REFOLD_REQUIRE_REDIS is set but no Redis answers at {REDIS_URL}")
        pytest.skip(f"no Redis server answers at {REDIS_URL}: {exc!r}")
    prefix = f"refold-test:{uuid.uuid4().hex[:8]}:webhook:"
    yield RedisReplayStore(client, prefix=prefix)
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_the_documented_redis_store_guards_across_guards(redis_store: RedisReplayStore) -> None:
    """Two guards (two workers) sharing Redis refuse each other's replays; release works."""
    worker_a, worker_b = ReplayGuard(store=redis_store), ReplayGuard(store=redis_store)
    event = _deliver(_workflow_body(), worker_a)
    with pytest.raises(WebhookReplayError):
        _deliver(_workflow_body(), worker_b)
    worker_b.release(event)
    _deliver(_workflow_body(), worker_a)
    ttl = redis_store._redis.pttl(redis_store._prefix + event.dedup_key)
    assert 0 < ttl <= DEFAULT_REPLAY_WINDOW * 1000

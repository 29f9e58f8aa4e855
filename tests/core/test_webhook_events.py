"""Typed webhook events: one class per documented type, unknown ones kept, never a crash."""

from __future__ import annotations

import datetime
import json
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refold_async.webhooks import (
    KNOWN_EVENT_TYPES,
    ConnectionCreated,
    ConnectionDeleted,
    ConnectionEvent,
    ConnectionExpired,
    UnknownEvent,
    WebhookEvent,
    WorkflowCompleted,
    WorkflowErrored,
    WorkflowEvent,
    parse_event,
    sign,
)

KEY = "tk_webhook_events_0123456789"
UTC = datetime.timezone.utc


def _parse(data: dict[str, Any] | bytes) -> WebhookEvent:
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    return parse_event(body, sign(body, KEY), api_key=KEY)


def _connection(event: str, **extra: Any) -> dict[str, Any]:
    return {
        "linked_account_id": "acct-7",
        "org_id": "org-1",
        "environment": "test",
        "type": "General",
        "event": event,
        "slug": "pipedrive",
        "createdAt": "Wed, 08 Nov 2023 09:10:11 GMT",
        **extra,
    }


def _workflow(event: str, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "linked_account_id": "acct-7",
        "instance_id": "run-42",
        "workflow_id": "wf-9",
        "config_id": "cfg-3",
        "event": event,
        "workflow_name": "Sync deals",
        "status": status,
        **extra,
    }


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        pytest.param("Connection Created", ConnectionCreated, id="created"),
        pytest.param("Connection Deleted", ConnectionDeleted, id="deleted"),
        pytest.param("Connection Expired", ConnectionExpired, id="expired"),
    ],
)
def test_connection_events_are_typed(name: str, cls: type[ConnectionEvent]) -> None:
    """Each connection event decodes to its class, with account, app and time."""
    event = _parse(_connection(name))
    assert type(event) is cls
    assert isinstance(event, ConnectionEvent)
    assert event.is_known
    assert (event.type, event.linked_account_id) == (name, "acct-7")
    assert (event.org_id, event.environment, event.slug) == ("org-1", "test", "pipedrive")
    assert event.occurred_at == datetime.datetime(2023, 11, 8, 9, 10, 11, tzinfo=UTC)
    assert event.data["type"] == "General"


@pytest.mark.parametrize(
    ("name", "status", "cls"),
    [
        pytest.param("Workflow Completed", "COMPLETED", WorkflowCompleted, id="completed"),
        pytest.param("Workflow Errored", "ERRORED", WorkflowErrored, id="errored"),
    ],
)
def test_workflow_events_are_typed(name: str, status: str, cls: type[WorkflowEvent]) -> None:
    """Each workflow event decodes to its class, with the run and the workflow."""
    event = _parse(_workflow(name, status))
    assert type(event) is cls
    assert isinstance(event, WorkflowEvent)
    assert event.is_known
    assert (event.instance_id, event.workflow_id, event.config_id) == ("run-42", "wf-9", "cfg-3")
    assert (event.workflow_name, event.status) == ("Sync deals", status)
    assert event.linked_account_id == "acct-7"
    assert event.occurred_at is None  # workflow events carry no time


def test_every_known_type_has_a_class() -> None:
    """The known types are exactly the documented five, none decoding as unknown."""
    assert {
        "Connection Created",
        "Connection Deleted",
        "Connection Expired",
        "Workflow Completed",
        "Workflow Errored",
    } == KNOWN_EVENT_TYPES
    for name in KNOWN_EVENT_TYPES:
        assert not isinstance(_parse({"event": name}), UnknownEvent)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"event": "Workflow Paused", "instance_id": "r"}, id="new-type"),
        pytest.param({"type": "General", "slug": "hubspot"}, id="no-event-field"),
        pytest.param({"event": 7}, id="event-not-text"),
        pytest.param({"text": "A workflow failed", "blocks": []}, id="slack-format"),
    ],
)
def test_unknown_types_are_kept_not_refused(data: dict[str, Any]) -> None:
    """A type this SDK does not know is an UnknownEvent holding the whole body."""
    event = _parse(data)
    assert type(event) is UnknownEvent
    assert not event.is_known
    assert event.data == data
    assert event.type == (data["event"] if isinstance(data.get("event"), str) else "")


def test_the_payloads_type_field_is_not_the_event_type() -> None:
    """`type` ("General") is a field of connection events; the event's name is `event`."""
    assert _parse({"type": "Workflow Completed"}).type == ""


def test_odd_field_types_become_none_and_the_raw_value_stays() -> None:
    """A documented type with a field of an unexpected type still decodes."""
    event = _parse(_workflow("Workflow Completed", "COMPLETED", instance_id=123, workflow_id=[1]))
    assert isinstance(event, WorkflowCompleted)
    assert event.instance_id == "123"
    assert event.workflow_id is None
    assert event.data["workflow_id"] == [1]


@pytest.mark.parametrize(
    ("created", "expected"),
    [
        pytest.param(
            "Tue, 07 Nov 2023 08:03:27 GMT",
            datetime.datetime(2023, 11, 7, 8, 3, 27, tzinfo=UTC),
            id="http-date",
        ),
        pytest.param(
            "Tue, 07 Nov 2023 10:03:27 +0200",
            datetime.datetime(2023, 11, 7, 8, 3, 27, tzinfo=UTC),
            id="http-date-offset",
        ),
        pytest.param(
            "2023-11-07T08:03:27.500Z",
            datetime.datetime(2023, 11, 7, 8, 3, 27, 500000, tzinfo=UTC),
            id="iso-z",
        ),
        pytest.param(
            "2023-11-07T08:03:27", datetime.datetime(2023, 11, 7, 8, 3, 27, tzinfo=UTC), id="naive"
        ),
        pytest.param("yesterday", None, id="unreadable"),
        pytest.param("", None, id="empty"),
        pytest.param(1699344207, None, id="number"),
    ],
)
def test_occurred_at_is_an_aware_time_or_none(
    created: object, expected: datetime.datetime | None
) -> None:
    """`createdAt` becomes an aware datetime; what cannot be read becomes None."""
    event = _parse(_connection("Connection Created", createdAt=created))
    assert event.occurred_at == expected
    assert event.occurred_at is None or event.occurred_at.tzinfo is not None


def test_dedup_key_is_the_same_for_every_delivery_of_an_event() -> None:
    """Re-serialized (other key order, spacing) the same run keys the same; others differ."""
    data = _workflow("Workflow Completed", "COMPLETED")
    first = _parse(json.dumps(data).encode())
    again = _parse(json.dumps(dict(reversed(data.items())), indent=2).encode())
    assert first.dedup_key == again.dedup_key
    errored = _parse(_workflow("Workflow Errored", "ERRORED"))
    other_run = _parse(_workflow("Workflow Completed", "COMPLETED", instance_id="run-43"))
    assert len({first.dedup_key, errored.dedup_key, other_run.dedup_key}) == 3


def test_dedup_key_of_connection_events_includes_their_time() -> None:
    """Reconnecting the same app later is a new event, not a replay of the first."""
    first = _parse(_connection("Connection Created"))
    later = _parse(_connection("Connection Created", createdAt="Thu, 09 Nov 2023 09:10:11 GMT"))
    assert first.dedup_key != later.dedup_key
    assert first.dedup_key == _parse(_connection("Connection Created")).dedup_key


def test_dedup_key_falls_back_to_the_body_digest() -> None:
    """Without identifying fields, the key is the raw body's SHA-256."""
    body = b'{"event": "Something New", "n": 1}'
    event = _parse(body)
    assert event.dedup_key == "sha256:" + event.body_sha256
    assert event.dedup_key != _parse(b'{"event": "Something New", "n": 2}').dedup_key
    assert _parse(_workflow("Workflow Completed", "x", instance_id=None)).dedup_key.startswith(
        "sha256:"
    )


def test_a_hand_built_event_has_a_dedup_key_too() -> None:
    """An event built in a user's test, without a body digest, still has a stable key."""
    one = UnknownEvent(type="X", data={"a": 1, "b": 2})
    two = UnknownEvent(type="X", data={"b": 2, "a": 1})
    assert one.dedup_key == two.dedup_key
    assert one.dedup_key.startswith("sha256:")


def test_events_are_frozen_and_their_repr_leaves_out_the_body() -> None:
    """Events cannot be changed, and their repr stays short."""
    event = _parse(_workflow("Workflow Errored", "ERRORED", note="x" * 500))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.type = "other"  # type: ignore[misc]
    assert "x" * 50 not in repr(event)
    assert "run-42" in repr(event)


def test_events_match_by_class_pattern() -> None:
    """The docstring's `match` example works."""
    seen: list[str] = []
    for data in (_workflow("Workflow Errored", "ERRORED"), _connection("Connection Expired")):
        match _parse(data):
            case WorkflowErrored(instance_id=run, workflow_name=name):
                seen.append(f"{name}:{run}")
            case ConnectionExpired(linked_account_id=account, slug=app):
                seen.append(f"{account}:{app}")
            case _:
                seen.append("other")
    assert seen == ["Sync deals:run-42", "acct-7:pipedrive"]


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)
_field = st.sampled_from(
    ["event", "linked_account_id", "instance_id", "slug", "createdAt", "status", "org_id"]
)


@given(
    st.dictionaries(_field | st.text(max_size=5), _json, max_size=6),
    st.sampled_from([*KNOWN_EVENT_TYPES, "New"]),
)
def test_any_json_object_decodes_without_raising(data: dict[str, Any], name: str) -> None:
    """Whatever the object holds, parse_event returns an event with a text dedup key."""
    if "event" not in data:
        data["event"] = name
    event = _parse(data)
    assert isinstance(event.dedup_key, str)
    assert event.data == json.loads(json.dumps(data))

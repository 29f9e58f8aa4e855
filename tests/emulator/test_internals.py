"""The emulator's generic machinery: routing by the registry, samples, buckets, clocks."""

from __future__ import annotations

import re
from typing import Any

import attrs
import pytest

from refold_async._convert import structure
from refold_async._operation import AuthScope, Operation
from refold_async._pagination import Page
from refold_async.operations import OPERATIONS
from refold_async.testing import EmulatedRequest, Emulator, FakeClock
from refold_async.testing._ratelimit import ServerRateLimit, format_retry_after
from refold_async.testing._router import Router
from refold_async.testing._samples import sample_json

from .conftest import TEST_KEY

ROUTER = Router(OPERATIONS.values())


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "some-id", path)


@pytest.mark.parametrize("operation_id", sorted(OPERATIONS))
def test_every_path_routes_back_to_its_operation(operation_id: str) -> None:
    """A concrete path of each template reaches that very operation."""
    op = OPERATIONS[operation_id]
    found, values = ROUTER.match(op.method, _concrete(op.path))
    assert found is op
    assert set(values.values()) <= {"some-id"}


@pytest.mark.parametrize(
    ("method", "path", "operation_id"),
    [
        ("GET", "/api/v2/public/workflow/enabled", "listEnabledWorkflows"),
        ("GET", "/api/v2/public/workflow/wf1", "getWorkflowById"),
        ("PUT", "/api/v2/public/tables/group/edit", "editTablesGroup"),
        ("DELETE", "/api/v2/public/tables/t1/r1", "deletePersistentTableRecord"),
        ("POST", "/api/v2/public/event/trigger", "triggerEvent"),
        ("POST", "/api/v2/public/event/slack", "triggerEventBySlug"),
        ("POST", "/api/v2/public/session-token/revoke", "revokeLinkedAccountSessionToken"),
    ],
)
def test_literal_segments_win_over_placeholders(method: str, path: str, operation_id: str) -> None:
    """`/workflow/enabled` is not the workflow called "enabled"."""
    assert ROUTER.match(method, path)[0].id == operation_id


@pytest.mark.parametrize(
    "operation_id", sorted(op.id for op in OPERATIONS.values() if op.returns is not None)
)
def test_samples_decode_into_every_response_type(operation_id: str) -> None:
    """The sample built from each operation's response type decodes into it."""
    returns = OPERATIONS[operation_id].returns
    structure(sample_json(returns), returns)


@attrs.frozen(kw_only=True)
class Gadget:
    """A model no handler knows."""

    id: str
    size: int
    tags: list[str] = attrs.field(factory=list[str])
    extra_fields: dict[str, Any] = attrs.field(factory=dict[str, Any], repr=False)


def test_an_operation_without_a_handler_answers_a_sample() -> None:
    """A registry operation with no handler answers a sample of its model (and 204 for none)."""
    listing: Operation[Page[Gadget]] = Operation(id="listGadgets", method="GET", path="/gadgets", auth=AuthScope.ORG_KEY,
                        returns=Page[Gadget], paginated=True)  # fmt: skip
    removal: Operation[None] = Operation(
        id="dropGadget", method="DELETE", path="/gadgets/{id}", auth=AuthScope.ORG_KEY
    )
    emulator = Emulator(
        api_keys=[TEST_KEY], operations={o.id: o for o in (listing, removal)}, rate_limit=None
    )
    headers = {"x-api-key": TEST_KEY}
    page = emulator.dispatch(EmulatedRequest(method="GET", path="/gadgets", headers=headers))
    assert structure(page.json(), Page[Gadget]).items[0].size == 1
    gone = emulator.dispatch(EmulatedRequest(method="DELETE", path="/gadgets/g1", headers=headers))
    assert (gone.status, gone.body) == (204, b"")


def test_the_server_bucket_admits_a_burst_then_the_rate() -> None:
    """5 at once, then one per 50 ms at 20/s; refusals name the wait and take no token."""
    bucket = ServerRateLimit(20, 5)
    assert [bucket.take("k", now=0.0) for _ in range(5)] == [None] * 5
    assert bucket.take("k", now=0.0) == pytest.approx(0.05)
    assert bucket.take("k", now=0.03) == pytest.approx(0.02)
    assert bucket.take("k", now=0.05) is None
    assert bucket.take("other", now=0.05) is None


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.05, "0.05"), (0.0501, "0.051"), (1.0, "1"), (2.0004, "2.001")]
)
def test_retry_after_is_seconds_rounded_up_to_milliseconds(seconds: float, text: str) -> None:
    """`Retry-After` never asks for less than the true wait."""
    assert format_retry_after(seconds) == text


def test_the_fake_clock_moves_only_forward() -> None:
    """`advance()` adds; going back is refused; wall time starts at 2026-01-01."""
    clock = FakeClock()
    clock.advance(1.5)
    assert clock.now() == 1.5
    assert clock.wall() == 1_767_225_601.5
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)


def test_an_emulator_needs_a_key() -> None:
    """No keys, or the same key twice, is refused."""
    with pytest.raises(ValueError, match="at least one"):
        Emulator(api_keys=[])
    with pytest.raises(ValueError, match="distinct"):
        Emulator(api_keys=[TEST_KEY, TEST_KEY])

"""Every operation of the registry answers on the emulator and decodes into its model."""

from __future__ import annotations

import json
import typing
from typing import Any

import attrs
import pytest

from refold_async import AsyncRefold, Page
from refold_async._operation import AuthScope, Operation
from refold_async.operations import OPERATIONS
from refold_async.testing import EmulatedRequest, Emulator, FakeClock
from refold_async.testing._handlers import HANDLERS

from .arrange import arguments_for, arrange
from .conftest import ACCOUNT, TEST_KEY

ALL = sorted(OPERATIONS)


def test_the_registry_has_every_operation_and_each_has_a_handler() -> None:
    """All 102 operations are known, and each is answered from state (none from samples)."""
    assert len(OPERATIONS) == 102
    assert sorted(HANDLERS) == ALL


def _check_decoded(op: Operation[Any], result: Any) -> None:
    expected = op.returns
    if expected is None:
        assert result is None
        return
    origin = typing.get_origin(expected)
    if origin is Page:
        assert isinstance(result, Page)
        (item_type,) = typing.get_args(expected)
        assert all(
            isinstance(item, typing.get_origin(item_type) or item_type) for item in result.items
        )
    elif origin is not None:
        assert isinstance(result, origin)
    else:
        assert isinstance(result, expected)
        if attrs.has(expected):
            assert not [
                k
                for k in getattr(result, "extra_fields", {})
                if not k.startswith(("payload", "instance"))
            ]


@pytest.mark.parametrize("operation_id", ALL)
async def test_operation_answers_and_decodes(
    operation_id: str, emulator: Emulator, client: AsyncRefold, clock: FakeClock
) -> None:
    """Called through its generated method, the operation answers 2xx in its model's shape."""
    op = OPERATIONS[operation_id]
    arranged = await arrange(emulator, client, clock)
    # Pinned where the operation acts for one account; org-level ones may name any account.
    pinned = op.linked_account or op.auth is AuthScope.SESSION_TOKEN
    bound = client.for_linked_account(ACCOUNT) if pinned else client
    method = getattr(getattr(bound, op.resource), op.name)
    result = method(**arguments_for(op, method, arranged))
    result = await result
    _check_decoded(op, result)


def _required_outside_path(op: Operation[Any]) -> list[str]:
    # A required linked_account_id is satisfied by the header or token (see test_auth.py).
    return [
        p.wire_name
        for p in op.params
        if p.required and p.location != "path" and p.wire_name != "linked_account_id"
    ]


CHECKED = [
    op_id
    for op_id in ALL
    if _required_outside_path(OPERATIONS[op_id]) or OPERATIONS[op_id].body_required
]


def _post(emulator: Emulator, method: str, path: str, body: dict[str, Any]) -> Any:
    request = EmulatedRequest(
        method=method, path=path, headers={"x-api-key": TEST_KEY}, body=json.dumps(body).encode()
    )
    return emulator.dispatch(request).json()


def _bare_request(emulator: Emulator, op: Operation[Any]) -> EmulatedRequest:
    """A request for `op` with valid credentials and nothing else: no query, no body."""
    _post(emulator, "PUT", "/api/v2/public/linked-account", {"linked_account_id": ACCOUNT})
    headers = {"x-api-key": TEST_KEY, "linked_account_id": ACCOUNT}
    if op.auth is AuthScope.SESSION_TOKEN:
        token = _post(
            emulator, "POST", "/api/v2/public/session-token", {"linked_account_id": ACCOUNT}
        )["token"]
        headers = {"authorization": f"Bearer {token}"}
    return EmulatedRequest(
        method=op.method, path=op.path.replace("{", "").replace("}", ""), headers=headers
    )


@pytest.mark.parametrize("operation_id", CHECKED)
def test_missing_required_parameters_are_refused_with_400(
    operation_id: str, emulator: Emulator
) -> None:
    """Without its required query, header or body values, an operation answers 400 in the envelope."""
    op = OPERATIONS[operation_id]
    answer = emulator.dispatch(_bare_request(emulator, op))
    body = answer.json()
    assert answer.status == 400, body
    assert body["status_code"] == 400
    assert body["http_error_type"] == "Bad Request"
    assert body.get("error") or body.get("error_code")

"""Every checked argument of every operation refuses a value of no fitting type, on both faces.

Driven by `refold_async.operations.OPERATIONS` and the spec samples of `samples.py`: each
call is valid except for one argument, which gets an `object()` (no kind accepts one).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from refold_async import InvalidArgumentError, Operation
from refold_async.operations import OPERATIONS
from refold_sync import Refold
from tests.generated.samples import build_call
from tests.generated.test_requests import _credentials
from tests.helpers import BASE_URL, mock_client

CHECKED = [
    pytest.param(op, id=op.id)
    for op in sorted(OPERATIONS.values(), key=lambda o: o.id)
    if any(p.kind != "any" for p in op.params)
]


def _spoiled(op: Operation[Any]) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
    """For each checked parameter: its name, and the call's arguments with it spoiled."""
    call = build_call(op)
    cases: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
    path_names = [p.name for p in op.params if p.location == "path"]
    for param in op.params:
        if param.kind == "any":
            continue
        args, kwargs = list(call.args), dict(call.kwargs)
        if param.location == "path":
            args[path_names.index(param.name)] = object()
        else:
            kwargs[param.name] = object()
        cases.append((param.name, tuple(args), kwargs))
    return cases


def test_most_arguments_are_checked() -> None:
    """Nearly every declared parameter carries a kind (free-form JSON values excepted)."""
    params = [p for op in OPERATIONS.values() for p in op.params]
    unchecked = [p for p in params if p.kind == "any"]
    assert len(unchecked) < len(params) // 20


@pytest.mark.parametrize("op", CHECKED)
async def test_async_methods_refuse_each_wrong_argument(
    op: Operation[Any], router: respx.Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each checked argument, given a value of no fitting type, raises naming it; nothing is sent."""
    monkeypatch.delenv("REFOLD_API_KEY", raising=False)
    route = router.route().mock(return_value=httpx.Response(200, json={}))
    client = mock_client(router, **_credentials(op))
    method = getattr(getattr(client, op.resource), op.name)
    for name, args, kwargs in _spoiled(op):
        with pytest.raises(InvalidArgumentError, match=rf"\b{name}\b"):
            await method(*args, **kwargs)
    assert route.call_count == 0


def _first(result: Any, *, paginated: bool) -> object:
    return result.first_page() if paginated else result


@pytest.mark.parametrize("op", CHECKED)
def test_sync_methods_refuse_each_wrong_argument(
    op: Operation[Any], router: respx.Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The blocking twin refuses the same arguments with the same error."""
    monkeypatch.delenv("REFOLD_API_KEY", raising=False)
    route = router.route().mock(return_value=httpx.Response(200, json={}))
    http = httpx.AsyncClient(transport=httpx.MockTransport(router.async_handler))
    with Refold(base_url=BASE_URL, http_client=http, rate_limit=None, **_credentials(op)) as client:
        method = getattr(getattr(client, op.resource), op.name)
        for name, args, kwargs in _spoiled(op):
            with pytest.raises(InvalidArgumentError, match=rf"\b{name}\b"):
                _first(method(*args, **kwargs), paginated=op.paginated)
    assert route.call_count == 0

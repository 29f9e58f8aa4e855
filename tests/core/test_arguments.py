"""Second review, pinned: bad arguments fail before sending; odd bodies fail to decode."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs
import httpx
import pytest
import respx

from refold_async import NOT_GIVEN, APIDecodeError, AsyncRefold, InvalidArgumentError
from refold_async._convert import structure
from refold_async._operation import AuthScope, Operation, Param
from refold_async.testing import Emulator
from tests.core import ops
from tests.helpers import API_KEY, BASE_URL, mock_client

SCHEDULE: Operation[Any] = Operation(
    id="registerSchedule",
    method="POST",
    path="/api/v1/workflow/public/scheduled",
    auth=AuthScope.ORG_KEY,
    returns=Any,
    resource="schedules",
    name="create",
    params=(
        Param(name="slug", wire_name="slug", location="header", required=True),
        Param(name="trigger_type", wire_name="trigger_type", location="body", required=True),
    ),
)


async def test_misspelled_keyword_is_refused_with_a_hint(router: respx.Router) -> None:
    """A typo in a keyword argument raises, naming the likely intent, and sends nothing."""
    client = mock_client(router, linked_account_id="acct-A")
    with pytest.raises(InvalidArgumentError, match="did you mean 'linked_account_id'"):
        await client.schedules.delete("sched-1", linked_acount_id="acct-B")  # type: ignore[call-arg]
    assert router.calls.call_count == 0


def test_with_options_refuses_unknown_settings() -> None:
    """`with_options()` refuses a setting it does not know."""
    client = AsyncRefold(api_key=API_KEY, base_url=BASE_URL)
    with pytest.raises(InvalidArgumentError, match="did you mean 'linked_account_id'"):
        client.with_options(linked_acount_id="acct-B")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        pytest.param({"slug": None}, {"trigger_type": "cron"}, id="required-header-none"),
        pytest.param({"slug": "hubspot"}, {"trigger_type": None}, id="required-body-none"),
        pytest.param({"slug": NOT_GIVEN}, {"trigger_type": "cron"}, id="required-header-left-out"),
    ],
)
async def test_required_arguments_may_not_be_none(
    router: respx.Router, headers: dict[str, object], body: dict[str, object]
) -> None:
    """A required argument passed as None raises before sending."""
    client = mock_client(router)
    with pytest.raises(InvalidArgumentError, match="needs"):
        await client._transport.send(SCHEDULE, headers=headers, body=body)
    assert router.calls.call_count == 0


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(b"abc", id="bytes"),
        pytest.param(["a", "b"], id="list"),
        pytest.param({"a": 1}, id="dict"),
        pytest.param(object(), id="object"),
    ],
)
async def test_non_text_path_and_header_values_are_refused(
    router: respx.Router, value: object
) -> None:
    """Values whose str() would be a repr are refused rather than sent."""
    client = mock_client(router, linked_account_id="acct")
    with pytest.raises(InvalidArgumentError):
        await client._transport.send(ops.LINKED, path={"execution_id": value})
    with pytest.raises(InvalidArgumentError):
        await client._transport.send(ops.ORG, headers={"slug": value})
    assert router.calls.call_count == 0


async def test_unencodable_body_and_naive_datetime_are_typed_errors(router: respx.Router) -> None:
    """A body JSON cannot carry, and a naive datetime, raise InvalidArgumentError."""
    client = mock_client(router)
    with pytest.raises(InvalidArgumentError):
        await client._transport.send(ops.ORG_POST, body={"tags": {"a", "b"}})
    with pytest.raises(InvalidArgumentError, match="naive"):
        await client._transport.send(ops.ORG_POST, body={"when": dt.datetime(2024, 1, 1)})  # noqa: DTZ001
    with pytest.raises(InvalidArgumentError, match="naive"):
        await client._transport.send(ops.ORG, query={"start_date": dt.datetime(2024, 1, 1)})  # noqa: DTZ001
    assert router.calls.call_count == 0


@attrs.frozen(kw_only=True)
class _Flags:
    published: bool | None = None
    name: str | None = None


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        pytest.param({"published": "false"}, _Flags(published=False), id="string-false"),
        pytest.param({"published": "true"}, _Flags(published=True), id="string-true"),
        pytest.param({"published": False}, _Flags(published=False), id="bool"),
        pytest.param({"name": 42}, _Flags(name="42"), id="numeric-id"),
    ],
)
def test_booleans_and_strings_decode_faithfully(wire: dict[str, object], expected: _Flags) -> None:
    """ "false" decodes to False (never True); numeric ids become text."""
    assert structure(wire, _Flags) == expected


@pytest.mark.parametrize(
    "wire",
    [
        pytest.param({"published": "no"}, id="unknown-bool-text"),
        pytest.param({"name": {"$oid": "abc"}}, id="object-for-string"),
    ],
)
async def test_misfit_scalars_raise_decode_errors(
    router: respx.Router, wire: dict[str, object]
) -> None:
    """An object where text belongs, or a non-boolean flag, is APIDecodeError, not garbage."""
    flags: Operation[_Flags] = Operation(
        id="x", method="GET", path="/x", auth=AuthScope.ORG_KEY, returns=_Flags
    )
    router.route().mock(return_value=httpx.Response(200, json=wire))
    client = mock_client(router)
    with pytest.raises(APIDecodeError):
        await client._transport.send(flags)


async def test_page_may_be_digits_and_bad_pages_are_refused(router: respx.Router) -> None:
    """`page="2"` (a query-string value) asks for page 2; `page="x"` raises."""
    router.get("/api/v2/public/linked-account").mock(
        return_value=httpx.Response(200, json={"docs": [], "page": 2})
    )
    client = mock_client(router)
    await client._transport.paginate(ops.PAGED, query={"page": "2"})
    assert router.calls.last.request.url.params["page"] == "2"
    with pytest.raises(InvalidArgumentError):
        client._transport.paginate(ops.PAGED, query={"page": "x"})


async def test_paginator_does_not_repeat_the_first_page(router: respx.Router) -> None:
    """A server pointing back at page 1 does not make its items come twice."""
    router.get("/api/v2/public/linked-account").mock(
        return_value=httpx.Response(
            200, json={"docs": [{"id": "1"}], "page": 1, "hasNextPage": True, "nextPage": 1}
        )
    )
    client = mock_client(router)
    assert [t.id async for t in client._transport.paginate(ops.PAGED)] == ["1"]


async def test_org_level_operations_work_with_the_key_alone() -> None:
    """Operations the spec allows at org level go without a linked account; others refuse."""
    from refold_async import MissingLinkedAccountError

    emulator = Emulator(rate_limit=None)
    async with emulator.client() as client:
        page = await client.workflows.list()
        assert page.items == []
        with pytest.raises(MissingLinkedAccountError):
            await client.executions.retrieve("x")
    org_ops = sorted(op.id for op in emulator.operations.values() if op.org_level)
    assert org_ops == ["getWorkflowById", "listWorkflows"]


def test_credential_advice_fits_the_scope() -> None:
    """An org-key operation's error does not suggest a session token, which cannot work."""
    from refold_async import MissingCredentialError
    from refold_async._auth import plan_auth

    with pytest.raises(MissingCredentialError) as info:
        plan_auth(ops.ORG, api_key=None, session_token=None, linked_account_id=None)
    assert "session_token" not in str(info.value)

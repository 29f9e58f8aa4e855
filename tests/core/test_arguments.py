"""Second review, pinned: bad arguments fail before sending; odd bodies fail to decode."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import httpx
import pytest
import respx

from refold_async import NOT_GIVEN, APIDecodeError, AsyncRefold, InvalidArgumentError
from refold_async._convert import structure
from refold_async._operation import AuthScope, Operation, Param
from refold_async._request import MAX_PATH_LENGTH
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


# -- strict inputs, before sending ---------------------------------

Call = Callable[[AsyncRefold], Awaitable[object]]
WEBHOOK = {
    "webhook_url": "https://hooks.example.invalid/x",
    "webhook_events": ["Connection Created"],
}


def _wrong(call: Call, name: str, problem: str) -> Any:
    return pytest.param(call, name, problem, id=f"{name}-{problem.split()[-1]}")


WRONG_ARGUMENTS = [
    _wrong(lambda c: c.linked_accounts.upsert(linked_account_id=123), "linked_account_id", "a str"),  # type: ignore[arg-type]
    _wrong(lambda c: c.linked_accounts.upsert(name=["x"]), "name", "a str"),  # type: ignore[arg-type]
    _wrong(lambda c: c.linked_accounts.create(name={"a": 1}), "name", "a str"),  # type: ignore[arg-type]
    _wrong(lambda c: c.linked_accounts.create(udf={"plan": 1}), "udf", "value of 'plan'"),  # type: ignore[dict-item]
    _wrong(lambda c: c.webhooks.create(**{**WEBHOOK, "webhook_url": 5}), "webhook_url", "a str"),
    _wrong(
        lambda c: c.webhooks.create(**{**WEBHOOK, "webhook_url": "ftp://x"}),
        "webhook_url",
        "must match",
    ),
    _wrong(
        lambda c: c.webhooks.create(**{**WEBHOOK, "webhook_events": []}),
        "webhook_events",
        "at least 1",
    ),
    _wrong(
        lambda c: c.webhooks.create(**{**WEBHOOK, "webhook_events": "Connection Created"}),
        "webhook_events",
        "a list",
    ),
    _wrong(
        lambda c: c.webhooks.create(**{**WEBHOOK, "webhook_events": [1]}),
        "webhook_events",
        "item 0",
    ),
    _wrong(lambda c: c.webhooks.create(**{**WEBHOOK, "method": "GET"}), "method", "one of"),
    _wrong(lambda c: c.webhooks.create(**{**WEBHOOK, "is_enabled": "yes"}), "is_enabled", "a bool"),
    _wrong(lambda c: c.linked_accounts.list(limit=0), "limit", "at least 1"),
    _wrong(lambda c: c.linked_accounts.list(limit=-1), "limit", "at least 1"),
    _wrong(lambda c: c.linked_accounts.list(limit="abc"), "limit", "an int"),  # type: ignore[arg-type]
    _wrong(lambda c: c.linked_accounts.list(limit=True), "limit", "an int"),
    _wrong(lambda c: c.linked_accounts.list(limit=2.5), "limit", "an int"),  # type: ignore[arg-type]
    _wrong(lambda c: c.executions.list(start_date="2024-01-01"), "start_date", "datetime"),  # type: ignore[arg-type]
    _wrong(lambda c: c.executions.list(execution_source="api"), "execution_source", "one of"),  # type: ignore[arg-type]
    _wrong(lambda c: c.linked_accounts.retrieve(123), "linked_account_id", "a str"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("call", "name", "problem"), WRONG_ARGUMENTS)
async def test_wrong_arguments_are_refused_before_sending(
    router: respx.Router, call: Call, name: str, problem: str
) -> None:
    """A value outside its parameter's type, enum, bounds or pattern raises, naming it."""
    router.route().mock(return_value=httpx.Response(200, json={}))
    client = mock_client(router, linked_account_id="acct-A")
    with pytest.raises(InvalidArgumentError, match=name) as info:
        await call(client)
    assert problem in str(info.value)
    assert router.calls.call_count == 0


async def test_enum_typo_gets_a_hint_and_text_values_are_not_shown(router: respx.Router) -> None:
    """A near-miss enum value suggests the right one; a refused URL is not echoed."""
    client = mock_client(router)
    with pytest.raises(InvalidArgumentError, match="did you mean 'cron'"):
        await client.schedules.create(
            slug="s",
            workflow_id_alias="w",
            config_id="c",
            trigger_type="crn",  # type: ignore[arg-type]
        )
    with pytest.raises(InvalidArgumentError) as info:
        await client.webhooks.create(**{**WEBHOOK, "webhook_url": "ftp://secret-token@x"})
    assert "secret-token" not in str(info.value)
    assert router.calls.call_count == 0


async def test_valid_values_of_every_kind_are_sent(router: respx.Router) -> None:
    """Enum members, tuples, models, ints at the bound and aware datetimes all pass."""
    from refold_async.models import WebhookMethod

    router.route().mock(return_value=httpx.Response(200, json={"docs": [], "page": 1}))
    client = mock_client(router, linked_account_id="acct-A")
    await client.webhooks.create(
        webhook_url="http://hooks.example.invalid/x",
        webhook_events=("Connection Created",),  # type: ignore[arg-type]
        method=WebhookMethod.PUT,  # type: ignore[arg-type]
        is_enabled=False,
        webhook_headers={"x": 1},
    )
    assert json.loads(router.calls.last.request.content)["method"] == "PUT"
    await client.executions.list(
        limit=1, start_date=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), sort_asc=True
    )
    assert router.calls.last.request.url.params["limit"] == "1"


async def test_misspelled_linked_account_is_a_typo_not_a_missing_account(
    router: respx.Router,
) -> None:
    """`linked_acount_id=` on a client without a default account gets the hint too."""
    client = mock_client(router)
    with pytest.raises(InvalidArgumentError, match="did you mean 'linked_account_id'"):
        await client.executions.list(linked_acount_id="acme")  # type: ignore[call-arg]
    assert router.calls.call_count == 0


@pytest.mark.parametrize(
    ("extra_headers", "call_account"),
    [
        pytest.param({"Linked_Account_Id": "acct_B"}, "acct_A", id="other-case-other-account"),
        pytest.param({"LINKED_ACCOUNT_ID": "acct_A"}, "acct_A", id="other-case-same-account"),
        pytest.param({"linked_account_id": "acct_B"}, None, id="client-default-account"),
    ],
)
async def test_extra_headers_cannot_name_a_linked_account(
    router: respx.Router, extra_headers: dict[str, str], call_account: str | None
) -> None:
    """The linked account travels once, checked: extra_headers may not set it, in any case."""
    client = mock_client(router, linked_account_id="acct_C")
    account = {} if call_account is None else {"linked_account_id": call_account}
    with pytest.raises(InvalidArgumentError, match="linked_account_id="):
        await client.executions.retrieve("e1", **account, extra_headers=extra_headers)
    with pytest.raises(InvalidArgumentError, match="linked_account_id="):
        await client.executions.retrieve("e1", extra_query={"linked_account_id": "acct_B"})
    assert router.calls.call_count == 0


async def test_extra_headers_replace_the_sdks_own_in_any_case(router: respx.Router) -> None:
    """An extra header spelled in another case replaces the method's header, not joins it."""
    router.route().mock(return_value=httpx.Response(200, json={}))
    client = mock_client(router)
    await client._transport.send(
        SCHEDULE,
        headers={"slug": "hubspot"},
        body={"trigger_type": "cron"},
        options={"extra_headers": {"SLUG": "salesforce"}},
    )
    assert router.calls.last.request.headers.get_list("slug") == ["salesforce"]


@pytest.mark.parametrize(
    ("options", "error", "name"),
    [
        pytest.param({"timeout": "abc"}, TypeError, "timeout", id="timeout-text"),
        pytest.param({"timeout": -1}, InvalidArgumentError, "timeout", id="timeout-negative"),
        pytest.param({"extra_headers": ["x"]}, TypeError, "extra_headers", id="headers-list"),
        pytest.param({"extra_headers": {1: "x"}}, TypeError, "extra_headers", id="header-int"),
        pytest.param(
            {"extra_headers": {"x\r\ny": "v"}}, InvalidArgumentError, "header name", id="crlf"
        ),
        pytest.param({"extra_headers": {"": "v"}}, InvalidArgumentError, "header name", id="empty"),
        pytest.param({"extra_query": "a=1"}, TypeError, "extra_query", id="query-text"),
        pytest.param({"extra_body": [1]}, TypeError, "extra_body", id="body-list"),
    ],
)
async def test_call_options_are_checked(
    router: respx.Router, options: dict[str, Any], error: type[Exception], name: str
) -> None:
    """Per-call options of the wrong type or value raise at the call, naming the option."""
    client = mock_client(router)
    with pytest.raises(error, match=name):
        await client._transport.send(ops.ORG, options=options)  # type: ignore[arg-type]
    assert router.calls.call_count == 0


async def test_over_long_paths_and_queries_are_invalid_arguments(router: respx.Router) -> None:
    """A 100,000-character path value or query is refused as ours, not httpx's InvalidURL."""
    client = mock_client(router, linked_account_id="acct")
    with pytest.raises(InvalidArgumentError, match="'execution_id'"):
        await client.executions.retrieve("x" * 100_000)
    with pytest.raises(InvalidArgumentError, match="query string"):
        await client.executions.list(slug="é" * 30_000)
    assert router.calls.call_count == 0


async def test_a_path_just_under_the_limit_is_sent(router: respx.Router) -> None:
    """Long but acceptable values still go out."""
    router.route().mock(return_value=httpx.Response(200, json={"id": "x"}))
    client = mock_client(router, linked_account_id="acct")
    await client._transport.send(ops.LINKED, path={"execution_id": "x" * (MAX_PATH_LENGTH - 40)})
    assert router.calls.call_count == 1


def test_checks_are_compiled_once_per_operation() -> None:
    """The per-operation checks are built at the first call and reused after."""
    from refold_async import _arguments

    op = attrs.evolve(SCHEDULE)
    for _ in range(3):
        _arguments.check_arguments(
            op, path={}, query={}, headers={"slug": "s"}, body={"trigger_type": "cron"}
        )
    first = _arguments._CACHE[id(op)]
    _arguments.check_arguments(
        op, path={}, query={}, headers={"slug": "s"}, body={"trigger_type": "cron"}
    )
    assert _arguments._CACHE[id(op)] is first

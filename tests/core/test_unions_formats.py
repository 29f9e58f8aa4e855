"""`oneOf`/`anyOf` as typed unions, and string formats and lengths checked before sending."""

from __future__ import annotations

import inspect
from typing import Any

import attrs
import pytest
import respx

from codegen.schemas import CHECKED_FORMATS as GENERATOR_FORMATS
from refold_async import InvalidArgumentError
from refold_async._arguments import CHECKED_FORMATS, check_arguments, check_wire_values
from refold_async._convert import structure, unstructure
from refold_async._operation import AuthScope, Operation, Param, Shape
from refold_async.models import AddRecordsRequest
from refold_async.resources.tables import AsyncTables
from tests.helpers import mock_client

RECORDS = dict[str, Any] | list[dict[str, Any]]


@attrs.frozen(kw_only=True)
class _Cat:
    name: str
    lives: int | None = None


@attrs.frozen(kw_only=True)
class _Dog:
    name: str
    bark: str


def test_add_records_data_is_typed_as_a_union() -> None:
    """The spec's one-or-many `data` is `dict | list[dict]` in the model and the signature."""
    assert attrs.fields(AddRecordsRequest).data.type in (
        RECORDS,
        "dict[str, Any] | list[dict[str, Any]]",
    )
    annotation = str(inspect.signature(AsyncTables.add_records).parameters["data"].annotation)
    assert annotation == "dict[str, Any] | builtins.list[dict[str, Any]]"


@pytest.mark.parametrize(
    "data",
    [pytest.param({"a": 1}, id="one-object"), pytest.param([{"a": 1}, {"b": 2}], id="a-list")],
)
def test_union_fields_decode_either_branch(data: object) -> None:
    """The converter decodes a union by the JSON value's kind, and writes it back unchanged."""
    request = structure({"data": data}, AddRecordsRequest)
    assert request.data == data
    assert unstructure(request) == {"data": data}


def test_union_of_a_kind_no_branch_takes_is_refused() -> None:
    """A number where the union wants an object or a list is a decode error, not a silent pass."""
    with pytest.raises(Exception, match="expected one of dict, list, got int"):
        structure(3, RECORDS)


def test_union_of_models_prefers_the_model_whose_required_keys_are_present() -> None:
    """Between two models, the one whose required fields are all present wins."""
    assert structure({"name": "Rex", "bark": "loud"}, _Cat | _Dog) == _Dog(name="Rex", bark="loud")
    assert structure({"name": "Tom", "lives": 9}, _Dog | _Cat) == _Cat(name="Tom", lives=9)
    assert structure("plain", str | _Cat) == "plain"
    assert structure(None, _Cat | _Dog | None) is None


async def test_add_records_accepts_either_branch_and_refuses_others(router: respx.Router) -> None:
    """`tables.add_records(data=...)` takes one mapping or a list of them; anything else fails unsent."""
    router.patch(url__regex=r".*/tables/t1$").respond(json={"add_record_result": []})
    client = mock_client(router, linked_account_id="acct-A")
    await client.tables.add_records("t1", data={"a": 1})
    await client.tables.add_records("t1", data=[{"a": 1}])
    assert router.calls.call_count == 2
    with pytest.raises(
        InvalidArgumentError, match=r"'data' must be a mapping \(or model\) or a list, got int"
    ):
        await client.tables.add_records("t1", data=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match=r"'data' item 1 must be a mapping"):
        await client.tables.add_records("t1", data=[{"a": 1}, "b"])  # type: ignore[list-item]
    assert router.calls.call_count == 2


def _op(*params: Param) -> Operation[Any]:
    return Operation(id="probe", method="POST", path="/p", auth=AuthScope.NONE, params=params)


def _check(param: Param, value: object) -> None:
    check_arguments(_op(param), path={}, query={}, headers={}, body={param.wire_name: value})


@pytest.mark.parametrize(
    ("param", "good", "bad", "problem"),
    [
        pytest.param(
            Param(name="url", wire_name="url", location="body", kind="str", format="uri"),
            "https://hooks.example.com/x?token=abc",
            "https:///no-host",
            "must be an absolute URI",
            id="uri-without-host",
        ),
        pytest.param(
            Param(name="url", wire_name="url", location="body", kind="str", format="uri"),
            "urn:isbn:0451450523",
            "hooks.example.com/x",
            "must be an absolute URI",
            id="uri-without-scheme",
        ),
        pytest.param(
            Param(name="url", wire_name="url", location="body", kind="str", format="uri"),
            "https://example.com/a",
            "https://exa mple.com/a",
            "must be an absolute URI",
            id="uri-with-a-space",
        ),
        pytest.param(
            Param(name="mail", wire_name="mail", location="body", kind="str", format="email"),
            "ops@example.com",
            "ops@localhost",
            "must be an email address",
            id="email",
        ),
        pytest.param(
            Param(
                name="mails",
                wire_name="mails",
                location="body",
                kind="list",
                items="str",
                format="email",
            ),
            ["a@example.com"],
            ["a@example.com", "nobody"],
            "item 1 must be an email address",
            id="email-items",
        ),
        pytest.param(
            Param(name="id", wire_name="id", location="body", kind="str", format="uuid"),
            "123e4567-e89b-12d3-a456-426614174000",
            "123e4567",
            "must be a UUID",
            id="uuid",
        ),
        pytest.param(
            Param(name="label", wire_name="label", location="body", kind="str", min_length=2),
            "ab",
            "a",
            "must be at least 2 character",
            id="min-length",
        ),
        pytest.param(
            Param(name="label", wire_name="label", location="body", kind="str", max_length=3),
            "abc",
            "abcd",
            "must be at most 3 character",
            id="max-length",
        ),
        pytest.param(
            Param(
                name="size",
                wire_name="size",
                location="body",
                kind="union",
                variants=(Shape(kind="int", minimum=1), Shape(kind="str", max_length=2)),
            ),
            "xs",
            0,
            "must be at least 1",
            id="union-branch-bounds",
        ),
    ],
)
def test_value_checks(param: Param, good: object, bad: object, problem: str) -> None:
    """Each format, length and union check passes a good value and names the parameter for a bad one."""
    _check(param, good)
    with pytest.raises(InvalidArgumentError, match=f"'{param.name}' {problem}") as caught:
        _check(param, bad)
    if isinstance(bad, str) and param.format == "uri":
        assert bad not in str(caught.value)  # a URL may carry a token: never echoed


async def test_webhook_url_must_be_an_absolute_uri(router: respx.Router) -> None:
    """`format: uri` of the spec is checked before sending, beside its `^https?://` pattern."""
    client = mock_client(router)
    with pytest.raises(InvalidArgumentError, match="'webhook_url' must be an absolute URI"):
        await client.webhooks.create(webhook_url="https://", webhook_events=["Connection Created"])
    with pytest.raises(InvalidArgumentError, match="'webhook_url' must match"):
        await client.webhooks.update("wh_1", webhook_url="ftp://example.com/x")
    assert router.calls.call_count == 0


def test_the_generator_emits_only_formats_the_runtime_checks() -> None:
    """codegen's list of checked formats is the runtime's (codegen imports no SDK module)."""
    assert GENERATOR_FORMATS == CHECKED_FORMATS


def test_wire_values_are_read_as_their_kinds_then_checked() -> None:
    """The emulator's entry point reads query text as the declared kind, then runs the same checks."""
    op = _op(
        Param(name="limit", wire_name="limit", location="query", kind="int", minimum=1),
        Param(name="url", wire_name="url", location="body", kind="str", format="uri"),
    )
    check_wire_values(
        op, path={}, query={"limit": "5"}, headers={}, body={"url": "https://a.example"}
    )
    with pytest.raises(InvalidArgumentError, match="'limit' must be at least 1, got 0"):
        check_wire_values(op, path={}, query={"limit": "0"}, headers={}, body=None)
    with pytest.raises(InvalidArgumentError, match="'limit' must be an int, got str"):
        check_wire_values(op, path={}, query={"limit": "five"}, headers={}, body=None)
    with pytest.raises(InvalidArgumentError, match="'url' must be an absolute URI"):
        check_wire_values(op, path={}, query={}, headers={}, body={"url": "nope"})

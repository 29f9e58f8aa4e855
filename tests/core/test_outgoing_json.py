"""Outgoing JSON bodies: keys are `str`, nesting is bounded, both checked before sending.

`json.dumps` turns a `True` key into `"true"`, beside a `"true"` key already there: the
server gets duplicate keys and reads either one. A body nested past `MAX_JSON_DEPTH`
(128 levels of objects and arrays) is refused too, instead of reaching a server that may
choke on it, or Python's recursion limit (a `RecursionError`, not a `RefoldError`).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from refold_async import InvalidArgumentError
from refold_async._request import MAX_JSON_DEPTH
from refold_sync import Refold
from tests.helpers import API_KEY, BASE_URL, mock_client

PATH = "/api/v2/public/anything"


def _nested(levels: int) -> list[Any]:
    """`levels` lists, each inside the next: `[[...[]...]]`."""
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


def _route(router: respx.Router) -> respx.Route:
    return router.route().mock(return_value=httpx.Response(200, json={}))


@pytest.mark.parametrize(
    ("body", "words"),
    [
        pytest.param({True: 1, "true": 2}, "body has True of type bool", id="bool-beside-its-text"),
        pytest.param({1: "a", "1": "b"}, "body has 1 of type int", id="int-beside-its-text"),
        pytest.param({None: 1}, "body has None of type NoneType", id="none"),
        pytest.param({"a": {2.5: 1}}, "body['a'] has 2.5 of type float", id="nested-float"),
        pytest.param({"a": [{"b": {(1, 2): 1}}]}, "a key of type tuple", id="deep-tuple"),
        pytest.param([{"ok": 1}, {False: 0}], "body has False of type bool", id="in-a-list"),
    ],
)
async def test_a_key_that_is_not_a_str_is_refused_before_sending(
    router: respx.Router, body: object, words: str
) -> None:
    """`client.request(body=...)`: a non-str key anywhere raises, naming where, unsent."""
    route = _route(router)
    client = mock_client(router)
    with pytest.raises(InvalidArgumentError, match="JSON object keys must be str") as info:
        await client.request("POST", PATH, body=body)
    assert words in str(info.value)
    assert "client." in str(info.value)
    assert not route.called


async def test_a_generated_method_names_the_field(router: respx.Router) -> None:
    """A generated method's dict field with an int key is refused, naming the field."""
    route = _route(router)
    client = mock_client(router)
    with pytest.raises(InvalidArgumentError) as info:
        await client.events.create(name="n", response="r", json_schema={"a": {1: "x"}})
    assert "events.create(): body['json_schema'] has 1 of type int" in str(info.value)
    assert not route.called


async def test_extra_body_is_checked_too(router: respx.Router) -> None:
    """`extra_body` values nest under the same rules, and the error names `extra_body`."""
    route = _route(router)
    client = mock_client(router)
    with pytest.raises(InvalidArgumentError, match="extra_body") as info:
        await client.events.create(name="n", response="r", extra_body={"x": {True: 1}})
    assert "True of type bool" in str(info.value)
    assert not route.called


async def test_nesting_up_to_the_bound_is_sent_and_past_it_refused(router: respx.Router) -> None:
    """128 levels of arrays go out whole; 129 (or dicts as deep) are refused, unsent."""
    route = _route(router)
    client = mock_client(router)
    await client.request("POST", PATH, body=_nested(MAX_JSON_DEPTH))
    assert route.call_count == 1
    assert route.calls.last.request.content.count(b"[") == MAX_JSON_DEPTH
    too_deep: dict[str, Any] = {}
    for _ in range(MAX_JSON_DEPTH):
        too_deep = {"a": too_deep}  # 129 objects with the outermost
    for body in (_nested(MAX_JSON_DEPTH + 1), too_deep):
        with pytest.raises(InvalidArgumentError, match=f"deeper than {MAX_JSON_DEPTH} levels"):
            await client.request("POST", PATH, body=body)
    assert route.call_count == 1


async def test_a_body_deeper_than_python_can_encode_is_a_typed_error(router: respx.Router) -> None:
    """Thousands of levels: `InvalidArgumentError`, never a `RecursionError`."""
    route = _route(router)
    client = mock_client(router)
    with pytest.raises(InvalidArgumentError, match="deeper than"):
        await client.request("POST", PATH, body={"deep": _nested(900)})
    assert not route.called


async def test_ordinary_bodies_are_sent_unchanged(router: respx.Router) -> None:
    """str keys, lists, tuples and scalars at modest depth: sent as before."""
    route = _route(router)
    client = mock_client(router)
    body: dict[str, Any] = {"a": [1, 2.5, None, True, "x", {"b": ("c", {"d": []})}]}
    await client.request("POST", PATH, body=body)
    assert route.calls.last.request.content == (b'{"a":[1,2.5,null,true,"x",{"b":["c",{"d":[]}]}]}')


def test_the_sync_face_refuses_a_non_str_key(router: respx.Router) -> None:
    """`Refold.request()`: the same refusal, before sending."""
    route = _route(router)
    with Refold(
        api_key=API_KEY,
        base_url=BASE_URL,
        rate_limit=None,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(router.async_handler)),
    ) as client:
        with pytest.raises(InvalidArgumentError, match="body has True of type bool"):
            client.request("POST", PATH, body={True: 1, "true": 2})
        with pytest.raises(InvalidArgumentError, match="deeper than"):
            client.events.create(name="n", response="r", json_schema={"a": _nested(MAX_JSON_DEPTH)})
    assert not route.called

"""Models as JSON (`refold_async._model`): to_dict/to_json/from_dict, hashing, pydantic, FastAPI."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from typing import Any

import httpx
import pydantic
import pytest
from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from hypothesis import given
from hypothesis import strategies as st

from refold_async import InvalidArgumentError, Page
from refold_async.models import Environment, Webhook, WebhookMethod

WIRE = {
    "_id": "wh_1",
    "environment": "test",
    "webhook_events": ["Workflow Completed"],
    "webhook_headers": {"x-secret": "s3cr3t-header"},
    "method": "POST",
    "createdAt": "2024-05-06T07:08:09Z",
    "updatedAt": "2024-05-06T09:08:09.123456+02:00",
    "futureKey": {"nested": [1, {"deep": True}]},
}


def _webhook() -> Webhook:
    return Webhook.from_dict(WIRE)


def test_to_dict_python_names_and_plain_values() -> None:
    """Python names, ISO 8601 datetimes (Z for UTC), enum values, unknown keys at the top."""
    out = _webhook().to_dict()
    assert out == {
        "id": "wh_1",
        "environment": "test",
        "webhook_events": ["Workflow Completed"],
        "webhook_headers": {"x-secret": "s3cr3t-header"},
        "method": "POST",
        "created_at": "2024-05-06T07:08:09Z",
        "updated_at": "2024-05-06T09:08:09.123456+02:00",
        "futureKey": {"nested": [1, {"deep": True}]},
    }
    assert type(out["method"]) is str
    assert type(out["environment"]) is str


def test_to_dict_wire_names_give_back_the_wire() -> None:
    """`wire=True` writes the API's names: the very JSON the model came from."""
    assert _webhook().to_dict(wire=True) == WIRE


def test_secrets_are_in_the_data_but_not_the_repr() -> None:
    """A secret field is part of to_dict (the caller asked for the data); repr still hides it."""
    webhook = _webhook()
    assert webhook.to_dict()["webhook_headers"] == {"x-secret": "s3cr3t-header"}
    assert "s3cr3t-header" not in repr(webhook)


def test_to_json_passes_json_options() -> None:
    """`to_json(**kwargs)` is `json.dumps(to_dict())` with those options."""
    text = _webhook().to_json(sort_keys=True, indent=1)
    assert text.startswith('{\n "created_at": "2024-05-06T07:08:09Z"')
    assert json.loads(_webhook().to_json(wire=True)) == WIRE


def test_unknown_enum_values_survive() -> None:
    """A value the SDK does not know yet is written back as the string it was."""
    webhook = Webhook.from_dict({"method": "PROPFIND", "environment": "staging"})
    assert webhook.to_dict() == {"method": "PROPFIND", "environment": "staging"}


def test_declared_fields_win_over_unknown_ones() -> None:
    """An unknown key named like a Python attribute never replaces that attribute."""
    webhook = Webhook(id="real", extra_fields={"id": "shadow", "other": 1})
    assert webhook.to_dict() == {"id": "real", "other": 1}
    assert webhook.to_dict(wire=True) == {"_id": "real", "id": "shadow", "other": 1}


def test_from_dict_reads_python_names_too() -> None:
    """`from_dict(m.to_dict())` gives `m` back; a wire name present wins over a Python one."""
    webhook = _webhook()
    assert Webhook.from_dict(webhook.to_dict()) == webhook
    both = Webhook.from_dict({"_id": "wire", "id": "python"})
    assert both.id == "wire"
    assert both.extra_fields == {"id": "python"}


def test_from_dict_errors_are_typed() -> None:
    """Data that does not fit raises InvalidArgumentError naming where; a non-mapping TypeError."""
    with pytest.raises(InvalidArgumentError, match=r"does not fit Webhook: .*\$\.created_at"):
        Webhook.from_dict({"createdAt": "not a date"})
    with pytest.raises(InvalidArgumentError, match="Webhook"):
        Webhook.from_dict({"is_enabled": "maybe"})
    with pytest.raises(TypeError, match=r"Webhook.from_dict\(\) needs a mapping"):
        Webhook.from_dict(["_id", "x"])  # type: ignore[arg-type]


def test_naive_datetimes_are_refused_by_to_dict_as_by_a_request_body() -> None:
    """One rule for every way out of a model: a naive datetime has no instant to write."""
    model = Webhook(created_at=dt.datetime(2024, 5, 6, 7, 8, 9))  # noqa: DTZ001 - naive on purpose
    with pytest.raises(InvalidArgumentError, match="naive"):
        model.to_dict()
    with pytest.raises(InvalidArgumentError, match="naive"):
        model.to_json(wire=True)


def test_hash_refused_with_advice_and_equality_kept() -> None:
    """Models are unhashable (they hold lists and dicts) with a message naming `.id`."""
    webhook = _webhook()
    with pytest.raises(TypeError, match=r"Webhook objects are not hashable.*webhook\.id"):
        hash(webhook)
    with pytest.raises(TypeError, match="not hashable"):
        _ = {webhook}
    assert webhook == _webhook()
    assert {w.id: w for w in [webhook]}["wh_1"] is webhook


_aware = st.datetimes(
    min_value=dt.datetime(1971, 1, 1),  # noqa: DTZ001 - hypothesis wants naive bounds
    max_value=dt.datetime(2200, 1, 1),  # noqa: DTZ001 - same
    timezones=st.sampled_from(
        [
            dt.timezone.utc,
            dt.timezone(dt.timedelta(hours=5, minutes=30)),
            dt.timezone(-dt.timedelta(hours=8)),
        ]
    ),
)
_json_scalar = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8)
_json = st.recursive(
    _json_scalar,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(
    id_=st.none() | st.text(max_size=10),
    created=st.none() | _aware,
    method=st.none() | st.sampled_from(list(WebhookMethod)),
    environment=st.none() | st.sampled_from(["test", "production", "staging"]),
    events=st.none() | st.lists(st.text(max_size=6), max_size=3),
    body=_json,
    extras=st.dictionaries(
        st.text(min_size=1, max_size=6).map(lambda k: "x-" + k), _json, max_size=3
    ),
)
def test_round_trip_property(
    id_: str | None,
    created: dt.datetime | None,
    method: WebhookMethod | None,
    environment: str | None,
    events: list[str] | None,
    body: Any,
    extras: dict[str, Any],
) -> None:
    """For any field values, `from_dict(to_dict(wire=True))` and a JSON trip give the model back."""
    model = Webhook(
        id=id_,
        created_at=created,
        method=method,
        environment=None if environment is None else Environment(environment),
        webhook_events=events,
        webhook_body=body,
        extra_fields=extras,
    )
    wire = model.to_dict(wire=True)
    assert Webhook.from_dict(wire) == model
    assert Webhook.from_dict(json.loads(model.to_json(wire=True))) == model


def _page() -> Page[Webhook]:
    return Page(items=[_webhook()], total_docs=1, limit=10, page=1, has_next_page=False)


def test_page_to_dict_and_indexing() -> None:
    """A page converts with its items and metadata, and indexes its items."""
    page = _page()
    assert page.to_dict() == {
        "items": [_webhook().to_dict()],
        "total_docs": 1,
        "limit": 10,
        "page": 1,
        "has_next_page": False,
    }
    assert page.to_dict(wire=True) == {
        "docs": [WIRE],
        "totalDocs": 1,
        "limit": 10,
        "page": 1,
        "hasNextPage": False,
    }
    assert page[0] == _webhook()
    assert page[0:1] == [_webhook()]
    assert page["total_docs"] == 1
    assert dict(page) == page.to_dict()


def test_jsonable_encoder_takes_models_lists_and_pages() -> None:
    """FastAPI's `jsonable_encoder` gives `to_dict()` for a model, a list and a page (even empty)."""
    webhook = _webhook()
    assert jsonable_encoder(webhook) == webhook.to_dict()
    assert jsonable_encoder([webhook, webhook]) == [webhook.to_dict()] * 2
    assert jsonable_encoder(_page()) == _page().to_dict()
    empty: Page[Webhook] = Page(items=[], total_docs=0)
    assert jsonable_encoder(empty) == {"items": [], "total_docs": 0}


def test_pydantic_serializes_and_validates_models() -> None:
    """With pydantic installed, models are field types: dumped as `to_dict()`, validated from API data."""

    class Envelope(pydantic.BaseModel):
        webhook: Webhook
        many: list[Webhook]
        page: Page[Webhook]

    envelope = Envelope(webhook=_webhook(), many=[_webhook()], page=_page())
    dumped = json.loads(envelope.model_dump_json())
    assert dumped == {
        "webhook": _webhook().to_dict(),
        "many": [_webhook().to_dict()],
        "page": _page().to_dict(),
    }
    assert envelope.model_dump()["webhook"] == _webhook().to_dict()
    parsed = pydantic.TypeAdapter(Webhook).validate_python(WIRE)
    assert parsed == _webhook()
    with pytest.raises(pydantic.ValidationError, match="does not fit Webhook"):
        pydantic.TypeAdapter(Webhook).validate_python({"createdAt": "never"})
    webhook_schema = Envelope.model_json_schema()["properties"]["webhook"]
    assert webhook_schema["type"] == "object"
    assert webhook_schema["properties"]["created_at"] == {"type": "string", "format": "date-time"}
    # What an endpoint returned comes back in: Python names, a page's items included.
    page = pydantic.TypeAdapter(Page[Webhook]).validate_python(_page().to_dict())
    assert page == _page()
    assert isinstance(page[0], Webhook)


async def test_json_schema_describes_to_dict_output() -> None:
    """The JSON schema (FastAPI's OpenAPI page) lists Python names, enums and a page's item type."""
    schema = pydantic.TypeAdapter(Page[Webhook]).json_schema()
    item = schema["properties"]["items"]["items"]
    assert item["title"] == "Webhook"
    assert item["properties"]["method"]["enum"][:2] == ["POST", "PUT"]
    assert item["properties"]["webhook_events"] == {"type": "array", "items": {"type": "string"}}
    assert "_id" not in item["properties"]
    assert schema["properties"]["total_docs"] == {"type": "integer"}
    assert set(schema["properties"]) == {
        "items",
        "total_docs",
        "limit",
        "page",
        "total_pages",
        "has_next_page",
        "has_prev_page",
        "next_page",
        "prev_page",
    }
    for name, value in _page().to_dict().items():
        assert name in schema["properties"], name
        assert value is not None


async def test_fastapi_endpoints_return_models_directly() -> None:
    """Endpoints return a model, a list or a page as they are, annotated or not; /openapi.json builds."""
    app = FastAPI()

    @app.get("/one")
    async def one() -> Webhook:
        return _webhook()

    @app.get("/many")
    async def many() -> list[Webhook]:
        return [_webhook(), _webhook()]

    @app.get("/page")
    async def page() -> Page[Webhook]:
        return _page()

    @app.get("/untyped")
    async def untyped():  # type: ignore[no-untyped-def]  # no annotation: jsonable_encoder's path
        return _webhook()

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
        assert (await http.get("/one")).json() == _webhook().to_dict()
        assert (await http.get("/many")).json() == [_webhook().to_dict()] * 2
        assert (await http.get("/page")).json() == _page().to_dict()
        assert (await http.get("/untyped")).json() == _webhook().to_dict()
        openapi = (await http.get("/openapi.json")).json()
        assert openapi["paths"]["/one"]["get"]["responses"]["200"]


def test_import_does_not_load_pydantic_or_fastapi() -> None:
    """`import refold_async` (models included) never imports pydantic or fastapi."""
    code = (
        "import sys, refold_async, refold_async.models, refold_sync\n"
        "print(sorted(m for m in ('pydantic', 'pydantic_core', 'fastapi') if m in sys.modules))"
    )
    out = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"

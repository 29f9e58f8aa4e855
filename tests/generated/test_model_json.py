"""Every generated model turns into JSON-ready data and back: `to_dict`, `to_json`, `from_dict`."""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest

from refold_async._convert import wire_names_of
from tests.generated.samples import UNKNOWN_KEY, sample, spec
from tests.generated.test_models import MODEL_CASES


def _is_json_ready(value: object) -> bool:
    """Only the types `json.dumps` writes as they are: no enum members, no datetimes."""
    if type(value) in (str, int, float, bool):
        return True
    if type(value) is list:
        return all(_is_json_ready(item) for item in value)  # type: ignore[attr-defined]
    if type(value) is dict:
        return all(
            type(k) is str and _is_json_ready(v)
            for k, v in value.items()  # type: ignore[attr-defined]
        )
    return False


def _sample_model(schema: str, cls: type[Any]) -> tuple[dict[str, Any], Any]:
    data = sample(spec().schemas()[schema])
    data[UNKNOWN_KEY] = {"nested": [1, 2]}
    return data, cls.from_dict(data)


@pytest.mark.parametrize(("schema", "cls"), MODEL_CASES)
def test_wire_dict_is_what_the_api_sent(schema: str, cls: type[Any]) -> None:
    """`to_dict(wire=True)` gives back the API's JSON, unknown keys at the top level, plain types only."""
    data, model = _sample_model(schema, cls)
    out = model.to_dict(wire=True)
    assert out == data
    assert _is_json_ready(out)
    assert json.loads(model.to_json(wire=True)) == data


@pytest.mark.parametrize(("schema", "cls"), MODEL_CASES)
def test_wire_dict_round_trips(schema: str, cls: type[Any]) -> None:
    """`Model.from_dict(m.to_dict(wire=True)) == m` for a full sample of every model."""
    _, model = _sample_model(schema, cls)
    again = cls.from_dict(model.to_dict(wire=True))
    assert again == model
    assert again.extra_fields == {UNKNOWN_KEY: {"nested": [1, 2]}}


@pytest.mark.parametrize(("schema", "cls"), MODEL_CASES)
def test_python_dict_uses_attribute_names(schema: str, cls: type[Any]) -> None:
    """`to_dict()` names every set field by its Python attribute, never by its wire name."""
    _, model = _sample_model(schema, cls)
    out = model.to_dict()
    assert _is_json_ready(out)
    set_fields = {
        f.name
        for f in attrs.fields(cls)
        if f.name != "extra_fields" and getattr(model, f.name) is not None
    }
    assert set(out) == set_fields | {UNKNOWN_KEY}
    renamed = {wire for name, wire in wire_names_of(cls).items() if wire != name}
    assert not renamed & set(out)
    assert dict(model) == out  # what FastAPI's jsonable_encoder reads


@pytest.mark.parametrize(("schema", "cls"), MODEL_CASES)
def test_models_refuse_hash_clearly(schema: str, cls: type[Any]) -> None:
    """`hash()` of any model raises a TypeError that says why and what to key by."""
    _, model = _sample_model(schema, cls)
    with pytest.raises(TypeError, match=r"not hashable.*\.id"):
        hash(model)


@pytest.mark.parametrize(("schema", "cls"), MODEL_CASES)
def test_python_dict_round_trips(schema: str, cls: type[Any]) -> None:
    """`from_dict` also reads Python names, nested ones included: `from_dict(m.to_dict()) == m`."""
    _, model = _sample_model(schema, cls)
    assert cls.from_dict(model.to_dict()) == model
    assert cls.from_dict(json.loads(model.to_json())) == model

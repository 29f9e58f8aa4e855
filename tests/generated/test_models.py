"""Models decode the spec's shapes and encode them back unchanged, unknown keys included."""

from __future__ import annotations

import datetime as dt
import pickle
from typing import Any

import attrs
import pytest

from codegen.cli import OVERRIDES
from codegen.normalize import load_overrides
from codegen.schemas import SchemaTypes
from refold_async import models
from refold_async._convert import structure, unstructure
from refold_async._operation import Operation
from refold_async.models import Environment, Execution, LinkedAccount, OpenEnum
from refold_async.models._wire import WIRE_NAMES
from refold_async.operations import OPERATIONS
from tests.generated.samples import (
    SAMPLE_DATETIME,
    UNKNOWN_KEY,
    answer,
    sample,
    spec,
    success_schema,
)


def _model_classes() -> dict[str, type[Any]]:
    overrides = load_overrides(OVERRIDES)
    classes = SchemaTypes(spec(), overrides.models, overrides.enums).classes
    return {schema: getattr(models, cls) for schema, cls in sorted(classes.items())}


MODEL_CASES = [pytest.param(schema, cls, id=schema) for schema, cls in _model_classes().items()]
ANSWER_CASES = [
    pytest.param(op, id=op.id)
    for op in sorted(OPERATIONS.values(), key=lambda o: o.id)
    if success_schema(op.id) is not None
]


@pytest.mark.parametrize(("schema", "cls"), MODEL_CASES)
def test_component_schema_round_trips(schema: str, cls: type[Any]) -> None:
    """A full sample of each component schema decodes into its model and encodes back equal."""
    data = sample(spec().schemas()[schema])
    data[UNKNOWN_KEY] = {"nested": [1, 2]}
    value = structure(data, cls)
    assert isinstance(value, cls)
    assert value.extra_fields == {UNKNOWN_KEY: {"nested": [1, 2]}}
    assert unstructure(value) == data


@pytest.mark.parametrize("op", ANSWER_CASES)
def test_answer_round_trips(op: Operation[Any]) -> None:
    """Each operation's answer decodes into its declared type and encodes back to the same JSON."""
    data = answer(op)
    assert unstructure(structure(data, op.returns)) == data


def test_wire_names_are_applied() -> None:
    """`_id` and camelCase keys land on snake_case attributes."""
    account = structure(
        {"_id": "la_1", "createdAt": SAMPLE_DATETIME, "environment": "test"}, LinkedAccount
    )
    assert account.id == "la_1"
    assert account.created_at == dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc)
    assert account.environment is Environment.TEST


def test_unknown_enum_value_is_kept() -> None:
    """A value the spec does not list decodes, compares equal to its string, and pickles."""
    execution = structure({"environment": "staging"}, Execution)
    assert isinstance(execution.environment, Environment)
    assert execution.environment == "staging"
    assert pickle.loads(pickle.dumps(execution.environment)) == "staging"
    assert unstructure(execution) == {"environment": "staging"}


def test_enums_are_open_str_enums() -> None:
    """Every generated enum is a `str` and admits unknown values (no StrEnum, for 3.10)."""
    enums = [getattr(models, name) for name in models.__all__]
    enums = [
        e for e in enums if isinstance(e, type) and issubclass(e, OpenEnum) and e is not OpenEnum
    ]
    assert enums
    for enum_cls in enums:
        assert issubclass(enum_cls, str)
        assert enum_cls("not-in-the-spec") == "not-in-the-spec"
        with pytest.raises(ValueError, match="is not a valid"):
            enum_cls(3)


def test_models_are_frozen_and_keyword_only() -> None:
    """Models are frozen, slotted, keyword-only attrs classes with an `extra_fields` bag."""
    for name in models.__all__:
        cls = getattr(models, name)
        if not attrs.has(cls):
            continue
        fields = attrs.fields(cls)
        assert fields[-1].name == "extra_fields", name
        assert not fields[-1].repr, name
        assert all(f.kw_only for f in fields), name
        assert "__slots__" in cls.__dict__, name
        if all(f.default is not attrs.NOTHING for f in fields):
            with pytest.raises(attrs.exceptions.FrozenInstanceError):
                cls().extra_fields = {}


def test_wire_table_lists_only_differing_names() -> None:
    """The wire-name table holds only attributes whose wire name differs."""
    for cls, table in WIRE_NAMES.items():
        names = {f.name for f in attrs.fields(cls)}
        for python_name, wire_name in table.items():
            assert python_name in names, (cls, python_name)
            assert python_name != wire_name, (cls, python_name)


def test_models_export_is_sorted_and_complete() -> None:
    """`refold_async.models.__all__` is sorted and names every public class of the package."""
    assert models.__all__ == sorted(models.__all__)
    public = {n for n, v in vars(models).items() if isinstance(v, type) and not n.startswith("_")}
    assert public == set(models.__all__)

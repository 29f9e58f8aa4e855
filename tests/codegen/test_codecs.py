"""The generated structure/unstructure source (`codegen/codecs.py`), shape by shape."""

from __future__ import annotations

import pytest

from codegen.codecs import Shape, model_codecs, parse_type
from codegen.ir import Field, Model, TypeExpr

ENUMS = {"Environment"}


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        ("str | None", Shape("scalar", "str", optional=True)),
        ("Any", Shape("any", optional=True)),
        ("datetime.datetime", Shape("datetime")),
        ("Environment | None", Shape("enum", "Environment", optional=True)),
        ("list[Webhook] | None", Shape("list", args=(Shape("model", "Webhook"),), optional=True)),
        ("dict[str, str]", Shape("dict", args=(Shape("scalar", "str"),))),
        (
            "dict[str, Any] | list[dict[str, Any]]",
            Shape(
                "union",
                args=(
                    Shape("dict", args=(Shape("any", optional=True),)),
                    Shape("list", args=(Shape("dict", args=(Shape("any", optional=True),)),)),
                ),
            ),
        ),
    ],
)
def test_annotations_parse_into_shapes(text: str, shape: Shape) -> None:
    assert parse_type(text, ENUMS) == shape


def _model(*fields: tuple[str, str, str, bool]) -> Model:
    return Model(
        name="Thing",
        doc="A thing.",
        fields=tuple(
            Field(name=name, wire_name=wire, type=TypeExpr(text), required=required)
            for name, wire, text, required in fields
        ),
    )


def test_each_field_reads_its_wire_key_once_and_writes_both_names() -> None:
    codecs = model_codecs(
        [
            _model(
                ("id", "_id", "str | None", False),
                ("when", "createdAt", "datetime.datetime", True),
                ("env", "env", "Environment | None", False),
            )
        ],
        ENUMS,
    )
    source = codecs.source.replace("'", '"')  # unformatted: `repr()` quotes
    assert 'get("_id")' in source
    assert 'data["createdAt"]' in source  # required: a missing key misfits, cattrs explains
    assert "_ENVIRONMENT_VALUES = enum_values(Environment)" in source
    assert 'data["_id" if wire else "id"] = v' in source
    assert codecs.enums == ("Environment",)
    compile(source, "<generated>", "exec")  # plain, valid Python


def test_a_shape_without_a_fast_reading_always_goes_to_cattrs() -> None:
    """A list of lists has no generated reading: the object misfits, cattrs structures it."""
    source = model_codecs([_model(("grid", "grid", "list[list[str]]", True))], ENUMS).source
    assert "f0 = misfit()" in source

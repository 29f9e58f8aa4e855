"""`oneOf`/`anyOf` in the generator: typed unions in models and signatures, and their coverage."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from codegen.cli import main
from codegen.ir import Api, ValueCheck
from codegen.load import Spec, load_spec
from codegen.normalize import build_api, load_overrides

FIXTURES = Path(__file__).parent / "fixtures"
MINI = FIXTURES / "mini.yaml"
MINI_OVERRIDES = FIXTURES / "mini_overrides.toml"


def _build(spec: Spec) -> Api:
    return build_api(spec, load_overrides(MINI_OVERRIDES))


def test_unions_become_typed_in_models_and_signatures() -> None:
    """A model field and a body argument of `oneOf`/`anyOf` get the union of their branches."""
    api = _build(load_spec(MINI))
    widget = next(m for m in api.models if m.name == "Widget")
    shape = next(f for f in widget.fields if f.name == "shape")
    assert shape.type.text == "str | dict[str, Any] | None"
    create = next(op for op in api.operations if op.id == "createWidget")
    parts = next(p for p in create.params if p.name == "parts")
    assert parts.type.text == "WidgetFilter | list[WidgetFilter] | None"
    assert parts.type.models == frozenset({"WidgetFilter"})
    assert parts.check == ValueCheck(
        kind="union", variants=(ValueCheck(kind="object"), ValueCheck(kind="list", items="object"))
    )
    assert [typed for _, typed in api.unions] == [True, True]


def test_a_branch_that_admits_anything_leaves_the_union_untyped() -> None:
    """A `{}` branch makes the site `Any`, and coverage counts it as not typed."""
    spec = load_spec(MINI)
    data: dict[str, Any] = copy.deepcopy(dict(spec.data))
    data["components"]["schemas"]["Widget"]["properties"]["shape"]["oneOf"].append({})
    api = _build(Spec(data=data, sha256=spec.sha256))
    widget = next(m for m in api.models if m.name == "Widget")
    assert next(f for f in widget.fields if f.name == "shape").type.text == "Any"
    assert dict(api.unions)["#/components/schemas/Widget/properties/shape"] is False


def test_coverage_reports_union_sites(capsys: pytest.CaptureFixture[str]) -> None:
    """`coverage` on the real spec says how many `oneOf`/`anyOf` sites are typed unions."""
    assert main(["coverage"]) == 0
    assert "unions: 1/1 oneOf/anyOf sites typed as unions" in capsys.readouterr().out

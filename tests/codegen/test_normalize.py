"""From spec and overrides to the IR: auth scopes, types, and the problems reported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from codegen.cli import OVERRIDES, default_spec, main
from codegen.ir import Api, Operation, ValueCheck
from codegen.load import load_spec
from codegen.normalize import auth_scope, auth_sentence, build_api, load_overrides
from codegen.render import annotation, pyrepr

FIXTURES = Path(__file__).parent / "fixtures"
MINI = FIXTURES / "mini.yaml"
MINI_OVERRIDES = FIXTURES / "mini_overrides.toml"


def _mini() -> Api:
    return build_api(load_spec(MINI), load_overrides(MINI_OVERRIDES))


def _op(api: Api, op_id: str) -> Operation:
    return next(op for op in api.operations if op.id == op_id)


@pytest.mark.parametrize(
    ("security", "scope"),
    [
        pytest.param([], "NONE", id="none"),
        pytest.param([{"Org API Key": []}], "ORG_KEY", id="key"),
        pytest.param(
            [{"Org API Key": []}, {"Linked Account Token": []}], "KEY_OR_TOKEN", id="either"
        ),
        pytest.param([{"Linked Account Token": []}], "SESSION_TOKEN", id="token"),
    ],
)
def test_auth_scope_follows_security(security: list[dict[str, Any]], scope: str) -> None:
    """The spec's `security` list maps onto the four auth scopes (docs/architecture.md §1)."""
    assert auth_scope(security) == scope


def test_auth_sentence_names_the_linked_account() -> None:
    """The docstring's auth line says when a linked account is needed."""
    assert auth_sentence("ORG_KEY", False) == "the org API key."
    assert "`linked_account_id`" in auth_sentence("ORG_KEY", True)
    assert "session token" in auth_sentence("KEY_OR_TOKEN", True)
    assert auth_sentence("NONE", False) == "none."


def test_mini_operations_are_normalized() -> None:
    """Locations, required flags, defaults and linked-account detection come from the spec."""
    api = _mini()
    assert not api.issues
    retrieve = _op(api, "getWidget")
    assert retrieve.linked_account
    assert retrieve.auth == "KEY_OR_TOKEN"
    assert [(p.name, p.location) for p in retrieve.signature_params] == [
        ("widget_id", "path"),
        ("linked_account_id", "header"),
        ("x_trace_id", "header"),
        ("color", "body"),
        ("from_", "body"),
    ]
    assert retrieve.has_body
    assert not retrieve.body_required
    delete = _op(api, "deleteWidget")
    assert delete.whole_body is not None
    assert delete.whole_body.type.text == "list[str]"
    assert delete.returns.text == "None"
    health = _op(api, "getHealth")
    assert (health.auth, health.path, health.returns.text) == (
        "NONE",
        "/api/v1/public/health",
        "dict[str, Any]",
    )


def test_mini_types() -> None:
    """Enums are literals in signatures and classes in models; true/false enums are bools."""
    api = _mini()
    listing = _op(api, "listWidgets")
    types = {p.name: p.type.text for p in listing.params}
    assert types["color"] == "Literal['red', 'blue']"
    assert types["since"] == "datetime.datetime"
    assert listing.item is not None
    assert listing.returns.text == "Page[Widget]"
    paint = _op(api, "paintWidget")
    assert {p.name: p.type.text for p in paint.params}["sync_execution"] == "bool"
    widget = next(m for m in api.models if m.name == "Widget")
    fields = {f.name: (f.wire_name, f.type.text, f.required) for f in widget.fields}
    assert fields["id"] == ("_id", "str", True)
    assert fields["color"] == ("color", "WidgetColor | None", False)
    assert fields["note"] == ("note", "str | None", False)
    assert fields["shape"] == ("shape", "str | dict[str, Any] | None", False)
    assert [e.name for e in api.enums] == ["WidgetColor"]


def test_all_of_merges_properties() -> None:
    """An `allOf` schema gets the properties of every part."""
    page = next(m for m in _mini().models if m.name == "PaginatedWidgets")
    assert [f.wire_name for f in page.fields] == ["totalDocs", "hasNextPage", "nextPage", "docs"]


def test_secret_fields_follow_the_python_name() -> None:
    """`[secrets]` marks the field by its snake_case name; its wire name may differ."""
    widget = next(m for m in _mini().models if m.name == "Widget")
    secret = {f.name: f.wire_name for f in widget.fields if f.secret}
    assert secret == {"api_key": "apiKey"}


def test_param_checks_follow_the_schema_and_the_bounds() -> None:
    """Each argument's runtime check carries its kind, enum values, bounds, sizes and pattern."""
    api = _mini()
    checks = {
        (op.id, p.name): p.check for op in api.operations for p in op.params if op.id != "getHealth"
    }
    assert checks["listWidgets", "page"] == ValueCheck(kind="int", minimum=1)
    assert checks["listWidgets", "limit"] == ValueCheck(kind="int", minimum=1, maximum=100)
    assert checks["listWidgets", "color"] == ValueCheck(kind="enum", choices=("red", "blue"))
    assert checks["listWidgets", "since"] == ValueCheck(kind="datetime")
    assert checks["createWidget", "tags"] == ValueCheck(
        kind="list", items="str", min_items=1, max_items=5
    )
    assert checks["getWidget", "widget_id"] == ValueCheck(kind="str")
    assert checks["getWidget", "x_trace_id"] == ValueCheck(kind="str", pattern="^[a-z0-9-]+$")
    assert checks["paintWidget", "sync_execution"] == ValueCheck(kind="bool")


def _top_level_members(text: str) -> list[str]:
    """`A | list[B | C]` -> `["A", "list[B | C]"]`."""
    members, depth, current = [], 0, ""
    for char in text:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "|" and depth == 0:
            members.append(current.strip())
            current = ""
        else:
            current += char
    return [*members, current.strip()]


def _kind_of(annotation_text: str, models: frozenset[str]) -> str:
    """The check kind an annotation stands for."""
    simple = {"str": "str", "int": "int", "float": "float", "bool": "bool", "Any": "any"}
    if len([m for m in _top_level_members(annotation_text) if m != "None"]) > 1:
        return "union"
    if annotation_text in simple:
        return simple[annotation_text]
    if annotation_text == "datetime.datetime":
        return "datetime"
    if annotation_text.startswith("Literal["):
        return "enum"
    if annotation_text.startswith("list["):
        return "list"
    if annotation_text.startswith("dict[") or annotation_text in models:
        return "object"
    raise AssertionError(f"no kind for {annotation_text!r}")


def test_param_checks_agree_with_the_annotations_of_the_real_spec() -> None:
    """The check of every argument of every operation is the kind its annotation says."""
    api = build_api(load_spec(default_spec()), load_overrides(OVERRIDES))
    checked = 0
    for op in api.operations:
        for p in op.declared_params:
            assert _kind_of(p.type.text, p.type.models) == p.check.kind, (op.id, p.name)
            checked += p.check.kind != "any"
    assert checked > 300
    bounded = {(op.id, p.name) for op in api.operations for p in op.params if p.check.minimum}
    assert ("listLinkedAccounts", "limit") in bounded
    assert ("listExecutions", "page") in bounded


def test_unused_bounds_are_reported(tmp_path: Path) -> None:
    """A `[bounds]` entry that no operation has is a warning (a typo would check nothing)."""
    overrides = _broken(tmp_path, '"query:page"', '"query:pgae"')
    api = build_api(load_spec(MINI), load_overrides(overrides))
    assert [str(i) for i in api.issues] == [
        "warning: query:pgae: [bounds] names a parameter no operation has"
    ]


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    text = MINI_OVERRIDES.read_text()
    assert old in text
    path = tmp_path / "overrides.toml"
    path.write_text(text.replace(old, new))
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        pytest.param(
            'name = "create"',
            'name = "list"',
            "two methods are both named 'list'",
            id="method-clash",
        ),
        pytest.param('doc = "Make a widget."', 'doc = ""', "doc (and path) must be", id="no-doc"),
        pytest.param(
            "getHealth = {",
            "gotHealth = {",
            "needs an operationId, a tag and overrides",
            id="missing",
        ),
        pytest.param(
            '"path:widgetId" = "widget"',
            '"path:widgetId" = "options"',
            "is reserved",
            id="reserved",
        ),
        pytest.param(
            'fields = ["api_key"]',
            'fields = ["apiKey"]',
            "use its snake_case name",
            id="secret-wire-name",
        ),
        pytest.param(
            '"query:page" = { minimum = 1 }',
            '"query:color" = { minimum = 1 }',
            "[bounds] applies to numbers only",
            id="bounds-on-text",
        ),
    ],
)
def test_problems_are_reported_and_stop_generation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, message: str
) -> None:
    """Every problem is printed as a GeneratorIssue, and generation exits 2 without writing."""
    overrides = _broken(tmp_path, old, new)
    out = tmp_path / "out"
    assert (
        main(["generate", "--spec", str(MINI), "--overrides", str(overrides), "--out", str(out)])
        == 2
    )
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_pyrepr_takes_only_scalars() -> None:
    """Spec text enters code as a Python literal, and only scalars may."""
    assert pyrepr('a"b') == "'a\"b'"
    with pytest.raises(TypeError):
        pyrepr(["x"])


def test_annotation_avoids_a_method_named_list() -> None:
    """Inside a class with a `list` method, `list[...]` annotations use `builtins.list`."""
    resource = next(r for r in _mini().resources if r.attr == "widgets")
    assert annotation("list[str] | None", resource) == "builtins.list[str] | None"
    assert annotation("Literal['list']", resource) == "Literal['list']"

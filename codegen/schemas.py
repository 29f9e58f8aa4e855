"""Schemas to Python types: models, enums and the annotation of any schema.

Rules (docs/architecture.md §7): an object schema with properties becomes an attrs model; a free-form
object stays `dict[str, Any]`; `oneOf`/`anyOf` become unions of their branches' types
(`dict[str, Any] | list[dict[str, Any]]`; the runtime converter picks the member by the
JSON value's kind), or `Any` when a branch admits anything; string enums become `(str, Enum)` classes in models and
`Literal[...]` in method signatures, where a `"true"`/`"false"` enum becomes `bool`;
`format: date-time` becomes `datetime.datetime`; nullable adds `| None`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, cast

import attrs

from .ir import EnumDef, Field, GeneratorIssue, Model, TypeExpr, ValueCheck
from .load import Node, Spec, schema_ref_name
from .naming import is_identifier, member_name, pascal_name, snake_name

__all__ = ["CHECKED_FORMATS", "SchemaTypes", "pyrepr_literal", "union_sites"]

# The string formats the runtime checks (`refold_async._arguments.CHECKED_FORMATS`; a
# test keeps the two equal: codegen imports no SDK module).
CHECKED_FORMATS = frozenset({"uri", "email", "uuid"})

ANY = TypeExpr("Any", typing=frozenset({"Any"}))
JSON_OBJECT = TypeExpr("dict[str, Any]", typing=frozenset({"Any"}))
_SCALARS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}
# Names a field may not take: they would shadow the types later annotations mention.
_SHADOWING = frozenset(
    {"str", "int", "float", "bool", "list", "dict", "datetime", "Any", "extra_fields"}
)


def pyrepr_literal(value: object) -> str:
    """The Python literal for a JSON scalar (shared with the `pyrepr` template filter)."""
    return repr(value)


def is_model_schema(schema: Node) -> bool:
    """An object schema with declared properties: it becomes an attrs class."""
    return bool(schema.get("properties")) and schema.get("type", "object") == "object"


def is_nullable(schema: Node) -> bool:
    kind = schema.get("type")
    return bool(schema.get("nullable")) or (isinstance(kind, list) and "null" in kind)


def _branches(schema: Node) -> list[Node]:
    found: object = schema.get("oneOf") or schema.get("anyOf") or []
    return [cast("Node", b) for b in cast("list[object]", found) if isinstance(b, Mapping)]


def union_sites(node: object, pointer: str = "#") -> Iterator[tuple[int, str]]:
    """(id of the node, JSON pointer) of every `oneOf`/`anyOf` schema in a document."""
    if isinstance(node, list):
        for index, item in enumerate(cast("list[object]", node)):
            yield from union_sites(item, f"{pointer}/{index}")
    elif isinstance(node, Mapping):
        mapping = cast("Node", node)
        if "oneOf" in mapping or "anyOf" in mapping:
            yield id(mapping), pointer
        for key, value in mapping.items():
            escaped = str(key).replace("~", "~0").replace("/", "~1")
            yield from union_sites(value, f"{pointer}/{escaped}")


def _kind(schema: Node) -> str | None:
    kind: object = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in cast("list[object]", kind) if k != "null"]
        return str(kinds[0]) if len(kinds) == 1 else None
    return str(kind) if kind else None


class SchemaTypes:
    """Names every model and enum of a spec, and maps schemas to annotations."""

    def __init__(
        self,
        spec: Spec,
        model_names: Mapping[str, str],
        enum_names: Mapping[str, str],
        *,
        secret_fields: frozenset[str] = frozenset(),
    ) -> None:
        self.spec = spec
        self.secret_fields = secret_fields
        self.issues: list[GeneratorIssue] = []
        self.inline: dict[str, Node] = {}  # model class name -> inline object schema
        self._inline_origin: dict[str, str] = {}
        self.classes: dict[str, str] = {}  # component schema name -> model class name
        for name, schema in spec.schemas().items():
            if is_model_schema(spec.merged(spec.deref(schema))):
                self.classes[name] = model_names.get(
                    name, name if is_identifier(name) else pascal_name(name)
                )
        self._enum_overrides = enum_names
        self._enum_of_site: dict[tuple[str, str], str] = {}
        self.enums: dict[str, EnumDef] = {}
        self._site_pointers = dict(union_sites(spec.data))
        # JSON pointer of each `oneOf`/`anyOf` met -> whether it became a typed union.
        self.unions: dict[str, bool] = {}

    # -- naming -------------------------------------------------------------------------

    def add_inline_model(self, name: str, schema: Node, origin: str) -> None:
        """Name an inline object schema (or the items of an inline array) as a model."""
        merged = self.spec.merged(schema)
        if merged.get("type") == "array" and isinstance(merged.get("items"), Mapping):
            merged = self.spec.merged(merged["items"])
        if not is_model_schema(merged):
            self.issues.append(
                GeneratorIssue("error", name, "response_model names no object schema")
            )
            return
        self.inline[name] = merged
        self._inline_origin[name] = origin

    def model_sources(self) -> Iterator[tuple[str, str, Node]]:
        """(class name, origin, merged schema) of every model, sorted by class name."""
        sources = [(cls, name, self._component(name)) for name, cls in self.classes.items()]
        sources += [(cls, self._inline_origin[cls], schema) for cls, schema in self.inline.items()]
        yield from sorted(sources, key=lambda s: s[0])

    def _component(self, name: str) -> Node:
        return self.spec.merged(self.spec.deref(self.spec.schemas()[name]))

    def name_enums(self) -> None:
        """Give every string enum of a model property a class name (see module docstring)."""
        sites = list(self._enum_sites())
        values_by_name: dict[str, set[tuple[str, ...]]] = {}
        for _, prop, values in sites:
            values_by_name.setdefault(pascal_name(prop), set()).add(values)
        for owner, prop, values in sites:
            default = pascal_name(prop)
            if len(values_by_name[default]) > 1:
                default = owner + default
            name = self._enum_overrides.get(default, default)
            self._enum_of_site[(owner, prop)] = name
            self._define_enum(name, f"{owner}.{prop}", values)

    def _enum_sites(self) -> Iterator[tuple[str, str, tuple[str, ...]]]:
        for cls, _, schema in self.model_sources():
            for prop, prop_schema in schema.get("properties", {}).items():
                values = self._string_enum(prop_schema)
                if values:
                    yield cls, prop, values

    def _string_enum(self, schema: Node) -> tuple[str, ...] | None:
        schema = self.spec.merged(self.spec.deref(schema))
        if _kind(schema) == "array" and isinstance(schema.get("items"), Mapping):
            schema = self.spec.deref(schema["items"])
        values = schema.get("enum")
        if _kind(schema) == "string" and values and all(isinstance(v, str) for v in values):
            return tuple(values)
        return None

    def _define_enum(self, name: str, origin: str, values: tuple[str, ...]) -> None:
        existing = self.enums.get(name)
        if existing is not None:
            if tuple(v for _, v in existing.members) != values:
                self.issues.append(GeneratorIssue("error", origin, f"enum name {name} clashes"))
            self.enums[name] = attrs.evolve(existing, shared=True)
            return
        if name in self.classes.values() or name in self.inline:
            self.issues.append(GeneratorIssue("error", origin, f"enum name {name} is a model's"))
        members: list[tuple[str, str]] = []
        for value in values:
            member = member_name(value)
            while member in {m for m, _ in members}:
                member += "_"
            members.append((member, value))
        self.enums[name] = EnumDef(name=name, origin=origin, members=tuple(members))

    # -- types --------------------------------------------------------------------------

    def model_type(self, schema: Node, owner: str = "", prop: str = "") -> TypeExpr:
        """The annotation of `schema` inside a model (enums as classes)."""
        return self._type(schema, owner, prop, literal_enums=False)

    def param_type(self, schema: Node) -> TypeExpr:
        """The annotation of `schema` as a method argument (enums as `Literal`)."""
        return self._type(schema, "", "", literal_enums=True)

    def _type(self, schema: Node, owner: str, prop: str, *, literal_enums: bool) -> TypeExpr:
        ref = schema_ref_name(schema)
        if ref is not None:
            return self._ref_type(ref, literal_enums=literal_enums)
        merged = self.spec.merged(schema)
        bare = self._bare_type(merged, owner, prop, literal_enums=literal_enums)
        return bare.optional() if is_nullable(merged) else bare

    def _ref_type(self, name: str, *, literal_enums: bool) -> TypeExpr:
        if name in self.classes:
            cls = self.classes[name]
            return TypeExpr(cls, models=frozenset({cls}))
        return self._type(self._component(name), name, "", literal_enums=literal_enums)

    def _bare_type(self, schema: Node, owner: str, prop: str, *, literal_enums: bool) -> TypeExpr:
        if "oneOf" in schema or "anyOf" in schema:
            return self._union_type(schema, owner, prop, literal_enums=literal_enums)
        kind = _kind(schema)
        if schema.get("enum") and kind == "string":
            return self._enum_type(schema, owner, prop, literal_enums=literal_enums)
        if kind == "string" and schema.get("format") == "date-time":
            return TypeExpr("datetime.datetime", uses_datetime=True)
        if kind in _SCALARS:
            return TypeExpr(_SCALARS[kind])
        if kind == "array":
            items = schema.get("items")
            item = self._type(items, owner, prop, literal_enums=literal_enums) if items else ANY
            return item.wrap("list[{}]")
        if kind == "object" or "properties" in schema or "additionalProperties" in schema:
            return self._object_type(schema, literal_enums=literal_enums)
        return ANY

    def _union_type(self, schema: Node, owner: str, prop: str, *, literal_enums: bool) -> TypeExpr:
        """`A | B` of the branches' types; `Any` if a branch admits anything."""
        members: list[TypeExpr] = []
        nullable = False
        for branch in _branches(schema):
            if branch.get("type") in ("null", ["null"]):
                nullable = True
                continue
            member = self._type(branch, owner, prop, literal_enums=literal_enums)
            if member.text not in {m.text for m in members}:
                members.append(member)
        typed = bool(members) and all(m.text != "Any" for m in members)
        where = self._site_pointers.get(id(schema), f"{owner or '?'}.{prop or '?'}")
        self.unions[where] = self.unions.get(where, True) and typed
        if not typed:
            return ANY
        union = TypeExpr(
            " | ".join(m.text for m in members),
            models=frozenset().union(*(m.models for m in members)),
            typing=frozenset().union(*(m.typing for m in members)),
            uses_datetime=any(m.uses_datetime for m in members),
        )
        return union.optional() if nullable else union

    def _object_type(self, schema: Node, *, literal_enums: bool) -> TypeExpr:
        extra: object = schema.get("additionalProperties")
        if not schema.get("properties") and isinstance(extra, Mapping) and extra:
            value = self._type(cast("Node", extra), "", "", literal_enums=literal_enums)
            return TypeExpr(
                f"dict[str, {value.text}]", value.models, value.typing, value.uses_datetime
            )
        return JSON_OBJECT

    def _enum_type(self, schema: Node, owner: str, prop: str, *, literal_enums: bool) -> TypeExpr:
        values = [str(v) for v in schema["enum"]]
        if literal_enums:
            if sorted(values) == ["false", "true"]:
                return TypeExpr("bool")
            inner = ", ".join(pyrepr_literal(v) for v in values)
            return TypeExpr(f"Literal[{inner}]", typing=frozenset({"Literal"}))
        name = self._enum_of_site.get((owner, prop))
        if name is None:
            return TypeExpr("str")
        return TypeExpr(name, models=frozenset({name}))

    # -- checks -------------------------------------------------------------------------

    def param_check(self, schema: Node) -> ValueCheck:
        """What a method argument of `schema` must be at run time; mirrors `param_type`."""
        ref = schema_ref_name(schema)
        if ref is not None:
            if ref in self.classes:
                return ValueCheck(kind="object")
            return self.param_check(self._component(ref))
        merged = self.spec.merged(schema)
        if "oneOf" in merged or "anyOf" in merged:
            return self._union_check(merged)
        kind = _kind(merged)
        if merged.get("enum") and kind == "string":
            values = tuple(str(v) for v in merged["enum"])
            if sorted(values) == ["false", "true"]:
                return ValueCheck(kind="bool")
            return ValueCheck(kind="enum", choices=values)
        if kind == "string" and merged.get("format") == "date-time":
            return ValueCheck(kind="datetime")
        if kind in _SCALARS:
            return self._scalar_check(merged, _SCALARS[kind])
        if kind == "array":
            items = merged.get("items")
            item = self.param_check(items) if items else ValueCheck()
            return ValueCheck(
                kind="list",
                items=item.kind if item.kind != "union" else "any",
                choices=item.choices,
                format=item.format if item.kind == "str" else None,
                min_items=_int_or_none(merged.get("minItems")),
                max_items=_int_or_none(merged.get("maxItems")),
            )
        if kind == "object" or "properties" in merged or "additionalProperties" in merged:
            extra: object = merged.get("additionalProperties")
            if not merged.get("properties") and isinstance(extra, Mapping) and extra:
                value = self.param_check(cast("Node", extra))
                return ValueCheck(kind="object", items=value.kind, choices=value.choices)
            return ValueCheck(kind="object")
        return ValueCheck()

    def _union_check(self, schema: Node) -> ValueCheck:
        """Any one of the branches' checks; nothing checked if a branch admits anything."""
        variants: list[ValueCheck] = []
        for branch in _branches(schema):
            if branch.get("type") in ("null", ["null"]):
                continue  # None is never checked (it is not sent)
            check = self.param_check(branch)
            flattened = check.variants if check.kind == "union" else (check,)
            variants.extend(v for v in flattened if v not in variants)
        if not variants or any(v.kind == "any" for v in variants):
            return ValueCheck()
        return (
            variants[0]
            if len(variants) == 1
            else ValueCheck(kind="union", variants=tuple(variants))
        )

    @staticmethod
    def _scalar_check(schema: Node, kind: str) -> ValueCheck:
        if kind != "str":
            return ValueCheck(
                kind=kind,
                minimum=_number_or_none(schema.get("minimum")),
                maximum=_number_or_none(schema.get("maximum")),
            )
        pattern = schema.get("pattern")
        fmt = schema.get("format")
        return ValueCheck(
            kind=kind,
            pattern=str(pattern) if pattern else None,
            format=str(fmt) if fmt in CHECKED_FORMATS else None,
            min_length=_int_or_none(schema.get("minLength")),
            max_length=_int_or_none(schema.get("maxLength")),
        )

    # -- models -------------------------------------------------------------------------

    def build_models(self) -> list[Model]:
        """Every model, sorted by class name."""
        return [self._model(cls, origin, schema) for cls, origin, schema in self.model_sources()]

    def _model(self, cls: str, origin: str, schema: Node) -> Model:
        properties: Mapping[str, Any] = schema.get("properties", {})
        required = list(schema.get("required", []))
        fields: list[Field] = []
        for wire in [*properties, *(r for r in required if r not in properties)]:
            if wire not in properties:
                self.issues.append(
                    GeneratorIssue("warning", cls, f"required {wire!r} is not declared")
                )
            field_type = self.model_type(properties.get(wire, {}), cls, wire)
            is_required = wire in required
            name = self._field_name(wire)
            fields.append(
                Field(
                    name,
                    wire,
                    field_type if is_required else field_type.optional(),
                    is_required,
                    secret=name in self.secret_fields,
                )
            )
        self._check_unique(cls, [f.name for f in fields])
        ordered = [f for f in fields if f.required] + [f for f in fields if not f.required]
        what = origin if origin.endswith("answer") else f"The API's `{origin}` object"
        doc = f"{what}; keys it does not declare land in `extra_fields`."
        return Model(name=cls, doc=doc, fields=tuple(ordered))

    @staticmethod
    def _field_name(wire: str) -> str:
        name = snake_name(wire)
        return name + "_" if name in _SHADOWING else name

    def _check_unique(self, where: str, names: list[str]) -> None:
        for name in sorted({n for n in names if names.count(n) > 1}):
            self.issues.append(
                GeneratorIssue("error", where, f"two fields are both named {name!r}")
            )

    def referenced(self, schema: Node) -> set[str]:
        """Component schema names `schema` mentions, transitively."""
        found: set[str] = set()
        self._collect(schema, found)
        return found

    def _collect(self, node: object, found: set[str]) -> None:
        if isinstance(node, list):
            for item in cast("list[object]", node):
                self._collect(item, found)
        if not isinstance(node, Mapping):
            return
        mapping = cast("Node", node)
        ref = schema_ref_name(mapping)
        if ref is None:
            for value in mapping.values():
                self._collect(value, found)
        elif ref not in found:
            found.add(ref)
            self._collect(self.spec.schemas()[ref], found)


def _number_or_none(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None

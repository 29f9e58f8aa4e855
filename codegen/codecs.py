"""The structure and unstructure functions of each model, as Python source.

For every model the generator writes, next to its class, `structure_<model>(data)` and
`unstructure_<model>(obj, wire)` (the runtime side is `refold_async._convert`):

- structure reads each wire key once and accepts its value with the cheapest test that
  settles it (`type(v) is str`, a value map for enums, one pass over a list, a nested
  model's own function); anything else raises, and the runtime hands the same input to
  cattrs, whose error explains. So the functions only ever produce what cattrs would.
- unstructure writes the set fields under their wire (or Python) names, values that are
  not plain scalars through `plain()`, then the unknown keys without replacing a declared
  one.

Field types are read back from the annotation text the schema mapping made (`TypeExpr`),
which uses a small closed vocabulary: `str`, `int`, `float`, `bool`, `Any`,
`datetime.datetime`, model and enum names, `list[...]`, `dict[str, ...]` and `A | B`.
"""

from __future__ import annotations

from collections.abc import Collection

import attrs

from .ir import Field, Model
from .naming import snake_name

__all__ = ["ModelCodecs", "Shape", "model_codecs", "parse_type", "structure_name"]


@attrs.frozen
class Shape:
    """A parsed annotation: `kind` is `scalar`, `any`, `datetime`, `model`, `enum`, `list`,
    `dict` or `union`; `name` the scalar/model/enum name; `args` the inner shapes."""

    kind: str
    name: str = ""
    args: tuple[Shape, ...] = ()
    optional: bool = False


_SCALARS = ("str", "int", "float", "bool")


def _split(text: str, sep: str) -> list[str]:
    """`text` split on `sep` outside brackets."""
    parts: list[str] = []
    depth = 0
    start = 0
    i = 0
    while i < len(text):
        char = text[i]
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            i += len(sep)
            start = i
            continue
        i += 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def parse_type(text: str, enums: Collection[str]) -> Shape:
    """The shape of a model field's annotation text."""
    members = _split(text, " | ")
    optional = "None" in members
    members = [m for m in members if m != "None"]
    if len(members) > 1:
        return Shape("union", args=tuple(parse_type(m, enums) for m in members), optional=optional)
    (only,) = members
    shape = _atom(only, enums)
    return attrs.evolve(shape, optional=optional) if optional else shape


def _atom(text: str, enums: Collection[str]) -> Shape:
    if text == "Any":
        return Shape("any", optional=True)  # `Any` admits `None` as it is
    if text in _SCALARS:
        return Shape("scalar", text)
    if text == "datetime.datetime":
        return Shape("datetime")
    if text.startswith("list[") and text.endswith("]"):
        return Shape("list", args=(parse_type(text[5:-1], enums),))
    if text.startswith("dict[") and text.endswith("]"):
        key, value = _split(text[5:-1], ",")
        if key != "str":
            raise ValueError(f"unsupported dict key type in {text!r}")
        return Shape("dict", args=(parse_type(value, enums),))
    if text.isidentifier():
        return Shape("enum" if text in enums else "model", text)
    raise ValueError(f"unsupported annotation {text!r}")


def structure_name(model: str) -> str:
    """The name of a model's generated structure function."""
    return f"structure_{snake_name(model)}"


def unstructure_name(model: str) -> str:
    """The name of a model's generated unstructure function."""
    return f"unstructure_{snake_name(model)}"


def enum_table(enum: str) -> str:
    """The module constant holding an enum's members by value."""
    return f"_{snake_name(enum).upper()}_VALUES"


_JSON_KIND = {  # what `type(value) is ...` test admits a member of each shape
    "str": "str",
    "int": "int",
    "float": "float",
    "bool": "bool",
    "datetime": "str",
    "enum": "str",
    "model": "dict",
    "dict": "dict",
    "list": "list",
}


def _kind_of(shape: Shape) -> str | None:
    if shape.kind == "scalar":
        return _JSON_KIND[shape.name]
    return _JSON_KIND.get(shape.kind)


class _Writer:
    """Builds the expression that converts a value, and notes the helpers it calls."""

    def __init__(self) -> None:
        self.enums: set[str] = set()
        self.helpers: set[str] = set()

    def expr(self, shape: Shape, var: str) -> str:
        bare = self._bare(shape, var)
        if not shape.optional or shape.kind == "any":
            return bare
        if shape.kind == "scalar" and shape.name != "float":
            return f"{var} if {var} is None or type({var}) is {shape.name} else misfit()"
        return f"None if {var} is None else {bare}"

    def _bare(self, shape: Shape, var: str) -> str:
        kind = shape.kind
        if kind == "any":
            return var
        if kind == "scalar":
            self.helpers.add("misfit")
            if shape.name == "float":  # as cattrs' float(): an integer reads as a float
                return f"float({var}) if type({var}) is float or type({var}) is int else misfit()"
            return f"{var} if type({var}) is {shape.name} else misfit()"
        if kind == "datetime":
            self.helpers.add("iso_datetime")
            return f"iso_datetime({var})"
        if kind == "enum":
            self.helpers.add("member")
            self.enums.add(shape.name)
            return f"member({enum_table(shape.name)}, {shape.name}, {var})"
        if kind == "model":
            return f"{structure_name(shape.name)}({var})"
        if kind == "list":
            return self._list(shape.args[0], var)
        if kind == "dict":
            return self._dict(shape.args[0], var)
        if kind == "union":
            return self._union(shape, var)
        raise ValueError(f"unsupported shape {shape}")

    def _list(self, item: Shape, var: str) -> str:
        if item.optional and item.kind != "any":
            return self._never()
        if item.kind == "any":
            self.helpers.add("json_array")
            return f"json_array({var})"
        if item.kind == "scalar" and item.name != "float":
            self.helpers.add("scalars")
            return f"scalars({item.name}, {var})"
        if item.kind == "model":
            self.helpers.add("misfit")
            function = structure_name(item.name)
            return f"[{function}(w) for w in {var}] if {var}.__class__ is list else misfit()"
        if item.kind == "dict" and item.args[0].kind == "any":
            self.helpers.update({"models", "json_object"})
            return f"models(json_object, {var})"
        return self._never()

    def _dict(self, value: Shape, var: str) -> str:
        if value.kind == "any":
            self.helpers.add("json_object")
            return f"json_object({var})"
        if value.kind == "scalar" and value.name != "float" and not value.optional:
            self.helpers.add("scalar_values")
            return f"scalar_values({value.name}, {var})"
        return self._never()

    def _never(self) -> str:
        """A shape without a fast reading: every object holding one goes through cattrs."""
        self.helpers.add("misfit")
        return "misfit()"

    def _union(self, shape: Shape, var: str) -> str:
        """By the JSON value's kind, as the runtime union hook picks; else always cattrs."""
        self.helpers.add("misfit")
        kinds = [_kind_of(member) for member in shape.args]
        if None in kinds or len(set(kinds)) != len(kinds):
            return "misfit()"
        text = "misfit()"
        for member, kind in reversed(list(zip(shape.args, kinds, strict=True))):
            test = f"type({var}) is {kind}"
            if kind == "int":  # a number member takes both JSON number kinds
                test = f"(type({var}) is int or type({var}) is float)"
            text = f"{self._bare(member, var)} if {test} else ({text})"
        return text


@attrs.frozen
class ModelCodecs:
    """The source of a module's codec functions, and what that source needs."""

    source: str
    helpers: tuple[str, ...]
    enums: tuple[str, ...]
    models: tuple[str, ...]


def model_codecs(models: Collection[Model], enums: Collection[str]) -> ModelCodecs:
    """The structure/unstructure functions (and enum tables) of the models of one module."""
    writer = _Writer()
    writer.helpers.update({"misfit", "plain"})
    blocks: list[str] = []
    referenced: set[str] = set()
    for model in models:
        shapes = [(f, parse_type(f.type.text, enums)) for f in model.fields]
        referenced.update(_models_in(shape) for _, shape in shapes)
        blocks.append(_structure(model, shapes, writer))
        blocks.append(_unstructure(model, shapes))
    tables = [f"{enum_table(e)} = enum_values({e})" for e in sorted(writer.enums)]
    if tables:
        writer.helpers.add("enum_values")
    source = "\n\n".join([*tables, *blocks])
    names = {n for group in referenced for n in group.split(",") if n}
    return ModelCodecs(
        source=source,
        helpers=tuple(sorted(writer.helpers)),
        enums=tuple(sorted(writer.enums)),
        models=tuple(sorted(names)),
    )


def _models_in(shape: Shape) -> str:
    found = [shape.name] if shape.kind == "model" else []
    found += [_models_in(arg) for arg in shape.args]
    return ",".join(n for n in found if n)


def _known_name(model: Model) -> str:
    return f"_{snake_name(model.name).upper()}_KEYS"


def _structure(model: Model, shapes: list[tuple[Field, Shape]], writer: _Writer) -> str:
    lines = [
        f"{_known_name(model)} = frozenset({{"
        + ", ".join(repr(f.wire_name) for f in model.fields)
        + ", 'extra_fields'})",
        "",
        "",
        f"def {structure_name(model.name)}(data: Any) -> {model.name}:",
        f'    """`{model.name}` from decoded JSON; raises on anything not plainly right."""',
        # `__class__`, not `type()`: the type checkers then keep `data` as `Any`.
        "    if data.__class__ is not dict:",
        "        misfit()",
    ]
    if any(not f.required for f in model.fields):
        lines.append("    get = data.get")
    arguments: list[str] = []
    for index, (field, shape) in enumerate(shapes):
        read = f"data[{field.wire_name!r}]" if field.required else f"get({field.wire_name!r})"
        lines += _field_lines(f"f{index}", field, shape, read, writer)
        arguments.append(f"{field.name}=f{index}")
    known = _known_name(model)
    lines += [
        "    extras: dict[str, Any] = (",
        f"        {{}} if {known}.issuperset(data) else {{k: w for k, w in data.items() if k not in {known}}}",
        "    )",
        f"    return {model.name}({', '.join([*arguments, 'extra_fields=extras'])})",
    ]
    return "\n".join(lines)


def _field_lines(target: str, field: Field, shape: Shape, read: str, writer: _Writer) -> list[str]:
    """Lines (at 4 spaces) setting `target` from the value `read` gives.

    Datetimes and enums are written out in place (they are in most models, and a call
    less each is a tenth of a model's cost); every other shape is one expression.
    """
    if shape.kind == "datetime":
        writer.helpers.update({"from_iso", "misfit", "UTC"})
        lines = [f"    v = {read}"]
        body = [
            f"{target} = from_iso(v) if type(v) is str else misfit()",
            f"if {target}.tzinfo is None:",
            f"    {target} = {target}.replace(tzinfo=UTC)",
        ]
        if not shape.optional:
            return lines + [f"    {line}" for line in body]
        return [
            *lines,
            f"    {target}: datetime.datetime | None",
            "    if v is None:",
            f"        {target} = None",
            "    else:",
            *(f"        {line}" for line in body),
        ]
    if shape.kind == "enum":
        writer.helpers.add("member")
        writer.enums.add(shape.name)
        table = enum_table(shape.name)
        missing = f"{target} is None and v is not None" if shape.optional else f"{target} is None"
        return [
            f"    v = {read}",
            f"    {target} = {table}.get(v) if type(v) is str else None",
            f"    if {missing}:",
            f"        {target} = member({table}, {shape.name}, v)",
        ]
    expr = writer.expr(shape, "v")
    if expr == "v":
        return [f"    {target} = {read}"]
    return [f"    v = {read}", f"    {target} = {expr}"]


def _unstructure(model: Model, shapes: list[tuple[Field, Shape]]) -> str:
    lines = [
        f"def {unstructure_name(model.name)}(obj: {model.name}, wire: bool) -> dict[str, Any]:",
        f'    """`{model.name}` as JSON-ready data, under wire names if `wire`."""',
        "    data: dict[str, Any] = {}",
        "    v: Any",
    ]
    for field, shape in shapes:
        key = (
            repr(field.name)
            if field.name == field.wire_name
            else f"{field.wire_name!r} if wire else {field.name!r}"
        )
        scalar = shape.kind == "scalar"
        value = "v" if scalar else "plain(v, wire)"
        lines += [
            f"    v = obj.{field.name}",
            "    if v is not None:",
            f"        data[{key}] = {value}",
        ]
    lines += [
        "    for k, v in obj.extra_fields.items():",
        "        if k not in data:",
        "            data[k] = plain(v, wire)",
        "    return data",
    ]
    return "\n".join(lines)

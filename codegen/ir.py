"""The generator's intermediate representation: what templates see, as frozen attrs data.

Templates never see raw spec dicts: `normalize.py` builds these from the spec
and `overrides.toml`, and every spec string reaching code is rendered through `pyrepr`.
"""

from __future__ import annotations

from typing import Literal

import attrs

__all__ = [
    "Api",
    "EnumDef",
    "Field",
    "GeneratorIssue",
    "Model",
    "ModelModule",
    "Operation",
    "Param",
    "Resource",
    "TypeExpr",
    "ValueCheck",
]


@attrs.frozen
class GeneratorIssue:
    """A problem found while generating; errors stop the run, warnings are reported."""

    level: Literal["error", "warning"]
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.where}: {self.message}"


@attrs.frozen
class TypeExpr:
    """A Python type annotation and what it needs imported.

    Attributes:
        text: The annotation, e.g. `list[Webhook] | None`.
        models: Model and enum class names it mentions.
        typing: Names it needs from `typing` (`Any`, `Literal`).
        uses_datetime: It mentions `datetime.datetime`.
    """

    text: str
    models: frozenset[str] = frozenset()
    typing: frozenset[str] = frozenset()
    uses_datetime: bool = False

    def wrap(self, template: str) -> TypeExpr:
        """This type inside `template` (`"list[{}]"`), keeping its imports."""
        return attrs.evolve(self, text=template.format(self.text))

    def optional(self) -> TypeExpr:
        """`X | None` (unchanged for `Any` and types that admit `None` already)."""
        if self.text == "Any" or self.text.endswith(" | None"):
            return self
        return self.wrap("{} | None")


@attrs.frozen
class Field:
    """One attribute of a model.

    Attributes:
        secret: It may carry a credential (`[secrets]` of overrides.toml), so the model's
            `repr()` leaves it out.
    """

    name: str
    wire_name: str
    type: TypeExpr
    required: bool
    secret: bool = False


@attrs.frozen
class Model:
    """An attrs class generated from an object schema."""

    name: str
    doc: str
    fields: tuple[Field, ...]

    @property
    def wire_names(self) -> dict[str, str]:
        """Python name -> wire name, for the names that differ."""
        return {f.name: f.wire_name for f in self.fields if f.name != f.wire_name}


@attrs.frozen
class EnumDef:
    """A `(str, Enum)` class generated from a string enum."""

    name: str
    origin: str
    members: tuple[tuple[str, str], ...]
    shared: bool = False


@attrs.frozen
class ModelModule:
    """One module of `models/`: the models of one resource, or those shared."""

    module: str
    title: str
    models: tuple[Model, ...]


@attrs.frozen
class ValueCheck:
    """What an argument's value must be, for the runtime `Param` (checked before sending).

    Attributes:
        kind: `any`, `str`, `int`, `float`, `bool`, `datetime`, `enum`, `object`, `list`
            or `union`.
        items: The kind of a list's items, or of an object's values.
        choices: An enum's allowed strings (of the value, or of each list item).
        minimum: The smallest number allowed (inclusive), from the spec or the overrides.
        maximum: The largest number allowed (inclusive).
        min_items: The fewest items of a list.
        max_items: The most items of a list.
        pattern: A regular expression a string must match.
        format: A string format the runtime checks (`CHECKED_FORMATS`), of the value or
            of a list's string items.
        min_length: The fewest characters of a string.
        max_length: The most characters of a string.
        variants: For `kind="union"` (a `oneOf`/`anyOf`), the checks of its branches.
    """

    kind: str = "any"
    items: str = "any"
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    min_items: int | None = None
    max_items: int | None = None
    pattern: str | None = None
    format: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    variants: tuple[ValueCheck, ...] = ()

    def fields(self) -> list[tuple[str, object]]:  # variants included: render them apart
        """The attributes that differ from their defaults, in declaration order."""
        default = ValueCheck()
        return [
            (a.name, getattr(self, a.name))
            for a in attrs.fields(ValueCheck)
            if getattr(self, a.name) != getattr(default, a.name)
        ]


@attrs.frozen
class Param:
    """One argument of a generated method.

    Attributes:
        name: The Python argument name.
        wire_name: The name on the wire; `""` for an argument that is the whole body.
        location: `path`, `query`, `header` or `body`.
        required: The spec requires it.
        type: The argument's annotation, without `| NotGiven`.
        has_default: The method argument defaults to `NOT_GIVEN`. True for optional
            arguments, and for the `linked_account_id` header, which the client fills in.
        check: What its value must be, checked at each call before sending.
        default: The value the server uses when the argument is left out (the spec's
            `default`), for the docstring.
    """

    name: str
    wire_name: str
    location: Literal["path", "query", "header", "body"]
    required: bool
    type: TypeExpr
    has_default: bool
    check: ValueCheck = ValueCheck()
    default: str | int | float | bool | None = None

    @property
    def is_whole_body(self) -> bool:
        """The argument is the request body itself (an array or free-form object)."""
        return self.location == "body" and not self.wire_name


@attrs.frozen
class Operation:
    """One API operation, as a generated method."""

    id: str
    constant: str
    method: str
    path: str
    auth: str
    linked_account: bool
    org_level: bool
    resource: str
    name: str
    doc: str
    paginated: bool
    returns: TypeExpr
    item: TypeExpr | None
    params: tuple[Param, ...]
    has_body: bool
    body_required: bool
    multipart: bool = False
    """The body may also go as `multipart/form-data`: the method takes `files=`."""

    def located(self, location: str) -> tuple[Param, ...]:
        """The parameters sent in `location`."""
        return tuple(p for p in self.params if p.location == location)

    @property
    def whole_body(self) -> Param | None:
        """The argument that is the whole body, if the body is not split into fields."""
        return next((p for p in self.params if p.is_whole_body), None)

    @property
    def signature_params(self) -> tuple[Param, ...]:
        """Path parameters in template order, then required, then optional keywords."""
        path = self.located("path")
        rest = [p for p in self.params if p.location != "path"]
        return (
            path
            + tuple(p for p in rest if not p.has_default)
            + tuple(p for p in rest if p.has_default)
        )

    @property
    def declared_params(self) -> tuple[Param, ...]:
        """The parameters recorded on the runtime `Operation` (the whole body is not one)."""
        return tuple(p for p in self.params if not p.is_whole_body)


@attrs.frozen
class Resource:
    """One API tag: an `Async<Stem>` class and its `<Stem>` sync twin."""

    tag: str
    attr: str
    stem: str
    module: str
    operations: tuple[Operation, ...]


@attrs.frozen
class Api:
    """Everything the templates render."""

    sha256: str
    resources: tuple[Resource, ...]
    model_modules: tuple[ModelModule, ...]
    enums: tuple[EnumDef, ...]
    issues: tuple[GeneratorIssue, ...] = ()
    unions: tuple[tuple[str, bool], ...] = ()
    """Every `oneOf`/`anyOf` of the spec (its JSON pointer) and whether it became a typed union."""

    @property
    def operations(self) -> tuple[Operation, ...]:
        """Every operation, sorted by id."""
        return tuple(
            sorted((op for r in self.resources for op in r.operations), key=lambda o: o.id)
        )

    @property
    def models(self) -> tuple[Model, ...]:
        """Every model, sorted by name."""
        return tuple(
            sorted((m for mm in self.model_modules for m in mm.models), key=lambda m: m.name)
        )

"""The cattrs converter that turns JSON into models and back (docs/architecture.md §7).

Models know nothing of the wire. Generated code registers, once per model class, the
table mapping Python attribute names to wire names (`id` -> `_id`,
`created_at` -> `createdAt`); this module applies it through cattrs hook factories.

Rules applied to every attrs class:
- wire names come from the registered table (attributes not listed keep their name);
- a field named `extra_fields` (a `dict[str, Any]`) collects keys the model does not
  declare, and they are written back unchanged on unstructuring;
- `None` attributes are left out when unstructuring (the API treats absent and null alike
  for optional fields, and a round-trip then sends back only what it received);
- `(str, Enum)` members stay themselves when unstructured: they are `str`, so they
  compare equal to and serialize as their wire value;
- `datetime` values parse from ISO 8601 and are always timezone-aware (UTC if unmarked);
- unions (`oneOf`/`anyOf`) pick their member by the JSON value's kind (`_unions`).
"""

from __future__ import annotations

import datetime as dt
import typing
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._errors import InvalidArgumentError
from ._pagination import LOCAL_FIELD, PAGE_WIRE_NAMES, Page
from ._unions import register_union_hook

if TYPE_CHECKING:
    from ._structure import StructureFn

__all__ = [
    "converter",
    "format_datetime",
    "register_wire_names",
    "structure",
    "unstructure",
    "wire_names_of",
]

T = TypeVar("T")

EXTRA_FIELD = "extra_fields"

_WIRE_NAMES: dict[type, Mapping[str, str]] = {Page: PAGE_WIRE_NAMES}


def register_wire_names(tables: Mapping[type, Mapping[str, str]]) -> None:
    """Record, for each model class, its Python-to-wire attribute names.

    Call before the first (un)structuring of those classes; generated `models/` do it at
    import time.
    """
    _WIRE_NAMES.update(tables)


def wire_names_of(cls: type) -> Mapping[str, str]:
    """The registered Python-to-wire names of a model class (empty if none differ)."""
    return _WIRE_NAMES.get(cls, {})


def _parse_datetime(value: object, _: type) -> dt.datetime:
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        # Epoch milliseconds when implausibly large for seconds.
        seconds = value / 1000 if abs(value) > 10**11 else value
        return dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        parsed = dt.datetime.fromisoformat(text)
    else:
        raise TypeError(f"expected an ISO 8601 date-time, got {type(value).__name__}")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.timezone.utc)


def format_datetime(value: dt.datetime) -> str:
    """ISO 8601 text for an aware datetime, UTC written as `Z`; naive ones are refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        # A naive datetime means a different instant on every machine: say which one.
        raise InvalidArgumentError(
            "a naive datetime has no timezone; pass an aware one (e.g. tzinfo=datetime.timezone.utc)"
        )
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _strict_bool(value: object, _: type) -> bool:
    # cattrs' default is bool(value), which reads the string "false" as True.
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    if value in (0, 1):
        return bool(value)
    raise TypeError(f"expected a boolean, got {value!r}")


def _strict_str(value: object, tp: type) -> str:
    # cattrs' default is str(value), which turns an object into its repr.
    if tp is not str:  # a `(str, Enum)` model: its own constructor admits unknown values
        return cast("str", tp(value))
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # numeric ids
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _base_class(cls: type) -> type:
    return getattr(cls, "__origin__", None) or cls


def _overrides(base: type, wire: Mapping[str, str]) -> dict[str, Any]:
    """cattrs overrides: each attribute under its wire name; `extra_fields` left to us.

    Fields marked `LOCAL_FIELD` (`Page.response`) never travel: they are omitted.
    """
    overrides: dict[str, Any] = {}
    for field in attrs.fields(base):
        local = field.name == EXTRA_FIELD or field.metadata.get(LOCAL_FIELD, False)
        overrides[field.name] = (
            override(omit=True) if local else override(rename=wire.get(field.name, field.name))
        )
    return overrides


def _slow_structure(conv: cattrs.Converter, cls: Any) -> StructureFn:
    """cattrs' generated function for `cls`: wire names, extras kept; detailed errors."""
    base = _base_class(cls)
    wire = _WIRE_NAMES.get(base, {})
    names = [f.name for f in attrs.fields(base)]
    inner = cast(
        "Callable[[Any, Any], Any]",
        make_dict_structure_fn(cls, conv, **_overrides(base, wire)),
    )
    if EXTRA_FIELD not in names:
        return inner
    known = {wire.get(name, name) for name in names}

    def structure_keeping_extras(data: Any, tp: type) -> Any:
        if not isinstance(data, Mapping):
            raise TypeError(f"expected a JSON object, got {type(data).__name__}")
        mapping = cast("Mapping[str, Any]", data)
        obj: Any = inner(mapping, tp)
        extras = {k: v for k, v in mapping.items() if k not in known}
        if extras:
            obj = attrs.evolve(obj, **{EXTRA_FIELD: extras})
        return obj

    return structure_keeping_extras


def _is_local(field: Any) -> bool:
    """A field that never travels (`Page.response`): the converter omits it."""
    return bool(field.metadata.get(LOCAL_FIELD, False))


def _structure_factory(conv: cattrs.Converter) -> Callable[[type], StructureFn]:
    # The compiled function, which falls back to cattrs' own on anything unusual.
    def factory(cls: type) -> StructureFn:
        from ._structure import fast_structure  # on first use: it costs an import

        wire = _WIRE_NAMES.get(_base_class(cls), {})
        return fast_structure(
            cls,
            conv,
            lambda c: _slow_structure(conv, c),
            wire,
            EXTRA_FIELD,
            datetime_hook=_parse_datetime,
            local=_is_local,
        )

    return factory


def _unstructure_factory(conv: cattrs.Converter) -> Callable[[type], Callable[[Any], Any]]:
    def factory(cls: type) -> Callable[[Any], Any]:
        base = _base_class(cls)
        wire = _WIRE_NAMES.get(base, {})
        inner: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(
            cls, conv, **_overrides(base, wire)
        )

        def unstructure(obj: Any) -> dict[str, Any]:
            data: dict[str, Any] = {k: v for k, v in inner(obj).items() if v is not None}
            extras = getattr(obj, EXTRA_FIELD, None)
            if extras:
                for key, value in extras.items():
                    data.setdefault(key, value)
            return data

        return unstructure

    return factory


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=False)
    conv.register_structure_hook(dt.datetime, _parse_datetime)
    conv.register_structure_hook(bool, _strict_bool)
    conv.register_structure_hook(str, _strict_str)  # also reached by `(str, Enum)` models
    conv.register_unstructure_hook(dt.datetime, format_datetime)
    # A function hook: on 3.10, singledispatch refuses `typing.Any` as a class.
    conv.register_structure_hook_func(lambda tp: tp is Any, lambda value, _: value)
    conv.register_structure_hook_factory(attrs.has, _structure_factory(conv))
    conv.register_unstructure_hook_factory(attrs.has, _unstructure_factory(conv))
    register_union_hook(conv, lambda cls: _WIRE_NAMES.get(cls, {}))
    return conv


converter: cattrs.Converter = _make_converter()
"""The process-wide converter; prefer `structure()` and `unstructure()`."""


_TOP_LEVEL: dict[Any, StructureFn] = {}


def _top_level(tp: Any) -> StructureFn:
    """The function `structure()` uses for `tp`; a list of models loops over its items."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is list and len(args) == 1 and attrs.has(typing.get_origin(args[0]) or args[0]):
        item_type = args[0]
        item = converter.get_structure_hook(item_type)

        def structure_list(data: Any, tp: Any) -> Any:
            if type(data) is list:
                values = cast("list[Any]", cast("object", data))
                try:
                    return [item(value, item_type) for value in values]
                except Exception:  # noqa: S110 - cattrs says what is wrong, below
                    pass
            return converter.structure(data, tp)

        return structure_list
    return converter.get_structure_hook(tp)


def structure(data: object, tp: type[T]) -> T:
    """Build a value of type `tp` from decoded JSON, or raise a cattrs error."""
    fn = _TOP_LEVEL.get(tp)
    if fn is None:
        fn = _TOP_LEVEL[tp] = _top_level(tp)
    result: T = fn(data, tp)
    return result


_PLAIN = frozenset({str, int, float, bool, type(None)})


def unstructure(value: object) -> Any:
    """Turn a model (or a container of models) into JSON-ready data with wire names."""
    kind = type(value)
    if kind in _PLAIN:
        return value  # what the converter would answer, without its dispatch
    if kind is list and all(type(item) in _PLAIN for item in cast("list[object]", value)):
        return list(cast("list[object]", value))
    return converter.unstructure(value)

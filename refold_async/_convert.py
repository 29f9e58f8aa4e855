"""JSON to models and back: the generated codecs first, cattrs for everything else.

Every generated model module defines, next to its classes, two plain functions per model
(written by `codegen/`, not built at run time) and registers them here with its wire
names (`id` -> `_id`, `created_at` -> `createdAt`):

- `structure_<model>(data)` reads the wire keys of a decoded JSON object and accepts each
  value with the cheapest test that settles it; on anything not plainly right it raises,
  and the same input then goes through cattrs, whose error names the model, the field path
  and the value's type. So only the good path is fast, and a decoding error reads as
  cattrs has it.
- `unstructure_<model>(obj, wire)` writes the set fields (wire names, or the Python
  names with `wire=False`), leaves `None` fields out and merges `extra_fields` back
  without replacing a declared key. Responses, request bodies, `to_dict()` and
  `from_dict()` all go through these two functions.

Rules cattrs applies where no codec is registered (and on a codec's misfit):
- wire names come from the registered table (attributes not listed keep their name);
- a field named `extra_fields` (a `dict[str, Any]`) collects keys the model does not
  declare, and they are written back unchanged on unstructuring;
- `None` attributes are left out when unstructuring;
- `datetime` values parse from ISO 8601 and are always timezone-aware (UTC if unmarked);
- unions (`oneOf`/`anyOf`) pick their member by the JSON value's kind (`_unions`).
"""

from __future__ import annotations

import datetime as dt
import enum
import sys
import typing
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, NoReturn, TypeVar, cast

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._errors import InvalidArgumentError
from ._unions import register_union_hook

__all__ = [
    "EXTRA_FIELD",
    "LOCAL_FIELD",
    "UTC",
    "Codec",
    "Misfit",
    "codec_of",
    "converter",
    "enum_values",
    "format_datetime",
    "from_iso",
    "iso_datetime",
    "item_structure",
    "json_array",
    "json_object",
    "member",
    "misfit",
    "models",
    "object_fields",
    "plain",
    "register_codec",
    "register_models",
    "scalar_values",
    "scalars",
    "structure",
    "unstructure",
    "wire_names_of",
]

T = TypeVar("T")

EXTRA_FIELD = "extra_fields"
LOCAL_FIELD = "refold_local"
"""Field metadata key: the field is set by the SDK, never read from or written to JSON."""

StructureFn = Callable[[Any, Any], Any]
FastStructure = Callable[[Any], Any]
Unstructure = Callable[[Any, bool], dict[str, Any]]


@attrs.frozen
class Codec:
    """How one model class travels.

    Attributes:
        structure_for: For a type (the class, or `Page[Webhook]` for a generic one), the
            fast structure function: it takes a decoded JSON value and raises on anything
            it does not accept. `None` when there is none for that type (cattrs only).
        unstructure: `(obj, wire)` to JSON-ready data, wire names if `wire`.
        wire_names: Python attribute name -> wire name, where they differ.
    """

    structure_for: Callable[[Any], FastStructure | None]
    unstructure: Unstructure
    wire_names: Mapping[str, str]


_CODECS: dict[type, Codec] = {}


def register_codec(cls: type, codec: Codec) -> None:
    """Make `codec` the way `cls` (a model class, generic or not) is (un)structured."""
    _CODECS[cls] = codec


def register_models(
    table: Mapping[type, tuple[FastStructure, Unstructure, Mapping[str, str]]],
) -> None:
    """Register generated models: `{cls: (structure_fn, unstructure_fn, wire_names)}`.

    Generated `models/` modules call this once, when they load.
    """
    for cls, (fast, dump, wire) in table.items():
        _CODECS[cls] = Codec(_always(fast), dump, wire)


def _always(fast: FastStructure) -> Callable[[Any], FastStructure | None]:
    return lambda _: fast


def _base_class(tp: Any) -> Any:
    return typing.get_origin(tp) or tp


def codec_of(tp: Any) -> Codec | None:
    """The registered codec of a model type (`Page[X]` gives `Page`'s), or `None`."""
    return _CODECS.get(_base_class(tp))


def wire_names_of(cls: type) -> Mapping[str, str]:
    """The registered Python-to-wire names of a model class (empty if none differ)."""
    codec = _CODECS.get(cls)
    return codec.wire_names if codec is not None else {}


# -- helpers of the generated structure functions ------------------------------------


class Misfit(Exception):
    """A value the fast path does not accept: the slow path decides (and explains)."""


def misfit() -> NoReturn:
    """Give up the fast path for this object."""
    raise Misfit


UTC = dt.timezone.utc

if sys.version_info >= (3, 11):
    from_iso = dt.datetime.fromisoformat  # reads the "Z" of UTC itself
else:

    def from_iso(text: str) -> dt.datetime:
        """`datetime.fromisoformat`, reading a final "Z" as UTC (3.11 does it itself)."""
        return dt.datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] == "Z" else text)


def iso_datetime(value: Any) -> dt.datetime:
    """An aware datetime from ISO 8601 text (`Z` for UTC; unmarked is UTC)."""
    if type(value) is not str:
        misfit()
    parsed = from_iso(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


E = TypeVar("E", bound=enum.Enum)


def enum_values(cls: type[E]) -> dict[object, E]:
    """The listed members of an enum by value (for `member()`)."""
    return {item.value: item for item in cls}


def member(values: Mapping[object, E], cls: type[E], value: Any) -> E:
    """The member for a string `value`: a listed one, or one the open enum makes for it."""
    if type(value) is not str:
        misfit()
    found = values.get(value)
    return found if found is not None else cls(value)


def object_fields(value: Any) -> dict[str, Any]:
    """A decoded JSON object, as it is (a model's structure function reads its keys)."""
    if value.__class__ is not dict:
        misfit()
    fields: dict[str, Any] = value
    return fields


# (`value.__class__ is list`, not `type(value) is list`: the type checkers then leave
# `value` as `Any` instead of narrowing it to a list of unknown items.)


def models(structure: Callable[[Any], T], value: Any) -> list[T]:
    """A JSON array, each item through `structure` (a model's function, or `json_object`)."""
    if value.__class__ is not list:
        misfit()
    return [structure(item) for item in value]


def scalars(kind: type[T], value: Any) -> list[T]:
    """A JSON array of `kind` (str, int, bool) items, copied."""
    if value.__class__ is not list:
        misfit()
    for item in value:
        if type(item) is not kind:
            misfit()
    return list(value)


def scalar_values(kind: type[T], value: Any) -> dict[str, T]:
    """A JSON object whose values are all `kind` (str, int, bool), copied."""
    if value.__class__ is not dict:
        misfit()
    for key, item in value.items():
        if type(key) is not str or type(item) is not kind:
            misfit()
    return dict(value)


def json_array(value: Any) -> list[Any]:
    """A JSON array of anything, copied."""
    if value.__class__ is not list:
        misfit()
    return list(value)


def json_object(value: Any) -> dict[str, Any]:
    """A free-form JSON object (`dict[str, Any]`), copied."""
    if value.__class__ is not dict:
        misfit()
    for key in value:
        if type(key) is not str:
            misfit()
    return dict(value)


def item_structure(tp: Any) -> FastStructure | None:
    """The fast structure function of a list item type (for generic containers), if any."""
    if tp == dict[str, Any]:
        return json_object
    codec = _CODECS.get(tp) if isinstance(tp, type) else None
    return codec.structure_for(tp) if codec is not None else None


# -- helpers of the generated unstructure functions ----------------------------------


_SCALARS = frozenset({str, int, float, bool, type(None)})


def plain(value: object, wire: bool) -> Any:
    """`value` as JSON-ready data: models (wire names if `wire`) and containers all the way."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        items = cast("dict[Any, Any]", value).items()
        return {key: plain(item, wire) for key, item in items}
    if kind is list:
        return [plain(item, wire) for item in cast("list[Any]", value)]
    codec = _CODECS.get(kind)
    if codec is not None:
        return codec.unstructure(value, wire)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, Mapping):
        mapping = cast("Mapping[str, Any]", value)
        return {key: plain(item, wire) for key, item in mapping.items()}
    if isinstance(value, list | tuple):
        return [plain(item, wire) for item in cast("list[Any]", value)]
    return converter.unstructure(value)  # dates, sets, user classes: as cattrs has them


def format_datetime(value: dt.datetime) -> str:
    """ISO 8601 text for an aware datetime, UTC written as `Z`; naive ones are refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        # A naive datetime means a different instant on every machine: say which one.
        raise InvalidArgumentError(
            "a naive datetime has no timezone; pass an aware one (e.g. tzinfo=datetime.timezone.utc)"
        )
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


# -- the cattrs converter: the slow path, and every type without a codec -------------


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
    wire = wire_names_of(base)
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


def _lazy_slow(conv: cattrs.Converter, cls: Any) -> StructureFn:
    """cattrs' function for `cls`, generated on the first misfit: most never see one."""
    built: list[StructureFn] = []

    def slow(data: Any, tp: Any) -> Any:
        if not built:
            built.append(_slow_structure(conv, cls))
        return built[0](data, tp)

    return slow


def _has_codec(tp: Any) -> bool:
    return _base_class(tp) in _CODECS


def _codec_structure_factory(conv: cattrs.Converter) -> Callable[[Any], StructureFn]:
    def factory(tp: Any) -> StructureFn:
        codec = _CODECS[_base_class(tp)]
        slow = _lazy_slow(conv, tp)
        fast = codec.structure_for(tp)
        if fast is None:
            return slow

        def structure_model(data: Any, tp: Any) -> Any:
            try:
                return fast(data)
            except Exception:  # not plainly right: cattrs decides, and explains
                return slow(data, tp)

        return structure_model

    return factory


def _codec_unstructure_factory(tp: Any) -> Callable[[Any], Any]:
    dump = _CODECS[_base_class(tp)].unstructure
    return lambda obj: dump(obj, True)


def _unstructure_factory(conv: cattrs.Converter) -> Callable[[type], Callable[[Any], Any]]:
    # Attrs classes without a codec (a caller's own): wire names, no `None`, extras merged.
    def factory(cls: type) -> Callable[[Any], Any]:
        base = _base_class(cls)
        inner: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(
            cls, conv, **_overrides(base, wire_names_of(base))
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
    conv.register_structure_hook_factory(attrs.has, partial(_slow_structure, conv))
    conv.register_unstructure_hook_factory(attrs.has, _unstructure_factory(conv))
    # Registered later, so consulted first: models with a generated codec.
    conv.register_structure_hook_factory(_has_codec, _codec_structure_factory(conv))
    conv.register_unstructure_hook_factory(_has_codec, _codec_unstructure_factory)
    register_union_hook(conv, wire_names_of)
    return conv


converter: cattrs.Converter = _make_converter()
"""The process-wide converter; prefer `structure()` and `unstructure()`."""


_TOP_LEVEL: dict[Any, StructureFn] = {}


def _top_level(tp: Any) -> StructureFn:
    """The function `structure()` uses for `tp`; a list of models loops over its items."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is list and len(args) == 1:
        item_type = args[0]
        fast = item_structure(item_type)
        if fast is not None:

            def structure_list(data: Any, tp: Any) -> Any:
                if type(data) is list:
                    values = cast("list[Any]", cast("object", data))
                    try:
                        return [fast(value) for value in values]
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


def unstructure(value: object) -> Any:
    """Turn a model (or a container of models) into JSON-ready data with wire names."""
    kind = type(value)
    if kind in _SCALARS:
        return value  # what the converter would answer, without its dispatch
    codec = _CODECS.get(kind)
    if codec is not None:
        return codec.unstructure(value, True)
    if kind is list and all(type(item) in _SCALARS for item in cast("list[object]", value)):
        return list(cast("list[object]", value))
    return converter.unstructure(value)

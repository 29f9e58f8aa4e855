"""`RefoldModel`, the base of every model and of `Page`: models as JSON-ready data.

This module owns what a model does beyond holding its fields: `to_dict()` (Python
attribute names, or the API's wire names), `to_json()`, `from_dict()` (the decoding
responses go through), the refusal to hash, and the hooks web frameworks look for:
`dict(model)` (which FastAPI's `jsonable_encoder` falls back to) and pydantic's
`__get_pydantic_core_schema__`. Pydantic is never imported unless pydantic itself asks
for the schema, so it stays an optional companion, not a dependency.

The conversion itself is the model's generated codec (`_convert`): `to_dict()` and
`from_dict()` run the very functions a response and a request body run.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import types
import typing
from collections.abc import KeysView, Mapping
from typing import Any, NoReturn, TypeVar, cast

import attrs
import cattrs
from typing_extensions import Self, override

from ._convert import EXTRA_FIELD, LOCAL_FIELD, codec_of, converter, plain, structure, wire_names_of
from ._errors import InvalidArgumentError

__all__ = ["LOCAL_FIELD", "RefoldModel", "model_from_dict", "refuse_hash", "to_plain"]

T = TypeVar("T")

_SOURCE_KEY = "refold_source_type"


class RefoldModel:
    """The base class of the SDK's models: frozen attrs classes with JSON helpers.

    - `to_dict()` gives plain JSON-ready data: datetimes as ISO 8601 text (`Z` for UTC),
      enums as their values, nested models, lists and dicts converted too, `None` fields
      left out (the API treats absent and null alike), and unknown fields
      (`extra_fields`) merged back at the top level, as the API sent them.
    - `from_dict()` decodes what the API sends (or `to_dict()` wrote, with either names)
      exactly as a response is decoded, so `Model.from_dict(m.to_dict(wire=True)) == m`
      and `Model.from_dict(m.to_dict()) == m`.
    - Models are not hashable: they hold lists and dicts (`extra_fields` at least), so
      their value can change under a hash. Key sets and dicts by `.id` instead.
    - `dict(model)` equals `model.to_dict()`, and with pydantic installed a model is a
      valid pydantic field type: FastAPI endpoints may return models, lists of models
      and pages as they are.

    Example:
        ```python
        webhook = await client.webhooks.retrieve("wh_1")
        webhook.to_dict()  # {"id": "wh_1", "created_at": "2024-05-06T07:08:09Z", ...}
        webhook.to_dict(wire=True)  # {"_id": "wh_1", "createdAt": "2024-05-06T07:08:09Z", ...}
        same = Webhook.from_dict(webhook.to_dict(wire=True))
        assert same == webhook
        ```
    """

    __slots__ = ()

    @override
    def __hash__(self, /) -> int:
        """Refuse: a model's lists and dicts can change, so it has no stable hash."""
        refuse_hash(self)

    def to_dict(self, *, wire: bool = False) -> dict[str, Any]:
        """This model as plain, JSON-ready data.

        Args:
            wire: Use the API's names (`_id`, `createdAt`) instead of the Python
                attribute names (`id`, `created_at`).

        Returns:
            A new dict of str, int, float, bool, lists and dicts: `json.dumps` takes it
            as it is. Secret fields are included (you asked for the data); only reprs
            hide them.
        """
        return _model_dict(self, wire)

    def to_json(self, *, wire: bool = False, **json_kwargs: Any) -> str:
        """This model as JSON text: `json.dumps(self.to_dict(wire=wire), **json_kwargs)`.

        Example:
            ```python
            text = execution.to_json(indent=2, sort_keys=True)
            ```
        """
        return json.dumps(self.to_dict(wire=wire), **json_kwargs)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Decode API data (or what `to_dict()` wrote) into this model.

        The same decoding as a response's: datetimes parsed (always aware), unknown
        enum values admitted, unknown keys kept in `extra_fields`. Keys may be the wire
        names (`_id`, `createdAt`) or the Python names (`id`, `created_at`); where both
        are present the wire name wins and the other is kept as an unknown field.

        Raises:
            TypeError: `data` is not a mapping.
            InvalidArgumentError: The data does not fit the model; the message lists
                where and why.
        """
        return model_from_dict(cls, data)

    # `dict(model)`, and so FastAPI's `jsonable_encoder`, read a model through these.
    def keys(self) -> KeysView[str]:
        """The keys of `to_dict()`, so that `dict(model) == model.to_dict()`."""
        return self.to_dict().keys()

    def __getitem__(self, key: str) -> Any:
        """One entry of `to_dict()`; `KeyError` if it has no such key."""
        return self.to_dict()[key]

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        """A pydantic schema: instances (or API dicts) in, `to_dict()` out."""
        from pydantic_core import core_schema  # only pydantic calls this

        target: Any = source if source is not None else cls

        def validate(value: Any) -> Any:
            if isinstance(value, cls):
                return value
            return model_from_dict(target, value)

        return core_schema.no_info_plain_validator_function(
            validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                _serialize, when_used="always"
            ),
            metadata={_SOURCE_KEY: target},  # `Page[Webhook]`, for the JSON schema below
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: Any) -> dict[str, Any]:
        """The JSON schema of `to_dict()`'s output, for pydantic and FastAPI's OpenAPI page."""
        source: object = cls
        if isinstance(schema, Mapping):
            metadata = cast("Mapping[str, object]", schema).get("metadata")
            if isinstance(metadata, Mapping):
                source = cast("Mapping[str, object]", metadata).get(_SOURCE_KEY, cls)
        return json_schema_of(source, depth=0)


def refuse_hash(obj: object) -> NoReturn:
    """Raise the `TypeError` a model gives for `hash()`; each model class's own `__hash__`
    calls it (attrs keeps a `__hash__` a class defines, instead of writing a field hash)."""
    name = type(obj).__name__
    raise TypeError(
        f"{name} objects are not hashable: a model holds lists and dicts (extra_fields "
        f"at least) whose contents can change, so it has no stable hash. Key sets and "
        f"dicts by a field, such as `{name.lower()}.id`, or by "
        "`model.to_json(sort_keys=True)`"
    )


def _serialize(value: Any) -> Any:
    return to_plain(value, wire=False)


def model_from_dict(tp: type[T], data: object) -> T:
    """Decode `data` into `tp` as a response is decoded; typed errors only."""
    if not isinstance(data, Mapping):
        raise TypeError(f"{_name(tp)}.from_dict() needs a mapping, got {type(data).__name__}")
    mapping = _wire_keys(tp, cast("Mapping[str, Any]", data))
    try:
        return structure(mapping, tp)
    except cattrs.BaseValidationError as exc:
        problems = cattrs.transform_error(exc)
    except (ValueError, TypeError, KeyError) as exc:
        problems = [str(exc)]
    summary = "; ".join(problems[:3])
    raise InvalidArgumentError(f"the data does not fit {_name(tp)}: {summary}") from None


def _wire_keys(tp: object, data: object) -> Any:
    """`data` with Python attribute names (as `to_dict()` writes) turned into wire names.

    A key is renamed only when the wire name is absent, so API data passes unchanged;
    nested models, lists and dicts of them are renamed too.
    """
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            converted = _wire_keys(arg, data)
            if converted is not data:  # the member that fits the data's shape
                return converted
        return data
    if origin is list and isinstance(data, list):
        (item_type,) = typing.get_args(tp) or (Any,)
        return [_wire_keys(item_type, item) for item in cast("list[object]", data)]
    if origin is dict and isinstance(data, dict):
        item_type = typing.get_args(tp)[-1] if typing.get_args(tp) else Any
        mapping = cast("dict[str, Any]", data)
        return {key: _wire_keys(item_type, value) for key, value in mapping.items()}
    cls = origin or tp
    if not _is_model_class(cls) or not isinstance(data, Mapping):
        return data
    return _rename(cast("type[Any]", cls), tp, cast("Mapping[str, Any]", data))


def _is_model_class(cls: object) -> bool:
    return isinstance(cls, type) and attrs.has(cls)


def _rename(cls: type[Any], tp: object, data: Mapping[str, Any]) -> dict[str, Any]:
    names = _wire_names(cls)
    hints = _field_types(cls, tp)
    out = dict(data)
    for name, wire in names.items():
        if name in out and wire not in out and name not in names.values():
            out[wire] = out.pop(name)
    for name, field_type in hints.items():
        key = names.get(name, name)
        if key in out:
            out[key] = _wire_keys(field_type, out[key])
    return out


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        try:
            hints = typing.get_type_hints(cls)
        except (NameError, TypeError):  # an annotation that cannot be resolved: not renamed
            hints = {}
        _HINTS[cls] = hints
    return hints


def _field_types(cls: type[Any], tp: object) -> dict[str, Any]:
    """The field types of `cls`, with the type arguments of `tp` (`Page[Webhook]`) put in."""
    hints = _hints(cls)
    params: tuple[Any, ...] = getattr(cls, "__parameters__", ())
    args = typing.get_args(tp)
    if not params or len(args) != len(params):
        return hints
    bound = dict(zip(params, args, strict=True))
    return {name: _bind(hint, bound) for name, hint in hints.items()}


def _bind(hint: Any, bound: dict[Any, Any]) -> Any:
    if hint in bound:
        return bound[hint]
    origin = typing.get_origin(hint)
    if origin in (list, dict):
        return types.GenericAlias(origin, tuple(_bind(arg, bound) for arg in typing.get_args(hint)))
    return hint


_JSON_TYPES: dict[object, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    dt.datetime: {"type": "string", "format": "date-time"},
    dt.date: {"type": "string", "format": "date"},
}
_MAX_DEPTH = 6  # models that nest themselves are cut off here as plain objects


def json_schema_of(tp: object, *, depth: int) -> dict[str, Any]:
    """A JSON schema for what `to_plain` makes of a `tp` value (Python names)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        schemas = [json_schema_of(arg, depth=depth) for arg in members]
        return schemas[0] if len(schemas) == 1 else {"anyOf": schemas}
    if origin is list:
        (item,) = typing.get_args(tp) or (Any,)
        return {"type": "array", "items": json_schema_of(item, depth=depth)}
    if origin is dict:
        value = typing.get_args(tp)[-1] if typing.get_args(tp) else Any
        return {"type": "object", "additionalProperties": json_schema_of(value, depth=depth)}
    known = _JSON_TYPES.get(tp)
    if known is not None:
        return dict(known)
    cls = _origin_or_self(tp)
    if _is_model_class(cls):
        return _model_schema(cast("type[Any]", cls), tp, depth)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"type": "string", "enum": [member.value for member in tp]}
    return {}


def _origin_or_self(tp: object) -> object:
    origin: object = typing.get_origin(tp)
    return origin if origin is not None else tp


def _model_schema(cls: type[Any], tp: object, depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "title": cls.__name__}
    if depth >= _MAX_DEPTH:
        return schema
    hints = _field_types(cls, tp)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in attrs.fields(cls):
        if field.name == EXTRA_FIELD or field.metadata.get(LOCAL_FIELD):
            continue  # not part of `to_dict()`
        properties[field.name] = json_schema_of(hints.get(field.name, Any), depth=depth + 1)
        if field.default is attrs.NOTHING:
            required.append(field.name)
    schema["properties"] = properties
    if required:
        schema["required"] = required
    schema["additionalProperties"] = True  # fields the SDK does not know yet
    return schema


def _name(tp: object) -> str:
    return getattr(tp, "__name__", None) or repr(tp)


def to_plain(value: object, *, wire: bool) -> Any:
    """`value` as JSON-ready data: models and containers converted all the way down."""
    return plain(value, wire)


def _model_dict(obj: object, wire: bool) -> dict[str, Any]:
    codec = codec_of(type(obj))
    if codec is not None:
        return codec.unstructure(obj, wire)
    # A class without a generated codec (a caller's subclass of a model): cattrs' way,
    # which writes the attribute names (such a class has no wire names of its own).
    data: dict[str, Any] = converter.unstructure(obj)
    return data


def _wire_names(cls: type) -> Mapping[str, str]:
    return wire_names_of(cls)

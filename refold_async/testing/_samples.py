"""Sample answers built from a response type, for operations without hand-written state.

`sample_json(tp)` walks the type the operation decodes into (attrs models through
`typing.get_type_hints`, `Page[Item]`, lists, dicts, unions, literals, enums, datetimes)
and builds a value that fits it, then turns it into wire-shape JSON with the SDK's own
converter, so the answer is guaranteed to decode into the model again.
"""

from __future__ import annotations

import datetime as dt
import enum
import types
import typing
from typing import Any, Literal, Union

import attrs

from refold_async._convert import unstructure
from refold_async._pagination import Page

__all__ = ["sample_json", "sample_value"]

MAX_DEPTH = 4
SAMPLE_TIME = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def sample_json(tp: Any) -> Any:
    """Wire-shape JSON that decodes into `tp` (`None` for no body)."""
    if tp is None or tp is type(None):
        return None
    return unstructure(sample_value(tp))


def sample_value(tp: Any, *, name: str = "", depth: int = 0) -> Any:
    """A Python value of type `tp`; `name` (the field's) flavours strings."""
    origin = typing.get_origin(tp)
    if tp is Any or tp is object:
        return {"sample": True} if depth == 0 else "sample"
    if origin is Union or origin is types.UnionType:
        return _union(tp, name, depth)
    if origin is Literal:
        return typing.get_args(tp)[0]
    if origin is not None:
        return _generic(tp, origin, name, depth)
    if isinstance(tp, type):
        return _plain(tp, name, depth)
    return None


def _union(tp: Any, name: str, depth: int) -> Any:
    options = [arg for arg in typing.get_args(tp) if arg is not type(None)]
    return sample_value(options[0], name=name, depth=depth) if options else None


def _generic(tp: Any, origin: Any, name: str, depth: int) -> Any:
    args = typing.get_args(tp)
    if origin is Page:
        item = sample_value(args[0] if args else Any, depth=depth + 1)
        return Page(
            items=[item], total_docs=1, limit=10, page=1, total_pages=1,
            has_next_page=False, has_prev_page=False,
        )  # fmt: skip
    if origin in (list, set, frozenset, tuple) or _is_abc(origin, "Sequence"):
        item = sample_value(args[0] if args else Any, name=name, depth=depth + 1)
        return [item] if depth < MAX_DEPTH else []
    if origin is dict or _is_abc(origin, "Mapping"):
        value_type = args[1] if len(args) == 2 else Any
        return {} if value_type is Any else {"sample": sample_value(value_type, depth=depth + 1)}
    if attrs.has(origin):
        return _model(tp, origin, depth)
    return None


def _is_abc(origin: Any, name: str) -> bool:
    import collections.abc as abc

    base = getattr(abc, name)
    return isinstance(origin, type) and issubclass(origin, base)


def _plain(tp: type[Any], name: str, depth: int) -> Any:
    if issubclass(tp, enum.Enum):
        return next(iter(tp))
    if tp is bool:
        return True
    if issubclass(tp, int):
        return 1
    if issubclass(tp, float):
        return 1.5
    if issubclass(tp, str):
        return _string(name)
    if tp is dt.datetime:
        return SAMPLE_TIME
    if tp is dt.date:
        return SAMPLE_TIME.date()
    if attrs.has(tp):
        return _model(tp, tp, depth)
    if tp is dict:
        return {}
    if tp is list:
        return []
    return None


def _string(name: str) -> str:
    lowered = name.lower()
    if lowered.endswith("url"):
        return "https://emulator.invalid/sample"
    if "email" in lowered:
        return "user@example.invalid"
    if lowered in {"id", "_id"} or lowered.endswith("_id"):
        return "000000000000000000000001"
    return f"sample {name}".strip()


def _model(tp: Any, cls: type, depth: int) -> Any:
    hints = typing.get_type_hints(cls)
    bindings = dict(zip(getattr(cls, "__parameters__", ()), typing.get_args(tp), strict=False))
    values: dict[str, Any] = {}
    for field in attrs.fields(cls):
        if field.name == "extra_fields" or not field.init:
            continue
        required = field.default is attrs.NOTHING
        if not required and depth >= MAX_DEPTH:
            continue
        field_type = bindings.get(hints.get(field.name, Any), hints.get(field.name, Any))
        values[field.alias or field.name] = sample_value(
            field_type, name=field.name, depth=depth + 1
        )
    return cls(**values)

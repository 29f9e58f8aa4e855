"""Structuring `oneOf`/`anyOf` unions: pick the member by the JSON value's kind (docs/architecture.md §7).

cattrs tells union members apart only when they are attrs classes with distinct required
fields; the spec's unions mix kinds (`dict[str, Any] | list[dict[str, Any]]`, a string or
an object). This hook, registered by `_convert`, handles every union generically:

1. keep the members that can hold a value of this JSON kind (an object: models and
   dicts; an array: lists; a string: `str`, string enums, literals, datetimes; a number:
   `int`/`float`; a boolean: `bool`; `null`: `None`);
2. among several models, prefer those whose required wire names are all present, then
   the one that knows most of the keys;
3. structure as the first candidate that succeeds; if none does, raise the first error.
"""

from __future__ import annotations

import datetime as dt
import enum
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import attrs
import cattrs

__all__ = ["is_union", "register_union_hook"]

_NONE = type(None)


def is_union(tp: object) -> bool:
    """`X | Y` or `typing.Union[X, Y]` (an `Optional` of one type included)."""
    origin = typing.get_origin(tp)
    return origin is typing.Union or origin is types.UnionType


def _accepts(member: Any, value: object) -> bool:
    """Whether a value of this JSON kind can become `member` at all."""
    if member is Any:
        return True
    origin = typing.get_origin(member) or member
    if value is None:
        return member is _NONE
    if origin is typing.Literal:
        return value in typing.get_args(member)
    if isinstance(value, bool):
        return member is bool
    if isinstance(value, int | float):
        return member in (int, float, dt.datetime) and not (
            member is int and isinstance(value, float)
        )
    if isinstance(value, str):
        return member in (str, dt.datetime) or (
            isinstance(member, type) and issubclass(member, enum.Enum)
        )
    if isinstance(value, Mapping):
        return origin in (dict, Mapping) or attrs.has(origin)
    if isinstance(value, list):
        return origin in (list, tuple, Sequence)
    return False


def _fit(
    member: Any, keys: set[str], wire_names: Callable[[type], Mapping[str, str]]
) -> tuple[int, int]:
    """How well a JSON object's keys fit a model: (all required present, keys it knows)."""
    origin = typing.get_origin(member) or member
    if not attrs.has(origin):
        return (0, 0)
    wire = wire_names(origin)
    fields = attrs.fields(origin)
    names = {wire.get(f.name, f.name) for f in fields}
    required = {wire.get(f.name, f.name) for f in fields if f.default is attrs.NOTHING}
    return (int(required <= keys), len(names & keys))


def _structure_union(
    conv: cattrs.Converter, wire_names: Callable[[type], Mapping[str, str]]
) -> Callable[[Any, Any], Any]:
    def structure(value: Any, union: Any) -> Any:
        members = typing.get_args(union)
        candidates = [m for m in members if _accepts(m, value)]
        if not candidates:
            names = ", ".join(getattr(m, "__name__", str(m)) for m in members)
            raise TypeError(f"expected one of {names}, got {type(value).__name__}")
        if value is None:
            return None
        if isinstance(value, Mapping) and len(candidates) > 1:
            keys = set(cast("Mapping[str, Any]", value))
            candidates.sort(key=lambda m: _fit(m, keys, wire_names), reverse=True)
        errors: list[Exception] = []
        for member in candidates:
            try:
                return conv.structure(value, member)
            except Exception as exc:  # the next member may fit; else the first error is raised
                errors.append(exc)
        raise errors[0]

    return structure


def register_union_hook(
    conv: cattrs.Converter, wire_names: Callable[[type], Mapping[str, str]]
) -> None:
    """Make `conv` structure every union of two or more members by the value's kind.

    `wire_names(cls)` gives a model's Python-to-wire names, to match JSON keys.
    Optionals of a single type stay with cattrs.
    """
    conv.register_structure_hook_func(
        lambda tp: is_union(tp) and len([a for a in typing.get_args(tp) if a is not _NONE]) > 1,
        _structure_union(conv, wire_names),
    )

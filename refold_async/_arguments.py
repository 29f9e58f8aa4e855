"""Argument checks per operation: each `Param`'s kind, enum values and bounds, compiled once.

A generated `Param` says what its value must be (`kind`, `items`, `choices`, `minimum`,
`maximum`, `min_items`, `max_items`, `pattern`). The first call of an operation turns its
params into a tuple of small closures; every later call only runs them (DESIGN §12:
arguments are checked before anything is sent, at a cost of a few type tests a call).

A value that is `None` or `NOT_GIVEN` is not checked here (it is not sent); a required
one left out is refused here, except the `linked_account_id` header, which the client
fills in. Error texts name the parameter and the expected type, never the value of a
free-text argument (it may be a credential).
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, cast

import attrs

from ._errors import InvalidArgumentError
from ._operation import Operation, Param, ParamLocation, ValueKind
from ._types import NOT_GIVEN

__all__ = ["check_arguments", "where"]

Check = Callable[[object], "str | None"]
"""Returns what is wrong with a value (`"must be a str, got int"`), or `None`."""

_Entry = tuple[str, str, bool, "Check | None"]
"""One parameter's check: wire name, Python name, required, and the value check."""


@attrs.frozen
class _Compiled:
    """The checks of one operation, grouped by where the values travel."""

    op: Operation[Any]
    where: str
    checks: tuple[tuple[ParamLocation, tuple[_Entry, ...]], ...]


# id(op) -> compiled checks; the entry keeps `op` alive, so an id is never reused under it.
_CACHE: dict[int, _Compiled] = {}


def where(op: Operation[Any]) -> str:
    """How errors name the call: `executions.list()`, or the operation id."""
    return f"{op.resource or 'client'}.{op.name or op.id}()"


def check_arguments(
    op: Operation[Any],
    *,
    path: Mapping[str, object],
    query: Mapping[str, object],
    headers: Mapping[str, object],
    body: object,
) -> None:
    """Raise `InvalidArgumentError` for an argument of the wrong type, value or size."""
    compiled = _CACHE.get(id(op))
    if compiled is None or compiled.op is not op:
        compiled = _CACHE[id(op)] = _compile(op)
    for location, checks in compiled.checks:
        if location == "body":
            if not isinstance(body, Mapping):
                continue  # a whole body, or none: its fields are not declared params
            values = cast("Mapping[str, object]", body)
        else:
            values = path if location == "path" else query if location == "query" else headers
        for wire, name, required, check in checks:
            value = values.get(wire)
            if value is None or value is NOT_GIVEN:
                if required:
                    raise InvalidArgumentError(
                        f"{compiled.where} needs {name!r}; it was None or left out"
                    )
                continue
            if check is not None:
                problem = check(value)
                if problem is not None:
                    raise InvalidArgumentError(f"{compiled.where}: {name!r} {problem}")


def _compile(op: Operation[Any]) -> _Compiled:
    groups: dict[ParamLocation, list[_Entry]] = {}
    for param in op.params:
        check = _check_for(param)
        # The auth plan fills in the linked account; expand_path() refuses missing path
        # values with its own message.
        required = param.required and not (
            param.location == "path"
            or (param.location == "header" and param.wire_name == "linked_account_id")
        )
        if check is not None or required:
            entry = (param.wire_name, param.name, required, check)
            groups.setdefault(param.location, []).append(entry)
    return _Compiled(
        op=op,
        where=where(op),
        checks=tuple((location, tuple(checks)) for location, checks in groups.items()),
    )


def _check_for(param: Param) -> Check | None:
    """The closure that checks `param`'s values, or `None` when anything goes."""
    base = _kind_check(param.kind, param.choices)
    extra: list[Check] = []
    if param.kind in ("int", "float") and (param.minimum is not None or param.maximum is not None):
        extra.append(_bounds(param.minimum, param.maximum))
    if param.pattern is not None:
        extra.append(_pattern(param.pattern))
    if param.kind in ("list", "object"):
        items = _kind_check(param.items, param.choices)
        if param.kind == "list" and (
            items is not None or param.min_items is not None or param.max_items is not None
        ):
            extra.append(_list_items(items, param.min_items, param.max_items))
        elif param.kind == "object" and items is not None:
            extra.append(_object_values(items))
    if base is None or not extra:
        return base
    return _chain(base, tuple(extra))


def _chain(first: Check, rest: tuple[Check, ...]) -> Check:
    def check(value: object) -> str | None:
        problem = first(value)
        if problem is not None:
            return problem
        for more in rest:
            problem = more(value)
            if problem is not None:
                return problem
        return None

    return check


def _kind_check(kind: ValueKind, choices: tuple[str, ...]) -> Check | None:
    if kind == "any":
        return None
    if kind == "enum":
        return _enum(choices)
    if kind == "float":
        return _float
    if kind == "object":
        return _object
    types, expected = _TYPES[kind]
    no_bool = kind == "int"

    # Specialised per kind: these run for every argument of every call.
    def check(value: object) -> str | None:
        if isinstance(value, types) and not (no_bool and isinstance(value, bool)):
            return None
        return _wrong(expected, value)

    return check


_TYPES: dict[str, tuple[type | tuple[type, ...], str]] = {
    "str": (str, "a str"),
    "int": (int, "an int"),
    "bool": (bool, "a bool"),
    "datetime": (dt.datetime, "a datetime.datetime"),
    "list": ((list, tuple), "a list"),
}


def _float(value: object) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return None
    return _wrong("a finite number", value)


def _object(value: object) -> str | None:
    if type(value) is dict or isinstance(value, Mapping) or attrs.has(type(value)):
        return None
    return _wrong("a mapping (or model)", value)


def _wrong(expected: str, value: object) -> str:
    return f"must be {expected}, got {type(value).__name__}"


def _enum(choices: tuple[str, ...]) -> Check:
    allowed = frozenset(choices)
    listed = ", ".join(map(repr, choices))

    def check(value: object) -> str | None:
        if type(value) is str and value in allowed:
            return None
        if isinstance(value, enum.Enum):
            value = value.value
        if isinstance(value, str) and value in allowed:
            return None
        if not isinstance(value, str):
            return f"must be one of {listed}, got {type(value).__name__}"
        import difflib  # only on this error path: it costs an import (#13)

        close = difflib.get_close_matches(value, choices, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"must be one of {listed}, got {value!r}{hint}"

    return check


def _bounds(minimum: float | None, maximum: float | None) -> Check:
    def check(value: object) -> str | None:
        number = cast("float", value)
        if minimum is not None and number < minimum:
            return f"must be at least {_number(minimum)}, got {value!r}"
        if maximum is not None and number > maximum:
            return f"must be at most {_number(maximum)}, got {value!r}"
        return None

    return check


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _pattern(pattern: str) -> Check:
    compiled = re.compile(pattern)

    def check(value: object) -> str | None:
        # The value is not shown: a URL may carry a token in its query.
        return None if compiled.search(cast("str", value)) else f"must match {pattern!r}"

    return check


def _list_items(items: Check | None, least: int | None, most: int | None) -> Check:
    def check(value: object) -> str | None:
        values = cast("list[object]", value)
        if least is not None and len(values) < least:
            return f"must have at least {least} item(s), got {len(values)}"
        if most is not None and len(values) > most:
            return f"must have at most {most} item(s), got {len(values)}"
        if items is not None:
            for index, item in enumerate(values):
                problem = items(item)
                if problem is not None:
                    return f"item {index} {problem}"
        return None

    return check


def _object_values(items: Check) -> Check:
    def check(value: object) -> str | None:
        if not isinstance(value, Mapping):
            return None  # a model instance: its own types hold
        for key, item in cast("Mapping[object, object]", value).items():
            if not isinstance(key, str):
                return f"must have str keys, got {type(key).__name__}"
            problem = items(item)
            if problem is not None:
                return f"value of {key!r} {problem}"
        return None

    return check

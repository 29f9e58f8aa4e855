"""Argument checks per operation: each `Param`'s kind, enum values and bounds, compiled once.

A generated `Param` says what its value must be (`kind`, `items`, `choices`, `minimum`,
`maximum`, `min_items`, `max_items`, `pattern`, `format`, `min_length`, `max_length`, and
for a `oneOf`/`anyOf` the `variants` it may take). The first call of an operation turns its
params into a tuple of small closures; every later call only runs them (docs/architecture.md §12:
arguments are checked before anything is sent, at a cost of a few type tests a call).
The emulator runs the same checks on what it receives (`check_wire_values`), after
reading query and header text as the kinds the params declare.

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
from urllib.parse import urlsplit

import attrs

from ._errors import InvalidArgumentError
from ._operation import Operation, Param, ParamLocation, Shape, ValueFormat, ValueKind
from ._types import NOT_GIVEN

__all__ = ["CHECKED_FORMATS", "check_arguments", "check_wire_values", "where"]

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
    required: bool = True,
) -> None:
    """Raise `InvalidArgumentError` for an argument of the wrong type, value or size.

    With `required=False`, values that are left out are not refused (the emulator checks
    presence itself, counting a session token's linked account).
    """
    compiled = _compiled(op)
    for location, checks in compiled.checks:
        if location == "body":
            if not isinstance(body, Mapping):
                continue  # a whole body, or none: its fields are not declared params
            values = cast("Mapping[str, object]", body)
        else:
            values = path if location == "path" else query if location == "query" else headers
        for wire, name, needed, check in checks:
            value = values.get(wire)
            if value is None or value is NOT_GIVEN:
                if needed and required:
                    raise InvalidArgumentError(
                        f"{compiled.where} needs {name!r}; it was None or left out"
                    )
                continue
            if check is not None:
                problem = check(value)
                if problem is not None:
                    raise InvalidArgumentError(f"{compiled.where}: {name!r} {problem}")


def _compiled(op: Operation[Any]) -> _Compiled:
    compiled = _CACHE.get(id(op))
    if compiled is None or compiled.op is not op:
        compiled = _CACHE[id(op)] = _compile(op)
    return compiled


def check_wire_values(
    op: Operation[Any],
    *,
    path: Mapping[str, str],
    query: Mapping[str, str],
    headers: Mapping[str, str],
    body: object,
) -> None:
    """The checks of `check_arguments`, on a request as received (for the emulator).

    Query and header values arrive as text: each is read as its param's kind first
    (`"5"` as 5, `"true"` as True, ISO 8601 as a datetime), and body date-times as
    datetimes, so that one set of checks serves both sides. Values left out are not
    refused here. Raises `InvalidArgumentError`.
    """
    texts: dict[ParamLocation, dict[str, object]] = {"query": dict(query), "header": {}}
    lowered = {name.lower(): value for name, value in headers.items()}
    fields = _fields_of(body)
    for param in op.params:
        if param.location == "header" and param.wire_name.lower() in lowered:
            text = lowered[param.wire_name.lower()]
            texts["header"][param.wire_name] = _from_text(param.kind, text)
        elif param.location == "query" and param.wire_name in query:
            texts["query"][param.wire_name] = _from_text(param.kind, query[param.wire_name])
        elif param.location == "body" and fields is not None and param.kind == "datetime":
            value = fields.get(param.wire_name)
            if isinstance(value, str):
                fields[param.wire_name] = _from_text("datetime", value)
    checked_body = fields if fields is not None else body
    check_arguments(
        op,
        path=path,
        query=texts["query"],
        headers=texts["header"],
        body=checked_body,
        required=False,
    )


def _fields_of(body: object) -> dict[str, object] | None:
    """A copy of a JSON object body's fields (to decode in place), or None."""
    if not isinstance(body, Mapping):
        return None
    return dict(cast("Mapping[str, object]", body))


_INTEGER = re.compile(r"[+-]?[0-9]+")


def _from_text(kind: ValueKind, text: str) -> object:
    """`text` read as `kind` where it can be; left as text (and refused later) otherwise."""
    try:
        if kind == "int" and _INTEGER.fullmatch(text):
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "bool" and text in ("true", "false"):
            return text == "true"
        if kind == "datetime":
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.timezone.utc)
        if kind == "list":
            return [text]
    except ValueError:
        pass
    return text


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


def _check_for(param: Param | Shape) -> Check | None:
    """The closure that checks `param`'s values, or `None` when anything goes."""
    if param.kind == "union":  # the generator flattens nested unions into one
        return _union(param.variants) if isinstance(param, Param) else None
    base = _kind_check(param.kind, param.choices)
    extra: list[Check] = []
    if param.kind in ("int", "float") and (param.minimum is not None or param.maximum is not None):
        extra.append(_bounds(param.minimum, param.maximum))
    if param.kind == "str":
        extra.extend(_string_checks(param))
    if param.kind in ("list", "object"):
        items = _kind_check(param.items, param.choices)
        if items is not None and param.items == "str" and param.format is not None:
            items = _chain(items, (_format(param.format),))
        if param.kind == "list" and (
            items is not None or param.min_items is not None or param.max_items is not None
        ):
            extra.append(_list_items(items, param.min_items, param.max_items))
        elif param.kind == "object" and items is not None:
            extra.append(_object_values(items))
    if base is None or not extra:
        return base
    return _chain(base, tuple(extra))


def _string_checks(param: Param | Shape) -> list[Check]:
    checks: list[Check] = []
    if param.min_length is not None or param.max_length is not None:
        checks.append(_length(param.min_length, param.max_length))
    if param.pattern is not None:
        checks.append(_pattern(param.pattern))
    if param.format is not None:
        checks.append(_format(param.format))
    return checks


def _union(variants: tuple[Shape, ...]) -> Check | None:
    """A value must fit one variant: the first whose kind it has decides the problem."""
    compiled: list[tuple[Check, Check]] = []
    for variant in variants:
        full = _check_for(variant)
        base = _kind_check(variant.kind, variant.choices)
        if full is None or base is None:
            return None  # a variant that admits anything: so does the union
        compiled.append((base, full))
    expected = " or ".join(_expected(v.kind) for v in variants)

    def check(value: object) -> str | None:
        for base, full in compiled:
            if base(value) is None:
                return full(value)
        return _wrong(expected, value)

    return check


def _expected(kind: ValueKind) -> str:
    if kind in _TYPES:
        return _TYPES[kind][1]
    return {"float": "a finite number", "object": "a mapping (or model)"}.get(kind, f"a {kind}")


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
        import difflib  # only on this error path: it costs an import

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


def _length(least: int | None, most: int | None) -> Check:
    def check(value: object) -> str | None:
        size = len(cast("str", value))
        if least is not None and size < least:
            return f"must be at least {least} character(s) long, got {size}"
        if most is not None and size > most:
            return f"must be at most {most} character(s) long, got {size}"
        return None

    return check


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _is_uri(text: str) -> bool:
    """An absolute URI: a scheme, no spaces or control characters, and a host for http(s)."""
    if _SPACE_OR_CONTROL.search(text):
        return False
    try:
        parts = urlsplit(text)
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return False
    if not parts.scheme or not _SCHEME.fullmatch(parts.scheme):
        return False
    if parts.scheme.lower() in ("http", "https"):
        return bool(parts.hostname)
    return bool(parts.netloc or parts.path)


_FORMATS: dict[str, tuple[Callable[[str], bool], str]] = {
    "uri": (_is_uri, "an absolute URI (such as https://example.com/path)"),
    "email": (lambda text: _EMAIL.fullmatch(text) is not None, "an email address"),
    "uuid": (lambda text: _UUID.fullmatch(text) is not None, "a UUID"),
}
CHECKED_FORMATS: frozenset[str] = frozenset(_FORMATS)
"""The string formats checked before sending (`ValueFormat`); the generator emits only these."""


def _format(name: ValueFormat) -> Check:
    test, expected = _FORMATS[name]

    def check(value: object) -> str | None:
        # The value is not shown: a URL may carry a token in its query.
        return None if test(cast("str", value)) else f"must be {expected}"

    return check


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

"""Pure request building: from an operation and its arguments to method, URL and parts.

No I/O and no httpx: the transport turns `RequestParts` into an `httpx.Request`. Every
check on the caller's input happens here, so bad input fails before anything is sent
(DESIGN §2 step 2).
"""

from __future__ import annotations

import datetime as dt
import difflib
import enum
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, cast
from urllib.parse import quote

import attrs

from ._convert import format_datetime, unstructure
from ._errors import InvalidArgumentError
from ._operation import Operation
from ._types import CallOptions, NotGiven

__all__ = ["RequestParts", "build_request", "check_header_value", "check_max_response_bytes"]

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
# Control characters (CR and LF among them) would let a value forge headers; httpx
# encodes header values as ASCII, so anything past it could not be sent either.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
CREDENTIAL_HEADERS = frozenset({"x-api-key", "authorization"})


@attrs.frozen(kw_only=True)
class RequestParts:
    """A request ready to send, less its credentials."""

    method: str
    path: str
    params: list[tuple[str, str]]
    headers: dict[str, str]
    json: Any = None
    has_json: bool = False
    timeout: float | NotGiven | None = attrs.field(factory=NotGiven)
    max_queue_wait: float | NotGiven | None = attrs.field(factory=NotGiven)
    max_response_bytes: int | None = None


def build_request(
    op: Operation[Any],
    *,
    path: Mapping[str, object] | None,
    query: Mapping[str, object] | None,
    headers: Mapping[str, object] | None,
    body: object,
    options: CallOptions,
) -> RequestParts:
    """Check and assemble the request for `op`; raise `InvalidArgumentError` on bad input."""
    check_options(op, options)
    _check_required(op, query=query or {}, headers=headers or {}, body=body)
    params = _query_items(query or {})
    params.extend(_query_items(options.get("extra_query") or {}))
    header_values = _header_items(headers or {})
    for name, value in (options.get("extra_headers") or {}).items():
        if name.lower() in CREDENTIAL_HEADERS:
            raise InvalidArgumentError(
                f"extra_headers may not set {name!r}: credentials come from the client"
            )
        header_values[name] = check_header_value(name, value)
    json_body, has_json = _body(body, options.get("extra_body"), required=op.body_required)
    return RequestParts(
        method=op.method,
        path=expand_path(op.path, path or {}),
        params=params,
        headers=header_values,
        json=json_body,
        has_json=has_json,
        timeout=options["timeout"] if "timeout" in options else NotGiven(),
        max_queue_wait=options["max_queue_wait"] if "max_queue_wait" in options else NotGiven(),
        max_response_bytes=check_max_response_bytes(options["max_response_bytes"])
        if "max_response_bytes" in options
        else None,
    )


def expand_path(template: str, values: Mapping[str, object]) -> str:
    """Fill the template's placeholders, each value percent-encoded as one segment."""

    def segment(match: re.Match[str]) -> str:
        name = match.group(1)
        value = values.get(name)
        if value is None or isinstance(value, NotGiven) or value == "":
            raise InvalidArgumentError(f"path parameter {name!r} is required and may not be empty")
        text = quote(_text(value), safe="")
        # "." and ".." would be resolved away by URL normalisation: keep them a segment.
        return text.replace(".", "%2E") if text in {".", ".."} else text

    return _PLACEHOLDER.sub(segment, template)


def check_header_value(name: str, value: object) -> str:
    """The header value as text, refusing control characters (header injection)."""
    text = _text(value)
    if _CONTROL.search(text):
        raise InvalidArgumentError(f"header {name!r} contains a control character (CR, LF, ...)")
    if _NON_ASCII.search(text):
        raise InvalidArgumentError(
            f"header {name!r} contains a non-ASCII character, which HTTP headers cannot carry"
        )
    return text


def check_max_response_bytes(value: object) -> int:
    """A response size limit: a positive number of bytes (DESIGN §12 keeps every body bounded)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidArgumentError(
            f"max_response_bytes must be a positive number of bytes, got {value!r}"
        )
    return value


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, int | float | dt.date):
        return str(value)
    # bytes, dicts, lists, models: str() would send their repr, a silent wrong value.
    raise InvalidArgumentError(
        f"expected text, a number, a boolean or a datetime, got {type(value).__name__}"
    )


_OPTION_KEYS = frozenset(CallOptions.__annotations__)


def check_options(op: Operation[Any], options: Mapping[str, object]) -> None:
    """Refuse keyword arguments a method does not take (they arrive as call options)."""
    where = f"{op.resource or 'client'}.{op.name or op.id}()"
    refuse_unknown(where, options, _OPTION_KEYS, also=[p.name for p in op.params])


def refuse_unknown(
    where: str, given: Iterable[str], allowed: Collection[str], *, also: Iterable[str] = ()
) -> None:
    """Raise `InvalidArgumentError` for names outside `allowed`, suggesting a near one.

    A misspelled keyword would otherwise be dropped in silence, and a call meant for one
    linked account would act on the client's default one.
    """
    unknown = sorted(set(given) - set(allowed))
    if not unknown:
        return
    known = [*also, *sorted(allowed)]
    hints = [difflib.get_close_matches(name, known, n=1) for name in unknown]
    advice = "".join(f"; did you mean {hint[0]!r}?" for hint in hints if hint)
    names = ", ".join(map(repr, unknown))
    raise InvalidArgumentError(f"{where} got unexpected keyword argument(s) {names}{advice}")


def _check_required(
    op: Operation[Any], *, query: Mapping[str, object], headers: Mapping[str, object], body: object
) -> None:
    """Refuse a required query, header or body field passed as `None` (or left out)."""
    supplied: dict[str, Mapping[str, object]] = {"query": query, "header": headers}
    if isinstance(body, Mapping):
        supplied["body"] = cast("Mapping[str, object]", body)
    for param in op.params:
        if not param.required or param.location == "path" or param.location not in supplied:
            continue
        if param.location == "header" and param.wire_name == "linked_account_id":
            continue  # the auth plan fills it in from the client, or says it is missing
        if not _given(supplied[param.location].get(param.wire_name)):
            raise InvalidArgumentError(f"{op.id} needs {param.name!r}; it was None or left out")


def _given(value: object) -> bool:
    return value is not None and not isinstance(value, NotGiven)


def _query_items(query: Mapping[str, object]) -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    for name, value in query.items():
        if not _given(value):
            continue
        if isinstance(value, list | tuple):
            values = cast("Sequence[object]", value)
            items.extend((name, _text(v)) for v in values if _given(v))
        else:
            items.append((name, _text(value)))
    return items


def _header_items(headers: Mapping[str, object]) -> dict[str, str]:
    return {name: check_header_value(name, v) for name, v in headers.items() if _given(v)}


def _body(body: object, extra: Mapping[str, object] | None, *, required: bool) -> tuple[Any, bool]:
    if isinstance(body, NotGiven) and not extra:
        return None, False
    if isinstance(body, Mapping):
        fields = cast("Mapping[str, object]", body)
        data: Any = {k: unstructure(v) for k, v in fields.items() if _given(v)}
        if not data and not extra and not required:
            # An optional body whose every field was left out is not sent at all.
            return None, False
    elif isinstance(body, NotGiven):
        data = dict[str, Any]()
    else:
        data = unstructure(body)
    if extra:
        merged = _json_object(data)
        merged.update(unstructure(dict(extra)))
        return merged, True
    return data, True


def _json_object(data: object) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InvalidArgumentError("extra_body needs a JSON object body to merge into")
    return cast("dict[str, Any]", data)

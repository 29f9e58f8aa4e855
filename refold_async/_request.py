"""Pure request building: from an operation and its arguments to method, URL and parts.

No I/O and no httpx: the transport turns `RequestParts` into an `httpx.Request`. Every
check on the caller's input happens here, so bad input fails before anything is sent
(docs/architecture.md §2 step 2).
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, cast
from urllib.parse import quote, urlencode

import attrs
from typing_extensions import Self

from ._arguments import check_arguments, where
from ._convert import format_datetime, unstructure
from ._errors import InvalidArgumentError, UnknownArgumentError
from ._operation import Operation
from ._types import CallOptions, NotGiven
from ._uploads import FilePart, check_uploads, resendable

__all__ = [
    "CREDENTIAL_HEADERS",
    "LINKED_ACCOUNT_HEADER",
    "MAX_JSON_DEPTH",
    "MAX_PATH_LENGTH",
    "MAX_QUERY_LENGTH",
    "KeywordsChecked",
    "RequestParts",
    "build_request",
    "check_header_name",
    "check_header_value",
    "check_max_response_bytes",
    "query_string",
    "refuse_unknown",
]

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
# Control characters (CR and LF among them) would let a value forge headers; httpx
# encodes header values as ASCII, so anything past it could not be sent either.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
CREDENTIAL_HEADERS = frozenset({"x-api-key", "authorization"})
LINKED_ACCOUNT_HEADER = "linked_account_id"
# Common servers and proxies refuse request lines past 8 KiB (414): refuse such paths first.
MAX_PATH_LENGTH = 8192
# httpx refuses a longer query (as an untyped `InvalidURL`, raised at send time).
MAX_QUERY_LENGTH = 65536


@attrs.frozen(kw_only=True)
class RequestParts:
    """A request ready to send, less its credentials."""

    method: str
    path: str
    params: list[tuple[str, str]]
    headers: dict[str, str]
    json: Any = None
    has_json: bool = False
    form: tuple[tuple[str, str], ...] = ()
    uploads: tuple[FilePart, ...] = ()
    timeout: float | NotGiven | None = attrs.field(factory=NotGiven)
    max_queue_wait: float | NotGiven | None = attrs.field(factory=NotGiven)
    max_response_bytes: int | None = None
    raw_path: bool = False  # `path` is the caller's own text (`client.request()`)

    @property
    def resendable(self) -> bool:
        """The body can be sent again on a retry (only a non-seekable upload cannot)."""
        return not self.uploads or resendable(self.uploads)


def build_request(
    op: Operation[Any],
    *,
    path: Mapping[str, object] | None,
    query: Mapping[str, object] | None,
    headers: Mapping[str, object] | None,
    body: object,
    options: CallOptions,
    files: object = None,
) -> RequestParts:
    """Check and assemble the request for `op`; raise `InvalidArgumentError` on bad input.

    Misused call options raise `TypeError` (a mapping that is not one, a name that is not
    text) or `InvalidArgumentError` (a `ValueError`), naming the option. With `files`
    (operations whose body may be `multipart/form-data`), the body's fields become form
    fields and the files are checked, to be opened and streamed at send time.
    """
    if options:
        check_options(op, options)
    path = path or {}
    query = query or {}
    headers = headers or {}
    check_arguments(op, path=path, query=query, headers=headers, body=body)
    params = _query_items(query)
    extra_query = options.get("extra_query")
    if extra_query:
        params.extend(_query_items(extra_query))
    _check_query_length(params)
    header_values = _header_items(headers)
    extra_headers = options.get("extra_headers")
    if extra_headers:
        _merge_extra_headers(header_values, extra_headers)
    uploads: tuple[FilePart, ...] = ()
    form: tuple[tuple[str, str], ...] = ()
    if _given(files) and files:
        uploads, form = _multipart(op, body, options.get("extra_body"), files)
        json_body, has_json = None, False
    else:
        json_body, has_json = _body(op, body, options.get("extra_body"), required=op.body_required)
    return RequestParts(
        method=op.method,
        path=expand_path(op.path, path),
        params=params,
        headers=header_values,
        json=json_body,
        has_json=has_json,
        form=form,
        uploads=uploads,
        timeout=options["timeout"] if "timeout" in options else NotGiven(),
        max_queue_wait=options["max_queue_wait"] if "max_queue_wait" in options else NotGiven(),
        max_response_bytes=check_max_response_bytes(options["max_response_bytes"])
        if "max_response_bytes" in options
        else None,
    )


def expand_path(template: str, values: Mapping[str, object]) -> str:
    """Fill the template's placeholders, each value percent-encoded as one segment."""
    parts = _TEMPLATES.get(template)
    if parts is None:
        parts = _TEMPLATES[template] = _PLACEHOLDER.split(template)
    if len(parts) == 1:
        return _checked_length(template)  # no placeholder: no work per call
    pieces = list(parts)
    for i in range(1, len(pieces), 2):  # the odd pieces are placeholder names
        pieces[i] = _segment(pieces[i], values)
    return _checked_length("".join(pieces))


# A template's text split at its placeholders (`re.split` keeps the names at odd indexes).
_TEMPLATES: dict[str, list[str]] = {}
# Path segments that percent-encoding leaves as they are (no "." : "." and ".." are special).
_PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9_~-]+")


def _segment(name: str, values: Mapping[str, object]) -> str:
    value = values.get(name)
    if value is None or isinstance(value, NotGiven) or value == "":
        raise InvalidArgumentError(f"path parameter {name!r} is required and may not be empty")
    if type(value) is str and len(value) <= MAX_PATH_LENGTH and _PLAIN_SEGMENT.fullmatch(value):
        return value  # what quote() would give back
    text = quote(_text(value), safe="")
    if len(text) > MAX_PATH_LENGTH:
        raise InvalidArgumentError(
            f"path parameter {name!r} is {len(text)} characters long once encoded; "
            f"a request path may have at most {MAX_PATH_LENGTH}"
        )
    # "." and ".." would be resolved away by URL normalisation: keep them a segment.
    return text.replace(".", "%2E") if text in {".", ".."} else text


def _checked_length(path: str) -> str:
    if len(path) > MAX_PATH_LENGTH:
        raise InvalidArgumentError(
            f"the request path is {len(path)} characters long once encoded; "
            f"it may have at most {MAX_PATH_LENGTH}"
        )
    return path


def check_header_name(option: str, name: object) -> str:
    """`name` in lower case, if it is a valid HTTP header name (RFC 9110 token).

    Raises:
        TypeError: `name` is not a str.
        InvalidArgumentError: it is empty or has a character a header name cannot have
            (CR and LF among them).
    """
    if not isinstance(name, str):
        raise TypeError(f"{option} header names must be str, got {type(name).__name__}")
    if not _TOKEN.fullmatch(name):
        raise InvalidArgumentError(
            f"{option} has an invalid header name {name!r} (a header name is letters, "
            "digits and !#$%&'*+-.^_`|~, with no spaces, colons, CR or LF)"
        )
    return name.lower()


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
    """A response size limit: a positive number of bytes (docs/architecture.md §12 keeps every body bounded)."""
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
    """Refuse keyword arguments a method does not take, and call options of a wrong type.

    Misspelled keywords arrive here as call options, so this is where they are caught
    (with a hint), before the auth plan could call the missing linked account the problem.
    """
    if not options.keys() <= _OPTION_KEYS:
        refuse_unknown(where(op), options, _OPTION_KEYS, also=[p.name for p in op.params])
    for name in ("extra_headers", "extra_query", "extra_body"):
        if name in options:
            _check_mapping(name, options[name])
    for name in ("timeout", "max_queue_wait"):  # seconds, or None for no bound
        if name in options:
            check_timeout(name, options[name])


def _check_mapping(option: str, value: object) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise TypeError(f"{option} must be a mapping, got {type(value).__name__}")
    for key in cast("Mapping[object, object]", value):
        if not isinstance(key, str):
            raise TypeError(f"{option} keys must be str, got {type(key).__name__}")
    if option == "extra_query" and LINKED_ACCOUNT_HEADER in value:
        raise InvalidArgumentError(
            f"extra_query may not set {LINKED_ACCOUNT_HEADER!r}: pass linked_account_id= "
            "(the call names one linked account, and the SDK checks it)"
        )


def check_timeout(option: str, value: object) -> None:
    """Refuse a timeout that is not `None` or a positive, finite number of seconds."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{option} must be seconds (a number) or None, got {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise InvalidArgumentError(f"{option} must be a positive number of seconds, got {value!r}")


def refuse_unknown(
    where: str, given: Iterable[str], allowed: Collection[str], *, also: Iterable[str] = ()
) -> None:
    """Raise `UnknownArgumentError` for names outside `allowed`, suggesting a near one.

    A misspelled keyword would otherwise be dropped in silence, and a call meant for one
    linked account would act on the client's default one.
    """
    unknown = sorted(set(given) - set(allowed))
    if not unknown:
        return
    known = [*also, *sorted(allowed)]
    import difflib  # only on this error path: it costs an import

    hints = [difflib.get_close_matches(name, known, n=1) for name in unknown]
    advice = "".join(f"; did you mean {hint[0]!r}?" for hint in hints if hint)
    names = ", ".join(map(repr, unknown))
    raise UnknownArgumentError(f"{where} got unexpected keyword argument(s) {names}{advice}")


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
    # Lower case throughout: names from the caller then replace ours, never sit beside them.
    return {name.lower(): check_header_value(name, v) for name, v in headers.items() if _given(v)}


def _merge_extra_headers(headers: dict[str, str], extra: Mapping[str, object]) -> None:
    """Merge `extra_headers` over the request's own, matching names case-insensitively."""
    for name, value in extra.items():
        key = check_header_name("extra_headers", name)
        if key in CREDENTIAL_HEADERS:
            raise InvalidArgumentError(
                f"extra_headers may not set {name!r}: credentials come from the client"
            )
        if key == LINKED_ACCOUNT_HEADER:
            raise InvalidArgumentError(
                f"extra_headers may not set {name!r}: pass linked_account_id= (or use "
                "for_linked_account()), so that the call names one linked account"
            )
        headers[key] = check_header_value(name, value)


def query_string(params: Sequence[tuple[str, str]]) -> str:
    """The query string of `params`: values of one name together, in order of the names'
    first appearance (as `httpx.QueryParams` orders them), percent-encoded (a space is
    `%20`, a `/` is `%2F`), the same on every path a request may take."""
    names = [name for name, _ in params]
    if len(set(names)) < len(names):
        grouped: dict[str, list[str]] = {}
        for name, value in params:
            grouped.setdefault(name, []).append(value)
        params = [(name, value) for name, values in grouped.items() for value in values]
    return urlencode(params, quote_via=quote)


def _check_query_length(params: list[tuple[str, str]]) -> None:
    if not params:
        return
    rough = sum(len(name) + len(value) + 2 for name, value in params)
    if rough * 3 <= MAX_QUERY_LENGTH:  # even if every character were percent-encoded
        return
    length = len(urlencode(params, quote_via=quote))
    if length > MAX_QUERY_LENGTH:
        raise InvalidArgumentError(
            f"the query string is {length} characters long once encoded; "
            f"it may have at most {MAX_QUERY_LENGTH}"
        )


def _body(
    op: Operation[Any], body: object, extra: Mapping[str, object] | None, *, required: bool
) -> tuple[Any, bool]:
    if isinstance(body, NotGiven) and not extra:
        return None, False
    if isinstance(body, Mapping):
        fields = cast("Mapping[str, object]", body)
        data: Any = {
            k: _unstructured(op, f"body[{k!r}]", v, 2) for k, v in fields.items() if _given(v)
        }
        _check_json(op, "body", data, 1)
        if not data and not extra and not required:
            # An optional body whose every field was left out is not sent at all.
            return None, False
    elif isinstance(body, NotGiven):
        data = dict[str, Any]()
    else:
        data = _unstructured(op, "body", body, 1)
        _check_json(op, "body", data, 1)
    if extra:
        merged = _json_object(data)
        added = _unstructured(op, "extra_body", dict(extra), 1)
        _check_json(op, "extra_body", added, 1)
        merged.update(added)
        return merged, True
    return data, True


MAX_JSON_DEPTH = 128
"""The deepest nesting of objects and arrays a request body may have (the body itself is
level 1); a deeper one is refused before sending, as many servers would refuse it."""


def _unstructured(op: Operation[Any], label: str, value: object, depth: int) -> Any:
    """`unstructure(value)`, with typed errors for what no JSON can hold: nesting past any
    sane depth, or a key cattrs cannot convert (a tuple)."""
    try:
        return unstructure(value)
    except RecursionError:
        raise _too_deep(op, label) from None
    except TypeError:
        _check_json(op, label, value, depth)  # names a bad key, if that is the cause
        raise


def _check_json(op: Operation[Any], name: str, data: object, depth: int) -> None:
    """Refuse JSON object keys that are not `str`, and nesting past `MAX_JSON_DEPTH`.

    `json.dumps` would turn `True` into `"true"` (beside a `"true"` key already there: a
    duplicate the server reads either way), and fail on other keys. Walked without
    recursion, for every body sent: plain values cost one type test each.
    """
    # (value, its level, the top-level field it is in, if any: errors name it)
    todo: list[tuple[object, int, object]] = [(data, depth, None)]
    while todo:
        value, level, field = todo.pop()
        if level > MAX_JSON_DEPTH:
            raise _too_deep(op, name)
        if isinstance(value, dict):
            for key, item in cast("dict[object, object]", value).items():
                if type(key) is not str:
                    raise _bad_key(op, _label(name, field), key)
                if type(item) not in _SCALARS:
                    todo.append((item, level + 1, key if level == 1 else field))
        elif isinstance(value, list | tuple):
            for item in cast("Sequence[object]", value):
                if type(item) not in _SCALARS:
                    todo.append((item, level + 1, field))


def _label(name: str, field: object) -> str:
    return name if field is None else f"{name}[{field!r}]"


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _too_deep(op: Operation[Any], name: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"{where(op)}: {name} is nested deeper than {MAX_JSON_DEPTH} levels of objects and "
        "arrays; flatten it"
    )


def _bad_key(op: Operation[Any], label: str, key: object) -> InvalidArgumentError:
    shown = repr(key) if key is None or isinstance(key, bool | int | float) else "a key"
    return InvalidArgumentError(
        f"{where(op)}: {label} has {shown} of type {type(key).__name__} in a JSON object: "
        "JSON object keys must be str"
    )


def _multipart(
    op: Operation[Any], body: object, extra: Mapping[str, object] | None, files: object
) -> tuple[tuple[FilePart, ...], tuple[tuple[str, str], ...]]:
    """The uploads and the form fields of a `multipart/form-data` body.

    Text fields (strings and enums) go as they are; any other value as JSON text, as the
    API reads its `payload` form field.
    """
    if not op.multipart:
        raise InvalidArgumentError(f"{where(op)} takes no files: its body is JSON only")
    if not isinstance(body, Mapping | NotGiven):
        raise InvalidArgumentError(f"{where(op)}: files need a body of named fields")
    fields: dict[str, object] = dict(cast("Mapping[str, object]", body)) if body else {}
    if extra:
        fields.update(extra)
    form = tuple((name, _form_text(value)) for name, value in fields.items() if _given(value))
    uploads = check_uploads(where(op), files, form_fields={name for name, _ in form})
    return uploads, form


def _form_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, enum.Enum) and isinstance(value.value, str):
        return value.value
    try:
        text: str = json.dumps(unstructure(value), separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"a form field cannot be sent as JSON text: {exc}") from None
    return text


def _json_object(data: object) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InvalidArgumentError("extra_body needs a JSON object body to merge into")
    return cast("dict[str, Any]", data)


_VARKEYWORDS = 0x08  # inspect.CO_VARKEYWORDS, without importing inspect at startup
_INIT_KEYWORDS: dict[type, frozenset[str] | None] = {}


class KeywordsChecked:
    """A base whose subclasses' constructors refuse an unknown keyword with a did-you-mean.

    Python's own `TypeError` for a misspelled keyword names no alternative (before 3.13);
    this one is an `UnknownArgumentError` (a `TypeError` too) naming the nearest keyword
    that `__init__` takes. The check runs in `__new__`, before `__init__`, and keeps no
    argument value in its frame when it raises: the values may be credentials.
    """

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        allowed = _init_keywords(cls)
        if allowed is not None and not kwargs.keys() <= allowed:
            names = list(kwargs)
            del args, kwargs  # no credential in this frame's locals when the error passes
            refuse_unknown(f"{cls.__name__}()", names, allowed)
        return super().__new__(cls)


def _init_keywords(cls: type) -> frozenset[str] | None:
    """The keywords `cls.__init__` takes, or `None` when it takes any (`**kwargs`)."""
    try:
        return _INIT_KEYWORDS[cls]
    except KeyError:
        pass
    init: object = getattr(cls, "__init__", None)
    code = getattr(init, "__code__", None)
    names: frozenset[str] | None = None
    if code is not None and not code.co_flags & _VARKEYWORDS:
        count = code.co_argcount + code.co_kwonlyargcount
        names = frozenset(code.co_varnames[1:count])
    _INIT_KEYWORDS[cls] = names
    return names

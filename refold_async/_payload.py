"""Pure response handling: typed errors from error responses, models from 2xx bodies.

Works on plain values (status, headers, bytes) so it never holds an httpx object; error
text (message, body, request id, decode problems) is scrubbed of the call's own secrets
before it is stored (docs/architecture.md §6). A body that echoes a credential is never left in a local
of a frame that a decode error passes through (docs/architecture.md §12).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, cast

import cattrs

from ._auth import Secret
from ._convert import structure
from ._errors import (
    BODY_EXCERPT_CHARS,
    APIDecodeError,
    APIStatusError,
    RateLimitError,
    status_error_class,
)
from ._operation import Operation
from ._redact import redact

__all__ = [
    "MAX_RESPONSE_JSON_DEPTH",
    "decode_body",
    "error_from_response",
    "request_id_of",
    "scrub",
    "too_deep",
]

MAX_RESPONSE_JSON_DEPTH = 512
"""The deepest nesting of objects and arrays a response body may have (the body itself is
level 1). A deeper 2xx body is an `APIDecodeError`; a deeper error body is kept as text.
Checked before parsing: Python's parser, and anything walking its result, would hit the
recursion limit (`RecursionError`) on a body nested some thousand levels."""

_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-amzn-requestid", "x-correlation-id")


def scrub(text: str, secrets: Iterable[str | Secret | None]) -> str:
    """`text` with every form of any of `secrets` (raw, escaped, percent-encoded) redacted."""
    return redact(text, secrets)


def request_id_of(headers: Mapping[str, str], secrets: Iterable[str | Secret | None]) -> str | None:
    """The server's request id header, scrubbed (a proxy may echo anything there)."""
    found = next((headers[h] for h in _REQUEST_ID_HEADERS if h in headers), None)
    return None if found is None else scrub(found, secrets)


def _scrub_json(value: Any, secrets: tuple[str | Secret | None, ...]) -> Any:
    """Decoded JSON with every string (keys too) scrubbed; structure and types unchanged.

    Not by scrubbing the encoded text: JSON escapes (`\\"`) would hide a secret holding
    them, or a replacement could break an escape.
    """
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, dict):
        mapping = cast("dict[object, object]", value)
        return {scrub(str(k), secrets): _scrub_json(v, secrets) for k, v in mapping.items()}
    if isinstance(value, list):
        return [_scrub_json(item, secrets) for item in cast("list[object]", value)]
    return value


# A JSON string (escapes included), and every byte that is not a bracket.
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_NOT_OPENERS = bytes(b for b in range(256) if b not in b"[{")


def too_deep(content: bytes, limit: int = MAX_RESPONSE_JSON_DEPTH) -> bool:
    """Whether the JSON text `content` nests objects and arrays deeper than `limit`.

    Linear, and mostly in C: a body with at most `limit` opening brackets cannot be
    deeper (the common case: one pass, about 10 us on a 28 KB page of 100 items, a
    tenth of parsing it). Otherwise only the brackets outside
    strings are kept; a few passes remove the innermost pairs (a level each), which
    leaves few runs of brackets to walk.
    """
    if len(content.translate(None, _NOT_OPENERS)) <= limit:
        return False
    brackets = _JSON_STRING.sub(b"", content).translate(None, _NOT_BRACKETS)
    removed = 0
    while brackets and removed < _PASSES:
        reduced = brackets.replace(b"[]", b"").replace(b"{}", b"")
        if len(reduced) == len(brackets):
            break  # not JSON, or mismatched pairs: walked as they are
        brackets = reduced
        removed += 1
    level = deepest = 0
    for run in _RUNS.finditer(brackets):
        if brackets[run.start()] in b"[{":
            level += run.end() - run.start()
            deepest = max(deepest, level)
        else:
            level -= run.end() - run.start()
    return deepest + removed > limit


_PASSES = 4  # each a scan of the rest; the walk after them is per run of brackets
_RUNS = re.compile(rb"[\[{]+|[\]}]+")


def _parse_json(content: bytes) -> Any:
    if too_deep(content):
        return None  # kept as text
    try:
        return json.loads(content)
    except ValueError:
        return None


def _excerpt(content: bytes) -> str:
    text = " ".join(content.decode("utf-8", errors="replace").split())
    if len(text) > BODY_EXCERPT_CHARS:
        return text[: BODY_EXCERPT_CHARS - 1] + "…"
    return text


def _message_and_code(status: int, content: bytes) -> tuple[str, str | None, object]:
    parsed = _parse_json(content) if content.strip() else None
    if isinstance(parsed, dict):
        data = cast("dict[str, Any]", parsed)
        code = data.get("error_code") or data.get("error")
        message = data.get("message") or data.get("error_description")
        text = str(message) if message else (str(code) if code else _excerpt(content))
        return text, str(code) if isinstance(code, str | int) else None, data
    if not content.strip():
        return f"HTTP {status} with an empty body", None, None
    excerpt = _excerpt(content)
    return excerpt, None, excerpt


def error_from_response(
    *,
    status: int,
    headers: Mapping[str, str],
    content: bytes,
    method: str,
    path: str,
    attempts: int,
    retry_after: float | None,
    secrets: Iterable[str | Secret | None],
) -> APIStatusError:
    """The typed error for an error response (`RateLimitError` for 429, and so on)."""
    message, code, body = _message_and_code(status, content)
    secrets = tuple(secrets)
    message = scrub(message, secrets)
    code = None if code is None else scrub(code, secrets)
    body = _scrub_json(body, secrets)
    request_id = request_id_of(headers, secrets)
    fields: dict[str, Any] = {
        "status": status,
        "code": code,
        "method": method,
        "path": path,
        "request_id": request_id,
        "body": body,
        "attempts": attempts,
    }
    cls = status_error_class(status)
    if cls is RateLimitError:
        return RateLimitError(message, retry_after=retry_after, **fields)
    return cls(message, **fields)


def decode_body(
    op: Operation[Any],
    *,
    status: int,
    content: bytes,
    path: str,
    headers: Mapping[str, str] | None = None,
    secrets: Iterable[Secret | str | None] = (),
) -> Any:
    """The 2xx body decoded into `op.returns`, or `APIDecodeError` if it does not fit.

    The error's text is scrubbed of `secrets`, and it has no cause: the converter's
    exceptions keep frames whose locals hold the body.
    """
    outcome = _decode(op, content)
    del content  # docs/architecture.md §12: the body may echo a credential
    if not isinstance(outcome, _Misfit):
        return outcome
    secrets = tuple(secrets)
    request_id = request_id_of(headers or {}, secrets)
    del headers  # their repr shows every value, an echoed credential too
    problems = [scrub(problem, secrets) for problem in outcome.problems]
    summary = "; ".join(problems[:3])
    raise APIDecodeError(
        f"{op.id} answered {status} with a body that does not fit: {summary}",
        problems=problems,
        status=status,
        method=op.method,
        path=path,
        request_id=request_id,
    )


class _Misfit:
    """Why a body does not fit; returned, never raised, so no frame keeps the body."""

    __slots__ = ("problems",)

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems


def _decode(op: Operation[Any], content: bytes) -> Any:
    if op.returns is None:
        return None
    if not content.strip():
        return None if op.returns is Any else _Misfit(["the body is empty"])
    if too_deep(content):
        return _Misfit([f"the body nests JSON deeper than {MAX_RESPONSE_JSON_DEPTH} levels"])
    try:
        data = json.loads(content)
    except ValueError:
        return _Misfit([f"the body is not JSON: {_excerpt(content)!r}"])
    if op.returns is Any:
        return data
    try:
        return structure(data, op.returns)
    except cattrs.BaseValidationError as exc:
        return _Misfit(cattrs.transform_error(exc))
    except (ValueError, TypeError, KeyError) as exc:
        return _Misfit([str(exc)])

"""Pure response handling: typed errors from error responses, models from 2xx bodies.

Works on plain values (status, headers, bytes) so it never holds an httpx object; error
text is scrubbed of the call's own secrets before it is stored (DESIGN §6).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, cast

import cattrs

from ._convert import structure
from ._errors import (
    BODY_EXCERPT_CHARS,
    APIDecodeError,
    APIStatusError,
    RateLimitError,
    status_error_class,
)
from ._operation import Operation

__all__ = ["decode_body", "error_from_response", "scrub"]

_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-amzn-requestid", "x-correlation-id")
_REDACTED = "[redacted]"


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of any of `secrets` replaced by a marker."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, _REDACTED)
    return text


def _parse_json(content: bytes) -> Any:
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
    secrets: Iterable[str],
) -> APIStatusError:
    """The typed error for an error response (`RateLimitError` for 429, and so on)."""
    message, code, body = _message_and_code(status, content)
    secrets = tuple(secrets)
    message = scrub(message, secrets)
    if isinstance(body, str):
        body = scrub(body, secrets)
    elif body is not None:
        body = json.loads(scrub(json.dumps(body), secrets))
    request_id = next((headers[h] for h in _REQUEST_ID_HEADERS if h in headers), None)
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


def decode_body(op: Operation[Any], *, status: int, content: bytes, path: str) -> Any:
    """The 2xx body decoded into `op.returns`, or `APIDecodeError` if it does not fit."""
    if op.returns is None:
        return None
    if not content.strip():
        if op.returns is Any:
            return None
        raise _decode_error(op, status, path, ["the body is empty"])
    try:
        data = json.loads(content)
    except ValueError:
        raise _decode_error(
            op, status, path, [f"the body is not JSON: {_excerpt(content)!r}"]
        ) from None
    if op.returns is Any:
        return data
    try:
        return structure(data, op.returns)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as exc:
        problems = (
            cattrs.transform_error(exc)
            if isinstance(exc, cattrs.BaseValidationError)
            else [str(exc)]
        )
        raise _decode_error(op, status, path, problems) from exc


def _decode_error(
    op: Operation[Any], status: int, path: str, problems: list[str]
) -> APIDecodeError:
    summary = "; ".join(problems[:3])
    return APIDecodeError(
        f"{op.id} answered {status} with a body that does not fit: {summary}",
        problems=problems,
        status=status,
        method=op.method,
        path=path,
    )

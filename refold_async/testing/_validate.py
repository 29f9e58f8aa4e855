"""Generic request checks from the operation registry: required parameters, bodies, values.

Whatever an operation declares required must be there, or the answer is 400 in the
error envelope, before any handler runs. A required `linked_account_id`, in any
location, is also satisfied by the session token's linked account. Values that are
there must fit their parameter (kind, enum values, bounds, pattern, format, length,
union branches): the very checks the SDK runs before sending (`check_wire_values`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from refold_async._arguments import check_wire_values
from refold_async._errors import InvalidArgumentError
from refold_async._operation import Operation, Param

from ._auth import Principal
from ._handlers._base import as_object
from ._http import ApiError

__all__ = ["decode_json_body", "validate"]


def decode_json_body(raw: bytes) -> Any:
    """The request body as JSON (`None` when empty), or 400."""
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError(400, "the request body is not valid JSON", "INVALID_JSON") from None


def _present(param: Param, query: Mapping[str, str], headers: Mapping[str, str], body: Any) -> bool:
    if param.location == "query":
        return bool(query.get(param.wire_name))
    if param.location == "header":
        return bool(headers.get(param.wire_name.lower()))
    if param.location == "body":
        fields = as_object(body) or {}
        return fields.get(param.wire_name) not in (None, "")
    return True


def validate(
    op: Operation[Any],
    *,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    body: Any,
    principal: Principal,
    path: Mapping[str, str] | None = None,
) -> None:
    """Raise a 400 `ApiError` naming what is missing or what does not fit, if anything."""
    missing = [
        f"{param.location} parameter {param.wire_name!r}"
        for param in op.params
        if param.required
        and not _present(param, query, headers, body)
        and not (param.wire_name == "linked_account_id" and principal.linked_account_id)
    ]
    if op.body_required and body is None:
        missing.append("a JSON request body")
    if missing:
        raise ApiError(400, f"{op.id} is missing {', '.join(missing)}", "VALIDATION_ERROR")
    try:
        check_wire_values(op, path=path or {}, query=query, headers=headers, body=body)
    except InvalidArgumentError as exc:
        raise ApiError(400, f"{op.id}: {exc}", "VALIDATION_ERROR") from None

"""Routing: from a method and a raw path to the registry's `Operation` and path values.

Every path template of the operation registry is compiled to a regular expression that
matches exactly one segment per `{name}` placeholder. When several templates match a
path, the most specific wins: templates are tried in order of their literal segments
first (`/workflow/enabled` before `/workflow/{workflowId}`), position by position.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

import attrs

from refold_async._operation import Operation

from ._http import ApiError

__all__ = ["Route", "Router"]

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


@attrs.frozen
class Route:
    """One operation's compiled path template."""

    op: Operation[Any]
    pattern: re.Pattern[str]
    names: tuple[str, ...]
    specificity: tuple[int, ...]


def _compile(op: Operation[Any]) -> Route:
    segments = op.path.strip("/").split("/")
    names: list[str] = []
    parts: list[str] = []
    rank: list[int] = []
    for segment in segments:
        if _PLACEHOLDER.fullmatch(segment):
            names.append(segment[1:-1])
            parts.append("([^/]+)")
            rank.append(1)
        else:
            parts.append(re.escape(segment))
            rank.append(0)
    pattern = re.compile("^/" + "/".join(parts) + "/?$")
    return Route(op, pattern, tuple(names), tuple(rank))


class Router:
    """Finds the operation for a request.

    Example:
        ```python
        router = Router(OPERATIONS.values())
        op, params = router.match("GET", "/api/v2/public/execution/ex_1")
        ```
    """

    def __init__(self, operations: Iterable[Operation[Any]]) -> None:
        routes = [_compile(op) for op in operations]
        # Literal segments before placeholders, leftmost first (docs/architecture.md §9: one answer per path).
        self._routes = sorted(routes, key=lambda r: (r.specificity, r.op.path, r.op.method))

    def match(self, method: str, raw_path: str) -> tuple[Operation[Any], dict[str, str]]:
        """The operation and its decoded path values, or raise 404 / 405 `ApiError`."""
        allowed: list[str] = []
        for route in self._routes:
            found = route.pattern.match(raw_path)
            if found is None:
                continue
            if route.op.method != method:
                allowed.append(route.op.method)
                continue
            return route.op, {
                name: unquote(value)
                for name, value in zip(route.names, found.groups(), strict=True)
            }
        if allowed:
            raise ApiError(
                405, f"{method} is not allowed here; try {', '.join(sorted(set(allowed)))}"
            )
        raise ApiError(404, f"no route for {method} {raw_path}", "ROUTE_NOT_FOUND")

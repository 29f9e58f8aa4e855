"""Trace events, named as httpcore names them, sent to `request.extensions["trace"]`.

A trace callback gets `(name, info)` for each step of an attempt: `connection.connect_tcp`,
`connection.start_tls`, `http11.send_request_headers`, `http11.send_request_body`,
`http11.receive_response_headers`, `http11.receive_response_body` and
`http11.response_closed`, each `.started` then `.complete` (or `.failed`). Code written
for httpx's default transport reads the same events from this one.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx

__all__ = ["Trace"]


class Trace:
    """The trace callback of one request, if it has one."""

    __slots__ = ("callback", "request")

    def __init__(self, request: httpx.Request) -> None:
        self.request = request
        self.callback: Callable[[str, dict[str, Any]], Any] | None = request.extensions.get("trace")

    async def emit(self, name: str, info: dict[str, Any]) -> None:
        callback = self.callback
        if callback is None:
            return
        result = callback(name, info)
        if inspect.isawaitable(result):
            await result

    @asynccontextmanager
    async def step(self, name: str, **info: Any) -> AsyncGenerator[dict[str, Any], None]:
        """Emit `name.started`, then `name.complete` (or `name.failed` with the error)."""
        if self.callback is None:
            yield info
            return
        await self.emit(f"{name}.started", {"request": self.request, **info})
        outcome: dict[str, Any] = {}
        try:
            yield outcome
        except Exception as exc:
            await self.emit(f"{name}.failed", {"exception": exc})
            raise
        await self.emit(f"{name}.complete", {"return_value": outcome.get("return_value")})

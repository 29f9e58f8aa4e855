"""The in-process way in: an `httpx.AsyncBaseTransport` that answers from an `Emulator`.

No sockets: a request becomes an `EmulatedRequest`, the emulator's answer becomes an
`httpx.Response`, and a dropped connection becomes the exception httpx itself would
raise (`ConnectError`, `RemoteProtocolError`, `ReadTimeout`), so the SDK's transport
sees exactly what it would see on the network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
from typing_extensions import override

from ._http import Drop, EmulatedRequest, EmulatedResponse, parse_query

if TYPE_CHECKING:
    from ._emulator import Emulator

__all__ = ["EmulatorTransport"]


class EmulatorTransport(httpx.AsyncBaseTransport):
    """Sends every request to an emulator, in-process.

    Example:
        ```python
        http = httpx.AsyncClient(transport=emulator.transport())
        client = AsyncRefold(api_key=emulator.api_key, base_url=BASE_URL, http_client=http)
        ```
    """

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    @override
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        content = await request.aread()
        raw_path, _, raw_query = request.url.raw_path.decode("ascii").partition("?")
        emulated = EmulatedRequest(
            method=request.method,
            path=raw_path,
            query=parse_query(raw_query),
            headers={name.lower(): value for name, value in request.headers.items()},
            body=content,
        )
        answer = await self.emulator.handle(emulated)
        if answer.drop is not None:
            raise _dropped(answer.drop, request)
        return _to_httpx(answer, request)


def _dropped(drop: Drop, request: httpx.Request) -> httpx.TransportError:
    if drop is Drop.CONNECT:
        return httpx.ConnectError("[emulated] connection refused", request=request)
    if drop is Drop.TIMEOUT:
        return httpx.ReadTimeout("[emulated] read timed out", request=request)
    return httpx.RemoteProtocolError(
        "Server disconnected without sending a response.", request=request
    )


def _to_httpx(answer: EmulatedResponse, request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        answer.status,
        headers=list(answer.headers),
        content=answer.body,
        request=request,
        extensions={"http_version": b"HTTP/1.1"},
    )

"""The SDK's own HTTP transport (HTTP/1.1 over anyio, on asyncio or trio).

Private: `WireTransport` is what the pool a client makes for itself sends through.
"""

from ._transport import WireTransport

__all__ = ["WireTransport"]

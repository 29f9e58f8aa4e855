"""The blocking client on the in-process emulator, in one line.

```python
from refold_async.testing import Emulator
from refold_sync.testing import sync_client

emulator = Emulator()
with sync_client(emulator) as client:
    client.linked_accounts.upsert(linked_account_id="acme", name="Acme")
```

`sync_client(emulator)` is the blocking twin of `emulator.client()` (which `refold_async`
cannot offer: it never imports this package). The `AsyncRefold` behind the `Refold` is
made by `emulator.client()` on the SDK's loop thread, so the httpx client it owns lives
on the loop that uses it, is closed by `close()`, and is made afresh after a `fork`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from typing_extensions import Unpack

from ._client import Refold

if TYPE_CHECKING:
    from refold_async import AsyncRefold, ClientOptions
    from refold_async.testing import Emulator

__all__ = ["sync_client"]


def sync_client(emulator: Emulator, **options: Unpack[ClientOptions]) -> Refold:
    """A `Refold` answered in-process by `emulator` (no sockets), with its first key.

    Args:
        emulator: The emulator to reach.
        **options: `Refold`'s options; `api_key` defaults to the emulator's first key and
            `base_url` to `refold_async.testing.BASE_URL`. `http_client` is not taken:
            the emulator supplies the transport.

    Raises:
        RefoldUsageError: For options `AsyncRefold` refuses.
        TypeError: `emulator` is not an `Emulator`, or `http_client` was passed.

    Example:
        ```python
        with sync_client(Emulator(rate_limit=None), rate_limit=None) as client:
            assert client.events.list() == []
        ```
    """
    from refold_async.testing import Emulator

    if not isinstance(emulator, Emulator):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(f"sync_client() takes an Emulator, not {type(emulator).__name__}")
    if "http_client" in options:
        raise TypeError("sync_client() makes its own in-process http client: drop http_client=")

    def make() -> AsyncRefold:  # its repr shows no option, so no key either
        return emulator.client(**options)

    client = object.__new__(Refold)
    # Made on the loop thread, by the emulator: the pool is the client's own (closed by
    # close(), remade after a fork), as with a Refold built from options.
    client._bind(make, pins_http_client=False)  # pyright: ignore[reportPrivateUsage]
    return client

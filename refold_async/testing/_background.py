"""The loopback server on a thread of its own, for blocking code and for other processes.

`EmulatorServer` runs on an event loop; code under test that is blocking (a Django view,
a script, a `refold_sync.Refold`) has none to lend it. `BackgroundServer` runs one on a
daemon thread: `start()` returns once it listens, `close()` stops it and waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from types import TracebackType
from typing import TYPE_CHECKING

from ._server import EmulatorServer

if TYPE_CHECKING:
    from ._emulator import Emulator

__all__ = ["BackgroundServer"]

START_TIMEOUT = 30.0
"""Seconds `start()` waits for the server to listen."""


class BackgroundServer:
    """An `EmulatorServer` served from a daemon thread; use it as a context manager.

    Example:
        ```python
        with emulator.serve_in_background() as server:
            os.environ["REFOLD_BASE_URL"] = server.url
            run_my_script()
        ```
    """

    def __init__(self, emulator: Emulator, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator: Emulator = emulator
        self.server: EmulatorServer = EmulatorServer(emulator, host=host, port=port)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="refold-emulator", daemon=True)

    @property
    def url(self) -> str:
        """The base URL to give clients, e.g. `http://127.0.0.1:49152`."""
        return self.server.url

    def start(self) -> BackgroundServer:
        """Start listening; returns once the server accepts connections."""
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise RuntimeError("the emulator's loopback server did not start")
        if self._failure is not None:
            raise RuntimeError(f"the emulator's loopback server failed: {self._failure!r}")
        return self

    def close(self) -> None:
        """Stop the server and its thread (harmless if it is not running)."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(stop.set)
        if self._thread.is_alive():
            self._thread.join(START_TIMEOUT)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # reported by start(); a thread has nowhere to raise
            self._failure = error
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with self.server:
            self._ready.set()
            await self._stop.wait()

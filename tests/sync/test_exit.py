"""Interpreter exit never hangs on the loop thread, with or without `close()`."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PRELUDE = """
import asyncio, threading, httpx
from refold_sync import Refold
from tests.sync.support import InProcessAPI, probe
"""


def run_script(body: str) -> subprocess.CompletedProcess[str]:
    """Run `body` in a fresh interpreter; `timeout` turns a hang into a test failure."""
    script = PRELUDE + textwrap.dedent(body)
    return subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-W", "error::ResourceWarning", "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            """
            client = InProcessAPI().client()
            assert probe(client).ping("x") == {"pong": "x"}
            """,
            id="in-process-transport",
        ),
        pytest.param(
            """
            import atexit
            from tests.sync.support import LoopbackAPI
            api = LoopbackAPI()
            threading.Thread(target=api.server.serve_forever, daemon=True).start()
            # Registered after refold_sync's own hook, so this runs first: the server
            # stops accepting, and the SDK then closes its pooled connection itself.
            atexit.register(lambda: (api.server.shutdown(), api.server.server_close()))
            client = api.client()
            assert probe(client).ping("x") == {"pong": "x"}
            """,
            id="real-pool",
        ),
        pytest.param(
            """
            from refold_sync import _portal
            async def noop(): return None
            _portal.run(noop)
            """,
            id="loop-only",
        ),
    ],
)
def test_exit_without_close_returns_promptly_and_quietly(body: str) -> None:
    """A script that makes a call and exits without `close()` ends cleanly."""
    result = run_script(body)
    assert (result.returncode, result.stderr) == (0, "")


def test_exit_cancels_a_call_still_in_flight() -> None:
    """At exit, a call still running in a daemon thread is cancelled, not waited for."""
    result = run_script(
        """
        class Reporting(InProcessAPI):
            async def _block(self):
                try:
                    return await super()._block()
                except asyncio.CancelledError:
                    print("server saw cancel", flush=True)
                    raise

        def call():
            try:
                probe(client).ping("block")
            except BaseException as error:
                print("caller got", type(error).__name__, flush=True)

        api = Reporting()
        client = api.client()
        threading.Thread(target=call, daemon=True).start()
        assert api.entered.wait(10)
        """
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert "server saw cancel" in result.stdout

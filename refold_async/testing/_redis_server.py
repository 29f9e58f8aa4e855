"""A `redis-server` of one's own for outage tests and benchmarks: started, killed, frozen.

Used by the Redis outage tests and by `benchmarks/limits/multihost.py`; never by the
client. It runs the machine's `redis-server` on a free loopback port with persistence
off (never the shared server on 6379), so it can be killed (SIGKILL, then started again
empty on the same port) or frozen (SIGSTOP, SIGCONT) at will.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["RedisServer", "RedisServerError"]

_START_TIMEOUT = 10.0


class RedisServerError(RuntimeError):
    """No `redis-server` on this machine, or it did not start."""


class RedisServer:
    """One `redis-server` on a fixed free loopback port that can be stopped and started.

    Args:
        workdir: Its working directory (default: the current one; nothing is written,
            persistence is off).
        executable: The server binary (default: `redis-server` on PATH).

    Raises:
        RedisServerError: there is no `redis-server`.
    """

    def __init__(self, workdir: Path | None = None, executable: str | None = None) -> None:
        found = executable or shutil.which("redis-server")
        if found is None:
            raise RedisServerError("redis-server not found")
        self.executable = found
        self.workdir = workdir
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """`redis://127.0.0.1:<port>/0`."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server (empty) and wait until it accepts connections.

        Raises:
            RedisServerError: it did not accept a connection within 10 s.
        """
        command = [self.executable, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no"]
        if self.workdir is not None:
            command += ["--dir", str(self.workdir)]
        self.process = subprocess.Popen(  # noqa: S603 - the machine's redis-server
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RedisServerError("redis-server did not start")

    def stop(self) -> None:
        """Kill the server (SIGKILL: no goodbye to its clients), if it runs."""
        if self.process is not None:
            self.thaw()  # a stopped process dies only once continued on some systems
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def freeze(self) -> None:
        """Stop the server in its tracks (SIGSTOP): connections stay open, nobody answers."""
        if self.process is not None:
            self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """Let a frozen server go on (SIGCONT); it answers what queued meanwhile."""
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)

"""The servers of the `bench_limits` harness: the emulator, and nginx `limit_req` before it.

`Servers` starts `refold emulator --no-rate-limit` and an nginx that limits by the
`x-api-key` header (20 r/s, `burst=4 nodelay`: the API's bucket of 5 refilling at 20/s)
and answers 429 past it, both on free loopback ports, both child processes of this one:
nginx runs in the foreground (`daemon off`) with its prefix, config, pid file and logs in
a temporary directory, so no system file is read or written. `stop()` ends both, killing
what does not stop within a few seconds.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from .access_log import LOG_FORMAT

__all__ = ["HarnessError", "Servers", "find_nginx", "nginx_config"]

LOOPBACK = "127.0.0.1"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0


class HarnessError(RuntimeError):
    """The harness could not do its job (no nginx, a server that will not start...)."""


def find_nginx() -> str:
    """The nginx binary: `$NGINX`, else on PATH, else Debian's `/usr/sbin/nginx`."""
    for candidate in (os.environ.get("NGINX"), shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise HarnessError(
        "nginx not found: `nox -s bench_limits` installs it (apt-get install nginx-light), "
        "or set NGINX=/path/to/nginx"
    )


def nginx_config(prefix: Path, *, listen: int, upstream: int) -> str:
    """The whole nginx.conf: one worker, one server, every path inside `prefix`."""
    return f"""\
daemon off;
master_process on;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {prefix}/scratch/body;
    proxy_temp_path {prefix}/scratch/proxy;
    fastcgi_temp_path {prefix}/scratch/fastcgi;
    uwsgi_temp_path {prefix}/scratch/uwsgi;
    scgi_temp_path {prefix}/scratch/scgi;
    log_format bench '{LOG_FORMAT}';
    # The API's budget, enforced by code that is not ours: a bucket of 1 + 4 = 5,
    # refilling at 20/s, per API key; refused requests take no token.
    limit_req_zone $http_x_api_key zone=refold:1m rate=20r/s;
    limit_req_status 429;
    limit_req_log_level info;
    upstream emulator {{
        server {LOOPBACK}:{upstream};
        keepalive 64;
    }}
    server {{
        listen {LOOPBACK}:{listen};
        access_log {prefix}/access.log bench;
        location / {{
            limit_req zone=refold burst=4 nodelay;
            proxy_pass http://emulator;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
        }}
    }}
}}
"""


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


class Servers:
    """The emulator and nginx, for the life of a `with` block.

    Attributes:
        url: nginx's base URL, for the clients.
        access_log: The file nginx logs every request to, in `LOG_FORMAT`.
        workdir: The temporary directory everything lives in (removed at the end).
    """

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.workdir = Path(tempfile.mkdtemp(prefix="refold-bench-limits-"))
        # nginx's worker runs as `nobody` when we are root: let it through the directory.
        self.workdir.chmod(0o755)
        self.access_log = self.workdir / "access.log"
        self.url = ""
        self._children: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Servers:
        try:
            emulator_url = self._start_emulator()
            self._start_nginx(int(emulator_url.rsplit(":", 1)[1]))
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _spawn(self, command: list[str], log: str) -> subprocess.Popen[bytes]:
        with (self.workdir / log).open("wb") as out:
            child = subprocess.Popen(  # noqa: S603 - our own module and the nginx binary
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        self._children.append(child)
        return child

    def _start_emulator(self) -> str:
        log = "emulator.log"
        child = self._spawn(
            [sys.executable, "-m", "refold_async._cli", "emulator", "--port", "0",
             "--no-rate-limit", "--api-key", self.api_key],
            log,
        )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            found = re.search(r"listening on (http://\S+)", (self.workdir / log).read_text())
            if found:
                return found.group(1)
            self._check_alive(child, "the emulator", log)
            time.sleep(0.05)
        raise HarnessError(f"the emulator did not start within {START_TIMEOUT:g} s")

    def _start_nginx(self, upstream: int) -> None:
        nginx = find_nginx()
        (self.workdir / "scratch").mkdir()
        listen = free_port()
        config = self.workdir / "nginx.conf"
        config.write_text(nginx_config(self.workdir, listen=listen, upstream=upstream))
        child = self._spawn(
            [nginx, "-p", f"{self.workdir}/", "-c", str(config), "-e", f"{self.workdir}/error.log"],
            "nginx.out",
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            self._check_alive(child, "nginx", "error.log")
            with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, listen), 0.5):
                self.url = f"http://{LOOPBACK}:{listen}"
                return
            time.sleep(0.05)
        raise HarnessError(f"nginx did not listen within {START_TIMEOUT:g} s")

    def _check_alive(self, child: subprocess.Popen[bytes], name: str, log: str) -> None:
        if child.poll() is not None:
            path = self.workdir / log
            tail = path.read_text(errors="replace")[-2000:] if path.exists() else ""
            raise HarnessError(f"{name} exited with {child.returncode}:\n{tail}")

    def stop(self) -> None:
        """End every child (SIGTERM, then SIGKILL after a few seconds) and remove workdir."""
        for child in reversed(self._children):
            if child.poll() is None:
                child.terminate()
        for child in reversed(self._children):
            try:
                child.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=STOP_TIMEOUT)
        self._children.clear()
        shutil.rmtree(self.workdir, ignore_errors=True)

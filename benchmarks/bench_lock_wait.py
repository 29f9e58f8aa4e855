"""What waiting for the host lock costs, while another process holds it.

A child process takes the `flock` of a bucket's state file and keeps it; this process
then asks the host-scope limiter for a slot, which waits for the lock until the bound
(`--hold`, seconds: the limiter's lock bound, scaled up so that the wait is long enough
to measure) and then falls back to process scope. Reported: the wall time of the wait,
the CPU time this process spent in it (`resource.getrusage`, user + system), their
ratio (the share of one core), and how many times the lock was tried.

    python benchmarks/bench_lock_wait.py             # a 5 s wait, 3 runs
    python benchmarks/bench_lock_wait.py --hold 10 --runs 5

The exit status is 0 whatever the figures (a measurement).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from refold_async._ratelimit import HostRateLimiter, RateLimit, _host

KEY = "https://api.invalid#bench-lock-wait"
HOLDER = (
    "import fcntl, os, sys\n"
    "fd = os.open(sys.argv[1], os.O_RDWR)\n"
    "fcntl.flock(fd, fcntl.LOCK_EX)\n"
    "print('locked', flush=True)\n"
    "sys.stdin.read()\n"
)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def one_run(hold: float) -> dict[str, float]:
    """One wait for a lock held elsewhere, until the (scaled) bound; its costs."""
    with tempfile.TemporaryDirectory(prefix="refold-bench-lock-") as where:
        directory = Path(where)
        asyncio.run(HostRateLimiter(RateLimit(), directory=directory).acquire(KEY))
        (state,) = directory.iterdir()
        child = subprocess.Popen(  # noqa: S603 - our interpreter, our script
            [sys.executable, "-c", HOLDER, str(state)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdin is not None
        try:
            assert child.stdout.readline().strip() == "locked"
            tries = [0]
            transact = _host._StateFile.transact

            def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
                tries[0] += 1
                return transact(self, *args, **kwargs)

            _host._StateFile.transact = counting  # type: ignore[method-assign]
            _host._LOCK_WAIT = hold
            limiter = HostRateLimiter(RateLimit(), directory=directory)
            began, cpu = time.monotonic(), cpu_seconds()
            asyncio.run(limiter.acquire(KEY))
            wall, used = time.monotonic() - began, cpu_seconds() - cpu
            _host._StateFile.transact = transact  # type: ignore[method-assign]
            assert limiter.scope == "process"
        finally:
            child.stdin.close()
            child.wait(10)
            child.stdout.close()
    return {"wall": wall, "cpu": used, "share": used / wall, "tries": tries[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hold", type=float, default=5.0, help="seconds to wait (lock bound)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("refold").setLevel(logging.ERROR)  # the fallback's warning, expected
    for run in range(1, args.runs + 1):
        r = one_run(args.hold)
        print(
            f"run {run}: waited {r['wall']:.2f} s, CPU {r['cpu'] * 1000:.1f} ms "
            f"({r['share'] * 100:.2f} % of a core), {r['tries']:.0f} tries of the lock"
        )


if __name__ == "__main__":
    main()

"""Measures one call's peak memory against a fault server; run as a subprocess.

`python -m tests.faults.rss_probe URL [MAX_RESPONSE_BYTES]` warms the client up on
`URL/warm`, notes the peak RSS, calls `URL/attack`, and prints one JSON line: the error
class, the seconds it took, the peak RSS growth in MiB (`ru_maxrss` is a peak, so the
growth covers every moment of the call) and the loop's lag: the longest gap seen by a
task that asks to wake every 5 ms during the call. A process of its own keeps the pytest process's
memory, and the server's, out of the figure.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from typing import Any

from refold_async import AsyncRefold, RetryPolicy
from refold_async._operation import AuthScope, Operation

_WARM: Operation[Any] = Operation(
    id="warm", method="GET", path="/warm", auth=AuthScope.ORG_KEY, returns=Any
)
_ATTACK: Operation[Any] = Operation(
    id="attack", method="GET", path="/attack", auth=AuthScope.ORG_KEY, returns=Any
)


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def main(url: str, limit: int | None) -> dict[str, Any]:
    options: dict[str, Any] = {} if limit is None else {"max_response_bytes": limit}
    async with AsyncRefold(
        api_key="tk_probe_0123456789abcdef",
        base_url=url,
        rate_limit=None,
        retry=RetryPolicy(max_attempts=1),
        timeout=120,
        **options,
    ) as client:
        await client._transport.send(_WARM)
        baseline = _peak_mib()
        started = time.monotonic()
        lag = [0.0]
        ticker = asyncio.create_task(_tick(lag))
        try:
            await client._transport.send(_ATTACK)
            outcome = "no error"
        except Exception as exc:  # the class is the measurement
            outcome = type(exc).__name__
        finally:
            ticker.cancel()
        return {
            "outcome": outcome,
            "seconds": round(time.monotonic() - started, 2),
            "growth_mib": round(_peak_mib() - baseline, 1),
            "baseline_mib": round(baseline, 1),
            "lag_ms": round(lag[0] * 1000, 1),
        }


async def _tick(lag: list[float]) -> None:
    """Sleep 5 ms at a time, noting in `lag[0]` the longest time a wake-up took."""
    last = time.monotonic()
    while True:
        await asyncio.sleep(0.005)
        now = time.monotonic()
        lag[0] = max(lag[0], now - last)
        last = now


if __name__ == "__main__":
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else None
    print(json.dumps(asyncio.run(main(sys.argv[1], limit))))  # noqa: T201 - the probe's answer

"""What `refold emulator` prints when it starts: where it listens and the key to use.

The emulator's keys are test fakes (the emulator is the server side and made them up, or
was given them for the purpose), so the banner shows them, with an `export` line a shell
can paste. A key that looks live (`pk…`) is shown by fingerprint only: it may be a real
credential passed by mistake, and terminals and CI logs keep what they show.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._state import fingerprint

if TYPE_CHECKING:
    from ._emulator import Emulator

__all__ = ["banner", "shown_key"]


def shown_key(api_key: str) -> str | None:
    """The key as the banner may print it: itself, or `None` when it looks live."""
    return None if api_key.startswith("pk") else api_key


def banner(
    emulator: Emulator,
    url: str,
    *,
    fault_rate: float = 0.0,
    statuses: Sequence[int] | None = None,
    seed: int = 0,
) -> str:
    """The lines printed at start-up; the first names the URL (scripts read it)."""
    keys = emulator.api_keys
    lines = [
        f"Refold emulator listening on {url} "
        f"({len(keys)} API key{'s' if len(keys) > 1 else ''}; Ctrl-C stops)",
        f"  base URL    {url}",
    ]
    for key in keys:
        shown = shown_key(key)
        if shown is None:
            lines.append(
                f"  API key     pk… (fingerprint {fingerprint(key)}; looks live, not shown)"
            )
        else:
            lines.append(f"  API key     {shown}  (a test key of this emulator, not a credential)")
    limit = emulator.rate_limit
    lines.append(
        f"  rate limit  {limit[0]:g}/s, burst {limit[1]} per credential"
        if limit is not None
        else "  rate limit  off"
    )
    if fault_rate > 0:
        kinds = ", ".join(map(str, statuses)) if statuses else "5xx, 429 and dropped connections"
        lines.append(f"  faults      {fault_rate:.0%} of requests: {kinds} (seed {seed})")
    if emulator.latency > 0:
        lines.append(f"  latency     {emulator.latency:g} s per answer")
    printable = [shown for shown in map(shown_key, keys) if shown is not None]
    if printable:
        lines += ["", f"export REFOLD_BASE_URL={url} REFOLD_API_KEY={printable[0]}"]
    else:
        lines += ["", f"export REFOLD_BASE_URL={url}  # and REFOLD_API_KEY: the key you passed"]
    return "\n".join(lines)

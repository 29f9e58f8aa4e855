"""Client-side rate limiting (docs/architecture.md §4): the budget, the protocol, and three scopes.

The server allows a bucket of `burst` requests that refills at `per_second`, per key.
Every limiter keeps one slot of headroom below that, pauses a whole bucket when told
about a 429, and resumes after the pause at the steady rate, without a burst. The
transport awaits `acquire(key)` before every attempt (`priority=True` for retries) and
calls `penalize(key, retry_after)` after a 429; `key` is opaque (base URL plus
credential fingerprint, never a secret).

| scope | limiter | shares one budget across |
| --- | --- | --- |
| process | `LocalRateLimiter` (aiolimiter) | the loops of one process, per loop |
| host (default) | `HostRateLimiter` (GCRA under a file lock) | every loop and process of a machine |
| cluster | `RedisRateLimiter` (GCRA in Redis) | every machine using the Redis server |

`UnlimitedRateLimiter` is no limit at all (`rate_limit=None`).
"""

import typing as _typing

from refold_async._lazy import attribute_loader as _attribute_loader

from ._base import (
    DEFAULT_RATE_LIMIT,
    RateLimit,
    RateLimiter,
    SlotTooFar,
    UnlimitedRateLimiter,
    client_capacity,
)
from ._host import HostRateLimiter, default_state_dir, shared_host_limiter
from ._process import LocalRateLimiter, shared_local_limiter

if _typing.TYPE_CHECKING:
    from ._redis import RedisRateLimiter, RedisScriptClient

__all__ = [
    "DEFAULT_RATE_LIMIT",
    "HostRateLimiter",
    "LocalRateLimiter",
    "RateLimit",
    "RateLimiter",
    "RedisRateLimiter",
    "RedisScriptClient",
    "SlotTooFar",
    "UnlimitedRateLimiter",
    "client_capacity",
    "default_state_dir",
    "shared_host_limiter",
    "shared_local_limiter",
]

if not _typing.TYPE_CHECKING:  # the Redis limiter loads on first use (import cost)
    __getattr__ = _attribute_loader(
        __name__, {"RedisRateLimiter": "._redis", "RedisScriptClient": "._redis"}
    )

"""`REFOLD_LOG`: the `refold` logger's output on stderr, switched on without code.

`REFOLD_LOG=info` (one line per call) or `REFOLD_LOG=debug` (one per attempt and limiter
wait too) is read when a client is made. The first client made with it set gives the
`refold` logger a stderr handler and that level, once per process, and only if the
application has not configured that logger itself (a handler of its own, or a level):
then its setup wins and nothing is added. If the root logger has handlers (say,
`logging.basicConfig()`), only the level is set and the records go to those.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import warnings

__all__ = ["LOGGER_NAME", "configure_from_env"]

LOGGER_NAME = "refold"
ENV_VAR = "REFOLD_LOG"
_LEVELS = {"info": logging.INFO, "debug": logging.DEBUG}
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_lock = threading.Lock()
_done = False


def configure_from_env() -> None:
    """Apply `REFOLD_LOG` once per process; later calls (other clients) do nothing."""
    global _done
    with _lock:
        if _done:
            return
        value = os.environ.get(ENV_VAR, "").strip().lower()
        if not value:
            return  # not set yet: a client made after setting it still applies it
        _done = True
        level = _LEVELS.get(value)
        if level is None:
            warnings.warn(
                f"{ENV_VAR}={value!r} is not one of {', '.join(_LEVELS)}: ignored",
                stacklevel=4,
            )
            return
        logger = logging.getLogger(LOGGER_NAME)
        if logger.handlers or logger.level != logging.NOTSET:
            return  # the application configured the logger: its setup wins
        logger.setLevel(level)
        if logging.getLogger().handlers:
            return  # logging is set up (basicConfig): the records go to its handlers
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_FORMAT))
        logger.addHandler(handler)

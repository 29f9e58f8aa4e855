"""Hand-written handlers, one module per area of the API; importing this registers them.

`HANDLERS` maps operation ids to handlers. An operation of the registry without one
answers a sample built from its response model (`.._samples`).
"""

from __future__ import annotations

from . import (
    accounts,
    apps,
    configs,
    datarefs,
    events,
    executions,
    misc,
    schedules,
    tables,
    webhooks,
    workflows,
)
from ._base import HANDLERS, Call, Handler
from .misc import seed_variables

__all__ = ["HANDLERS", "Call", "Handler", "seed_variables"]

_MODULES = (
    accounts,
    apps,
    configs,
    datarefs,
    events,
    executions,
    misc,
    schedules,
    tables,
    webhooks,
    workflows,
)

"""The README's emulator example runs as written."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

README = Path(__file__).resolve().parent.parent / "README.md"


def _block_defining(name: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    return next(block for block in blocks if f"def {name}(" in block)


async def test_readme_emulator_example_runs() -> None:
    """The example test in 'Testing your code against the emulator' passes."""
    namespace: dict[str, Any] = {}
    exec(_block_defining("test_sync_job_survives_an_outage"), namespace)  # noqa: S102 - our README
    example = cast("Callable[[], Awaitable[None]]", namespace["test_sync_job_survives_an_outage"])
    await example()

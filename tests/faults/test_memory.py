"""Peak memory under the two size attacks (docs/hardening.md), measured in a process of its own."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.faults import server as faults
from tests.faults.server import Answer, Connection, FaultServer, GiB

ROOT = Path(__file__).resolve().parents[2]
GROWTH_BOUND_MIB = 100


def _attack(answer: Answer) -> Answer:
    async def dispatch(conn: Connection) -> None:
        if conn.request.target == "/warm":
            await faults.json_ok(conn)
        else:
            await answer(conn)

    return dispatch


async def _probe(server: FaultServer) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.faults.rss_probe",
        server.url,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0
    result: dict[str, Any] = json.loads(out)
    return result


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(faults.gzip_bomb(GiB), id="gzip-bomb-1GiB"),
        pytest.param(faults.plain_body(GiB, declare=False), id="plain-1GiB-undeclared"),
        pytest.param(faults.plain_body(GiB, declare=True), id="plain-1GiB-declared"),
    ],
)
async def test_size_attacks_keep_memory_bounded(server: FaultServer, answer: Answer) -> None:
    """At the default limit (32 MiB) each attack fails typed, growing peak RSS < 100 MiB."""
    server.answer = _attack(answer)
    result = await _probe(server)
    assert result["outcome"] == "APIResponseTooLargeError"
    assert result["growth_mib"] < GROWTH_BOUND_MIB, result
